"""Path attributions: add up to the booster's raw score, follow routing of missing values, credit the
planted driver, and mostly agree with TreeSHAP on the top reason."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lightgbm import LGBMClassifier

from spend.models.attribution import PathAttribution
from spend.models.boosting import SingleRow


def data(n: int = 4_000, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 5)), columns=list("abcde"))
    X.loc[rng.random(n) < 0.1, "b"] = np.nan  # missing values take their learnt branch
    logit = 2.0 * X["a"] - 1.0 * X["b"].fillna(0) + 0.5 * X["c"] * X["d"]
    return X, (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)


@pytest.fixture(scope="module")
def fitted():
    X, y = data()
    return LGBMClassifier(n_estimators=120, num_leaves=15, learning_rate=0.1, verbose=-1).fit(X, y)


def test_credits_and_bias_add_up_to_the_raw_score(fitted):
    X, _ = data(500, seed=1)
    values = X.to_numpy()
    contributions = PathAttribution(fitted.booster_).contributions(fitted.booster_, values)
    assert contributions.shape == (500, 6)
    raw = fitted.booster_.predict(values, raw_score=True)
    assert np.allclose(contributions.sum(axis=1), raw, atol=1e-9)


def test_the_planted_driver_gets_the_credit_and_treeshap_mostly_agrees(fitted):
    X, _ = data(1_000, seed=2)
    values = X.to_numpy()
    path = PathAttribution(fitted.booster_).contributions(fitted.booster_, values)[:, :-1]
    shap = fitted.booster_.predict(values, pred_contrib=True)[:, :-1]
    strongest = np.abs(X["a"].to_numpy()) > 1.5
    assert (np.abs(path[strongest]).argmax(axis=1) == 0).mean() > 0.9  # "a" drives the extreme rows
    agreement = (np.abs(path).argmax(axis=1) == np.abs(shap).argmax(axis=1)).mean()
    assert agreement > 0.8
    assert np.corrcoef(path[:, 0], shap[:, 0])[0, 1] > 0.95


def test_a_booster_of_another_size_is_refused(fitted):
    X, y = data(500, seed=3)
    other = LGBMClassifier(n_estimators=10, verbose=-1).fit(X, y)
    with pytest.raises(ValueError, match="10 trees"):
        PathAttribution(fitted.booster_).contributions(other.booster_, X.to_numpy())


def test_one_rows_credits_are_the_batchs_to_the_last_bit(fitted):
    X, _ = data(200, seed=4)
    values = X.to_numpy()
    attribution = PathAttribution(fitted.booster_)
    batch = attribution.contributions(fitted.booster_, values)
    one_by_one = np.vstack([attribution.contributions(fitted.booster_, row[None, :]) for row in values])
    assert SingleRow.of(fitted.booster_, values.shape[1], "leaf") is not None  # the fast path was taken
    assert np.array_equal(one_by_one, batch)
