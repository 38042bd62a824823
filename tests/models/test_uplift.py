"""The contact uplift (econml's X-learner through OfferUplift, as the recall list fits it) recovers a known
heterogeneous effect, including its sign, and ranks customers usefully; the ranking metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spend.models.offers import OfferUplift
from spend.models.uplift import qini_coefficient, uplift_at_k
from spend.simulate.config import SimulationConfig
from spend.simulate.run import simulate


def experiment(n: int = 20_000, seed: int = 0):
    """Randomised campaign: responders (x2 > 0) gain 15 points, the others lose 5."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 3)), columns=["x1", "x2", "x3"])
    base = 1 / (1 + np.exp(-(-1.0 + X["x1"])))
    effect = np.where(X["x2"] > 0, 0.15, -0.05)
    treatment = rng.random(n) < 0.5
    y = rng.random(n) < np.clip(base + treatment * effect, 0, 1)
    return X, y.astype(int), treatment.astype(int), effect


def _contact(X, y, t) -> OfferUplift:
    """The recall list's learner (training/campaigns.py) on a two-arm campaign: buying is the outcome."""
    from spend.training.campaigns import _learner

    return _learner().fit(X, np.where(t == 1, "contact", "control"), y, np.zeros(len(y)))


@pytest.mark.parametrize("learner", ["x", "t"])
def test_recovers_the_effect_by_ground_truth_group(learner):
    X, y, t, effect = experiment()
    test_X, test_y, test_t, test_effect = experiment(seed=1)
    fitted = (
        _contact(X, y, t)
        if learner == "x"
        else OfferUplift(learner="t").fit(X, np.where(t == 1, "contact", "control"), y, np.zeros(len(y)))
    )
    predicted = fitted.predict(test_X)[:, 0]
    responders = test_effect > 0
    assert predicted[responders].mean() == pytest.approx(0.15, abs=0.05)
    assert predicted[~responders].mean() == pytest.approx(-0.05, abs=0.05)
    assert uplift_at_k(predicted, test_t, test_y, 0.3) > 0.08
    assert qini_coefficient(predicted, test_t, test_y) > qini_coefficient(
        np.random.default_rng(2).random(len(test_y)), test_t, test_y
    )


def test_simulated_campaign_sleeping_dogs_get_negative_uplift():
    sim = simulate(SimulationConfig(customers=20_000, seed=11))
    campaign, customers = sim.truth["campaign"], sim.truth["customers"].set_index("customer_id")
    tx = sim.tables["transactions"]
    before = tx[pd.to_datetime(tx["ts"]) < pd.Timestamp(sim.tables["campaigns"]["ts"].iloc[0])]
    orders = before.groupby("customer_id")["order_id"].nunique()
    people = customers.loc[campaign["customer_id"]]
    X = pd.DataFrame(
        {
            "tier": people["tier_at_signup"].map({"basic": 0, "silver": 1, "gold": 2, "platinum": 3}).to_numpy(),
            "web": (people["channel"] == "web").to_numpy().astype(int),
            "app": (people["channel"] == "app").to_numpy().astype(int),
            "prior_orders": orders.reindex(campaign["customer_id"]).fillna(0).to_numpy(),
        }
    )
    uplift = _contact(X, campaign["purchased_in_window"].astype(float).to_numpy(), campaign["treated"].to_numpy())
    predicted = uplift.predict(X)[:, 0]
    dogs = campaign["sleeping_dog"].to_numpy()
    assert predicted[dogs].mean() < 0 < predicted[~dogs].mean()
    assert np.corrcoef(predicted, campaign["true_uplift"])[0, 1] > 0.3


def test_bad_input_names_the_problem():
    X, y, t, _ = experiment(200)
    with pytest.raises(ValueError, match="no offer arm"):
        _contact(X, y, np.zeros(len(y), dtype=int))
    few = t.copy()
    few[np.flatnonzero(t == 1)[10:]] = 0
    with pytest.raises(ValueError, match="contact have fewer than 30 members"):
        _contact(X, y, few)
