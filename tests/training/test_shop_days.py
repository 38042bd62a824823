"""The demand history, its as-of day and its stock counts on the shop's calendar (SPEND_TIMEZONE), not
on UTC's: a New York shop's evening is the day it was."""

from __future__ import annotations

import json

import pandas as pd

from spend.core.settings import SpendSettings
from spend.features.compute.days import ShopClock
from spend.features.compute.products import demand_snapshots
from spend.features.store.definitions import SNAPSHOT_FILES
from spend.models.demand_requests import day, latest_counts
from spend.training.datasets.series_backtest import read_history

NEW_YORK = "America/New_York"


def _sales() -> pd.DataFrame:
    utc = ["2026-03-07 02:30", "2026-03-09 03:30", "2026-03-10 01:00"]  # 6 March 21:30, 8 March 23:30, 9 March 21:00
    return pd.DataFrame(
        {
            "customer_id": "a",
            "order_id": ["o1", "o2", "o3"],
            "ts": pd.to_datetime(utc, utc=True),
            "product_id": "p1",
            "quantity": [2.0, 5.0, 1.0],
            "unit_price": 10.0,
            "discount": 0.0,
            "kind": "purchase",
            "store_id": "s1",
            "unit_cost": 1.0,
        }
    )


def test_the_demand_history_counts_the_shops_days_and_stops_before_its_as_of_day(settings: SpendSettings):
    shop = settings.model_copy(update={"timezone": NEW_YORK})
    shop.paths.feature_snapshots.mkdir(parents=True, exist_ok=True)
    snap = demand_snapshots(_sales(), pd.Timestamp("2026-04-01", tz="UTC"), clock=ShopClock(NEW_YORK))
    snap.to_parquet(shop.paths.feature_snapshots / SNAPSHOT_FILES["product_store"])
    history = read_history(shop).history.set_index("date")["units"]
    assert history.to_dict() == {
        pd.Timestamp("2026-03-06"): 2.0,
        pd.Timestamp("2026-03-07"): 0.0,
        pd.Timestamp("2026-03-08"): 5.0,
        pd.Timestamp("2026-03-09"): 1.0,
    }
    before = read_history(shop, as_of=pd.Timestamp("2026-03-09", tz="UTC")).history
    assert before["date"].max() == pd.Timestamp("2026-03-08")  # the 8th ended at 04:00 UTC on the 9th


def test_stock_counts_and_as_of_instants_are_read_on_the_shops_calendar():
    counts = pd.DataFrame(
        {
            "product_id": ["p1"],
            "store_id": ["s1"],
            "ts": pd.to_datetime(["2026-03-09 03:00"], utc=True),  # 8 March, 23:00 in New York
            "on_hand": [4.0],
            "on_order": [0.0],
            "lead_time_days": [2.0],
        }
    )
    as_of = pd.Timestamp("2026-03-09")
    assert latest_counts(counts, as_of, NEW_YORK)["count_age_days"].tolist() == [0]
    assert latest_counts(counts, as_of).empty  # on UTC's calendar it was counted on the 9th itself
    assert day(pd.Timestamp("2026-03-09 03:00", tz="UTC"), NEW_YORK) == pd.Timestamp("2026-03-08")
    assert day("2026-03-09", NEW_YORK) == as_of  # a date is a date, whatever the zone


def test_a_listing_in_the_shops_evening_launches_that_day():
    from spend.features.compute.catalogue import Catalogue

    rows = pd.DataFrame(
        {
            "product_id": ["p9"],
            "category": ["tea"],
            "substitute_group": [None],
            "listed_at": pd.to_datetime(["2026-03-09 03:00"], utc=True),  # 8 March, 23:00 in New York
        }
    )
    catalogue = Catalogue.of(rows)
    assert catalogue.launches([], NEW_YORK)["ds"].tolist() == [pd.Timestamp("2026-03-08")]
    assert catalogue.launches([])["ds"].tolist() == [pd.Timestamp("2026-03-09")]


