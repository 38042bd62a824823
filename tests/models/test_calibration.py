"""Calibration keeps the ranking: the calibrated probabilities order customers exactly as the raw score
does (same AUC, no shared values), are calibrated, and the map is chosen by held-out log loss."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score

from spend.models.calibration import MonotoneCalibrator
from spend.models.metrics import calibration_error


def _events(truth, n: int = 20_000, seed: int = 0):
    rng = np.random.default_rng(seed)
    score = rng.normal(size=n)
    return score, (rng.random(n) < truth(score)).astype(int)


def logistic_truth(s):
    return 1 / (1 + np.exp(-(1.5 * s - 0.5)))


def step_truth(s):
    return np.clip(0.1 + 0.8 * (s > 0.3) + 0.05 * s, 0, 1)


@pytest.mark.parametrize(("truth", "expected"), [(logistic_truth, "platt"), (step_truth, "isotonic")])
def test_the_map_keeps_the_ranking_is_calibrated_and_is_chosen_by_held_out_log_loss(truth, expected):
    score, y = _events(truth)
    calibrator = MonotoneCalibrator().fit(score[:10_000], y[:10_000])
    held_out, outcome = score[10_000:], y[10_000:]
    probability = calibrator.predict(held_out)
    assert calibrator.method_ == expected
    assert roc_auc_score(outcome, probability) == pytest.approx(roc_auc_score(outcome, held_out), abs=1e-12)
    assert len(np.unique(probability)) == len(np.unique(held_out))  # no two scores share a probability
    assert np.all(np.diff(probability[np.argsort(held_out)]) > 0)
    assert calibration_error(outcome, probability) < 0.03  # the churn goal


def test_an_unfitted_or_misconfigured_calibrator_says_so():
    with pytest.raises(NotFittedError):
        MonotoneCalibrator().predict([0.1])
    with pytest.raises(ValueError, match="calibration methods must be among"):
        MonotoneCalibrator(methods=("beta",)).fit([0.0, 1.0, 2.0, 3.0], [0, 1, 0, 1])
