"""Order-up-to arithmetic on hand-made cases (models/replenishment.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from spend.models.replenishment import (
    BELOW_EXPECTED,
    BELOW_SAFETY,
    BELOW_ZERO,
    COVERED,
    NO_COUNT,
    NO_DEMAND,
    SD_PER_P10_P90,
    cover_correlation,
    cover_demand,
    fill_rate,
    order_up_to,
)


def _forecast(p50: float, spread: float, days: int = 10, product="A", store="S") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "product_id": product,
            "store_id": store,
            "date": pd.date_range("2026-01-01", periods=days),
            "p10": p50 - spread / 2,
            "p50": p50,
            "p90": p50 + spread / 2,
        }
    )


def test_cover_demand_sums_the_cover_days_only_and_adds_variances():
    cover = pd.Series([4], index=pd.MultiIndex.from_tuples([("A", "S")], names=["product_id", "store_id"]))
    demand = cover_demand(_forecast(10.0, SD_PER_P10_P90 * 4.0), cover).loc[("A", "S")]
    assert demand["mean"] == pytest.approx(40.0)  # 4 of the 10 days
    assert demand["sd"] == pytest.approx(4.0 * 2.0)  # sqrt(4 x 4^2)
    assert demand["cover_p90"] == pytest.approx(40.0 + norm.ppf(0.9) * 8.0)


def test_cover_demand_reads_the_mean_column_and_never_a_variance_below_poisson():
    cover = pd.Series([4], index=pd.MultiIndex.from_tuples([("A", "S")], names=["product_id", "store_id"]))
    # Slow mover: the median sells nothing, the mean 0.5 a day, the quantile spread says sd 0.2 a day.
    forecast = _forecast(0.0, SD_PER_P10_P90 * 0.2).assign(p10=0.0, mean=0.5)
    demand = cover_demand(forecast, cover).loc[("A", "S")]
    assert demand["mean"] == pytest.approx(2.0)
    assert demand["sd"] == pytest.approx(np.sqrt(2.0))  # Poisson: variance = mean, above 4 x 0.2^2


def test_correlated_days_widen_the_cover_period_up_to_the_sum_of_their_spreads():
    """sd^2 = sum var + rho x ((sum sd)^2 - sum var): 4 days of sd 4 are 8 apart at rho 0 (sqrt of
    4 x 16), 16 at rho 1 (a level missed on every day), sqrt(64 + 0.5 x 192) between."""
    cover = pd.Series([4], index=pd.MultiIndex.from_tuples([("A", "S")], names=["product_id", "store_id"]))
    forecast = _forecast(10.0, SD_PER_P10_P90 * 4.0)
    for rho, sd in ((0.0, 8.0), (1.0, 16.0), (0.5, np.sqrt(64 + 0.5 * 192))):
        assert cover_demand(forecast, cover, rho).loc[("A", "S"), "sd"] == pytest.approx(sd)


def _backtest(errors: np.ndarray, sd: float = 3.0) -> pd.DataFrame:
    """Series x windows x days of a forecast of mean 1 and daily sd `sd`, the truth off by `errors`."""
    series, windows, days = errors.shape
    index = pd.MultiIndex.from_product([range(series), range(windows), range(days)], names=["s", "w", "d"])
    frame = index.to_frame(index=False)
    origin = pd.Timestamp("2026-01-01") + pd.to_timedelta(frame["w"] * 28, unit="D")
    return pd.DataFrame(
        {
            "product_id": frame["s"].astype(str),
            "store_id": "S",
            "window": origin,
            "date": origin + pd.to_timedelta(frame["d"] + 1, unit="D"),
            "p10": 1.0 - SD_PER_P10_P90 * sd / 2,
            "p50": 1.0,
            "p90": 1.0 + SD_PER_P10_P90 * sd / 2,
            "mean": 1.0,
            "demand": 1.0 + errors.reshape(-1),
        }
    )


def test_the_correlation_of_days_errors_is_read_off_a_backtest():
    """Independent daily errors give about 0; one shock shared by a period's days (a level missed for
    the whole of it) about 1; only each window's first `days` days count."""
    rng = np.random.default_rng(7)
    independent = rng.normal(0, 3.0, size=(2_000, 3, 28))
    assert cover_correlation(_backtest(independent)) == pytest.approx(0.0, abs=0.03)
    shared = np.repeat(rng.normal(0, 3.0, size=(2_000, 3, 1)), 28, axis=2)
    assert cover_correlation(_backtest(shared)) == pytest.approx(1.0, abs=0.05)
    late = np.concatenate([independent[:, :, :14], shared[:, :, 14:]], axis=2)  # shared after day 14 only
    assert cover_correlation(_backtest(late), days=14) == pytest.approx(0.0, abs=0.03)
    assert cover_correlation(_backtest(independent * 0.0)) == 0.0  # no error at all: never below 0


