"""The product catalogue (`--table products`): ingested as shops export it, dated by first sales, its
latest row per product counting (a re-categorised product), scored for coverage, and read by the models
as categories and substitute pairs."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from spend.cli import app
from spend.cli.ingest_notes import notes
from spend.features.compute.catalogue import MAX_GROUP, NO_CATALOGUE, Catalogue
from spend.features.ingest.pipeline import IngestOptions, ingest
from spend.features.ingest.store import OfflineStore
from spend.features.quality.scorecard import scorecard
from tests.features.test_validation_rules import GOOD_LINE, NOW

CATALOGUE = [
    {"SKU": "p1", "Product Category": "grocery", "substitute_group": "cola"},
    {"SKU": "p-unsold", "Product Category": "toys", "substitute_group": ""},
]
MAP = {"SKU": "product_id", "Product Category": "category"}


def _sold(settings, write_csv, products=("p1",)) -> None:
    lines = [GOOD_LINE | {"event_id": f"e-{p}", "order_id": f"o-{p}", "product_id": p} for p in products]
    ingest(write_csv(lines, "sales.csv"), IngestOptions("transactions"), settings, now=NOW)


def test_a_catalogue_without_dates_takes_first_sales_and_an_unsold_product_waits_for_one(settings, write_csv):
    _sold(settings, write_csv)
    path = write_csv(CATALOGUE, "products.csv")
    report = ingest(path, IngestOptions("products", mapping=MAP), settings, now=NOW)
    assert (report.received, report.accepted, report.quarantined) == (2, 1, 1)
    assert report.quarantined_by_reason == {"listed_at:missing": 1}
    assert report.dated_by_first_line == 1
    stored = OfflineStore(settings.paths).read("products").set_index("product_id")
    assert stored.loc["p1", "category"] == "grocery" and stored.loc["p1", "substitute_group"] == "cola"
    sold_at = OfflineStore(settings.paths).read("transactions")["ts"].min()
    assert stored.loc["p1", "listed_at"] == sold_at
    again = ingest(path, IngestOptions("products", mapping=MAP), settings, now=NOW)
    assert (again.accepted, again.duplicates) == (0, 2)  # the same catalogue adds nothing
    _sold(settings, write_csv, ("p-unsold",))
    once_sold = ingest(path, IngestOptions("products", mapping=MAP), settings, now=NOW)
    assert (once_sold.accepted, once_sold.duplicates, once_sold.quarantined) == (1, 1, 0)


def _categories(settings) -> dict:
    return Catalogue.read(OfflineStore(settings.paths)).categories.to_dict()


def test_a_changed_category_replaces_the_stored_one_and_can_change_back(settings, write_csv):
    """A shop re-categorises a product, or fixes a wrong category: its row was quarantined as a conflict,
    and the wrong category stayed for good."""
    _sold(settings, write_csv)
    options = IngestOptions("products", mapping=MAP)
    ingest(write_csv(CATALOGUE[:1], "products.csv"), options, settings, now=NOW)
    moved = ingest(write_csv([CATALOGUE[0] | {"Product Category": "drinks"}], "moved.csv"), options, settings, now=NOW)
    assert (moved.accepted, moved.quarantined, moved.replaced) == (1, 0, 1)
    assert "products whose stored row this file changes (a new category or group): 1 replaced" in notes(moved)
    assert _categories(settings) == {"p1": "drinks"}
    card = scorecard(settings, now=NOW)["tables"]["products"]
    assert card["uniqueness"]["failing"] == []  # an older version is history, not a second row of the key
    back = ingest(write_csv(CATALOGUE[:1], "back.csv"), options, settings, now=NOW)
    assert (back.accepted, back.duplicates, back.replaced) == (1, 0, 1)  # stored before, but not today's
    assert _categories(settings) == {"p1": "grocery"}
    same = ingest(write_csv(CATALOGUE[:1], "same.csv"), options, settings, now=NOW)
    assert (same.accepted, same.duplicates) == (0, 1)


def test_two_rows_of_one_product_in_one_file_conflict(settings, write_csv):
    _sold(settings, write_csv)
    rows = [CATALOGUE[0], CATALOGUE[0] | {"Product Category": "drinks"}]
    report = ingest(write_csv(rows, "products.csv"), IngestOptions("products", mapping=MAP), settings, now=NOW)
    assert report.quarantined_by_reason == {"product_id:duplicate_product_id": 1}
    assert _categories(settings) == {"p1": "grocery"}
    alone = ingest(write_csv(rows[1:], "fixed.csv"), IngestOptions("products", mapping=MAP), settings, now=NOW)
    assert (alone.accepted, alone.replaced) == (1, 1)  # the refused row, sent alone, is the change it was
    assert _categories(settings) == {"p1": "drinks"}


def test_a_blank_listing_date_keeps_the_stored_one(settings, write_csv):
    """A catalogue sent again without its dates repeats the stored rows; before, each blank took the first
    sale's date, which differs from a date given before, and the row became a change."""
    _sold(settings, write_csv)
    options = IngestOptions("products", mapping=MAP)
    dated = [CATALOGUE[0] | {"listed_at": "2025-03-01T00:00:00"}]
    ingest(write_csv(dated, "dated.csv"), options, settings, now=NOW)
    again = ingest(write_csv(CATALOGUE[:1], "undated.csv"), options, settings, now=NOW)
    assert (again.accepted, again.duplicates, again.dated_by_first_line) == (0, 1, 1)
    stored = OfflineStore(settings.paths).latest("products", "product_id")
    assert stored["listed_at"].tolist() == [pd.Timestamp("2025-03-01", tz="UTC")]


def test_a_shops_catalogue_export_gets_the_map_to_type(settings, write_csv):
    path = write_csv([{"Variant SKU": "p1", "Product Category": "grocery", "Vendor": "Acme"}], "products.csv")
    result = CliRunner().invoke(app, ["ingest", str(path), "--table", "products"])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "--map 'Variant SKU=product_id' --map 'Product Category=category'" in result.output
    assert "(found Variant SKU, Product Category, Vendor)" in result.output  # not the date Spend adds


def test_sold_products_missing_from_the_catalogue_are_scored(settings, write_csv):
    _sold(settings, write_csv, ("p1", "p2"))
    ingest(write_csv(CATALOGUE, "products.csv"), IngestOptions("products", mapping=MAP), settings, now=NOW)
    card = scorecard(settings, now=NOW)["tables"]["products"]
    assert "sold_product_catalogued: 1 of 2 sold products fail" in " ".join(card["consistency"]["failing"])


def test_substitute_groups_become_pairs_and_a_group_too_big_is_said():
    big = [f"B{j}" for j in range(MAX_GROUP + 1)]
    rows = pd.DataFrame(
        {
            "product_id": ["A1", "A2", "A3", "C1", *big],
            "category": "x",
            "substitute_group": ["cola", "cola", "cola", None, *["crisps"] * len(big)],
        }
    )
    shelf = Catalogue.of(rows)
    pairs = set(shelf.substitutes.itertuples(index=False, name=None))
    assert pairs == {(a, b) for a in ("A1", "A2", "A3") for b in ("A1", "A2", "A3") if a != b}
    assert "crisps" in shelf.note and str(MAX_GROUP) in shelf.note
    assert shelf.categories.to_dict() == dict.fromkeys(rows["product_id"], "x")
    empty = Catalogue.of(pd.DataFrame())
    assert empty.categories is None and empty.substitutes is None and empty.note == NO_CATALOGUE
