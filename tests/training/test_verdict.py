"""The gate's sentence: the winner's margin is over the best scorer that could have been served, and a
scorer that cannot be served (random offers, a ceiling) is named only when it did better."""

from __future__ import annotations

import pandas as pd

from spend.core.registry import spec
from spend.training.loop import verdict
from spend.training.tracking import Gate

OFFERS = spec("offers")
GATE = Gate("policy_value", 0.79, None, True)


def _table(**scores: float) -> pd.DataFrame:
    return pd.DataFrame({"policy_value": scores})


def test_the_margin_is_over_the_best_servable_scorer_not_over_random():
    table = _table(spend=0.79, best_single=-0.20, no_offer=0.0, random=0.04)
    sentence = verdict(OFFERS, table, "policy_value", "spend", GATE, "champion", ["spend", "best_single", "no_offer"])
    assert sentence.startswith("spend won on policy_value (0.7900) by 0.7900 over no_offer;")
    assert "random" not in sentence


def test_a_better_scorer_that_cannot_be_served_is_named():
    table = _table(spend=0.79, best_single=0.50, no_offer=0.0, random=0.95)
    sentence = verdict(OFFERS, table, "policy_value", "spend", GATE, "champion", ["spend", "best_single", "no_offer"])
    assert "by 0.2900 over best_single; random scored 0.9500 but cannot be served" in sentence


def test_lower_is_better_metrics_and_a_baseline_that_won():
    clv = spec("clv")
    table = pd.DataFrame({"mae": {"spend": 74.0, "bgnbd_gamma_gamma": 72.6}})
    sentence = verdict(clv, table, "mae", "bgnbd_gamma_gamma", Gate("mae", 72.6, None, True), "champion")
    assert sentence.startswith("bgnbd_gamma_gamma won on mae (72.6000) by 1.4000 over spend;")
    assert "registered as clv in its place" in sentence
