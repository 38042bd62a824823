"""LightGBM's single-row path (models/boosting.SingleRow) against Booster.predict, for scores and TreeSHAP
contributions."""

from __future__ import annotations

from types import SimpleNamespace

import lightgbm as lgb
import numpy as np
import pytest

from spend.models.boosting import SingleRow, contributions, positive_probability


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(1_500, 9))
    y = (X[:, 0] - X[:, 4] + rng.normal(size=len(X)) > 0.8).astype(int)
    rows = rng.normal(size=(120, 9))
    rows[::5, 2] = np.nan  # missing values take the trees' default branches
    return X, y, rows


def test_one_row_at_a_time_equals_the_booster_on_the_batch(data):
    X, y, rows = data
    fitted = lgb.LGBMClassifier(n_estimators=80, num_leaves=15, verbose=-1).fit(X, y)
    one_by_one = np.array([positive_probability(fitted, row[None, :])[0] for row in rows])
    assert SingleRow.of(fitted.booster_, rows.shape[1]) is not None  # the fast path was taken
    assert np.array_equal(one_by_one, fitted.booster_.predict(rows))
    assert len(set(one_by_one.round(6))) > 10  # not a constant


def test_an_early_stopped_booster_predicts_with_its_best_iteration_not_all_its_trees(data):
    X, y, rows = data
    params = {"objective": "binary", "learning_rate": 0.3, "verbose": -1}
    booster = lgb.train(  # keep_training_booster: the trees after the best iteration stay in the model
        params,
        lgb.Dataset(X[:1_000], y[:1_000]),
        num_boost_round=400,
        valid_sets=[lgb.Dataset(X[1_000:], y[1_000:])],
        callbacks=[lgb.early_stopping(5, verbose=False)],
        keep_training_booster=True,
    )
    assert 0 < booster.best_iteration < booster.num_trees()
    one_by_one = np.array([positive_probability(SimpleNamespace(booster_=booster), r[None, :])[0] for r in rows])
    assert np.array_equal(one_by_one, booster.predict(rows))
    assert not np.allclose(one_by_one, booster.predict(rows, num_iteration=booster.num_trees()))


def test_a_row_of_the_wrong_width_is_refused_not_misread(data):
    X, y, rows = data
    fitted = lgb.LGBMClassifier(n_estimators=10, verbose=-1).fit(X, y)
    with pytest.raises(lgb.basic.LightGBMError):
        positive_probability(fitted, rows[:1, :5])


def test_one_rows_contributions_equal_the_boosters_on_the_batch(data):
    X, y, rows = data
    fitted = lgb.LGBMClassifier(n_estimators=80, num_leaves=15, verbose=-1).fit(X, y)
    one_by_one = np.vstack([contributions(fitted.booster_, row[None, :]) for row in rows])
    assert SingleRow.of(fitted.booster_, rows.shape[1], "contrib") is not None  # the fast path was taken
    assert SingleRow.of(fitted.booster_, rows.shape[1]) is not SingleRow.of(fitted.booster_, rows.shape[1], "contrib")
    assert np.array_equal(one_by_one, fitted.booster_.predict(rows, pred_contrib=True))
    assert one_by_one.shape == (len(rows), rows.shape[1] + 1) and np.abs(one_by_one[:, :-1]).sum() > 0


def test_a_multi_class_booster_is_left_to_booster_predict(data):
    X, _, rows = data
    y = np.digitize(X[:, 0], [-0.5, 0.5])  # three classes
    fitted = lgb.LGBMClassifier(n_estimators=10, verbose=-1).fit(X, y)
    assert SingleRow.of(fitted.booster_, rows.shape[1]) is None
    assert SingleRow.of(fitted.booster_, rows.shape[1], "contrib") is None
    one = contributions(fitted.booster_, rows[:1])
    assert np.array_equal(one, fitted.booster_.predict(rows[:1], pred_contrib=True))
