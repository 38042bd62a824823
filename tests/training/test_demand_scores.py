"""The backtest's metrics on hand-made forecasts, where each figure can be worked out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spend.training.demand_backtest import score

ORIGIN = pd.Timestamp("2024-01-14")


def _history() -> pd.DataFrame:
    # Two weeks of one series: the weekly naive's in-sample error is |week 2 - week 1| = 1 every day.
    units = [2, 0, 1, 3, 0, 0, 4] + [3, 1, 2, 4, 1, 1, 5]
    dates = pd.date_range("2024-01-01", periods=14, freq="D")
    return pd.DataFrame({"product_id": "P1", "store_id": "S1", "date": dates, "units": np.array(units, float)})


def _forecasts(truth, p10, p50, p90) -> pd.DataFrame:
    dates = pd.date_range(ORIGIN + pd.Timedelta(days=1), periods=len(truth), freq="D")
    return pd.DataFrame(
        {
            "scorer": "spend",
            "window": ORIGIN,
            "product_id": "P1",
            "store_id": "S1",
            "date": dates,
            "p10": p10,
            "p50": p50,
            "p90": p90,
            "demand": np.array(truth, float),
        }
    )


def test_wape_bias_mase_and_coverage_on_a_hand_made_window():
    forecasts = _forecasts([0, 2, 4, 6], [0, 1, 5, 1], [1, 2, 3, 4], [2, 3, 6, 5])
    row = score(forecasts, _history(), [ORIGIN], 7).loc["spend"]
    # errors |y - p50| = 1, 0, 1, 2 over a truth of 12
    assert row["wape"] == pytest.approx(4 / 12)
    assert row["bias"] == pytest.approx((10 - 12) / 12)
    assert row["mase"] == pytest.approx(1.0)  # mean error 1 over the naive's 1
    # inside [p10, p90]: 0 in [0, 2], 2 in [1, 3]; 4 below 5; 6 above 5
    assert row["coverage_80"] == pytest.approx(0.5)
    assert row["below_p10"] == pytest.approx(0.25)
    assert row["above_p90"] == pytest.approx(0.25)
    assert row["zero_share"] == pytest.approx(0.25)


def test_zero_days_under_a_zero_p10_are_always_inside_and_only_the_upper_tail_misses():
    # Mostly-zero counts: a calibrated P10 is 0, so each zero day counts as covered.
    truth = [0, 0, 0, 0, 0, 0, 0, 1, 2, 3]
    forecasts = _forecasts(truth, [0.0] * 10, [0.0] * 10, [1.5] * 10)
    row = score(forecasts, _history(), [ORIGIN], 7).loc["spend"]
    assert row["zero_share"] == pytest.approx(0.7)
    assert row["below_p10"] == 0.0
    assert row["above_p90"] == pytest.approx(0.2)
    assert row["coverage_80"] == pytest.approx(0.8)
