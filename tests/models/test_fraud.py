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


def test_a_forest_blend_scores_the_weighted_mean_of_its_parts_on_both_paths():
    from spend.models.fraud_baselines import FraudBaseline

    X, y, _ = data(3_000)
    blend = FraudModel(n_estimators=40, forest_weight=0.3).fit(X, y)
    alone = FraudModel(n_estimators=40).fit(X, y).predict_proba(X.head(300))
    forest = FraudBaseline("random_forest").fit(X, y).predict_proba(X.head(300))
    assert np.allclose(blend.predict_proba(X.head(300)), 0.7 * alone + 0.3 * forest)
    assert not np.allclose(alone, forest)  # the parts differ, so the weights matter
    values = X.head(300).to_numpy()
    assert np.allclose(blend.predict_values(values[:1]), blend.predict_proba(X.head(1)))
    assert blend.explain_values(values[:5]) == blend.explain(X.head(5))


def test_a_blends_reasons_name_the_planted_pattern():
    X, y, _ = data(30_000)
    blend = FraudModel(n_estimators=100, num_leaves=7, forest_weight=0.5).fit(X, y)
    reasons = blend.explain(data(30_000, seed=1)[0].nlargest(20, "amount"))
    assert sum("amount" in r[:1] for r in reasons) >= 15


@pytest.mark.parametrize("weight", [-0.1, 1.0])
def test_a_forest_weight_outside_zero_to_one_is_an_error(weight):
    X, y, _ = data(500)
    with pytest.raises(ValueError, match="forest_weight must be at least 0 and below 1"):
        FraudModel(forest_weight=weight).fit(X, y)


def test_a_day_with_fewer_payments_than_the_budget_alerts_on_at_most_its_share():
    # 40 payments a day against a budget of 100: without the share cap the threshold was 0 and every
    # payment alerted.
    X, y, _ = data(800)
    days = np.repeat(np.arange(20), 40)
    model = FraudModel(n_estimators=30).fit(X, y).set_alert_budget(X, days, 100, max_share=0.05)
    alerts = pd.Series(model.predict(X)).groupby(days).sum()
    assert model.threshold_ > 0
    assert alerts.max() == 2  # ceil(5% of 40)


@pytest.mark.parametrize("kind", ["logistic_regression", "decision_tree_depth_2", "random_forest"])
def test_a_baseline_scores_like_its_sklearn_model_on_frames_and_single_rows(kind):
    from spend.models.fraud_baselines import FraudBaseline, _estimator

    X, y, days = data(4_000)
    model = FraudBaseline(kind).fit(X, y).set_alert_budget(X, days, 10)
    reference = _estimator(kind, 0)
    values = X.to_numpy()
    if kind == "logistic_regression":
        values = (values - values.mean(axis=0)) / values.std(axis=0)
    expected = reference.fit(values, y).predict_proba(values)[:, 1]
    np.testing.assert_allclose(model.predict_proba(X), expected, rtol=1e-6, atol=1e-9)
    row = X.to_numpy()[[7]]
    np.testing.assert_allclose(model.predict_values(row), expected[[7]], rtol=1e-6, atol=1e-9)
    assert pd.Series(model.predict(X)).groupby(days).sum().max() <= 10


@pytest.mark.parametrize("kind", ["logistic_regression", "random_forest"])
def test_a_baselines_reasons_add_up_to_its_score_and_name_the_planted_pattern(kind):
    from spend.models.fraud_baselines import FraudBaseline

    X, y, _ = data(30_000)
    model = FraudBaseline(kind).fit(X, y)
    top = X.nlargest(20, "terminal_risk_30d")
    contributions = model.contributions(top)
    if kind == "random_forest":  # Saabas: the mean leaf share is the root's share plus the path's changes
        root = np.mean([t.tree_.value[0, 0, 1] / t.tree_.value[0, 0].sum() for t in model.estimator_.estimators_])
        np.testing.assert_allclose(root + contributions.sum(axis=1), model.predict_proba(top), atol=1e-9)
    reasons = model.explain(top)
    assert sum(r[:1] == ["terminal_risk_30d"] for r in reasons) >= 15
    assert "noise" not in {r[0] for r in reasons if r}


def test_the_shipped_config_offers_the_blend_and_a_bad_weight_names_the_key():
    from spend.core.errors import SpendError
    from spend.core.experiments import FraudConfig, read_config

    assert read_config("fraud", FraudConfig).forest_weights == (0.0, 0.5)
    with pytest.raises((SpendError, ValueError), match="forest_weights"):
        read_config("fraud", FraudConfig, overrides=("forest_weights=[0.5, 1.5]",))


def test_a_payments_reasons_alone_are_its_reasons_in_a_batch_and_mostly_treeshaps():
    """Reasons are path attributions (one pass over the leaves); one payment through the single-row path
    gets the batch's reasons, the top one is TreeSHAP's for most payments, and a prepared model pickles."""
    import pickle

    from spend.models.boosting import reasons_from

    X, y, _ = data(20_000)
    model = FraudModel(n_estimators=150, num_leaves=15).fit(X, y)
    model.prepare_to_serve()
    values = data(400, seed=3)[0].to_numpy()
    batch = model.explain_values(values)
    assert [model.explain_values(row[None, :])[0] for row in values] == batch
    shap = model.booster_.booster_.predict(values, pred_contrib=True)[:, :-1]
    treeshap = reasons_from(shap, model.features_, 1)
    agree = np.mean([a[:1] == b for a, b in zip(batch, treeshap, strict=True) if b])
    assert agree > 0.8
    again = pickle.loads(pickle.dumps(model))
    assert again.explain_values(values[:20]) == batch[:20]


@pytest.mark.parametrize("kind", ["decision_tree_depth_2", "random_forest"])
def test_a_few_payments_walk_the_trees_compiled_to_the_batch_paths_scores_and_credits(kind):
    """A few rows (the request path) go through every tree in one compiled walk; a batch through
    scikit-learn. Both give the same scores and path credits, missing values included."""
    from spend.models.fraud_baselines import FraudBaseline

    X, y, _ = data(20_000)
    X.loc[X.sample(frac=0.1, random_state=1).index, "terminal_risk_30d"] = np.nan  # learnt missing branches
    model = FraudBaseline(kind).fit(X, y)
    model.prepare_to_serve()
    batch = data(600, seed=5)[0]
    batch.loc[::7, "amount"] = np.nan
    values = batch.to_numpy()
    assert len(values) >= 256  # the batch path: scikit-learn's predict_proba and decision paths
    scores, credits = model.predict_values(values), model.contributions(values)
    few = [(model.predict_values(values[i : i + 3]), model.contributions(values[i : i + 3])) for i in range(0, 600, 3)]
    np.testing.assert_allclose(np.concatenate([s for s, _ in few]), scores, rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.vstack([c for _, c in few]), credits, rtol=0, atol=1e-12)
    assert len(set(scores.round(6))) >= 3 and np.abs(credits).sum() > 0  # a depth-2 tree has 4 leaves
