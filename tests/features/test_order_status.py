"""Orders that never became sales (cancelled, voided, failed) and refunded ones, as shops export them
beside their sales: before, an export's status column was ignored and every cancelled order was stored
as a purchase."""

from __future__ import annotations

import json

import pandas as pd
from typer.testing import CliRunner

from spend.cli import app
from spend.cli.ingest_notes import notes
from spend.features.ingest.identity import content_hash
from spend.features.ingest.pipeline import IngestOptions, ingest, row_content
from spend.features.ingest.store import OfflineStore
from spend.features.schema.fields import default_context
from spend.features.schema.tables import TABLES

runner = CliRunner()

# Shopify's orders CSV: the order's fields (its e-mail, time and Financial Status) on its first line only.
SHOPIFY = [
    {"Name": "#1001", "Email": "a@x.com", "Financial Status": "paid", "Created at": "2026-01-02 10:00:00 +0000",
     "Lineitem quantity": 1, "Lineitem price": "10.00", "Lineitem sku": "SKU1"},
    {"Name": "#1001", "Email": "", "Financial Status": "", "Created at": "",
     "Lineitem quantity": 2, "Lineitem price": "5.00", "Lineitem sku": "SKU2"},
    {"Name": "#1002", "Email": "b@x.com", "Financial Status": "voided", "Created at": "2026-01-03 10:00:00 +0000",
     "Lineitem quantity": 1, "Lineitem price": "10.00", "Lineitem sku": "SKU1"},
    {"Name": "#1002", "Email": "", "Financial Status": "", "Created at": "",
     "Lineitem quantity": 1, "Lineitem price": "5.00", "Lineitem sku": "SKU2"},
    {"Name": "#1003", "Email": "c@x.com", "Financial Status": "refunded", "Created at": "2026-01-04 10:00:00 +0000",
     "Lineitem quantity": 1, "Lineitem price": "10.00", "Lineitem sku": "SKU1"},
    {"Name": "#1004", "Email": "d@x.com", "Financial Status": "Pending", "Created at": "2026-01-05 10:00:00 +0000",
     "Lineitem quantity": 1, "Lineitem price": "10.00", "Lineitem sku": "SKU3"},
]  # fmt: skip
MAPS = {
    "Name": "order_id",
    "Email": "customer_id",
    "Created at": "ts",
    "Lineitem quantity": "quantity",
    "Lineitem price": "unit_price",
    "Lineitem sku": "product_id",
    "Financial Status": "order_status",
}


def _ingest(path, settings, **options):
    return ingest(path, IngestOptions("transactions", mapping=MAPS, **options), settings)


def test_cancelled_and_lone_refunded_orders_are_quarantined_not_stored(settings, write_csv):
    report = _ingest(write_csv(SHOPIFY), settings)
    assert report.quarantined_by_reason == {
        "order_status:cancelled": 2,  # both lines of the voided order: the status is on its first only
        "order_status:refunded_without_return_lines": 1,
    }
    assert report.accepted + report.quarantined == report.received == 6
    stored = OfflineStore(settings.paths).read("transactions")
    assert sorted(stored["order_id"]) == ["#1001", "#1001", "#1004"]  # paid and pending are sales
    assert sorted(stored["order_status"].str.lower()) == ["paid", "paid", "pending"]
    said = " ".join(notes(report))
    assert "never became sales (cancelled, voided, failed, ...) were quarantined" in said
    assert "fully refunded orders without their return lines in the file were quarantined" in said


def test_partly_refunded_orders_without_return_lines_are_counted_and_said(settings, write_csv):
    rows = [{**SHOPIFY[0], "Financial Status": "partially_refunded"}, SHOPIFY[1], SHOPIFY[5]]
    report = _ingest(write_csv(rows), settings)
    assert report.accepted == 3 and report.partly_refunded_alone == 1  # one order, its two lines kept
    assert "orders partially refunded count whole, their refunds being no lines of this file: 1" in " ".join(
        notes(report)
    )


def test_statuses_are_read_whatever_their_spelling(settings, write_csv):
    spellings = ["Cancelled", "CANCELED ", "wc-cancelled", "Payment failed", "checkout-draft", "unavailable"]
    rows = [
        {**SHOPIFY[0], "Name": f"#{n}", "Financial Status": status, "Lineitem sku": f"SKU{n}"}
        for n, status in enumerate([*spellings, "wc-completed", "partially_refunded", "shipped"])
    ]
    report = _ingest(write_csv(rows), settings)
    assert report.quarantined_by_reason == {"order_status:cancelled": len(spellings)}
    assert report.accepted == 3


