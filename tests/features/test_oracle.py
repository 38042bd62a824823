"""The simulator's oracles (churn; the offer campaign's orders and effects from the data): calibrated against
what the simulation then did, and ordered as they must be (knowing each customer's true rates beats knowing
only the population)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from spend.simulate.config import SimulationConfig
from spend.simulate.oracle import bayes_churn_probability, observed_history, oracle_churn_probability
from spend.simulate.run import simulate


@pytest.fixture(scope="module")
def outcome():
    config = SimulationConfig(customers=6_000, days=365, seed=4)
    simulation = simulate(config)
    tx = simulation.tables["transactions"]
    tx = tx[tx["kind"] == "purchase"].assign(ts=lambda f: pd.to_datetime(f["ts"], utc=True))
    cut = pd.Timestamp("2025-09-01", tz="UTC")
    after = tx[(tx["ts"] >= cut) & (tx["ts"] < cut + pd.Timedelta(days=90))]
    history = observed_history(tx, cut, pd.Timestamp(config.start, tz="UTC"))
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


@pytest.fixture(scope="module")
def offer_campaign():
    from spend.simulate.oracle import bayes_expected_orders

    config = SimulationConfig(customers=8_000, days=365, seed=6, offer_campaign=True)
    simulation = simulate(config)
    members = simulation.truth["offer_campaign"]
    start = pd.Timestamp(config.start, tz="UTC")
    at = start + pd.Timedelta(days=config.offer_offset_days)
    history = observed_history(simulation.tables["transactions"], at, start, members["customer_id"])
    truth = simulation.truth["customers"]
    expected = bayes_expected_orders(config, truth, history, at, config.offer_window_days).to_numpy()
    return truth, members, simulation.truth["offer_effects"], expected


def test_the_orders_expected_from_the_data_match_the_hidden_expectation_on_average(offer_campaign):
    _, members, _, expected = offer_campaign
    hidden = members["expected_baseline_orders"].to_numpy()
    assert abs(expected.mean() - hidden.mean()) < 0.03 * hidden.mean()
    for low, high in ((0.0, 0.3), (0.3, 1.0), (1.0, np.inf)):
        band = (expected >= low) & (expected < high)
        assert abs(expected[band].mean() - hidden[band].mean()) < 0.1 * hidden[band].mean() + 0.02, (low, high)
    assert np.corrcoef(expected, hidden)[0, 1] > 0.8


def test_the_offer_effects_from_the_data_agree_with_the_truth_and_nearly_rank_as_it_does(offer_campaign):
    """From the data (observed purchases, tier and channel), each offer's mean effect agrees with the truth's
    and members rank much as the truth, which knows their hidden state, ranks them."""
    from spend.simulate.offers import bayes_offer_truth

    customers, members, truth, expected = offer_campaign
    bayes = bayes_offer_truth(customers, members, expected)
    for offer, mine in truth.groupby("offer"):
        theirs = bayes.loc[bayes["offer"] == offer, "bayes_net_uplift"].to_numpy()
        true = mine["true_net_uplift"].to_numpy()
        assert abs(theirs.mean() - true.mean()) < 0.05 * np.abs(true).mean() + 0.05, offer
        assert np.corrcoef(theirs, true)[0, 1] > 0.75, offer
