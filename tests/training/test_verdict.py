"""The gate's sentence: the winner's margin is over the best scorer that could have been served, and a
scorer that cannot be served (random offers, a ceiling) is named only when it did better."""

from __future__ import annotations

import pandas as pd
import pytest

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


def _evaluation(table: pd.DataFrame):
    from spend.training.datasets import Evaluation

    return Evaluation(table, {}, {}, {}, {}, {name: object() for name in table.index})


def test_a_scorer_the_holdout_could_not_measure_never_wins():
    """A NaN metric compared as 'not better' either way, so an unmeasured baseline took the crown (found
    on a 16-week shop, where pricing's holdout held no product with enough weeks to judge)."""
    from spend.training.loop import best_scorer

    pricing = spec("pricing")
    table = pd.DataFrame({"response_rmse": {"spend": 0.9, "ols_controls": float("nan"), "ols": 1.1}})
    assert best_scorer(pricing, _evaluation(table), "response_rmse") == "spend"
    table.loc["spend", "response_rmse"] = float("nan")
    assert best_scorer(pricing, _evaluation(table), "response_rmse") == "ols"
    sentence = verdict(pricing, table, "response_rmse", "ols", Gate("response_rmse", 1.1, None, True), "champion")
    assert sentence.startswith("ols scored 1.1000 on response_rmse (no other scorer could be measured)")
    assert "the holdout could not measure spend, ols_controls; the candidate could not be measured" in sentence


def test_a_holdout_that_measures_no_scorer_registers_nothing_and_says_why():
    from spend.core.errors import SpendError
    from spend.training.loop import best_scorer

    table = pd.DataFrame({"response_rmse": {"spend": float("nan"), "ols": float("nan")}})
    try:
        best_scorer(spec("pricing"), _evaluation(table), "response_rmse")
    except SpendError as error:
        assert "measured no scorer (response_rmse unknown for spend, ols)" in str(error)
    else:
        raise AssertionError("no error")


@pytest.mark.parametrize(("model", "metric"), [("demand", "wape"), ("churn", "average_precision")])
def test_a_baseline_that_ties_the_candidate_is_served(model, metric):
    """A tiny shop's demand model "won" at WAPE 1.0000 against the seasonal naive's 1.0000 (both forecast
    nothing): a model is crowned only if it beats its baselines, and a tie does not."""
    from spend.training.loop import best_scorer

    made = spec(model)
    baseline = next(iter(made.baselines))
    table = pd.DataFrame({metric: {"spend": 0.5, baseline: 0.5}})
    assert best_scorer(made, _evaluation(table), metric) == baseline
    sentence = verdict(made, table, metric, baseline, Gate(metric, 0.5, None, True), "champion")
    assert f"{baseline} tied with spend on {metric} (0.5000); the candidate only tied, so {baseline} is" in sentence
    better = 0.4 if metric in made.lower_is_better else 0.6
    table.loc["spend", metric] = better
    assert best_scorer(made, _evaluation(table), metric) == "spend"


def test_two_baselines_that_tie_are_said_to_tie_not_to_win_by_nothing():
    """The demo's offers said "best_single won on policy_value (0.0000) by 0.0000 over no_offer": both
    sent no offer to anyone."""
    made = spec("offers")
    table = pd.DataFrame({"policy_value": {"spend": -0.71, "best_single": 0.0, "no_offer": 0.0, "random": -4.3}})
    sentence = verdict(made, table, "policy_value", "best_single", Gate("policy_value", 0.0, None, True), "champion")
    assert sentence.startswith("best_single tied with no_offer on policy_value (0.0000); the candidate lost")
