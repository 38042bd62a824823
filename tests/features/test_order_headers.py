"""Orders and their lines exported apart (`spend ingest LINES --orders ORDERS`), as a shop's database
writes them: before, the lines had no customer and no time, and the file was refused."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from spend.cli import app
from spend.cli.ingest_notes import notes
from spend.core.errors import SpendError
from spend.features.ingest.order_headers import NOT_IN_ORDERS
from spend.features.ingest.pipeline import IngestOptions, ingest
from spend.features.ingest.store import OfflineStore
from tests.features.test_validation_rules import NOW

runner = CliRunner()

ORDERS = [  # Magento's sales_order, as a database export writes it: one row per order
    {"increment_id": "100001", "customer_id": "alice", "created_at": "2026-01-02 10:00:00", "store_id": "S1",
     "status": "complete"},
    {"increment_id": "100002", "customer_id": "bob", "created_at": "2026-01-03 11:30:00", "store_id": "S2",
     "status": "complete"},
]  # fmt: skip
LINES = [  # and its sales_order_item: the lines name only their order
    {"increment_id": "100001", "sku": "p1", "qty_ordered": "2", "price": "4.50", "store_id": ""},
    {"increment_id": "100001", "sku": "p2", "qty_ordered": "1", "price": "12.00", "store_id": "S1"},
    {"increment_id": "100002", "sku": "p1", "qty_ordered": "3", "price": "4.50", "store_id": ""},
]
MAPS = ["increment_id=order_id", "created_at=ts", "sku=product_id", "qty_ordered=quantity", "price=unit_price"]


def _files(write_csv, lines=LINES, orders=ORDERS):
    return write_csv(lines, "sales_order_item.csv"), write_csv(orders, "sales_order.csv")


def _ingest(lines, orders, *extra):
    maps = [arg for m in MAPS for arg in ("--map", m)]
    command = ["ingest", str(lines), "--table", "transactions", "--orders", str(orders), *maps, *extra]
    return runner.invoke(app, command)


def test_lines_take_their_orders_customer_time_and_store(settings, write_csv):
    lines, orders = _files(write_csv)
    line_maps = [arg for m in MAPS if not m.startswith("created_at") for arg in ("--map", m)]
    alone = runner.invoke(app, ["ingest", str(lines), "--table", "transactions", *line_maps])
    assert alone.exit_code == 2 and "take it with --orders ORDERS_FILE" in " ".join(alone.output.split())
    result = _ingest(lines, orders)
    assert result.exit_code == 0, result.output
    assert "line cells taken from their order's row in the orders file (--orders): customer_id 3, ts 3, store_id 2" in (
        " ".join(result.output.split())
    )
    stored = OfflineStore(settings.paths).read("transactions").sort_values(["order_id", "product_id"])
    assert stored["store_id"].tolist() == ["S1", "S1", "S2"]
    assert stored["customer_id"].nunique() == 2 and stored["customer_id"].str.startswith("c_").all()
    assert stored["ts"].dt.strftime("%d %H:%M").tolist() == ["02 10:00", "02 10:00", "03 11:30"]
    again = _ingest(lines, orders, "--json")
    report = json.loads(again.output)
    assert (report["accepted"], report["duplicates"]) == (0, 3)


def test_a_line_of_an_unknown_order_or_another_customer_is_quarantined(settings, write_csv):
    odd = [
        *LINES,
        {"increment_id": "100003", "sku": "p1", "qty_ordered": "1", "price": "4.50", "store_id": ""},
        {"increment_id": "100002", "sku": "p2", "qty_ordered": "1", "price": "12.00", "customer_id": "mallory"},
    ]
    lines, orders = _files(write_csv, odd)
    options = IngestOptions("transactions", dict(m.split("=") for m in MAPS), orders=str(orders))
    report = ingest(lines, options, settings, NOW)
    assert (report.received, report.accepted, report.quarantined) == (5, 3, 2), report.quarantined_by_reason
    assert report.quarantined_by_reason == {
        NOT_IN_ORDERS: 1,  # before its missing customer and time: the reason they are missing
        "customer_id:disagrees_with_orders_file": 1,
    }
    assert any("export both files for the same period" in line for line in notes(report))


def test_a_lines_own_time_or_store_gives_way_to_its_orders_and_is_counted(settings, write_csv):
    """Magento's items carry their own created_at, which the --map for the order's time maps too: a line a
    second off its order was quarantined, and the user could not map one file without the other."""
    lines = [
        LINES[0] | {"created_at": "2026-01-02 10:00:01"},
        LINES[1] | {"created_at": "2026-01-02 10:00:00", "store_id": "S7"},
        LINES[2] | {"created_at": ""},
    ]
    lines, orders = _files(write_csv, lines)
    options = IngestOptions("transactions", dict(m.split("=") for m in MAPS), orders=str(orders))
    report = ingest(lines, options, settings, NOW)
    assert (report.accepted, report.quarantined) == (3, 0)
    assert report.replaced_by_orders == {"ts": 1, "store_id": 1}
    assert report.from_orders_file == {"customer_id": 3, "ts": 1, "store_id": 2}
    said = [line for line in notes(report) if "replaced by the order's" in line]
    assert said and said[0].endswith("ts 1, store_id 1")
    stored = OfflineStore(settings.paths).read("transactions").sort_values(["order_id", "product_id"])
    assert stored["store_id"].tolist() == ["S1", "S1", "S2"]
    assert stored["ts"].dt.strftime("%H:%M:%S").tolist() == ["10:00:00", "10:00:00", "11:30:00"]


def test_a_folder_of_daily_lines_beside_their_orders_file_ingests_the_lines_only(settings, tmp_path, write_csv):
    folder = tmp_path / "exports"
    folder.mkdir()
    for day, rows in (("02", LINES[:2]), ("03", LINES[2:])):
        write_csv(rows, f"exports/items-{day}.csv")
    orders = write_csv(ORDERS, "exports/orders.csv")
    report = json.loads(_ingest(folder, orders, "--json").output)
    assert [f["source"].rsplit("/", 1)[-1] for f in report["files"]] == ["items-02.csv", "items-03.csv"]
    assert (report["received"], report["accepted"]) == (3, 3)


def test_an_order_given_twice_with_different_fields_refuses_the_orders_file(settings, write_csv):
    twice = [*ORDERS, ORDERS[1] | {"customer_id": "carol"}, ORDERS[0]]  # an exact repeat is no problem
    lines, orders = _files(write_csv, orders=twice)
    result = _ingest(lines, orders)
    assert result.exit_code == 2
    assert "sales_order.csv gives order 100002 2 rows that differ" in " ".join(result.output.split())
    assert not OfflineStore(settings.paths).has_rows("transactions")


def test_a_map_neither_file_has_is_refused_and_one_the_orders_file_needs_is_suggested(settings, write_csv):
    lines, orders = _files(write_csv)
    result = _ingest(lines, orders, "--map", "Order Date=ts")
    assert result.exit_code == 2 and "Order Date in neither" in " ".join(result.output.split())
    maps = [arg for m in MAPS if not m.startswith("created_at") for arg in ("--map", m)]
    command = ["ingest", str(lines), "--table", "transactions", "--orders", str(orders), *maps]
    unmapped = " ".join(runner.invoke(app, command).output.split())
    assert "neither file has ts; sales_order.csv looks like it: --map created_at=ts" in unmapped, unmapped


@pytest.mark.parametrize(
    ("options", "said"),
    [
        ({"table": "customers"}, "order headers are for --table transactions"),
        ({"table": "transactions", "order_within": ("store_id",)}, "--orders with --order-within"),
        ({"table": "transactions", "daily_totals": True}, "has no orders"),
    ],
)
def test_orders_only_go_with_order_lines(options, said):
    with pytest.raises(SpendError, match=said):
        IngestOptions(**options, orders="sales_order.csv")


def test_an_orders_file_without_order_level_fields_is_named(settings, write_csv):
    lines, orders = _files(write_csv, orders=[{"increment_id": "100001", "status": "complete"}])
    with pytest.raises(SpendError, match="needs an order_id column and at least one of customer_id"):
        ingest(lines, IngestOptions("transactions", {"increment_id": "order_id"}, orders=str(orders)), settings, NOW)
