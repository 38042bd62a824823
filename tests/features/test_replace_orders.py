"""Orders exported again as they are now (`spend ingest --replace-orders`): an edited order (an item taken
off, a quantity corrected) was stored beside its first version, or refused as a conflict, and the
order stayed as first exported."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from spend.cli import app
from spend.core.errors import SpendError
from spend.features.ingest.pipeline import IngestOptions, ingest
from spend.features.ingest.store import OfflineStore
from tests.features.test_validation_rules import GOOD_LINE, NOW

runner = CliRunner()


def _line(order: str, product: str, quantity: str = "1", customer: str = "alice", **more) -> dict:
    return (
        GOOD_LINE
        | {"event_id": "", "order_id": order, "customer_id": customer, "product_id": product}
        | {"quantity": quantity}
        | more
    )


def _stored(settings) -> list[tuple]:
    rows = OfflineStore(settings.paths).read("transactions")
    return sorted(zip(rows["order_id"], rows["product_id"], rows["quantity"], strict=True))


def test_an_edited_order_replaces_its_stored_lines(settings, write_csv):
    first = [_line("o1", "p1"), _line("o1", "p2", "2"), _line("o2", "p1"), _line("o3", "p1", customer="bob")]
    ingest(write_csv(first, "monday.csv"), IngestOptions("transactions"), settings, now=NOW)
    # o1: p2 taken off and p1's quantity corrected; o2 as it was; o3 with a refused line (no price)
    edited = [_line("o1", "p1", "3"), _line("o2", "p1"), _line("o3", "p1", customer="bob", unit_price="")]
    plain = ingest(write_csv(edited, "tuesday.csv"), IngestOptions("transactions"), settings, now=NOW)
    assert plain.accepted == 1  # without the option the edit is a new line beside the old ones
    assert _stored(settings).count(("o1", "p1", 3.0)) == 1 and ("o1", "p2", 2.0) in _stored(settings)

    report = ingest(
        write_csv(edited, "tuesday.csv"), IngestOptions("transactions", replace_orders=True), settings, now=NOW
    )
    assert (report.orders_replaced, report.lines_replaced) == (1, 3)  # o1's three stored lines
    # o1's line stored again as its order's only line; o2 as stored and o3's refused line: duplicates
    assert (report.accepted, report.duplicates, report.quarantined) == (1, 2, 0)
    assert _stored(settings) == [("o1", "p1", 3.0), ("o2", "p1", 1.0), ("o3", "p1", 1.0)]
    again = ingest(
        write_csv(edited, "tuesday.csv"), IngestOptions("transactions", replace_orders=True), settings, now=NOW
    )
    assert (again.orders_replaced, again.accepted) == (0, 0)  # the same export again changes nothing
    assert _stored(settings) == [("o1", "p1", 3.0), ("o2", "p1", 1.0), ("o3", "p1", 1.0)]
    # Undone, the replacing batch gives back the lines it replaced (it kept them)
    undone = runner.invoke(app, ["batches", "--remove", report.batch_id])
    assert undone.exit_code == 0 and "3 lines they had taken back" in undone.output, undone.output
    assert _stored(settings) == [
        ("o1", "p1", 1.0),
        ("o1", "p1", 3.0),
        ("o1", "p2", 2.0),
        ("o2", "p1", 1.0),
        ("o3", "p1", 1.0),
    ]


def test_a_line_id_reused_with_other_content_replaces_under_the_option(settings, write_csv):
    """Shopify's line ids: a corrected line keeps its id, which was a conflict."""
    ingest(write_csv([_line("o1", "p1", event_id="L1")]), IngestOptions("transactions"), settings, now=NOW)
    fixed = write_csv([_line("o1", "p1", "4", event_id="L1")], "fixed.csv")
    refused = ingest(fixed, IngestOptions("transactions"), settings, now=NOW)
    assert refused.quarantined_by_reason == {"event_id:duplicate_event_id": 1}
    replaced = ingest(fixed, IngestOptions("transactions", replace_orders=True), settings, now=NOW)
    assert (replaced.accepted, replaced.orders_replaced) == (1, 1)
    assert _stored(settings) == [("o1", "p1", 4.0)]


def test_the_option_is_refused_where_there_are_no_orders(settings, write_csv):
    with pytest.raises(SpendError, match="--replace-orders: the customers table has no orders"):
        IngestOptions("customers", replace_orders=True)
    with pytest.raises(SpendError, match="daily report"):
        IngestOptions("transactions", daily_totals=True, replace_orders=True)
    shown = runner.invoke(
        app, ["ingest", str(write_csv([_line("o1", "p1")])), "--table", "transactions", "--replace-orders"]
    )
    assert shown.exit_code == 0 and "replaced" not in shown.output  # nothing stored yet: nothing to replace
