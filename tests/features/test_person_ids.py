"""Customer ids made per order (Olist's `customer_id`, whose person is its customers file's
`customer_unique_id`): before, every order was a new customer who never came back."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from spend.cli import app
from spend.cli.ingest_notes import notes
from spend.core.errors import SpendError
from spend.features.ingest.pipeline import IngestOptions, ingest
from spend.features.ingest.store import OfflineStore

runner = CliRunner()

ORDERS = [  # olist_orders_dataset.csv
    {"order_id": "o1", "customer_id": "c1", "order_status": "paid", "order_purchase_timestamp": "2026-01-02 10:00"},
    {"order_id": "o2", "customer_id": "c2", "order_status": "paid", "order_purchase_timestamp": "2026-02-03 11:00"},
    {"order_id": "o3", "customer_id": "c3", "order_status": "paid", "order_purchase_timestamp": "2026-02-04 12:00"},
    {"order_id": "o4", "customer_id": "c9", "order_status": "paid", "order_purchase_timestamp": "2026-02-05 13:00"},
]  # fmt: skip
ITEMS = [  # olist_order_items_dataset.csv: one row per item, no quantity, no customer, no time
    {"order_id": "o1", "order_item_id": 1, "product_id": "p1", "price": "29.90", "freight_value": "8.72"},
    {"order_id": "o1", "order_item_id": 2, "product_id": "p1", "price": "29.90", "freight_value": "8.72"},
    {"order_id": "o2", "order_item_id": 1, "product_id": "p2", "price": "10.00", "freight_value": "5.00"},
    {"order_id": "o3", "order_item_id": 1, "product_id": "p2", "price": "10.00", "freight_value": "5.00"},
    {"order_id": "o4", "order_item_id": 1, "product_id": "p2", "price": "10.00", "freight_value": "5.00"},
]
CUSTOMERS = [  # olist_customers_dataset.csv: a customer_id per order, the person's customer_unique_id
    {"customer_id": "c1", "customer_unique_id": "u1", "customer_state": "SP"},
    {"customer_id": "c2", "customer_unique_id": "u1", "customer_state": "SP"},
    {"customer_id": "c3", "customer_unique_id": "u2", "customer_state": "RJ"},
]
MAPS = {"order_purchase_timestamp": "ts", "price": "unit_price", "customer_unique_id": "person_id"}


def _files(write_csv, customers=CUSTOMERS):
    names = ("items.csv", "orders.csv", "customers.csv")
    return [write_csv(rows, name) for rows, name in zip((ITEMS, ORDERS, customers), names, strict=True)]


def _options(orders, persons, table="transactions", mapping=MAPS):
    return IngestOptions(table, mapping, orders=orders, person_ids=str(persons), one_unit_per_line=orders is not None)


def test_a_persons_two_orders_are_one_customers(settings, write_csv):
    items, orders, customers = _files(write_csv)
    report = ingest(items, _options(str(orders), customers), settings)
    assert report.quarantined_by_reason == {"customer_id:not_in_person_file": 1}  # c9: no person known
    assert (report.person_lines, report.person_customer_ids, report.persons) == (4, 3, 2)
    assert "3 customer ids on 4 lines are 2 persons" in " ".join(notes(report))
    stored = OfflineStore(settings.paths).read("transactions")
    by_order = stored.groupby("order_id")["customer_id"].first()
    assert by_order["o1"] == by_order["o2"] != by_order["o3"]  # u1 came back
    assert stored["customer_id"].nunique() == 2


def test_a_customer_the_persons_file_holds_without_a_person_is_said_so(settings, write_csv):
    blank = [*CUSTOMERS, {"customer_id": "c9", "customer_unique_id": "", "customer_state": "SP"}]
    items, orders, customers = _files(write_csv, blank)
    report = ingest(items, _options(str(orders), customers), settings)
    assert report.quarantined_by_reason == {"customer_id:blank_person_in_person_file": 1}
    assert "the persons file holds with a blank person" in " ".join(notes(report))


def test_a_customers_list_keyed_by_order_is_read_as_its_persons(settings, write_csv):
    items, orders, customers = _files(write_csv)
    ingest(items, _options(str(orders), customers), settings)
    maps = {"customer_unique_id": "person_id", "customer_state": "region"}
    listed = ingest(customers, _options(None, customers, "customers", maps), settings)
    assert (listed.accepted, listed.duplicates) == (2, 1)  # u1 twice, alike
    assert "person_id" not in listed.ignored_columns
    stored = OfflineStore(settings.paths).read("customers")
    lines = OfflineStore(settings.paths).read("transactions")
    assert set(stored["customer_id"]) == set(lines["customer_id"])


def test_the_persons_file_needs_its_two_columns_and_one_person_per_id(settings, write_csv):
    items, orders, customers = _files(write_csv)
    maps = [a for old, new in MAPS.items() if new != "person_id" for a in ("--map", f"{old}={new}")]
    command = ["ingest", str(items), "--table", "transactions", "--orders", str(orders), "--one-unit-per-line"]
    told = runner.invoke(app, [*command, "--person-ids", str(customers), *maps])
    assert told.exit_code == 2
    assert "it looks like: --map customer_unique_id=person_id" in " ".join(told.output.split())
    every = [*maps, "--map", "customer_unique_id=person_id", "--map", "nope=region"]
    unused = runner.invoke(app, [*command, "--person-ids", str(customers), *every])
    assert "nope in none of items.csv, orders.csv, customers.csv" in " ".join(unused.output.split())
    _, _, twice = _files(write_csv, [*CUSTOMERS, {"customer_id": "c1", "customer_unique_id": "u7"}])
    with pytest.raises(SpendError, match="gives 1 customer id"):
        ingest(items, _options(str(orders), twice), settings)


@pytest.mark.parametrize(
    ("options", "said"),
    [
        ({"table": "products"}, "the products table names no customer"),
        ({"table": "transactions", "daily_totals": True}, "names no customers"),
    ],
)
def test_person_ids_only_go_with_customers(options, said):
    with pytest.raises(SpendError, match=said):
        IngestOptions(**options, person_ids="customers.csv")


def test_a_folder_does_not_read_its_persons_file_as_lines(settings, tmp_path, write_csv):
    items, orders, customers = _files(write_csv)
    maps = [a for old, new in MAPS.items() for a in ("--map", f"{old}={new}")]
    command = ["ingest", str(tmp_path), "--table", "transactions", "--orders", str(orders)]
    result = runner.invoke(app, [*command, "--person-ids", str(customers), "--one-unit-per-line", *maps, "--json"])
    assert result.exit_code == 0, result.output
    assert '"received": 5' in result.output  # items.csv alone
