"""JSON exports (JSON Lines as BigQuery, Segment or a shop's API write them; a JSON array of rows) read as
a CSV is: every value as text, for the schema to parse and judge."""

from __future__ import annotations

import gzip
import json

import pandas as pd
import pytest

from spend.core.errors import SpendError
from spend.features.ingest.identity import content_hash
from spend.features.ingest.pipeline import IngestOptions, ingest
from spend.features.ingest.readers import read_export
from spend.features.ingest.store import OfflineStore
from tests.features.test_validation_rules import NOW

LINE = {"order_id": 1001, "customer_id": "alice", "ts": "2026-01-02T10:00:00Z", "product_id": "p1"}


def _rows() -> list[dict]:
    first = LINE | {"quantity": 2, "unit_price": 2.50, "store_id": None}
    second = LINE | {"order_id": 1002, "quantity": 1, "unit_price": 10.0, "store_id": "S1", "gift": True}
    return [first, second]


@pytest.mark.parametrize("name", ["orders.jsonl", "orders.ndjson", "orders.json", "orders.jsonl.gz"])
def test_json_lines_are_read_as_text_numbers_as_written(tmp_path, name):
    path = tmp_path / name
    text = "\n".join(json.dumps(row) for row in _rows()) + "\n"
    path.write_bytes(gzip.compress(text.encode()) if name.endswith(".gz") else text.encode())
    frame = read_export(path)
    assert list(frame.columns) == [
        "order_id",
        "customer_id",
        "ts",
        "product_id",
        "quantity",
        "unit_price",
        "store_id",
        "gift",
    ]
    assert frame["order_id"].tolist() == ["1001", "1002"]  # a numeric id stays an id: not 1001.0
    assert frame["unit_price"].tolist() == ["2.5", "10.0"] and frame["quantity"].tolist() == ["2", "1"]
    assert frame["store_id"].isna().tolist() == [True, False]  # null is blank
    assert frame["gift"].tolist()[1] == "true" and pd.isna(frame["gift"].tolist()[0])  # a key one row lacks


@pytest.mark.parametrize("wrap", [False, True])
def test_a_json_array_of_rows_or_an_object_wrapping_one_is_read(tmp_path, wrap):
    path = tmp_path / "orders.json"
    rows = _rows()
    path.write_text(json.dumps({"orders": rows} if wrap else rows, indent=2))  # pretty-printed: one document
    frame = read_export(path)
    assert len(frame) == 2 and frame["customer_id"].tolist() == ["alice", "alice"]


def test_a_json_document_whose_rows_are_not_objects_is_refused_naming_the_row(tmp_path):
    path = tmp_path / "orders.json"
    path.write_text(json.dumps([LINE, [1, 2]]))
    with pytest.raises(SpendError, match="row 2 of the JSON array is a list, not an object"):
        read_export(path)
    path.write_text("12.5")
    with pytest.raises(SpendError, match="the JSON is a number, not an object"):
        read_export(path)
    path.write_text('{"order_id": 1, "order_id": 2}')
    with pytest.raises(SpendError, match="gives a key twice"):
        read_export(path)


def test_json_lines_that_are_not_one_object_are_quarantined_and_the_rest_goes_in(settings, tmp_path):
    good = [json.dumps(row) for row in _rows()]
    lines = [
        good[0],
        '{"order_id": 7, "customer_id": "bob-secret", "ts": "2026-01',  # cut short
        "[1, 2]",
        '{"order_id": 8, "customer_id": "carol-secret", "customer_id": "dave-secret"}',  # which one?
        good[1],
    ]
    path = tmp_path / "orders.jsonl"
    path.write_text("\n".join(lines) + "\n\n")  # a blank last line is no row
    report = ingest(path, IngestOptions("transactions"), settings, now=NOW)
    assert (report.received, report.accepted, report.quarantined, report.duplicates) == (5, 2, 3, 0)
    assert report.quarantined_by_reason == {"row:not_json_object": 3} and report.repeated_lines == 0
    quarantine = OfflineStore(settings.paths).read_quarantine("transactions").sort_values("source_row")
    assert quarantine["source_row"].tolist() == [2, 3, 4]
    stored = b"".join(p.read_bytes() for p in settings.home.rglob("*.parquet"))
    assert b"secret" not in stored  # nothing of an unreadable line is kept
    assert sorted(OfflineStore(settings.paths).read("transactions")["order_id"]) == ["1001", "1002"]
    again = ingest(path, IngestOptions("transactions"), settings, now=NOW)
    assert (again.accepted, again.quarantined, again.duplicates) == (0, 0, 5)


