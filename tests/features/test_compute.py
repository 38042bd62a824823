"""Feature computations on hand-built histories: windows are exact and never see the future."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spend.features.compute.customer_activity import customer_snapshots
from spend.features.compute.days import ShopClock
from spend.features.compute.products import NO_STORE, ONE_SHOP, demand_snapshots, pricing_snapshots
from spend.features.compute.terminals import terminal_snapshots
from spend.features.compute.windows import EventIndex, daily_cutoffs

UNTIL = pd.Timestamp("2026-03-01", tz="UTC")


def _lines(rows) -> pd.DataFrame:
    frame = pd.DataFrame(
        rows,
        columns=[
            "customer_id",
            "order_id",
            "ts",
            "product_id",
            "quantity",
            "unit_price",
            "discount",
            "kind",
            "channel",
            "store_id",
            "terminal_id",
        ],
    )
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    frame["unit_cost"] = 1.0
    return frame


HISTORY = _lines(
    [
        ("a", "o1", "2026-01-10 10:00", "p1", 2, 10.0, 0.0, "purchase", "pos", "s1", "t1"),
        ("a", "o2", "2026-01-20 00:00", "p1", 1, 10.0, 5.0, "purchase", "web", "s1", None),  # exactly at a cut-off
        ("a", "r1", "2026-01-25 12:00", "p1", -1, 10.0, 0.0, "return", "web", "s1", None),
        ("b", "o3", "2026-01-15 09:00", "p2", 1, 100.0, 0.0, "purchase", "app", "s2", "t1"),
    ]
)
EMPTY = pd.DataFrame(columns=["customer_id", "ts", "points", "tier"])


@pytest.fixture(scope="module")
def snapshots() -> pd.DataFrame:
    customers = pd.DataFrame(
        {"customer_id": ["a", "b"], "signup_ts": pd.to_datetime(["2026-01-01", "2026-01-02"], utc=True)}
    )
    frames = customer_snapshots(HISTORY, EMPTY, EMPTY, customers, UNTIL)
    return pd.concat(frames).set_index(["customer_id", "event_timestamp"])


def at(snapshots, customer, day):
    return snapshots.loc[(customer, pd.Timestamp(day, tz="UTC"))]


def test_a_snapshot_never_counts_an_event_at_or_after_its_cut_off(snapshots):
    # o2 happens exactly at 2026-01-20 00:00: the snapshot cut at that instant must not count it.
    assert at(snapshots, "a", "2026-01-20")["orders_30d"] == 1
    assert at(snapshots, "a", "2026-01-20")["spend_30d"] == 20.0
    assert at(snapshots, "a", "2026-01-21")["orders_30d"] == 2
    assert at(snapshots, "a", "2026-01-21")["spend_30d"] == 25.0  # 20 + (10 - 5 discount)
    assert at(snapshots, "a", "2026-01-21")["discount_share_90d"] == pytest.approx(5 / 30)


def test_windows_drop_events_as_they_age_out(snapshots):
    assert at(snapshots, "a", "2026-02-09")["orders_30d"] == 2  # o1 is 29.6 days old
    assert at(snapshots, "a", "2026-02-10")["orders_30d"] == 1  # o1 is 30.6 days old
    assert at(snapshots, "a", "2026-02-10")["orders_90d"] == 2


def test_returns_recency_tenure_and_channel_mix(snapshots):
    day = at(snapshots, "a", "2026-01-26")
    assert day["return_rate_90d"] == pytest.approx(10 / 30)
    assert day["days_since_last_order"] == pytest.approx(6.0)
    assert day["tenure_days"] == pytest.approx(25.0)
    assert day["days_since_first_order"] == pytest.approx(16 - 10 / 24)  # o1 on Jan 10 at 10:00
    assert day["purchase_days_total"] == day["orders_total"] == 2
    assert (day["pos_share_90d"], day["web_share_90d"]) == (0.5, 0.5)
    assert not (snapshots.index.get_level_values("event_timestamp") > UNTIL).any()


def test_customers_get_snapshots_only_after_their_first_order(snapshots):
    first_b = snapshots.loc["b"].index.min()
    assert first_b == pd.Timestamp("2026-01-16", tz="UTC")


def test_window_sums_match_brute_force_on_random_events():
    rng = np.random.default_rng(5)
    codes, secs = rng.integers(0, 30, 2_000), rng.integers(0, 100 * 86_400, 2_000)
    values = rng.normal(size=2_000)
    index = EventIndex.build(codes, secs, {"v": values})
    qc, qt = rng.integers(0, 30, 300), rng.integers(0, 100 * 86_400, 300)
    fast = index.window_sum("v", qc, qt, 7 * 86_400)
    slow = [values[(codes == c) & (secs < t) & (secs >= t - 7 * 86_400)].sum() for c, t in zip(qc, qt, strict=True)]
    np.testing.assert_allclose(fast, slow, atol=1e-6)


def test_an_entitys_windows_do_not_depend_on_the_other_entities_in_the_index():
    """What lets Spark compute each partition apart (features/store/spark_build.py): an entity's sums come
    out bit for bit the same beside a million-pound neighbour or alone."""
    rng = np.random.default_rng(7)
    codes, secs = rng.integers(0, 40, 4_000), rng.integers(0, 200 * 86_400, 4_000)
    values = np.round(rng.gamma(2.0, 40.0, 4_000), 2) + np.where(codes < 20, 1e7, 0.0)
    everyone = EventIndex.build(codes, secs, {"v": values})
    mine = codes >= 20
    alone = EventIndex.build(codes[mine] - 20, secs[mine], {"v": values[mine]})
    qc, qt = rng.integers(20, 41, 500), rng.integers(0, 200 * 86_400, 500)
    for window in (86_400, 30 * 86_400, None):
        together = everyone.window_sum("v", qc, qt, window)
        apart = alone.window_sum("v", qc - 20, qt, window)
        assert np.array_equal(together, apart)
        assert (together[qc == 40] == 0).all()  # an entity without events


def test_first_event_before_a_cutoff_matches_brute_force():
    rng = np.random.default_rng(6)
    codes, secs = rng.integers(0, 30, 500), rng.integers(0, 100 * 86_400, 500)
    index = EventIndex.build(codes, secs, {"v": np.ones(500)})
    qc, qt = rng.integers(0, 31, 300), rng.integers(0, 100 * 86_400, 300)
    slow = [min(secs[(codes == c) & (secs < t)], default=-1) for c, t in zip(qc, qt, strict=True)]
    assert index.first_before(qc, qt).tolist() == slow


def test_daily_cutoffs_cover_each_span_inclusively():
    entity, cutoff = daily_cutoffs(np.array([0, 86_400]), np.array([2 * 86_400, 86_400]))
    assert entity.tolist() == [0, 0, 0, 1] and cutoff.tolist() == [0, 86_400, 172_800, 86_400]


def test_terminal_risk_only_counts_labels_older_than_the_delay():
    payments = _lines(
        [
            (f"c{i}", f"o{i}", f"2026-01-{10 + i:02d} 12:00", "p", 1, 10.0, 0.0, "purchase", "pos", "s", "t1")
            for i in range(5)
        ]
    )
    labels = pd.DataFrame(
        {
            "order_id": ["o0", "o1"],
            "is_fraud": [1, 1],
            "ts": pd.to_datetime(["2026-01-17 12:00", "2026-02-20 00:00"], utc=True),
        }
    )
    snaps = terminal_snapshots(payments, labels, UNTIL, delay_days=7).set_index("event_timestamp")
    # On Jan 18 the window is payments before Jan 11: o0 (Jan 10, label known Jan 17) counts.
    assert snaps.loc[pd.Timestamp("2026-01-18", tz="UTC"), "terminal_risk_30d"] == 1.0
    # On Jan 19 o1 (Jan 11) enters the window, but its label only arrives on Feb 20: not fraud yet.
    assert snaps.loc[pd.Timestamp("2026-01-19", tz="UTC"), "terminal_nb_tx_30d"] == 2
    assert snaps.loc[pd.Timestamp("2026-01-19", tz="UTC"), "terminal_risk_30d"] == 0.5
    # Nothing from the last 7 days is ever in a window.
    assert snaps.loc[pd.Timestamp("2026-01-16", tz="UTC"), "terminal_nb_tx_30d"] == 0


def test_card_payments_without_any_fraud_label_build_terminals_with_no_known_risk():
    """A shop that exports terminal ids but no fraud outcomes: the build used to die on the empty table."""
    payments = _lines(
        [
            (f"c{i}", f"o{i}", f"2026-01-{10 + i:02d} 12:00", "p", 1, 10.0, 0.0, "purchase", "pos", "s", "t1")
            for i in range(5)
        ]
    )
    snaps = terminal_snapshots(payments, pd.DataFrame(), UNTIL, delay_days=7).set_index("event_timestamp")
    assert snaps.loc[pd.Timestamp("2026-01-25", tz="UTC"), "terminal_nb_tx_30d"] == 5
    assert (snaps["terminal_risk_30d"] == 0).all()


def test_stock_out_days_are_flagged_from_the_closing_count():
    counts = pd.DataFrame(
        {
            "product_id": ["p1", "p1", "p1"],
            "store_id": ["s1", "s1", "s1"],
            "ts": pd.to_datetime(["2026-01-11 08:00", "2026-01-11 21:00", "2026-01-13 21:00"], utc=True),
            "on_hand": [0.0, 4.0, 0.0],
        }
    )
    demand = demand_snapshots(HISTORY, UNTIL, counts).set_index(["product_id", "store_id", "event_timestamp"])
    p1 = demand.loc[("p1", "s1"), "stockout_1d"]
    assert p1.loc[pd.Timestamp("2026-01-12", tz="UTC")] == 0.0  # the day's last count had stock
    assert np.isnan(p1.loc[pd.Timestamp("2026-01-13", tz="UTC")])  # no count that day
    assert p1.loc[pd.Timestamp("2026-01-14", tz="UTC")] == 1.0
    assert demand_snapshots(HISTORY, UNTIL)["stockout_1d"].isna().all()  # no inventory: not known


def test_demand_rows_are_dense_and_pricing_follows_shelf_price():
    demand = demand_snapshots(HISTORY, UNTIL).set_index(["product_id", "store_id", "event_timestamp"])
    p1 = demand.loc[("p1", "s1")]
    assert p1.loc[pd.Timestamp("2026-01-11", tz="UTC"), "units_1d"] == 2
    assert p1.loc[pd.Timestamp("2026-01-12", tz="UTC"), "units_1d"] == 0  # a day without sales is a zero row
    assert p1.loc[pd.Timestamp("2026-01-26", tz="UTC"), "returned_units_1d"] == 1
    pricing = pricing_snapshots(HISTORY, UNTIL).set_index(["product_id", "event_timestamp"])
    assert pricing.loc[("p2", pd.Timestamp("2026-01-16", tz="UTC")), "current_price"] == 100.0


def test_units_without_a_price_count_as_demand_and_leave_the_priced_days_prices_alone():
    """A daily total of units alone (no price) made every later window's revenue NaN (prefix sums carry
    it), so a product's price vanished for good after one such day; its units are demand all the same."""
    unpriced = _lines([(None, "d1", "2026-01-12 00:00", "p1", 4, np.nan, 0.0, "purchase", None, "s1", None)])
    demand = demand_snapshots(pd.concat([HISTORY, unpriced]), UNTIL).set_index(
        ["product_id", "store_id", "event_timestamp"]
    )
    p1 = demand.loc[("p1", "s1")]
    day = pd.Timestamp("2026-01-13", tz="UTC")
    assert p1.loc[day, "units_1d"] == 4
    assert np.isnan(p1.loc[day, "revenue_1d"]) and np.isnan(p1.loc[day, "avg_unit_price_1d"])
    later = p1.loc[pd.Timestamp("2026-01-21", tz="UTC")]  # o2: 1 unit at 10, 5 off the line
    assert (later["revenue_1d"], later["avg_unit_price_1d"]) == (5.0, 5.0)
    assert p1.loc[pd.Timestamp("2026-01-14", tz="UTC"), "revenue_1d"] == 0.0  # no sale: nothing unknown
    assert p1["units_7d"].max() == 6  # the 2 of 10 January and the 4 without a price
    pricing = pricing_snapshots(pd.concat([HISTORY, unpriced]), UNTIL).set_index(["product_id", "event_timestamp"])
    assert pricing.loc[("p1", day), "current_price"] == 10.0  # the last known price, not the unknown one
    assert pricing["price_changes_90d"].max() == 0
    assert pricing_snapshots(unpriced, UNTIL).empty