def test_a_refunded_order_is_kept_beside_its_return_lines(settings, write_csv):
    refund = {**SHOPIFY[4], "Lineitem quantity": -1, "Created at": "2026-01-06 09:00:00 +0000"}
    report = _ingest(write_csv([SHOPIFY[4], refund]), settings)
    assert (report.accepted, report.quarantined) == (2, 0)
    stored = OfflineStore(settings.paths).read("transactions").sort_values("ts")
    assert stored["kind"].tolist() == ["purchase", "return"]


def test_an_order_exported_again_with_a_new_status_is_the_same_order(settings, write_csv):
    processing = [{**SHOPIFY[0], "Financial Status": "pending"}, SHOPIFY[1]]
    assert _ingest(write_csv(processing), settings).accepted == 2
    paid = _ingest(write_csv(SHOPIFY[:2], "next-month.csv"), settings)
    assert (paid.accepted, paid.duplicates) == (0, 2)  # not two more purchases


def test_the_orders_file_gives_its_lines_their_orders_status(settings, write_csv):
    orders = write_csv(
        [
            {"order_id": "o1", "customer_id": "u1", "order_status": "delivered", "ts": "2026-01-02 10:00:00"},
            {"order_id": "o2", "customer_id": "u2", "order_status": "canceled", "ts": "2026-01-03 10:00:00"},
        ],
        "olist_orders.csv",
    )
    items = write_csv(
        [
            {"order_id": "o1", "product_id": "p1", "price": "29.90"},
            {"order_id": "o2", "product_id": "p2", "price": "10.00"},
        ],
        "olist_order_items.csv",
    )
    options = IngestOptions("transactions", mapping={"price": "unit_price"}, orders=str(orders), one_unit_per_line=True)
    report = ingest(items, options, settings)
    assert report.quarantined_by_reason == {"order_status:cancelled": 1}
    assert report.accepted == 1


def test_fields_added_to_the_schema_leave_stored_rows_hashes_as_they_were():
    """A Spend that adds an optional field must not turn every stored line into a new one: a file
    ingested again after the upgrade is still its duplicates."""
    specs = TABLES["transactions"].field_map(default_context())
    rows = pd.DataFrame(
        {
            "order_id": ["o1", "o2"],
            "quantity": [1.0, 2.0],
            "on_promotion": pd.array([pd.NA, 1], dtype="Int64"),
            "order_status": pd.array(["paid", "pending"], dtype="string"),
        }
    )
    typed = rows.reindex(columns=list(specs))
    added = ("event_id", "on_promotion", "order_status", "time_zone", "cancelled_at", "order_discount")
    before = [c for c in specs if c not in added]  # schema 1's fields
    now, then = row_content(typed, specs, "event_id"), content_hash(typed[before])
    assert now[0] == then[0]  # no promotion flag: the hash of the schema without it
    assert now[1] != then[1]  # a flag given is part of the line
    changed = typed.assign(order_status=pd.array(["cancelled", None], dtype="string"))
    assert row_content(changed, specs, "event_id").equals(now)  # a status is not the line's content


def test_the_status_column_and_shopifys_order_numbers_are_suggested(settings, write_csv):
    """Shopify's order number is its "Name" column ("#1001"): the error suggested --no-order-ids instead."""
    result = runner.invoke(app, ["ingest", str(write_csv(SHOPIFY)), "--table", "transactions", "--json"])
    assert result.exit_code == 2
    error = json.loads(result.output.splitlines()[-1])["error"]
    assert "--map 'Financial Status=order_status'" in error
    assert "(it looks like: --map Name=order_id --map Email=customer_id" in error and "--no-order-ids" not in error
    names = [row | {"Name": "Gift mug"} for row in SHOPIFY]  # a product's name is no order number
    told = runner.invoke(app, ["ingest", str(write_csv(names, "names.csv")), "--table", "transactions", "--json"])
    assert "Name=order_id" not in json.loads(told.output.splitlines()[-1])["error"]


