"""The pricing benchmark's noise floor (benchmarks/pricing.py `noise_floor`): the MAE that unbiased
per-product estimates with given standard errors reach at best, which README and docs/pricing.md quote."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.support.benchmarks import benchmark_module


@pytest.fixture(scope="module")
def noise_floor():
    return benchmark_module("pricing").noise_floor


def test_precise_estimates_leave_no_floor_and_useless_ones_leave_the_spread(noise_floor):
    truth = pd.Series(np.random.default_rng(0).normal(-1.7, 0.6, 500))
    assert noise_floor(pd.Series(np.full(500, 1e-6)), truth) < 1e-5
    # Estimates with no information: the best guess is the mean, off by the spread's mean absolute deviation.
    assert noise_floor(pd.Series(np.full(500, 1e6)), truth) == pytest.approx(np.sqrt(2 / np.pi) * truth.std())


def test_the_floor_is_what_shrinking_toward_the_true_prior_reaches(noise_floor):
    rng = np.random.default_rng(1)
    n, mean, spread = 200_000, -1.7, 0.65
    truth = rng.normal(mean, spread, n)
    se = rng.uniform(0.1, 0.9, n)
    estimate = truth + rng.normal(0, se)
    weight = spread**2 / (spread**2 + se**2)  # the posterior mean under the true normal prior
    best = mean + weight * (estimate - mean)
    assert noise_floor(pd.Series(se), pd.Series(truth)) == pytest.approx(np.abs(best - truth).mean(), rel=0.01)
    # A missing standard error (a product with a category prior) is left out, not counted as zero.
    with_missing = pd.Series(np.append(se[:1000], np.nan))
    assert noise_floor(with_missing, pd.Series(truth)) == pytest.approx(
        noise_floor(pd.Series(se[:1000]), pd.Series(truth))
    )