def test_a_shops_days_start_at_its_own_midnight_across_a_daylight_saving_change():
    """In New York, a sale at 21:30 is that day's demand, not the next UTC day's; the day clocks go
    forward is 23 hours long, and each snapshot's instant is the local midnight that ended its day."""
    ny = ShopClock("America/New_York")
    sales = _lines(
        [
            ("a", "o1", "2026-03-07 02:30", "p1", 2, 10.0, 0.0, "purchase", "pos", "s1", None),  # 6 March, 21:30
            ("a", "o2", "2026-03-09 03:30", "p1", 5, 12.0, 0.0, "purchase", "pos", "s1", None),  # 8 March, 23:30 EDT
            ("a", "o3", "2026-03-09 04:30", "p1", 1, 12.0, 0.0, "purchase", "pos", "s1", None),  # 9 March, 00:30
        ]
    )
    counts = pd.DataFrame(
        {
            "product_id": ["p1"],
            "store_id": ["s1"],
            "ts": pd.to_datetime(["2026-03-09 03:00"], utc=True),
            "on_hand": [0.0],
        }
    )
    demand = demand_snapshots(sales, UNTIL + pd.Timedelta(days=30), counts, clock=ny)
    days = ny.dates(demand["event_timestamp"]) - pd.Timedelta(days=1)
    units = dict(zip(days.dt.strftime("%m-%d"), demand["units_1d"], strict=True))
    assert (units["03-06"], units["03-07"], units["03-08"], units["03-09"]) == (2, 0, 5, 1)
    ends = demand.set_index(days.dt.strftime("%m-%d"))["event_timestamp"]
    assert ends["03-07"] == pd.Timestamp("2026-03-08 05:00", tz="UTC")  # midnight EST
    assert ends["03-08"] == pd.Timestamp("2026-03-09 04:00", tz="UTC")  # midnight EDT: a 23-hour day
    assert demand.set_index(days.dt.strftime("%m-%d")).loc["03-08", "stockout_1d"] == 1.0  # counted 23:00 EDT
    utc = demand_snapshots(sales, UNTIL + pd.Timedelta(days=30))
    assert utc.set_index("event_timestamp").loc[pd.Timestamp("2026-03-08", tz="UTC"), "units_1d"] == 2  # as before
    prices = pricing_snapshots(sales, UNTIL + pd.Timedelta(days=30), ny)
    price_days = (ny.dates(prices["event_timestamp"]) - pd.Timedelta(days=1)).dt.strftime("%m-%d")
    assert prices.set_index(price_days).loc["03-08", "current_price"] == 12.0  # the evening's price, that day