def test_an_order_cancelled_after_it_was_stored_is_retracted(settings, write_csv):
    pending = [{**SHOPIFY[0], "Financial Status": "pending"}, SHOPIFY[1], SHOPIFY[5]]
    other = {**SHOPIFY[0], "Name": "#1001", "Email": "z@x.com", "Lineitem sku": "SKU9"}  # the number reused
    assert _ingest(write_csv(pending), settings).accepted == 3
    assert _ingest(write_csv([other], "another-till.csv"), settings).accepted == 1
    cancelled = [{**SHOPIFY[0], "Financial Status": "cancelled"}, SHOPIFY[1]]
    report = _ingest(write_csv(cancelled, "updated.csv"), settings)
    assert (report.retracted, report.quarantined, report.duplicates) == (2, 2, 0)  # not two duplicates
    assert report.quarantined_by_reason == {"order_status:cancelled": 2}
    assert "removed: 2" in " ".join(notes(report))
    stored = OfflineStore(settings.paths).read("transactions")
    assert sorted(stored["product_id"]) == ["SKU3", "SKU9"]  # the other customer's #1001 stays
    again = _ingest(write_csv(cancelled, "updated-again.csv"), settings)
    assert (again.retracted, again.duplicates) == (0, 2)
    audit = (settings.paths.home / "audit" / "audit.jsonl").read_text()
    assert '"action":"retract cancelled or refunded orders"' in audit and '"lines":2' in audit


def test_removing_the_batch_that_cancelled_an_order_puts_its_stored_lines_back(settings, write_csv):
    """`spend batches --remove` undid the batch's own rows, but the sale it had retracted stayed gone: an
    export read with the wrong status column (every order "cancelled") took the shop's sales for good."""
    from spend.features.governance.erasure import erase_customers

    pending = [{**SHOPIFY[0], "Financial Status": "pending"}, SHOPIFY[1], SHOPIFY[5]]
    first = _ingest(write_csv(pending), settings)
    before = OfflineStore(settings.paths).read("transactions").sort_values("row_hash").reset_index(drop=True)
    cancelled = [
        {**SHOPIFY[0], "Financial Status": "cancelled"},
        SHOPIFY[1],
        {**SHOPIFY[5], "Financial Status": "cancelled"},
    ]
    wrong = _ingest(write_csv(cancelled, "updated.csv"), settings)
    assert wrong.retracted == 3 and OfflineStore(settings.paths).read("transactions").empty
    erase_customers(settings, ["d@x.com"])  # #1004's customer, while the line is out of the store
    removed = runner.invoke(app, ["batches", "--remove", wrong.batch_id, "--json"])
    assert removed.exit_code == 0, removed.output
    assert json.loads(removed.stdout)["restored_rows"] == 2
    after = OfflineStore(settings.paths).read("transactions").sort_values("row_hash").reset_index(drop=True)
    pd.testing.assert_frame_equal(after, before[before["order_id"] == "#1001"].reset_index(drop=True))
    assert {b.batch_id for b in OfflineStore(settings.paths).catalog.batches()} == {first.batch_id}
    assert not (settings.paths.retracted / wrong.batch_id).exists()
    again = _ingest(write_csv(cancelled, "updated.csv"), settings)  # and the right export still retracts them
    assert again.retracted == 2
    runner.invoke(app, ["batches", "--remove", first.batch_id])  # their own batch removed: nothing kept of it
    assert not list(settings.paths.retracted.rglob("*.parquet"))


def test_an_order_refunded_after_it_was_stored_is_retracted_unless_its_returns_are_stored(settings, write_csv):
    paid = [{**SHOPIFY[0], "Name": name, "Email": f"{name[1:]}@x.com"} for name in ("#2001", "#2002")]
    assert _ingest(write_csv(paid), settings).accepted == 2
    returns = [{**paid[1], "Lineitem quantity": -1, "Created at": "2026-01-09 10:00:00 +0000"}]
    assert _ingest(write_csv(returns, "refunds.csv"), settings).accepted == 1  # a refunds report of #2002
    refunded = [{**line, "Financial Status": "refunded"} for line in paid]
    report = _ingest(write_csv(refunded, "updated.csv"), settings)
    assert report.retracted == 1  # #2001's sale; #2002's sale and its stored return net out
    assert (report.quarantined, report.duplicates) == (1, 1)
    assert report.quarantined_by_reason == {"order_status:refunded_without_return_lines": 1}
    stored = OfflineStore(settings.paths).read("transactions")
    assert sorted(stored["quantity"]) == [-1, 1] and stored["order_id"].eq("#2002").all()


