"""The demand history, its as-of day and its stock counts on the shop's calendar (SPEND_TIMEZONE), not
on UTC's: a New York shop's evening is the day it was."""

from __future__ import annotations

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
