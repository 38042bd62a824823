"""Churn model: discriminates, is calibrated, names the right reasons, and keeps the estimator contract."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import brier_score_loss, roc_auc_score

from spend.models.churn import BANDS, ChurnModel, bands, search_space


def cohort(n: int = 8_000, seed: int = 0):
    """Churn driven by recency (strongly) and frequency (weakly); tenure is noise."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "days_since_last_order": rng.exponential(60, n),
            "orders_365d": rng.poisson(4, n).astype(float),
            "tenure_days": rng.uniform(30, 900, n),
            "membership_tier": rng.choice(["basic", "silver", "gold"], n),
        }
    )
    logit = -2.0 + 0.03 * X["days_since_last_order"] - 0.2 * X["orders_365d"]
    p = 1 / (1 + np.exp(-logit))
    return X, (rng.random(n) < p).astype(int), p.to_numpy()


@pytest.fixture(scope="module")
def fitted():
    X, y, _ = cohort()
    return ChurnModel(n_estimators=150).fit(X, y)


def test_discriminates_close_to_the_true_probability(fitted):
    X, y, p_true = cohort(seed=1)
    p = fitted.predict_proba(X)
    assert roc_auc_score(y, p) > roc_auc_score(y, p_true) - 0.02


def test_probabilities_are_calibrated(fitted):
    X, y, _ = cohort(seed=2)
    p = fitted.predict_proba(X)
    buckets = pd.cut(p, np.linspace(0, 1, 11), include_lowest=True)
    table = (
        pd.DataFrame({"p": p, "y": y})
        .groupby(buckets, observed=True)
        .agg(p=("p", "mean"), y=("y", "mean"), n=("y", "size"))
    )
    expected_calibration_error = (table["n"] * (table["p"] - table["y"]).abs()).sum() / table["n"].sum()
    assert expected_calibration_error < 0.03
    assert brier_score_loss(y, p) < brier_score_loss(y, np.full(len(y), y.mean()))


def test_reason_codes_name_the_driver(fitted):
    X, _, _ = cohort(seed=3)
    risky = X.nlargest(50, "days_since_last_order")
    reasons = fitted.explain(risky, top=2)
    assert sum(r[:1] == ["days_since_last_order"] for r in reasons) >= 45
    assert all("tenure_days" not in r[:1] for r in reasons)


def test_bands_follow_the_documented_thresholds():
    assert [name for name, _ in BANDS] == ["low", "medium", "high"]
    assert bands(np.array([0.0, 0.29, 0.30, 0.59, 0.60, 1.0])).tolist() == [
        "low",
        "low",
        "medium",
        "medium",
        "high",
        "high",
    ]


def test_unknown_category_and_missing_feature(fitted):
    X, _, _ = cohort(20, seed=4)
    X.loc[0, "membership_tier"] = "diamond"
    assert np.isfinite(fitted.predict_proba(X)).all()
    with pytest.raises(ValueError, match="needs feature\\(s\\) orders_365d"):
        fitted.predict_proba(X.drop(columns="orders_365d"))


def test_bad_labels_and_the_search_space():
    with pytest.raises(ValueError, match="both churners and stayers"):
        ChurnModel().fit(cohort(50)[0], np.zeros(50))
    import optuna

    trial = optuna.trial.FixedTrial(
        {"n_estimators": 200, "learning_rate": 0.05, "num_leaves": 15, "min_child_samples": 40}
    )
    assert ChurnModel(**search_space(trial)).get_params()["num_leaves"] == 15


def test_one_pass_scores_as_predict_proba_and_explains_as_explain(fitted):
    X, _, _ = cohort(300, seed=5)
    probability, reasons = fitted.score(X)
    assert np.allclose(probability, fitted.predict_proba(X), atol=1e-9)
    assert reasons == fitted.explain(X)
    bare, none = fitted.score(X, reasons=False)
    assert np.allclose(bare, probability) and none == [[]] * len(X)


def test_calibration_keeps_the_boosters_ranking(fitted):
    """The calibrated probabilities rank as the raw score does: AUC within 0.002 (here equal), and no two
    different raw scores share a probability (plain isotonic gave thousands of customers one value)."""
    X, y, _ = cohort(4_000, seed=3)
    probability = fitted.predict_proba(X)
    raw = fitted.explainer_.booster_.predict(
        np.asarray(fitted._encode(X, fitted._season(X)), dtype=np.float64), raw_score=True
    )
    assert abs(roc_auc_score(y, probability) - roc_auc_score(y, raw)) < 0.002
    assert len(np.unique(probability)) == len(np.unique(raw))
    assert fitted.calibrator_.method_ in ("platt", "isotonic")


def rhythm_cohort(n: int, season: float, seed: int):
    """Customers buying at their own Poisson rate (gamma across customers) in a window `season` times
    as busy as an average one: churn is no purchase in 90 days of that window."""
    rng = np.random.default_rng(seed)
    rate = rng.gamma(1.5, 1 / 60, n)  # purchases a day
    age = rng.uniform(120, 700, n)
    orders = rng.poisson(rate * age) + 1
    last = age * (1 - rng.beta(orders, 1))  # the latest of the purchases spread over the customer's age
    X = pd.DataFrame(
        {
            "purchase_days_total": orders.astype(float),
            "days_since_first_order": age,
            "days_since_last_order": last,
            "orders_365d": rng.poisson(rate * 365).astype(float),
            "season_index": season,
        }
    )
    return X, (rng.random(n) < np.exp(-rate * 90 * season)).astype(int)


