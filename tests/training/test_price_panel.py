"""Pricing's holdout on a short history: the error names the most whole weeks a product has and flags
that fit, and those flags train (found on 16 weeks of Online Retail II, where the message gave no flag
and the flag that fitted the days still left every product short of its weeks)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spend.core.errors import SpendError
from spend.core.experiments import PricingConfig
from spend.models.pricing import ElasticityEstimator
from spend.training.datasets.price_panel import Panel, _cut


def _daily(days: int, start: str = "2024-01-03") -> pd.DataFrame:
    """Three products sold every day, prices moving week to week."""
    rng = np.random.default_rng(3)
    dates = pd.date_range(start, periods=days, freq="D")
    rows = []
    for product in ("A", "B", "C"):
        price = 10 * np.exp(rng.normal(0, 0.15, days // 7 + 1)).repeat(7)[:days]
        units = rng.poisson(20 * (price / 10) ** -1.5)
        rows.append(pd.DataFrame({"product_id": product, "date": dates, "units": units, "price": price}))
    return pd.concat(rows, ignore_index=True)


def _refusal(config: PricingConfig, daily: pd.DataFrame) -> str:
    with pytest.raises(SpendError) as error:
        _cut(config, Panel(daily, None))
    return str(error.value)


def test_a_short_history_is_told_the_flags_that_fit_it_and_they_do():
    daily, config = _daily(16 * 7 + 2), PricingConfig(model="pricing")
    message = _refusal(config, daily)
    assert "needs a product with 26 whole periods of 7 days before a holdout of 13" in message
    flags = message.split("--set ")[1:]
    assert [f.split("=")[0] for f in flags] == ["holdout_weeks", "min_periods"]
    fitted = config.model_copy(update={k: int(v) for k, v in (f.strip().split("=") for f in flags)})
    cut = _cut(fitted, Panel(daily, None))  # no longer refused
    table = ElasticityEstimator(method="ols", min_periods=fitted.min_periods).fit(daily[daily["date"] <= cut])
    assert table.elasticities()["note"].eq("").any()  # a product has its own elasticity there


def test_a_longer_history_is_told_a_shorter_holdout_alone():
    daily = _daily(36 * 7)
    message = _refusal(PricingConfig(model="pricing"), daily)
    holdout = int(message.split("--set holdout_weeks=")[1])
    assert 4 <= holdout < 13 and "min_periods" not in message
    _cut(PricingConfig(model="pricing", holdout_weeks=holdout), Panel(daily, None))
    _refusal(PricingConfig(model="pricing", holdout_weeks=holdout + 1), daily)  # the longest that fits


def test_a_history_too_short_for_any_flag_says_what_is_needed():
    message = _refusal(PricingConfig(model="pricing"), _daily(9 * 7))
    assert message.endswith("a product needs at least 8 before a holdout of 4 (the most is 4)")


@pytest.mark.parametrize(
    ("change_week", "holdout", "words"),
    [
        # one price change a year ago, none since: the holdout holds no week whose price moved
        (26, 13, "no product's price moved from one week to the next in the holdout's"),
        # a holdout that reaches back to it: the weeks before never moved, so nothing has an elasticity
        (26, 30, "no product whose price moved in the holdout's"),
    ],
)
def test_a_holdout_the_gate_cannot_judge_says_why_in_the_shops_terms(change_week, holdout, words):
    """Found on a shop that moved each price once, half a year back: the error said only that the
    holdout 'holds nothing the metric can be computed on'."""
    from spend.core.registry import spec
    from spend.training.datasets.price_panel import evaluate

    daily = _daily(52 * 7)
    week = (daily["date"] - daily["date"].min()).dt.days // 7
    daily["price"] = np.where(week < change_week, 10.0, 8.0)
    config = PricingConfig(model="pricing", holdout_weeks=holdout, min_periods=8, baselines=["ols"])
    params = {"n_estimators": 20, "learning_rate": 0.1, "num_leaves": 4, "min_child_samples": 5}
    with pytest.raises(SpendError) as error:
        evaluate(spec("pricing"), config, Panel(daily, None), params)
    assert words in str(error.value) and "nothing was registered" in str(error.value)
