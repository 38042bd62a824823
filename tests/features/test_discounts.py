"""An order's discount written once for the whole order (Shopify's Discount Amount, on its first line):
before, it was an ignored column and every discounted order was stored at shelf price."""

from __future__ import annotations

import pandas as pd
import pytest

from spend.cli.ingest_notes import notes
from spend.features.ingest.pipeline import IngestOptions, ingest
from spend.features.ingest.store import OfflineStore
from tests.features.test_order_status import MAPS as SHOPIFY_MAPS

MAPS = {old: new for old, new in SHOPIFY_MAPS.items() if new != "order_status"}
MAPS |= {"Lineitem discount": "discount", "Discount Amount": "order_discount"}


def _line(order, sku, quantity, price, first=False, discount="", line_discount=""):
    return {
        "Name": order,
        "Email": f"{order[1:]}@x.com" if first else "",
        "Created at": "2026-01-02 10:00:00 +0000" if first else "",
        "Discount Amount": discount,
        "Lineitem quantity": quantity,
        "Lineitem price": price,
        "Lineitem sku": sku,
        "Lineitem discount": line_discount,
    }


def _ingest(rows, settings, write_csv):
    return ingest(write_csv(rows), IngestOptions("transactions", mapping=MAPS), settings)


def _discounts(settings) -> dict[tuple[str, str], float]:
    stored = OfflineStore(settings.paths).read("transactions")
    return {
        (o, p): float(d) if pd.notna(d) else 0.0 for o, p, d in stored[["order_id", "product_id", "discount"]].values
    }


SQUARE = {"Transaction ID": "order_id", "Customer ID": "customer_id", "Date": "ts", "SKU": "product_id"}
SQUARE |= {"Qty": "quantity", "Gross Sales": "unit_price", "Discounts": "discount"}


def _square(rows, settings, write_csv):
    """Square's item sales, one row per (transaction, units, gross sales, discounts)."""
    lines = [
        {"Transaction ID": t, "Qty": qty, "Gross Sales": gross, "Discounts": off}
        | {"Customer ID": "c1", "Date": "2026-01-02 10:00:00", "SKU": "A"}
        for t, qty, gross, off in rows
    ]
    return ingest(write_csv(lines), IngestOptions("transactions", mapping=SQUARE, line_totals=True), settings)


def test_discounts_written_signed_against_their_lines_are_read_as_money_off(settings, write_csv):
    # Square's item sales: a sale's discount negative, a refund's positive, as the receipt shows them
    report = _square([("t1", 2, "20.00", "-2.00"), ("t2", 1, "10.00", "0.00"), ("t3", -1, "-10.00", "1.00")],
                     settings, write_csv)  # fmt: skip
    assert report.accepted == 3 and report.discounts_signed == 2
    stored = OfflineStore(settings.paths).read("transactions").set_index("order_id")
    assert stored["discount"].astype(float).to_dict() == {"t1": 2.0, "t2": 0.0, "t3": 1.0}
    assert "discounts written signed against their lines" in " ".join(notes(report))


def test_discounts_written_both_ways_are_kept_as_written(settings, write_csv):
    report = _square([("t1", 2, "20.00", "-2.00"), ("t2", 1, "10.00", "1.00")], settings, write_csv)
    assert report.discounts_signed == 0
    assert report.quarantined_by_reason == {"discount:non_negative_discount": 1}  # which sign is money off?


def test_an_orders_discount_is_spread_over_its_lines_by_their_amounts(settings, write_csv):
    rows = [
        _line("#1001", "A", 1, "10.00", first=True, discount="5.00"),
        _line("#1001", "B", 2, "5.00"),
        _line("#1001", "C", 1, "30.00"),
        _line("#1002", "A", 1, "10.00", first=True),  # no discount: nothing spread
    ]
    report = _ingest(rows, settings, write_csv)
    assert report.accepted == 4 and report.order_discounts_spread == 1
    got = _discounts(settings)
    assert got == pytest.approx({("#1001", "A"): 1.0, ("#1001", "B"): 1.0, ("#1001", "C"): 3.0, ("#1002", "A"): 0.0})
    assert sum(v for (o, _), v in got.items() if o == "#1001") == pytest.approx(5.0)
    assert "orders whose discount (order_discount) was spread over their lines" in " ".join(notes(report))
    again = _ingest(rows, settings, write_csv)  # the same export twice: the same lines, not new ones
    assert again.duplicates == 4 and again.accepted == 0


def test_a_return_line_of_a_spread_order_gives_back_what_was_paid(settings, write_csv):
    # It took no share: the refund counted at shelf price, more than the customer had paid.
    rows = [
        _line("#1001", "A", 1, "10.00", first=True, discount="5.00"),
        _line("#1001", "C", 1, "40.00"),
        _line("#1001", "A", -1, "10.00"),  # one A given back, in the same export
    ]
    report = _ingest(rows, settings, write_csv)
    assert report.accepted == 3 and report.order_discounts_spread == 1
    stored = OfflineStore(settings.paths).read("transactions")
    lines = {(p, int(q)): float(d) for p, q, d in stored[["product_id", "quantity", "discount"]].values}
    # the purchases share the order's 5 by their amounts; the A given back takes the same rate, 5 of 50
    assert lines == pytest.approx({("A", 1): 1.0, ("C", 1): 4.0, ("A", -1): 1.0})


def test_lines_with_discounts_of_their_own_keep_them(settings, write_csv):
    rows = [
        _line("#1001", "A", 1, "10.00", first=True, discount="8.00", line_discount="2.00"),
        _line("#1001", "B", 1, "30.00", line_discount="1.00"),
    ]
    report = _ingest(rows, settings, write_csv)
    assert report.order_discounts_spread == 0 and report.order_discounts_kept == 1
    assert _discounts(settings) == pytest.approx({("#1001", "A"): 2.0, ("#1001", "B"): 1.0})
    assert "lines carry discounts of their own, kept as they are" in " ".join(notes(report))


def test_a_negative_order_discount_is_read_as_its_size(settings, write_csv):
    rows = [_line("#1001", "A", 1, "10.00", first=True, discount="-4.00"), _line("#1001", "B", 1, "30.00")]
    _ingest(rows, settings, write_csv)
    assert _discounts(settings) == pytest.approx({("#1001", "A"): 1.0, ("#1001", "B"): 3.0})


def test_an_order_discount_above_the_orders_amount_or_given_twice_is_quarantined(settings, write_csv):
    rows = [
        _line("#1001", "A", 1, "10.00", first=True, discount="45.00"),
        _line("#1001", "B", 1, "30.00"),
        _line("#1002", "A", 1, "10.00", first=True, discount="2.00"),
        {**_line("#1002", "B", 1, "30.00"), "Discount Amount": "3.00"},  # a line's own, in the order's column
        _line("#1003", "A", 1, "10.00", first=True, discount="1.00"),
    ]
    report = _ingest(rows, settings, write_csv)
    assert report.quarantined_by_reason == {
        "order_discount:within_order_amount": 2,
        "order_discount:one_value_per_order": 2,
    }
    assert report.accepted + report.quarantined == report.received == 5
    assert _discounts(settings) == pytest.approx({("#1003", "A"): 1.0})