@pytest.mark.parametrize(
    ("on_hand", "on_order", "order", "reason"),
    [
        (0, 0, 54, BELOW_EXPECTED),  # target ceil(40 + 1.645 x 8) = 54
        (30, 5, 19, BELOW_EXPECTED),
        (42, 3, 9, BELOW_SAFETY),  # 45 is above the expected 40 but below the target 54
        (54, 0, 0, COVERED),
        (60, 10, 0, COVERED),
        (-5, 0, 54, BELOW_EXPECTED + BELOW_ZERO),  # the shelf holds none: as at 0, not 59 units to order
        (-5, 50, 4, BELOW_SAFETY + BELOW_ZERO),
    ],
)
def test_the_order_fills_the_gap_to_the_target(on_hand, on_order, order, reason):
    cover = pd.Series([4], index=pd.MultiIndex.from_tuples([("A", "S")], names=["product_id", "store_id"]))
    demand = cover_demand(_forecast(10.0, SD_PER_P10_P90 * 4.0), cover)
    stock = pd.DataFrame({"product_id": ["A"], "store_id": ["S"], "on_hand": [on_hand], "on_order": [on_order]})
    row = order_up_to(stock, demand, 0.95).iloc[0]
    assert row["target_stock"] == 54
    assert row["suggested_order"] == order
    assert row["reason"] == reason
    assert row["expected_fill_rate"] >= fill_rate(np.array([53.9]), np.array([40.0]), np.array([8.0]))[0]


def test_a_series_without_demand_orders_nothing():
    stock = pd.DataFrame({"product_id": ["Z"], "store_id": ["S"], "on_hand": [0.0], "on_order": [0.0]})
    empty = pd.DataFrame(columns=["mean", "sd"], index=pd.MultiIndex.from_tuples([], names=["product_id", "store_id"]))
    row = order_up_to(stock, empty, 0.95).iloc[0]
    assert row["suggested_order"] == 0 and row["reason"] == NO_DEMAND and row["expected_fill_rate"] == 1.0


def test_without_a_stock_count_the_target_stands_and_the_order_is_left_empty():
    pairs = pd.MultiIndex.from_tuples([("A", "S"), ("Z", "S")], names=["product_id", "store_id"])
    cover = pd.Series([4, 4], index=pairs)
    demand = cover_demand(_forecast(10.0, SD_PER_P10_P90 * 4.0), cover)
    unknown = {"store_id": ["S", "S"], "on_hand": [np.nan] * 2, "on_order": [np.nan] * 2}
    rows = order_up_to(pd.DataFrame({"product_id": ["A", "Z"], **unknown}), demand, 0.95).set_index("product_id")
    assert rows.loc["A", "target_stock"] == 54  # as with a count (the case above)
    assert np.isnan(rows.loc["A", "suggested_order"]) and np.isnan(rows.loc["A", "expected_fill_rate"])
    assert rows.loc["A", "reason"] == NO_COUNT
    # Z has no forecast: nothing to order, whatever is on hand
    assert rows.loc["Z", "suggested_order"] == 0 and rows.loc["Z", "reason"] == NO_DEMAND


def test_fill_rate_matches_the_normal_loss_function():
    # Stocking exactly the mean: expected shortage sd x L(0) = sd x 0.3989.
    assert fill_rate(np.array([100.0]), np.array([100.0]), np.array([10.0]))[0] == pytest.approx(
        1 - 3.989 / 100, abs=1e-4
    )
    assert fill_rate(np.array([1000.0]), np.array([100.0]), np.array([10.0]))[0] == pytest.approx(1.0)
    assert fill_rate(np.array([50.0]), np.array([100.0]), np.array([0.0]))[0] == pytest.approx(0.5)  # no spread


def test_a_higher_service_level_never_orders_less():
    cover = pd.Series([7], index=pd.MultiIndex.from_tuples([("A", "S")], names=["product_id", "store_id"]))
    demand = cover_demand(_forecast(3.0, 4.0), cover)
    stock = pd.DataFrame({"product_id": ["A"], "store_id": ["S"], "on_hand": [5.0], "on_order": [0.0]})
    orders = [order_up_to(stock, demand, s).iloc[0]["suggested_order"] for s in (0.5, 0.8, 0.9, 0.95, 0.99)]
    assert orders == sorted(orders) and orders[-1] > orders[0]
    with pytest.raises(ValueError, match="service level"):
        order_up_to(stock, demand, 1.0)