def test_values_that_differ_only_after_a_nul_are_different_rows(settings, tmp_path):
    """pandas hashes a string up to its first NUL: two damaged lines `\\x00O1...` and `\\x00O2...` were
    counted as one, the second a "duplicate" that reached neither the store nor the quarantine."""
    texts = pd.Series(["\x00O1", "\x00O2", "O3", "a\\0"], dtype="string[pyarrow]")
    hashes = content_hash(texts.to_frame("order_id"))
    assert hashes.nunique() == 4
    plain = content_hash(texts.iloc[2:].to_frame("order_id"))  # a value without a NUL keeps its hash
    assert hashes.iloc[2:].tolist() == plain.tolist()
    path = tmp_path / "damaged.csv"
    header = "order_id,customer_id,ts,product_id,quantity,unit_price"
    path.write_text(f"{header}\n\x00O1,alice,2026-01-02T10:00:00,p1,1,2.5\n\x00O2,alice,2026-01-02T10:00:00,p1,1,2.5\n")
    report = ingest(path, IngestOptions("transactions"), settings, now=NOW)
    assert (report.received, report.quarantined, report.duplicates) == (2, 2, 0)


def test_a_first_json_line_giving_a_key_twice_is_quarantined_not_the_whole_file(settings, tmp_path):
    first = '{"order_id": 9, "customer_id": "a-secret", "customer_id": "b-secret"}'
    path = tmp_path / "orders.jsonl"
    path.write_text("\n".join([first, *(json.dumps(row) for row in _rows())]) + "\n")
    report = ingest(path, IngestOptions("transactions"), settings, now=NOW)
    assert (report.received, report.accepted, report.quarantined) == (3, 2, 1)
    assert report.quarantined_by_reason == {"row:not_json_object": 1}


def _shopify_orders(currency: str = "EUR") -> dict:
    """Two orders as Shopify's orders API writes them (trimmed): a customer object, line items with nested
    lists of their own, shipping lines (another list of objects), and an order whose items are gone."""
    customer = {"id": 207119551, "email": "bob@example.com", "default_address": {"city": "Ottawa"}}
    tax = [{"title": "HST", "price": "1.30"}]
    return {
        "orders": [
            {
                "id": 450789469,
                "order_number": 1001,
                "email": "bob@example.com",
                "created_at": "2026-01-02T10:00:00-05:00",
                "cancelled_at": None,  # Shopify writes null: not cancelled
                "currency": currency,
                "customer": customer,
                "shipping_lines": [{"code": "Standard", "price": "4.00"}],
                "line_items": [
                    {"id": 1, "sku": "IPOD-342-N", "quantity": 1, "price": "199.00", "tax_lines": tax},
                    {"id": 2, "sku": "CASE-7", "quantity": 2, "price": "9.50", "tax_lines": []},
                ],
            },
            {
                "id": 450789470,
                "order_number": 1002,
                "email": "ann@example.com",
                "created_at": "2026-01-03T09:00:00-05:00",
                "currency": currency,
                "customer": customer | {"id": 207119552, "email": "ann@example.com"},
                "shipping_lines": [],
                "line_items": [],
            },
        ]
    }


def test_an_api_export_of_orders_with_nested_line_items_is_read_as_its_lines(settings, tmp_path):
    """Shopify's orders API nests each order's lines: the whole order was one row, failing validation with
    its lines as JSON text. Now each line item is a row with its order's fields, and the maps to type are
    suggested under their nested names."""
    from typer.testing import CliRunner

    from spend.cli import app

    path = tmp_path / "orders.json"
    path.write_text(json.dumps(_shopify_orders(settings.default_currency)))
    frame = read_export(path)
    assert len(frame) == 3  # two line items, and the order without any: kept, to be quarantined
    assert frame["line_items.sku"].tolist()[:2] == ["IPOD-342-N", "CASE-7"]
    assert frame["order_number"].tolist() == ["1001", "1001", "1002"]
    assert frame["customer.default_address.city"].tolist() == ["Ottawa"] * 3
    assert json.loads(frame["line_items.tax_lines"].iloc[0]) == [{"title": "HST", "price": "1.30"}]
    told = " ".join(CliRunner().invoke(app, ["ingest", str(path), "--table", "transactions"]).output.split())
    maps = {
        "order_number": "order_id",
        "customer.id": "customer_id",  # the customer's key, by its path
        "created_at": "ts",
        "line_items.sku": "product_id",
        "line_items.quantity": "quantity",
        "line_items.price": "unit_price",
    }
    for old, new in maps.items():
        assert f"--map {old}={new}" in told, told
    report = ingest(path, IngestOptions("transactions", mapping=maps), settings, now=NOW)
    assert (report.received, report.accepted, report.quarantined) == (3, 2, 1)
    assert report.quarantined_by_reason == {"product_id:missing": 1}  # the order whose items are gone
    stored = OfflineStore(settings.paths).read("transactions").sort_values("product_id")
    assert stored["product_id"].tolist() == ["CASE-7", "IPOD-342-N"] and stored["quantity"].tolist() == [2, 1]
    assert stored["unit_price"].tolist() == [9.5, 199.0] and set(stored["order_id"]) == {"1001"}