def test_a_history_without_stores_is_one_shop_and_storeless_lines_are_not_dropped():
    one_shop = demand_snapshots(HISTORY.assign(store_id=None), UNTIL)
    assert set(one_shop["store_id"]) == {ONE_SHOP}
    assert one_shop.groupby("product_id")["units_1d"].sum().to_dict() == {"p1": 3, "p2": 1}
    mixed = HISTORY.assign(store_id=["s1", None, "s1", "s2"])  # the web line of o2 has no store
    demand = demand_snapshots(mixed, UNTIL)
    assert set(demand["store_id"]) == {"s1", "s2", NO_STORE}
    assert demand["units_1d"].sum() == 4  # every unit sold is some store's


def test_latest_value_before_a_cut_off_belongs_to_the_same_entity():
    index = EventIndex.build(np.array([1, 1, 2]), np.array([100, 200, 50]), {})
    values = np.array([10, 20, 30])
    latest, has = index.latest(values, np.array([1, 1, 1, 2, 3]), np.array([100, 150, 500, 60, 999]))
    assert has.tolist() == [False, True, True, True, False]
    assert latest[has].tolist() == [10, 20, 30]
    assert index.last_before(np.array([1, 2, 0]), np.array([201, 50, 10])).tolist() == [200, -1, -1]


