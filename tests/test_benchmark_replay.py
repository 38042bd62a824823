"""The replenishment replay's stock arithmetic (benchmarks/replay.py): what the demand benchmark's
replay figures rest on."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.support.benchmarks import benchmark_module


@pytest.fixture(scope="module")
def replay_module():
    return benchmark_module("replay")


def test_an_order_arrives_after_its_lead_time_and_serves_what_stock_allows(replay_module):
    demand = np.full((1, 14), 3.0)
    # Start with 5 units; order up to 30 on each review (days 0 and 7); lead time 2 days.
    result = replay_module._run(demand, np.array([5.0]), np.array([2]), 7, lambda d, served, stock: np.array([30.0]))
    # Day 0: 3 served (2 left), order 25; day 1: 2 served of 3; the 25 arrive on day 2.
    served = 3 + 2 + 3 * 12
    assert result["fill_rate"] == pytest.approx(served / 42)
    assert result["demand_units"] == 42


def test_the_shop_sees_the_units_it_served_and_a_stock_out_where_a_day_closed_empty(replay_module):
    start = pd.Timestamp("2026-01-10")  # the last day before the replay
    dates = pd.date_range("2026-01-08", periods=6)  # three days up to it, three in the replay
    seen = pd.DataFrame({"row": 0, "product_id": "A", "store_id": "S", "date": dates, "units": 9.0, "price": 1.0})
    seen["stockout"] = 0.0
    observed = replay_module._observed(seen, start, np.array([[4.0, 1.0]]), np.array([[2.0, 0.0]]))
    assert observed["date"].tolist() == list(dates[:5])  # the two replay days so far, none after
    assert observed["units"].tolist() == [9.0, 9.0, 9.0, 4.0, 1.0]
    assert observed["stockout"].tolist() == [0.0, 0.0, 0.0, 0.0, 1.0]