def test_an_api_export_of_a_cancelled_order_stores_none_of_its_lines(settings, tmp_path):
    """Shopify keeps an order cancelled without a refund as "paid": its cancelled_at, read under its own
    name, says it is no sale."""
    orders = _shopify_orders(settings.default_currency)
    orders["orders"][0] |= {"financial_status": "paid", "cancelled_at": "2026-01-02T11:00:00-05:00"}
    path = tmp_path / "orders.json"
    path.write_text(json.dumps(orders))
    maps = {"order_number": "order_id", "customer.id": "customer_id", "created_at": "ts"}
    maps |= {
        f"line_items.{f}": t for f, t in (("sku", "product_id"), ("quantity", "quantity"), ("price", "unit_price"))
    }
    report = ingest(path, IngestOptions("transactions", mapping=maps), settings, now=NOW)
    assert report.quarantined_by_reason == {"cancelled_at:cancelled": 2, "product_id:missing": 1}
    assert report.accepted == 0


def test_an_orders_refunded_lines_are_read_as_its_return_lines(settings, tmp_path):
    """Shopify's orders API writes what a customer gave back as the order's refunds: they stayed one JSON
    text column, not stored, and the customer's returns were unknown to every model."""
    orders = _shopify_orders(settings.default_currency)
    first = orders["orders"][0]
    case = first["line_items"][1] | {"total_discount": "1.00"}  # one of the two cases given back
    first["line_items"][1] = case
    first["financial_status"] = "refunded"  # kept: its return lines are in the file
    first["refunds"] = [
        {
            "id": 509562969,
            "created_at": "2026-01-05T16:00:00-05:00",
            "note": "one case too many",
            "refund_line_items": [{"id": 104689539, "quantity": 1, "line_item_id": 2, "line_item": case}],
            "transactions": [{"amount": "9.50", "kind": "refund"}],
        }
    ]
    path = tmp_path / "orders.json"
    path.write_text(json.dumps(orders))
    frame = read_export(path)
    assert len(frame) == 4 and "refunds" not in frame.columns  # the refund's line is a row, not JSON text
    back = frame[frame["line_items.id"] == "refund:104689539"].iloc[0]
    assert (back["line_items.sku"], back["line_items.quantity"]) == ("CASE-7", "-1")
    assert back["created_at"] == "2026-01-05T16:00:00-05:00" and back["order_number"] == "1001"
    maps = {
        "order_number": "order_id",
        "customer.id": "customer_id",
        "created_at": "ts",
        "line_items.id": "event_id",
        "line_items.sku": "product_id",
        "line_items.quantity": "quantity",
        "line_items.price": "unit_price",
        "line_items.total_discount": "discount",
        "financial_status": "order_status",
    }
    report = ingest(path, IngestOptions("transactions", mapping=maps), settings, now=NOW)
    assert (report.received, report.accepted, report.quarantined) == (4, 3, 1)  # the order without items
    stored = OfflineStore(settings.paths).read("transactions").set_index("event_id")
    returned = stored.loc["refund:104689539"]
    assert returned["quantity"] == -1 and returned["kind"] == "return" and returned["unit_price"] == 9.5
    assert returned["ts"] == pd.Timestamp("2026-01-05T21:00:00Z") and returned["order_id"] == "1001"
    assert stored.loc["2", "quantity"] == 2  # the purchase stays as bought
    assert (stored.loc["2", "discount"], returned["discount"]) == (1.0, 0.5)  # the refund's share of it