def test_an_order_with_a_cancellation_time_is_no_sale_whatever_its_status(settings, write_csv):
    """Shopify keeps an order cancelled without a refund as "paid": its Financial Status alone stored it
    as a sale. The cancellation time is on the order's first line only."""
    maps = MAPS | {"Cancelled at": "cancelled_at"}
    lines = [{**line, "Cancelled at": ""} for line in SHOPIFY[:2] + SHOPIFY[5:]]
    lines[0]["Cancelled at"] = "2026-01-02 12:00:00 +0000"
    report = ingest(write_csv(lines), IngestOptions("transactions", mapping=maps), settings)
    assert report.quarantined_by_reason == {"cancelled_at:cancelled": 2}  # both lines of #1001
    assert "lines of orders with a cancellation time (cancelled_at) were quarantined" in " ".join(notes(report))
    stored = OfflineStore(settings.paths).read("transactions")
    assert list(stored["order_id"]) == ["#1004"] and stored["cancelled_at"].isna().all()


def test_a_cancellation_flag_mapped_as_the_time_cancels_its_yes_only(settings, write_csv):
    """A `Cancelled` column of yes and no mapped to cancelled_at: its "No" would have quarantined every sale."""
    rows = [
        {"order_id": f"o{i}", "customer_id": "u1", "ts": "2026-01-02 10:00:00", "product_id": "p1", "quantity": 1,
         "unit_price": 2.5, "Cancelled": flag}
        for i, flag in enumerate(["No", "yes", "FALSE", "0", "", "true"])
    ]  # fmt: skip
    options = IngestOptions("transactions", mapping={"Cancelled": "cancelled_at"})
    report = ingest(write_csv(rows), options, settings)
    assert report.quarantined_by_reason == {"cancelled_at:cancelled": 2} and report.accepted == 4


def test_an_order_cancelled_after_it_was_stored_is_retracted_by_its_cancellation_time(settings, write_csv):
    maps = MAPS | {"Cancelled at": "cancelled_at"}
    paid = [{**line, "Cancelled at": ""} for line in SHOPIFY[:2]]
    assert ingest(write_csv(paid), IngestOptions("transactions", mapping=maps), settings).accepted == 2
    cancelled = [{**paid[0], "Cancelled at": "2026-01-03 09:00:00 +0000"}, paid[1]]
    report = ingest(write_csv(cancelled, "updated.csv"), IngestOptions("transactions", mapping=maps), settings)
    assert (report.retracted, report.quarantined, report.duplicates) == (2, 2, 0)
    assert OfflineStore(settings.paths).read("transactions").empty


def test_doctor_puts_back_the_lines_an_interrupted_removal_left_taken_back(settings, write_csv, monkeypatch):
    """`spend batches --remove` forgets the batch, then puts back the lines it had taken back: stopped
    between the two, the sale stayed gone and `spend doctor` said there was nothing to repair."""
    pending = [{**SHOPIFY[0], "Financial Status": "pending"}, SHOPIFY[1]]
    _ingest(write_csv(pending), settings)
    wrong = _ingest(write_csv([{**SHOPIFY[0], "Financial Status": "cancelled"}, SHOPIFY[1]], "updated.csv"), settings)
    assert wrong.retracted == 2
    with monkeypatch.context() as killed:
        killed.setattr(
            "spend.features.ingest.retract.restore_retracted", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt())
        )
        runner.invoke(app, ["batches", "--remove", wrong.batch_id])
    assert OfflineStore(settings.paths).read("transactions").empty  # forgotten, its lines not back
    listed = json.loads(runner.invoke(app, ["doctor", "--json"]).stdout)
    assert listed["unrestored_batches"] == [wrong.batch_id] and listed["restored_rows"] == 0
    told = runner.invoke(app, ["doctor"]).output
    assert "1 removed batch(es) whose taken-back lines" in told and "spend doctor --repair" in told
    repaired = json.loads(runner.invoke(app, ["doctor", "--repair", "--json"]).stdout)
    assert repaired["restored_rows"] == 2 and repaired["repaired"]
    assert sorted(OfflineStore(settings.paths).read("transactions")["product_id"]) == ["SKU1", "SKU2"]
    assert json.loads(runner.invoke(app, ["doctor", "--json"]).stdout)["unrestored_batches"] == []
    audit = (settings.paths.home / "audit" / "audit.jsonl").read_text()
    assert '"action":"put back lines of removed batches"' in audit and '"restored":2' in audit