def test_purchase_days_count_several_orders_on_one_day_once():
    lines = _lines(
        [
            ("a", "o1", "2026-01-10 09:00", "p1", 1, 10.0, 0.0, "purchase", "pos", "s1", "t1"),
            ("a", "o2", "2026-01-10 17:00", "p1", 1, 10.0, 0.0, "purchase", "web", "s1", None),
            ("a", "o3", "2026-01-12 08:00", "p1", 1, 10.0, 0.0, "purchase", "web", "s1", None),
        ]
    )
    customers = pd.DataFrame({"customer_id": ["a"], "signup_ts": pd.to_datetime(["2026-01-01"], utc=True)})
    snaps = pd.concat(customer_snapshots(lines, EMPTY, EMPTY, customers, UNTIL)).set_index("event_timestamp")
    day = snaps.loc[pd.Timestamp("2026-01-13", tz="UTC")]
    assert (day["orders_total"], day["purchase_days_total"]) == (3, 2)


def test_a_members_tier_before_its_first_logged_change_is_the_tier_that_change_left():
    """a: upgraded silver -> gold on 20 January (silver before it); b: joined on 16 January (no tier before);
    c: no change in the log (the customers table's tier held all along); d: no customers-table tier, no
    change (unknown). Without a change log the customers table's tier (as of the export) is not used."""
    lines = _lines(
        [(c, f"o{c}", "2026-01-12 10:00", "p1", 1, 10.0, 0.0, "purchase", "pos", "s1", None) for c in "abcd"]
    )
    log = pd.DataFrame(
        {
            "customer_id": ["a", "b"],
            "ts": pd.to_datetime(["2026-01-20 08:00", "2026-01-16 08:00"], utc=True),
            "tier": ["gold", "basic"],
            "previous_tier": ["silver", None],
        }
    )
    customers = pd.DataFrame(
        {
            "customer_id": list("abcd"),
            "signup_ts": pd.to_datetime(["2025-06-01"] * 4, utc=True),
            "membership_tier": ["gold", "basic", "platinum", None],
        }
    )

    def tiers(membership):
        snaps = pd.concat(customer_snapshots(lines, EMPTY, membership, customers, UNTIL))
        snaps = snaps.set_index(["customer_id", "event_timestamp"])["membership_tier"]
        return {
            day: [snaps.loc[(c, pd.Timestamp(day, tz="UTC"))] for c in "abcd"] for day in ("2026-01-14", "2026-01-21")
        }

    assert tiers(log) == {
        "2026-01-14": ["silver", None, "platinum", None],
        "2026-01-21": ["gold", "basic", "platinum", None],
    }
    assert tiers(EMPTY) == {"2026-01-14": [None] * 4, "2026-01-21": [None] * 4}


