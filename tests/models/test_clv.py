"""The CLV model starts from BG/NBD x Gamma-Gamma when the history has its inputs, and fits alone when not."""

from __future__ import annotations

import numpy as np
import pandas as pd

from spend.models.baselines import BgnbdGammaGammaValue
from spend.models.clv import MarginModel


def _customers(n: int = 3_000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    age = rng.uniform(60, 700, n)
    rate = rng.gamma(0.9, 1 / 30, n)
    days = 1 + rng.poisson(rate * age)
    last = np.where(days > 1, rng.uniform(0, 1, n) * age * np.exp(-rate * 30), age)
    basket = rng.lognormal(3.5, 0.5, n)
    X = pd.DataFrame(
        {
            "purchase_days_total": days.astype(float),
            "days_since_last_order": np.minimum(last, age),
            "days_since_first_order": age,
            "avg_basket_value_365d": basket,
            "spend_365d": basket * np.minimum(days, rate * 365 + 1),
        }
    )
    alive = rng.random(n) < np.exp(-np.minimum(last, age) * rate / 3)
    y = 0.3 * basket * rng.poisson(rate * 365 * alive)
    return X, y


def test_the_booster_starts_from_the_baselines_value():
    X, y = _customers()
    start = MarginModel(n_estimators=1, learning_rate=1e-6).fit(X, y)
    baseline = BgnbdGammaGammaValue(365).fit(X, y).predict(X)
    assert start.baseline_ is not None
    np.testing.assert_allclose(start.predict(X), np.maximum(baseline, 0.01), rtol=1e-3)


def test_corrections_to_the_baseline_fit_the_training_margin_better_than_the_baseline():
    X, y = _customers()
    fitted = MarginModel(n_estimators=100).fit(X, y)
    baseline = BgnbdGammaGammaValue(365).fit(X, y).predict(X)
    assert np.abs(fitted.predict(X) - y).mean() < np.abs(baseline - y).mean()


def test_without_bgnbds_inputs_or_when_turned_off_the_booster_fits_alone():
    X, y = _customers(1_000)
    alone = MarginModel(n_estimators=20).fit(X[["spend_365d"]], y)
    off = MarginModel(n_estimators=20, bgnbd=False).fit(X, y)
    assert alone.baseline_ is None and off.baseline_ is None
    assert (alone.predict(X[["spend_365d"]]) >= 0).all() and np.isfinite(off.predict(X)).all()