def test_rows_with_several_lists_and_none_named_as_lines_are_not_exploded():
    from spend.features.ingest.json_rows import flattened

    rows = [{"id": 1, "refunds": [{"amount": 1}], "fulfillments": [{"status": "done"}], "meta": {"a": 1}}]
    assert flattened(rows) == [{"id": 1, "refunds": [{"amount": 1}], "fulfillments": [{"status": "done"}], "meta.a": 1}]
    plain_rows = [{"id": 1, "sku": "p"}]
    assert flattened(plain_rows) is plain_rows  # nothing nested: read as before


def test_nan_is_a_missing_value_not_a_customer_called_nan(settings, tmp_path):
    """Python's json module writes a missing number as NaN, which the parser accepts: it was read as the
    text "nan", so a line without a customer was stored as the customer "nan"."""
    path = tmp_path / "orders.jsonl"
    rows = _rows()
    path.write_text(
        "\n".join(json.dumps(row) for row in [rows[0] | {"customer_id": float("nan")}, rows[1] | {"unit_price": 3.0}])
    )
    frame = read_export(path)
    assert frame["customer_id"].isna().tolist() == [True, False]
    report = ingest(path, IngestOptions("transactions"), settings, now=NOW)
    assert report.quarantined_by_reason == {"customer_id:missing": 1} and report.accepted == 1


def test_an_api_orders_total_discounts_is_suggested_and_spread_over_its_lines(settings, tmp_path):
    """Shopify's orders API writes a discount code's money as the order's `total_discounts`: it was an
    ignored column, and the order's lines were stored at shelf price (features/ingest/discounts.py)."""
    from typer.testing import CliRunner

    from spend.cli import app

    orders = _shopify_orders(settings.default_currency)
    orders["orders"][0]["total_discounts"] = "21.80"  # a tenth of the order's 218.00
    path = tmp_path / "orders.json"
    path.write_text(json.dumps(orders))
    told = " ".join(CliRunner().invoke(app, ["ingest", str(path), "--table", "transactions"]).output.split())
    assert "--map total_discounts=order_discount" in told, told
    maps = {"order_number": "order_id", "customer.id": "customer_id", "created_at": "ts"}
    maps |= {
        f"line_items.{f}": t for f, t in (("sku", "product_id"), ("quantity", "quantity"), ("price", "unit_price"))
    }
    report = ingest(path, IngestOptions("transactions", mapping=maps | {"total_discounts": "order_discount"}), settings)
    assert report.order_discounts_spread == 1
    stored = OfflineStore(settings.paths).read("transactions").set_index("product_id")["discount"].astype(float)
    assert stored.to_dict() == pytest.approx({"IPOD-342-N": 19.9, "CASE-7": 1.9})


def test_a_lines_discount_allocations_are_its_discount_and_a_refund_gives_back_its_share(settings, tmp_path):
    """Shopify's orders API writes what each discount code takes off a line as its `discount_allocations`:
    the list was one JSON text column, and a code for one product was spread over every line of the order
    by the order's `total_discounts` (features/ingest/json_rows.py)."""
    from typer.testing import CliRunner

    from spend.cli import app

    orders = _shopify_orders(settings.default_currency)
    first = orders["orders"][0]
    first["total_discounts"] = "6.50"
    case = first["line_items"][1] | {"discount_allocations": [{"amount": "5.00"}, {"amount": "1.50"}]}
    first["line_items"][1] = case
    first["line_items"][0]["discount_allocations"] = []  # no discount on this line
    first["refunds"] = [{"id": 9, "refund_line_items": [{"id": 77, "quantity": 1, "line_item": case}]}]
    path = tmp_path / "orders.json"
    path.write_text(json.dumps(orders))
    told = " ".join(CliRunner().invoke(app, ["ingest", str(path), "--table", "transactions"]).output.split())
    assert "--map line_items.discount_allocations=discount" in told, told
    maps = {"order_number": "order_id", "customer.id": "customer_id", "created_at": "ts", "line_items.id": "event_id"}
    maps |= {"total_discounts": "order_discount", "line_items.discount_allocations": "discount"}
    maps |= {
        f"line_items.{f}": t for f, t in (("sku", "product_id"), ("quantity", "quantity"), ("price", "unit_price"))
    }
    report = ingest(path, IngestOptions("transactions", mapping=maps), settings, now=NOW)
    assert (report.accepted, report.order_discounts_spread, report.order_discounts_kept) == (3, 0, 1)
    stored = OfflineStore(settings.paths).read("transactions").set_index("event_id")["discount"].astype(float)
    assert stored.to_dict() == pytest.approx({"1": 0.0, "2": 6.5, "refund:77": 3.25})  # half the cases back
