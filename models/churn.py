"""Churn warning: calibrated probability of no purchase in the next H days, risk bands and reason codes.

LightGBM on the customer feature service. Probabilities come from isotonic calibration over
cross-validated fits (CalibratedClassifierCV), so a 0.7 means about 7 in 10 such customers churn.
Reason codes are each customer's largest positive feature contributions (TreeSHAP, LightGBM's
pred_contrib) from one booster fitted on all the data. Text columns (membership_tier) are encoded
inside the model, so nothing but the fitted estimator is needed to score.

Bands (documented thresholds): low < 0.30 <= medium < 0.60 <= high.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from lightgbm import LGBMClassifier
from sklearn.base import BaseEstimator
from sklearn.calibration import CalibratedClassifierCV
from sklearn.exceptions import NotFittedError

BANDS = (("low", 0.0), ("medium", 0.30), ("high", 0.60))


DEFAULT_BOUNDS = {
    "n_estimators": (100, 600),
    "learning_rate": (0.02, 0.2),
    "num_leaves": (7, 63),
    "min_child_samples": (20, 200),
}


def search_space(trial, bounds: dict | None = None) -> dict:
    """Optuna search space over the booster's capacity and learning rate, within `bounds` (name -> low, high)."""
    unknown = set(bounds or {}) - set(DEFAULT_BOUNDS)
    if unknown:
        raise ValueError(f"no search space for {', '.join(sorted(unknown))}; known: {', '.join(DEFAULT_BOUNDS)}")
    b = DEFAULT_BOUNDS | dict(bounds or {})
    return {
        "n_estimators": trial.suggest_int("n_estimators", int(b["n_estimators"][0]), int(b["n_estimators"][1])),
        "learning_rate": trial.suggest_float("learning_rate", *map(float, b["learning_rate"]), log=True),
        "num_leaves": trial.suggest_int("num_leaves", *map(int, b["num_leaves"])),
        "min_child_samples": trial.suggest_int("min_child_samples", *map(int, b["min_child_samples"]), log=True),
    }


class ChurnModel(BaseEstimator):
    def __init__(
        self,
        n_estimators: int = 300,
        learning_rate: float = 0.05,
        num_leaves: int = 31,
        min_child_samples: int = 50,
        calibration_folds: int = 3,
        random_state: int = 0,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.calibration_folds = calibration_folds
        self.random_state = random_state

    def _booster(self) -> LGBMClassifier:
        return LGBMClassifier(
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            num_leaves=self.num_leaves,
            min_child_samples=self.min_child_samples,
            subsample=0.8,
            subsample_freq=1,
            random_state=self.random_state,
            verbose=-1,
        )

    def fit(self, X: pd.DataFrame, y) -> ChurnModel:
        y = np.asarray(y, dtype=int)
        if len(np.unique(y)) < 2:
            raise ValueError("churn labels need both churners and stayers in the training cohort")
        self.features_ = list(X.columns)
        self.categories_ = {
            c: sorted(X[c].dropna().astype(str).unique()) for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])
        }
        matrix = self._encode(X)
        self.calibrated_ = CalibratedClassifierCV(self._booster(), method="isotonic", cv=self.calibration_folds).fit(
            matrix, y
        )
        self.explainer_ = self._booster().fit(matrix, y)
        self.base_rate_ = float(y.mean())
        return self

    def _encode(self, X: pd.DataFrame) -> pd.DataFrame:
        missing = [c for c in self.features_ if c not in X]
        if missing:
            raise ValueError(f"churn model needs feature(s) {', '.join(missing)}")
        out = X[self.features_].copy()
        for column, categories in self.categories_.items():
            # Unknown categories (a new tier) become missing, which the booster handles, not an error.
            out[column] = pd.Categorical(out[column].astype("string"), categories=categories).codes.astype(float)
            out.loc[out[column] < 0, column] = np.nan
        return out.astype(float)

    def _check(self) -> None:
        if not hasattr(self, "calibrated_"):
            raise NotFittedError("ChurnModel is not fitted yet; call fit first")

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        self._check()
        return self.calibrated_.predict_proba(self._encode(X))[:, 1]

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return bands(self.predict_proba(X))

    def explain(self, X: pd.DataFrame, top: int = 3) -> list[list[str]]:
        """Per customer, the `top` features pushing the churn score up most (positive contributions only)."""
        self._check()
        contributions = self.explainer_.predict(self._encode(X), pred_contrib=True)[:, :-1]  # last: bias
        names = np.asarray(self.features_)
        order = np.argsort(-contributions, axis=1)[:, :top]
        return [[names[j] for j in row if contributions[i, j] > 0] for i, row in enumerate(order)]


def bands(probability: np.ndarray) -> np.ndarray:
    edges = np.array([edge for _, edge in BANDS[1:]])
    return np.asarray([name for name, _ in BANDS], dtype=object)[np.searchsorted(edges, probability, side="right")]
