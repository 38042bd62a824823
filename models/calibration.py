"""Probabilities from a score, keeping its ranking: a strictly increasing map chosen by held-out log loss.

Plain isotonic regression is a step function: it gave thousands of customers one shared probability and
threw away the order the booster had found between them (AUC fell below the raw score's). Two strictly
monotone candidates are fitted on out-of-fold scores instead:

- `platt`: a logistic curve on the raw score (Platt scaling);
- `isotonic`: isotonic regression, interpolated linearly between the centres of its blocks instead of
  stepping, with ties (beyond the outermost centres) broken by a vanishing share of the raw score's
  logistic, so no two different scores share a probability.

The one with the lower log loss, by K-fold cross-validation over the out-of-fold scores, is kept. Both
keep the order of the scores, so calibrated probabilities rank customers exactly as the raw score does.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold

METHODS = ("platt", "isotonic")
TIE_BREAK = 1e-6  # the raw score's share of a probability: enough to order ties, too small to matter


def _logistic(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):  # exp(-x) of a very negative score is inf: the probability is 0
        return 1.0 / (1.0 + np.exp(-x))


class MonotoneCalibrator(BaseEstimator):
    """Maps a raw score (higher: more likely) to a probability, strictly increasing."""

    def __init__(self, methods: tuple[str, ...] = METHODS, folds: int = 5, random_state: int = 0) -> None:
        self.methods = methods
        self.folds = folds
        self.random_state = random_state

    def fit(self, score, y) -> MonotoneCalibrator:
        score, y = np.asarray(score, dtype=float), np.asarray(y, dtype=int)
        unknown = set(self.methods) - set(METHODS)
        if unknown or not self.methods:
            raise ValueError(f"calibration methods must be among {METHODS}, not {sorted(unknown) or 'none'}")
        self.loss_ = {m: self._held_out_loss(m, score, y) for m in self.methods}
        self.method_ = min(self.loss_, key=self.loss_.get)
        self.mapping_ = _fit(self.method_, score, y)
        return self

    def _held_out_loss(self, method: str, score: np.ndarray, y: np.ndarray) -> float:
        folds = StratifiedKFold(self.folds, shuffle=True, random_state=self.random_state)
        losses = []
        for fit_on, check_on in folds.split(score.reshape(-1, 1), y):
            mapped = _predict(_fit(method, score[fit_on], y[fit_on]), score[check_on])
            losses.append(log_loss(y[check_on], np.clip(mapped, 1e-6, 1 - 1e-6), labels=[0, 1]))
        return float(np.mean(losses))

    def predict(self, score) -> np.ndarray:
        if not hasattr(self, "mapping_"):
            raise NotFittedError("MonotoneCalibrator is not fitted yet; call fit first")
        return _predict(self.mapping_, np.asarray(score, dtype=float))


def _fit(method: str, score: np.ndarray, y: np.ndarray) -> dict:
    if method == "platt":
        logistic = LogisticRegression(C=1e6).fit(score.reshape(-1, 1), y)
        return {"method": method, "slope": float(logistic.coef_[0, 0]), "intercept": float(logistic.intercept_[0])}
    isotonic = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(score, y)
    fitted = isotonic.predict(score)
    # The centre of each block of equal fitted values: the points the interpolation runs through.
    values, block = np.unique(fitted, return_inverse=True)
    centres = np.bincount(block, weights=score) / np.bincount(block)
    return {"method": method, "x": centres, "y": values}


def _predict(mapping: dict, score: np.ndarray) -> np.ndarray:
    if mapping["method"] == "platt":
        return _logistic(mapping["slope"] * score + mapping["intercept"])
    x, y = mapping["x"], mapping["y"]
    base = np.interp(score, x, y) if len(x) > 1 else np.full(len(score), y[0])
    return np.clip((1 - TIE_BREAK) * base + TIE_BREAK * _logistic(score), 0.0, 1.0)
