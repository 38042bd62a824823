"""The simulator's churn oracles: calibrated against what the simulation then did, and ordered as they
must be (knowing each customer's true rates beats knowing only the population)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from spend.simulate.config import SimulationConfig
from spend.simulate.oracle import bayes_churn_probability, oracle_churn_probability
from spend.simulate.run import simulate


@pytest.fixture(scope="module")
def outcome():
    config = SimulationConfig(customers=6_000, days=365, seed=4)
    simulation = simulate(config)
    tx = simulation.tables["transactions"]
    tx = tx[tx["kind"] == "purchase"].assign(ts=lambda f: pd.to_datetime(f["ts"], utc=True))
    cut = pd.Timestamp("2025-09-01", tz="UTC")
    before, after = tx[tx["ts"] < cut], tx[(tx["ts"] >= cut) & (tx["ts"] < cut + pd.Timedelta(days=90))]
    history = pd.DataFrame(
        {
            "purchases": before.groupby("customer_id")["order_id"].nunique(),
            "last_purchase": before.groupby("customer_id")["ts"].max(),
        }
    )
    churned = (~history.index.isin(after["customer_id"])).astype(int)
    truth = simulation.truth["customers"]
    bayes = bayes_churn_probability(config, truth, history, cut, 90)
    oracle = oracle_churn_probability(config, truth, history["last_purchase"], cut, 90)
    return churned, bayes.to_numpy(), oracle.to_numpy()


def test_both_oracles_are_calibrated(outcome):
    churned, bayes, oracle = outcome
    for p in (bayes, oracle):
        assert p.min() >= 0 and p.max() <= 1
        assert abs(p.mean() - churned.mean()) < 0.02
        for low, high in ((0.0, 0.4), (0.4, 0.8), (0.8, 1.0)):
            band = (p >= low) & (p < high)
            assert abs(p[band].mean() - churned[band].mean()) < 0.05, (low, high)


def test_knowing_each_customers_rates_ranks_better_than_knowing_the_population(outcome):
    churned, bayes, oracle = outcome
    assert roc_auc_score(churned, oracle) > roc_auc_score(churned, bayes) + 0.02 > 0.72
    assert np.corrcoef(bayes, oracle)[0, 1] > 0.7
