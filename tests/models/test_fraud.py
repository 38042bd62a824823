"""FraudModel: learns a planted pattern, stores a threshold that respects the alert budget, explains."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spend.models.fraud import FraudModel


def data(n: int = 6_000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {"amount": rng.gamma(2, 30, n), "terminal_risk_30d": rng.beta(1, 30, n), "noise": rng.normal(size=n)}
    )
    logit = -6 + 0.02 * X["amount"] + 25 * X["terminal_risk_30d"]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y, rng.integers(0, 20, n)  # 20 days


def test_it_ranks_the_planted_pattern_and_explains_with_it():
    X, y, _ = data(30_000)
    model = FraudModel(n_estimators=200, learning_rate=0.03, num_leaves=7).fit(X, y)
    from sklearn.metrics import roc_auc_score

    Xt, yt, _ = data(30_000, seed=1)
    truth = 0.02 * Xt["amount"] + 25 * Xt["terminal_risk_30d"]  # the planted logit: the best ranking possible
    assert roc_auc_score(yt, model.predict_proba(Xt)) > roc_auc_score(yt, truth) - 0.04
    reasons = model.explain(Xt.nlargest(20, "amount"))
    assert sum("amount" in r[:1] for r in reasons) >= 15


@pytest.mark.parametrize("budget", [5, 30])
def test_the_threshold_raises_at_most_the_budget_on_each_validation_day(budget):
    X, y, days = data()
    model = FraudModel(n_estimators=50).fit(X, y).set_alert_budget(X, days, budget)
    alerts = pd.Series(model.predict(X)).groupby(days).sum()
    assert alerts.max() <= budget and alerts.max() >= budget - 1  # tight: the strictest day fills it
    assert model.alerts_per_day_ == budget


def test_bad_settings_and_labels_are_errors():
    X, y, _ = data(500)
    with pytest.raises(ValueError, match="imbalance must be one of none, sqrt, balanced"):
        FraudModel(imbalance="smote").fit(X, y)
    with pytest.raises(ValueError, match="both fraudulent and genuine"):
        FraudModel().fit(X, np.zeros(len(X)))


@pytest.mark.parametrize("rows", [1, 5_000])
def test_the_booster_shortcut_gives_the_sklearn_wrappers_probabilities(rows):
    from lightgbm import LGBMClassifier

    from spend.models.boosting import positive_probability

    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(5_000, 4)), columns=list("abcd"))
    y = (X["a"] + rng.normal(size=len(X)) > 1).astype(int)
    fitted = LGBMClassifier(n_estimators=30, verbose=-1).fit(X, y)
    assert np.allclose(positive_probability(fitted, X.head(rows)), fitted.predict_proba(X.head(rows))[:, 1])


def test_the_matrix_path_scores_and_explains_as_the_frame_path():
    X, y, _ = data(3_000)
    model = FraudModel(n_estimators=40).fit(X, y)
    values = X.head(50).to_numpy()
    assert np.allclose(model.predict_values(values), model.predict_proba(X.head(50)))
    assert model.explain_values(values[:5]) == model.explain(X.head(5))
    with pytest.raises(ValueError, match="expected rows of 3 features"):
        model.predict_values(values[:, :2])
