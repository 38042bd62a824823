"""Uplift of a contact: how much a campaign changes each customer's chance to buy, from a randomised campaign.

Two learners on the same small protocol, fit(X, y, treatment) and predict(X) -> estimated uplift:
- TwoModelUplift: P(buy | X, treated) - P(buy | X, control), one classifier per arm.
- XLearnerUplift (Kuenzel et al. 2019): imputes each customer's effect with the other arm's model, fits
  a regressor on those imputed effects per arm, and blends them by the (randomised) treatment share.
Evaluation helpers: uplift at k (treated minus control outcome rate among the top k by predicted
uplift) and the Qini coefficient.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from lightgbm import LGBMClassifier, LGBMRegressor
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError

# Small, strongly regularised boosters: campaign samples are thousands of customers with a few percent
# of effect under a noisy outcome. Chosen by cross-fitted correlation with the simulator's true uplift
# (0.24 against 0.13 for 15-leaf trees on a 4,230-customer campaign, in the one-off runs that chose
# them; docs/training.md).
_BOOSTER = {
    "n_estimators": 200,
    "learning_rate": 0.03,
    "num_leaves": 4,
    "min_child_samples": 200,
    "subsample": 0.8,
    "subsample_freq": 1,
    "verbose": -1,
}


def _classifier(random_state: int) -> LGBMClassifier:
    return LGBMClassifier(**_BOOSTER, random_state=random_state)


def _regressor(random_state: int) -> LGBMRegressor:
    return LGBMRegressor(**_BOOSTER, random_state=random_state)


def _arms(y, treatment) -> tuple[np.ndarray, np.ndarray]:
    y, t = np.asarray(y, dtype=int), np.asarray(treatment, dtype=int)
    if len(y) != len(t):
        raise ValueError("outcome and treatment must have one value per customer")
    if not set(np.unique(t)) <= {0, 1} or not set(np.unique(y)) <= {0, 1}:
        raise ValueError("outcome and treatment must be 0/1")
    for arm, name in ((1, "treated"), (0, "control")):
        if (t == arm).sum() < 20 or len(np.unique(y[t == arm])) < 2:
            raise ValueError(f"the {name} arm needs at least 20 customers with both outcomes")
    return y, t


class TwoModelUplift(BaseEstimator):
    def __init__(self, random_state: int = 0) -> None:
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y, treatment) -> TwoModelUplift:
        y, t = _arms(y, treatment)
        self.treated_ = _classifier(self.random_state).fit(X[t == 1], y[t == 1])
        self.control_ = _classifier(self.random_state).fit(X[t == 0], y[t == 0])
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        if not hasattr(self, "treated_"):
            raise NotFittedError("TwoModelUplift is not fitted yet; call fit first")
        return self.treated_.predict_proba(X)[:, 1] - self.control_.predict_proba(X)[:, 1]


class XLearnerUplift(BaseEstimator):
    def __init__(self, random_state: int = 0) -> None:
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y, treatment) -> XLearnerUplift:
        y, t = _arms(y, treatment)
        treated, control = X[t == 1], X[t == 0]
        outcome_treated = _classifier(self.random_state).fit(treated, y[t == 1])
        outcome_control = _classifier(self.random_state).fit(control, y[t == 0])
        effect_treated = y[t == 1] - outcome_control.predict_proba(treated)[:, 1]
        effect_control = outcome_treated.predict_proba(control)[:, 1] - y[t == 0]
        self.effect_treated_ = clone(_regressor(self.random_state)).fit(treated, effect_treated)
        self.effect_control_ = clone(_regressor(self.random_state)).fit(control, effect_control)
        self.treated_share_ = float(t.mean())  # the propensity of a randomised campaign
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        if not hasattr(self, "effect_treated_"):
            raise NotFittedError("XLearnerUplift is not fitted yet; call fit first")
        # Weight each arm's effect model by how much data the *other* arm gave its imputations.
        e = self.treated_share_
        return e * self.effect_control_.predict(X) + (1 - e) * self.effect_treated_.predict(X)


def uplift_at_k(uplift, treatment, y, k: float = 0.3) -> float:
    """Observed outcome rate treated minus control among the top `k` share ranked by predicted uplift."""
    order = np.argsort(-np.asarray(uplift), kind="stable")[: max(int(len(uplift) * k), 1)]
    t, y = np.asarray(treatment)[order], np.asarray(y)[order]
    if t.sum() == 0 or (1 - t).sum() == 0:
        return float("nan")
    return float(y[t == 1].mean() - y[t == 0].mean())


def qini_curve(uplift, treatment, y) -> tuple[np.ndarray, np.ndarray]:
    """The Qini curve of a ranking: incremental responders among the top n (treated responders minus
    control responders scaled to the treated count), and the random ranking's straight line."""
    order = np.argsort(-np.asarray(uplift), kind="stable")
    t, y = np.asarray(treatment, dtype=float)[order], np.asarray(y, dtype=float)[order]
    n_t, n_c = np.cumsum(t), np.cumsum(1 - t)
    gained = np.cumsum(y * t) - np.cumsum(y * (1 - t)) * np.divide(n_t, n_c, out=np.zeros_like(n_t), where=n_c > 0)
    return gained, gained[-1] * np.arange(1, len(t) + 1) / len(t)


def qini_coefficient(uplift, treatment, y) -> float:
    """Area between the Qini curve of the ranking and the random ranking, normalised by the population."""
    gained, random = qini_curve(uplift, treatment, y)
    return float((gained - random).mean() / len(gained))
