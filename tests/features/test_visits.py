"""Purchase logs without order numbers or quantities (`--no-order-ids`, `--one-unit-per-line`), as H&M's
transactions are written (a date, a customer, an article, a price: one row per item): they were refused
for lacking order_id and quantity, and the user had to invent both."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from spend.cli import app
from spend.core.errors import SpendError
from spend.features.ingest.pipeline import IngestOptions, ingest
from spend.features.ingest.store import OfflineStore
from tests.features.test_validation_rules import NOW

runner = CliRunner()

ROWS = [  # alice buys two articles on the 2nd (one of them twice), and one on the 5th; bob one on the 2nd
    {"t_dat": "2026-01-02", "customer_id": "alice", "article_id": "A1", "price": "0.0339"},
    {"t_dat": "2026-01-02", "customer_id": "alice", "article_id": "A2", "price": "0.0508"},
    {"t_dat": "2026-01-02", "customer_id": "alice", "article_id": "A2", "price": "0.0508"},
    {"t_dat": "2026-01-05", "customer_id": "alice", "article_id": "A3", "price": "0.0169"},
    {"t_dat": "2026-01-02", "customer_id": "bob", "article_id": "A1", "price": "0.0339"},
]
MAPS = ["--map", "t_dat=ts", "--map", "article_id=product_id", "--map", "price=unit_price"]
FLAGS = ["--no-order-ids", "--one-unit-per-line"]  # one row per item: a repeated row is one more unit


def _ingest(path, *extra):
    return runner.invoke(app, ["ingest", str(path), "--table", "transactions", *MAPS, *extra])


def test_a_purchase_log_is_refused_naming_the_flags_that_read_it(settings, write_csv):
    result = _ingest(write_csv(ROWS, "transactions_train.csv"))
    said = " ".join(result.output.split())
    assert result.exit_code == 2 and "missing required column(s) order_id, quantity" in said
    assert "takes --no-order-ids" in said and "takes --one-unit-per-line" in said


def test_each_customers_visit_is_an_order_and_each_row_one_unit(settings, write_csv):
    path = write_csv(ROWS, "transactions_train.csv")
    result = _ingest(path, *FLAGS)
    said = " ".join(result.output.split())
    assert result.exit_code == 0, said
    assert "grouped into orders by customer, time and store (--no-order-ids): 3 orders" in said
    assert "each line read as one unit (--one-unit-per-line)" in said
    stored = OfflineStore(settings.paths).read("transactions")
    assert len(stored) == 5 and (stored["quantity"] == 1).all()  # the article bought twice: two units
    orders = stored.groupby("order_id")["product_id"].apply(sorted).sort_values().tolist()
    assert sorted(orders) == sorted([["A1", "A2", "A2"], ["A3"], ["A1"]])
    assert stored["order_id"].str.fullmatch(r"visit/[0-9a-f]{16}").all()
    assert not stored["order_id"].str.contains("alice|bob").any()  # no raw customer id in an order number
    again = json.loads(_ingest(path, *FLAGS, "--json").output)
    assert (again["accepted"], again["duplicates"]) == (0, 5)  # the same visits, the same numbers
    built = runner.invoke(app, ["features", "build", "--json"])
    assert built.exit_code == 0, built.output


def test_the_flags_refuse_an_export_that_has_what_they_stand_in_for(settings, write_csv):
    numbered = write_csv([row | {"invoice": "I1", "qty": "2"} for row in ROWS], "numbered.csv")
    told = " ".join(
        _ingest(numbered, "--map", "invoice=order_id", "--map", "qty=quantity", "--no-order-ids").output.split()
    )
    assert "--no-order-ids: the file has an order_id column" in told
    told = " ".join(
        _ingest(numbered, "--map", "invoice=order_id", "--map", "qty=quantity", "--one-unit-per-line").output.split()
    )
    assert "--one-unit-per-line: the file has a quantity column" in told


@pytest.mark.parametrize(
    ("options", "said"),
    [
        ({"table": "customers", "no_order_ids": True}, "only order lines"),
        ({"table": "transactions", "one_unit_per_line": True, "daily_totals": True}, "has its own orders and units"),
        ({"table": "transactions", "no_order_ids": True, "order_within": ("store_id",)}, "nothing|no order numbers"),
        ({"table": "transactions", "no_order_ids": True, "orders": "orders.csv"}, "joined by order numbers"),
    ],
)
def test_the_flags_say_which_options_they_cannot_go_with(options, said):
    with pytest.raises(SpendError, match=said):
        IngestOptions(**options)


def test_anonymous_lines_of_one_time_and_store_are_one_order(settings, write_csv):
    rows = [
        {"t_dat": "2026-01-02 10:00", "customer_id": "", "article_id": "A1", "price": "3", "store": "S1"},
        {"t_dat": "2026-01-02 10:00", "customer_id": "", "article_id": "A2", "price": "4", "store": "S1"},
        {"t_dat": "2026-01-02 10:00", "customer_id": "", "article_id": "A3", "price": "5", "store": "S2"},
    ]
    options = IngestOptions(
        "transactions",
        {"t_dat": "ts", "article_id": "product_id", "price": "unit_price", "store": "store_id"},
        allow_anonymous=True,
        no_order_ids=True,
        one_unit_per_line=True,
    )
    report = ingest(write_csv(rows, "till.csv"), options, settings, now=NOW)
    assert (report.accepted, report.visit_orders) == (3, 2)