def test_a_busier_window_than_the_training_cohorts_saw_is_not_read_as_their_churn_rate():
    parts = [rhythm_cohort(4_000, s, seed) for seed, s in enumerate((0.7, 0.9, 0.8))]
    X, y = pd.concat([p[0] for p in parts], ignore_index=True), np.concatenate([p[1] for p in parts])
    holdout, churned = rhythm_cohort(6_000, 1.4, seed=9)  # an autumn rush
    seasonal = ChurnModel(n_estimators=30).fit(X, y)
    blind = ChurnModel(n_estimators=30).fit(X.drop(columns="season_index"), y)
    assert "season_index" not in seasonal.features_ and seasonal.inputs_ == blind.inputs_
    off_seasonal = abs(seasonal.predict_proba(holdout).mean() - churned.mean())
    off_blind = abs(blind.predict_proba(holdout.drop(columns="season_index")).mean() - churned.mean())
    assert off_seasonal < 0.5 * off_blind and off_seasonal < 0.04
    # the same customers in a busier window: every one less likely to churn, ranked as before
    busier = seasonal.predict_proba(holdout.assign(season_index=2.0))
    now = seasonal.predict_proba(holdout)
    assert (busier < now).mean() > 0.99


def test_without_the_column_the_window_from_today_is_read_from_the_profile():
    X, y = rhythm_cohort(3_000, 1.0, seed=3)
    profile = np.where(np.arange(365) < 180, 0.5, 1.5)
    model = ChurnModel(n_estimators=20).fit(X, y, season=profile)
    from spend.models.season import season_index

    today = season_index(profile, pd.Timestamp.now(tz="UTC"), 90)[0]
    served = model.score(X.drop(columns="season_index"), reasons=True)
    batch = model.score(X.assign(season_index=today), reasons=True)
    np.testing.assert_allclose(served[0], batch[0])
    assert served[1] == batch[1]
    # a model fitted without the windows' index (or before it existed) keeps the label's own horizon
    plain = ChurnModel(n_estimators=20).fit(X.drop(columns="season_index"), y)
    np.testing.assert_allclose(
        plain.predict_proba(X.drop(columns="season_index")), plain.predict_proba(X.assign(season_index=1.5))
    )


def lapsed_and_rhythm_cohort(n: int, season: float, seed: int):
    """rhythm_cohort, with a fifth of the customers lapsed (a year since their last order, which BG/NBD
    reads as gone) who come back in a window at a rate that follows its season: 0.1 x the index."""
    X, y = rhythm_cohort(n, season, seed)
    rng = np.random.default_rng(seed + 100)
    lapsed = rng.random(n) < 0.2
    X.loc[lapsed, "days_since_last_order"] = X.loc[lapsed, "days_since_first_order"].clip(lower=400) - 30
    X.loc[lapsed, "days_since_first_order"] = X.loc[lapsed, "days_since_first_order"].clip(lower=400)
    X.loc[lapsed, "orders_365d"] = 0.0
    y = np.where(lapsed, rng.random(n) >= 0.1 * season, y).astype(int)
    return X, y


def test_the_season_moves_lapsed_customers_too():
    """BG/NBD's stretched horizon moves only customers it believes alive; the season shift moves the
    lapsed ones, who also come back more in a rush. Without it the rush's churn is overstated."""
    parts = [lapsed_and_rhythm_cohort(4_000, s, seed) for seed, s in enumerate((0.7, 0.9, 0.8))]
    X, y = pd.concat([p[0] for p in parts], ignore_index=True), np.concatenate([p[1] for p in parts])
    holdout, churned = lapsed_and_rhythm_cohort(6_000, 1.6, seed=9)
    shifted = ChurnModel(n_estimators=30).fit(X, y)
    stretched_only = ChurnModel(n_estimators=30, season_shift=0.0).fit(X, y)
    off = {
        name: abs(model.predict_proba(holdout).mean() - churned.mean())
        for name, model in (("shifted", shifted), ("stretched only", stretched_only))
    }
    assert off["shifted"] < 0.7 * off["stretched only"], off
    # the shift is -season_shift x log(index) on the starting log-odds, nothing else
    encoded = shifted._encode(holdout, shifted._season(holdout))
    unshifted = stretched_only._start(encoded, shifted._season(holdout))
    np.testing.assert_allclose(shifted._start(encoded, shifted._season(holdout)), unshifted - 0.5 * np.log(1.6))
    # a model saved before the shift existed loads without one: it starts from BG/NBD's stretched churn
    # alone, and its parameters still read (repr raised AttributeError)
    state = dict(shifted.__getstate__())
    state.pop("season_shift")
    before = ChurnModel.__new__(ChurnModel)
    before.__setstate__(state)
    assert before.get_params()["season_shift"] == 0.0 and "season_shift=0.0" in repr(before)
    np.testing.assert_allclose(before._start(encoded, 1.6), unshifted)