def test_a_store_whose_lines_name_another_zone_has_its_days_cut_at_its_own_midnight(
    settings, tmp_path, monkeypatch, write_csv
):
    """A New York shop's Los Angeles store (Square's `Time Zone`): its 22:30 sale is that day's demand in
    Los Angeles, where the shop's clock already showed the next day; the shop's own store is unchanged."""
    from typer.testing import CliRunner

    from spend.cli import app
    from spend.features.ingest.pipeline import IngestOptions, ingest
    from tests.features.test_validation_rules import NOW

    monkeypatch.setenv("SPEND_TIMEZONE", NEW_YORK)
    shop = settings.model_copy(update={"timezone": NEW_YORK})
    la, ny = "America/Los_Angeles", NEW_YORK
    lines = [
        ("o1", "NYC", ny, "2026-01-05 21:30", 2.0),
        ("o2", "LAX", la, "2026-01-05 22:30", 3.0),  # 01:30 on the 6th in New York
        ("o3", "NYC", ny, "2026-01-08 12:00", 1.0),
        ("o4", "LAX", la, "2026-01-08 12:00", 1.0),
        ("o5", "LAX", None, "2026-01-07 12:00", 1.0),  # a line without its zone: its store's is the most named
    ]
    frame = pd.DataFrame(lines, columns=["order_id", "store_id", "time_zone", "ts", "quantity"])
    path = write_csv(frame.assign(customer_id="c1", product_id="p1", unit_price=10.0))
    assert ingest(path, IngestOptions("transactions"), shop, now=NOW).accepted == 5
    built = CliRunner().invoke(app, ["features", "build", "--until", "2026-01-10", "--json"])
    assert built.exit_code == 0, built.output
    manifest = json.loads((shop.paths.feature_snapshots / "manifest.json").read_text())
    assert manifest["store_zones"] == json.loads(built.stdout)["store_zones"] == {"LAX": la}  # NYC: the shop's
    told = CliRunner().invoke(app, ["features", "build", "--until", "2026-01-10"])
    assert f"stores counting days from their own midnight: LAX ({la})" in " ".join(told.output.split())
    history = read_history(shop).history.set_index(["store_id", "date"])["units"]
    assert history[("LAX", pd.Timestamp("2026-01-05"))] == 3.0 and history[("LAX", pd.Timestamp("2026-01-06"))] == 0
    assert history[("LAX", pd.Timestamp("2026-01-07"))] == 1.0
    assert history[("NYC", pd.Timestamp("2026-01-05"))] == 2.0 and history[("NYC", pd.Timestamp("2026-01-06"))] == 0
    last = history.groupby(level="store_id").apply(lambda s: s.index.get_level_values("date").max())
    assert last.to_dict() == {"LAX": pd.Timestamp("2026-01-08"), "NYC": pd.Timestamp("2026-01-08")}


def test_a_stores_counts_are_read_on_its_own_clock():
    counts = pd.DataFrame(
        {
            "product_id": ["p1", "p1"],
            "store_id": ["NYC", "LAX"],
            "ts": pd.to_datetime(["2026-01-08 03:00", "2026-01-08 06:00"], utc=True),  # 22:00 in either store
            "on_hand": [4.0, 5.0],
            "on_order": [0.0, 0.0],
            "lead_time_days": [2.0, 2.0],
        }
    )
    as_of = pd.Timestamp("2026-01-08")
    stores = {"LAX": "America/Los_Angeles"}
    counted = latest_counts(counts, as_of, NEW_YORK, stores).set_index("store_id")["count_age_days"]
    assert counted.to_dict() == {"NYC": 0, "LAX": 0}  # both counted at the close of the 7th
    assert latest_counts(counts, as_of, NEW_YORK)["store_id"].tolist() == ["NYC"]  # on the shop's clock: the 8th


def test_a_home_whose_first_file_predates_the_zone_column_still_finds_a_stores_zone(settings, write_csv):
    """Files written before `time_zone` existed lack the column (Arrow reads a folder by its first file's
    schema): the build reads only lines that name a zone, from every file that has the column."""
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    from spend.features.ingest.pipeline import IngestOptions, ingest
    from spend.features.ingest.store import OfflineStore
    from spend.features.store.build import store_clocks
    from tests.features.test_validation_rules import NOW

    def lines(order: str, zone: str | None):
        frame = pd.DataFrame(
            {"order_id": [order], "store_id": ["LAX"], "time_zone": [zone], "ts": ["2026-01-05 10:00"]}
        )
        return write_csv(frame.assign(customer_id="c1", product_id="p1", quantity=1.0, unit_price=2.0), f"{order}.csv")

    ingest(lines("o1", None), IngestOptions("transactions"), settings, now=NOW)
    store = OfflineStore(settings.paths)
    (old,) = store.files("transactions")
    pq.write_table(pq.read_table(old).drop_columns(["time_zone"]), old)  # as a Spend before the field wrote it
    everything = ds.scalar(True)
    assert not store.has_column("transactions", "time_zone")
    assert store_clocks(settings, store, everything).stores == ()
    ingest(lines("o2", "America/Los_Angeles"), IngestOptions("transactions"), settings, now=NOW)
    assert store.has_column("transactions", "time_zone")
    assert store_clocks(settings, store, everything).zones == {"LAX": "America/Los_Angeles"}


def test_a_store_a_day_ahead_of_the_shops_clock_keeps_its_own_dates():
    """An Auckland store of a Los Angeles shop: 21 hours ahead, its midnight is the shop's early afternoon
    of the day before."""
    from spend.features.compute.days import StoreClocks

    sale = _sales().iloc[:1].assign(store_id="AKL", ts=pd.Timestamp("2026-01-04 21:00", tz="UTC"))  # 5 Jan 10:00
    clocks = StoreClocks.of(ShopClock("America/Los_Angeles"), {"AKL": "Pacific/Auckland"})
    snap = demand_snapshots(sale, pd.Timestamp("2026-01-08", tz="UTC"), clock=clocks)
    days = clocks.days_ended(snap["event_timestamp"], snap["store_id"])
    assert dict(zip(days, snap["units_1d"], strict=True))[pd.Timestamp("2026-01-05")] == 2.0
    assert days.min() == pd.Timestamp("2026-01-05")