def test_a_shops_own_tier_names_come_out_of_the_snapshots_as_they_went_in():
    """A shop whose ladder is bronze, silver, gold, vip (SPEND_TIERS): the snapshots decoded tiers by Spend's
    default ladder, so a bronze member read as no tier and a vip as none."""
    lines = _lines([(c, f"o{c}", "2026-01-12 10:00", "p1", 1, 10.0, 0.0, "purchase", "pos", "s1", None) for c in "ab"])
    log = pd.DataFrame(
        {
            "customer_id": ["a", "b"],
            "ts": pd.to_datetime(["2026-01-20 08:00", "2026-01-16 08:00"], utc=True),
            "tier": ["vip", "bronze"],
            "previous_tier": ["gold", None],
        }
    )
    customers = pd.DataFrame({"customer_id": ["a", "b"], "signup_ts": pd.to_datetime(["2025-06-01"] * 2, utc=True)})
    snaps = pd.concat(customer_snapshots(lines, EMPTY, log, customers, UNTIL))
    snaps = snaps.set_index(["customer_id", "event_timestamp"])["membership_tier"]
    day = pd.Timestamp("2026-01-21", tz="UTC")
    assert [snaps.loc[("a", pd.Timestamp("2026-01-14", tz="UTC"))], snaps.loc[("a", day)], snaps.loc[("b", day)]] == [
        "gold",
        "vip",
        "bronze",
    ]


def test_a_days_price_counts_only_the_units_sold_at_a_known_price():
    """Two units at 10 and three units of a daily total without a price on one day: the day's price is
    10, not 20 over all five units (4), in the snapshot and in the demand history built from it."""
    from spend.training.datasets.series_backtest import _priced_units, _with_prices

    mixed = pd.concat(
        [
            _lines([("a", "o9", "2026-01-12 09:00", "p1", 2, 10.0, 0.0, "purchase", "pos", "s1", None)]),
            _lines([(None, "d1", "2026-01-12 00:00", "p1", 3, np.nan, 0.0, "purchase", None, "s1", None)]),
        ]
    )
    snap = demand_snapshots(mixed, UNTIL)
    day = snap[snap["event_timestamp"] == pd.Timestamp("2026-01-13", tz="UTC")].iloc[0]
    assert (day["units_1d"], day["revenue_1d"], day["avg_unit_price_1d"]) == (5, 20.0, 10.0)
    history = snap.assign(
        date=snap["event_timestamp"].dt.tz_localize(None) - pd.Timedelta(days=1),
        units=snap["units_1d"],
        revenue=snap["revenue_1d"],
        priced_units=_priced_units(snap),
        promo_units=0.0,
    )[["product_id", "store_id", "date", "units", "revenue", "priced_units", "promo_units"]]
    priced = _with_prices(history).set_index("date")["price"]
    assert priced.loc[pd.Timestamp("2026-01-12")] == 10.0
    assert priced.notna().all() and (priced == 10.0).all()  # carried to the days without a sale
