"""The pricing gate's metric: on a shop that prices into its season, the true elasticities have the
lowest response loss on held-out weeks, and the confounded naive estimate does not pass for them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spend.models.price_response import response_rloss
from spend.models.pricing import ElasticityEstimator, weekly_panel
from tests.models.test_pricing import _shop

HOLDOUT_WEEKS = 13


@pytest.fixture(scope="module")
def judged():
    daily, truth = _shop(products=12, seed=4)
    panel = weekly_panel(daily)
    cut = pd.to_datetime(daily["date"]).max() - pd.Timedelta(weeks=HOLDOUT_WEEKS)
    held = panel["start"] > cut
    periods = panel.loc[~held, "period"].unique(), panel.loc[held, "period"].unique()
    naive = ElasticityEstimator(method="ols").fit(daily[pd.to_datetime(daily["date"]) <= cut]).elasticities()
    return panel, periods, truth, naive


def _table(values: pd.Series) -> pd.DataFrame:
    return pd.DataFrame({"product_id": values.index, "elasticity": values.to_numpy()})


def test_the_true_elasticities_score_best_and_the_naive_estimate_is_caught(judged):
    panel, (before, holdout), truth, naive = judged
    true = response_rloss(_table(truth), panel, before, holdout)
    naive_table = naive[["product_id", "elasticity"]]
    assert (naive.set_index("product_id")["elasticity"] - truth).mean() > 0.3  # confounded: too flat
    assert true < response_rloss(naive_table, panel, before, holdout)
    for off in (-0.7, 0.7):
        assert true < response_rloss(_table(truth + off), panel, before, holdout)


def test_products_without_enough_weeks_or_an_elasticity_are_left_out(judged):
    panel, (before, holdout), truth, _ = judged
    some = _table(truth.iloc[:3])
    with_unknown = pd.concat([some, pd.DataFrame({"product_id": ["P9"], "elasticity": [np.nan]})])
    only_three = panel[panel["product_id"].isin(some["product_id"])]
    assert response_rloss(with_unknown, panel, before, holdout) == response_rloss(some, only_three, before, holdout)
    assert np.isnan(response_rloss(some, panel, before[:25], holdout))  # 26 weeks needed by default
    # the shop's own minimum (pricing.yaml's min_periods) decides
    assert np.isfinite(response_rloss(some, panel, before[:25], holdout, min_periods=20))
    assert np.isnan(response_rloss(some, panel, before, holdout, min_periods=len(before) + 1))
