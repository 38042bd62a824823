"""Fraud score of a card payment: LightGBM on the `fraud_v1` features, reason codes, and an alert threshold.

Class imbalance (under 1% fraud) is handled by `imbalance`: "none", "sqrt" (positive weight sqrt(neg/pos))
or "balanced" (neg/pos); the training loop picks one by prequential validation. Scores rank payments;
they are not calibrated probabilities once the classes are reweighted. `set_alert_budget` stores the
threshold that raises at most the given number of alerts per day on validation payments, so the
decision travels with the model. Reason codes: the largest positive TreeSHAP contributions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from lightgbm import LGBMClassifier
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError

from models.encoding import encode, learn_categories

IMBALANCE = ("none", "sqrt", "balanced")


def search_space(trial, bounds: dict | None = None) -> dict:
    """Optuna space over the booster and the imbalance handling, within `bounds` (name -> low, high)."""
    b = {
        "n_estimators": (100, 600),
        "learning_rate": (0.02, 0.2),
        "num_leaves": (7, 63),
        "min_child_samples": (20, 300),
    } | dict(bounds or {})
    return {
        "n_estimators": trial.suggest_int("n_estimators", *map(int, b["n_estimators"])),
        "learning_rate": trial.suggest_float("learning_rate", *map(float, b["learning_rate"]), log=True),
        "num_leaves": trial.suggest_int("num_leaves", *map(int, b["num_leaves"])),
        "min_child_samples": trial.suggest_int("min_child_samples", *map(int, b["min_child_samples"]), log=True),
        "imbalance": trial.suggest_categorical("imbalance", IMBALANCE),
    }


class FraudModel(BaseEstimator):
    def __init__(
        self,
        n_estimators: int = 300,
        learning_rate: float = 0.05,
        num_leaves: int = 31,
        min_child_samples: int = 100,
        imbalance: str = "none",
        random_state: int = 0,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.imbalance = imbalance
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y) -> FraudModel:
        if self.imbalance not in IMBALANCE:
            raise ValueError(f"imbalance must be one of {', '.join(IMBALANCE)}, not {self.imbalance!r}")
        y = np.asarray(y, dtype=int)
        positives = int(y.sum())
        if positives == 0 or positives == len(y):
            raise ValueError("fraud labels need both fraudulent and genuine payments")
        ratio = (len(y) - positives) / positives
        weight = {"none": 1.0, "sqrt": float(np.sqrt(ratio)), "balanced": float(ratio)}[self.imbalance]
        self.features_ = list(X.columns)
        self.categories_ = learn_categories(X)
        self.booster_ = LGBMClassifier(
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            num_leaves=self.num_leaves,
            min_child_samples=self.min_child_samples,
            scale_pos_weight=weight,
            subsample=0.8,
            subsample_freq=1,
            colsample_bytree=0.8,
            random_state=self.random_state,
            verbose=-1,
        ).fit(self._matrix(X), y)
        return self

    def _matrix(self, X: pd.DataFrame) -> pd.DataFrame:
        return encode(X, self.features_, self.categories_, "fraud")

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        if not hasattr(self, "booster_"):
            raise NotFittedError("FraudModel is not fitted yet; call fit first")
        return self.booster_.predict_proba(self._matrix(X))[:, 1]

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """1 = raise an alert (score at or above the stored threshold; 0.5 before a budget is set)."""
        return (self.predict_proba(X) >= getattr(self, "threshold_", 0.5)).astype(int)

    def set_alert_budget(self, X: pd.DataFrame, days: np.ndarray, alerts_per_day: int) -> FraudModel:
        """Threshold such that, on these (validation) payments, no day raises more than `alerts_per_day`."""
        scores = pd.Series(self.predict_proba(X))
        # Per day, the score of the last alert the budget allows; the strictest day sets the threshold.
        kth = scores.groupby(np.asarray(days)).apply(lambda s: np.sort(s.to_numpy())[::-1][alerts_per_day:][:1])
        above = [float(v[0]) for v in kth if len(v)]
        self.threshold_ = float(np.nextafter(max(above), np.inf)) if above else 0.0
        self.alerts_per_day_ = int(alerts_per_day)
        return self

    def explain(self, X: pd.DataFrame, top: int = 3) -> list[list[str]]:
        contributions = self.booster_.predict(self._matrix(X), pred_contrib=True)[:, :-1]
        names = np.asarray(self.features_)
        order = np.argsort(-contributions, axis=1)[:, :top]
        return [[names[j] for j in row if contributions[i, j] > 0] for i, row in enumerate(order)]
