"""Fraud score of a card payment: LightGBM on the `fraud_v1` features, reason codes, and an alert threshold.

Class imbalance (under 1% fraud) is handled by `imbalance`: "none", "sqrt" (positive weight sqrt(neg/pos))
or "balanced" (neg/pos); the training loop picks one by prequential validation. Scores rank payments;
they are not calibrated probabilities once the classes are reweighted. `set_alert_budget` stores the
threshold that raises at most the given number of alerts per day on validation payments, so the
decision travels with the model. Reason codes: the largest positive path attributions (models/attribution.py:
Saabas' credits, tabulated per leaf once per model; TreeSHAP cost a payment's alert several times its
score, docs/fraud.md has the agreement between the two).

`forest_weight` w > 0 blends the booster with a random forest fitted beside it on the same rows: the score
is (1 - w) x booster + w x forest. The two err on different payments (the forest averages deep trees of
random features, the booster corrects its own mistakes in sequence), and the blend beat both by
prequential validation on the Handbook's data (docs/fraud.md); the protocol chooses w among the
configured weights the same way. Reasons then add the parts' contributions on the probability scale
(the booster's log-odds contributions times p(1 - p)).

The Handbook's baselines (logistic regression, a depth-2 tree, a random forest) are `FraudBaseline`s: the
same interface (scores on a DataFrame or a float matrix, the alert threshold, reasons), so when one beats
the candidate on the test week the gate serves it in the candidate's place.
"""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
from lightgbm import LGBMClassifier
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError

from spend.core.experiments import FraudConfig
from spend.core.registry import ModelSpec, ServingSpec
from spend.models.alert_threshold import AlertThreshold
from spend.models.attribution import PathAttribution
from spend.models.boosting import booster, capacity_space, positive_probability, reasons_from, threads_for
from spend.models.encoding import encode, learn_categories
from spend.models.fraud_baselines import FraudBaseline

IMBALANCE = ("none", "sqrt", "balanced")
_TABULATING = threading.Lock()  # module-level: a lock on the model would not pickle


BOUNDS = {
    "n_estimators": (100, 600),
    "learning_rate": (0.02, 0.2),
    "num_leaves": (7, 63),
    "min_child_samples": (20, 300),
}


def search_space(trial, bounds: dict | None = None) -> dict:
    """Optuna space over the booster and the imbalance handling, within `bounds` (name -> low, high)."""
    return capacity_space(trial, bounds, BOUNDS) | {"imbalance": trial.suggest_categorical("imbalance", IMBALANCE)}


class FraudModel(AlertThreshold, BaseEstimator):
    def __init__(
        self,
        n_estimators: int = 300,
        learning_rate: float = 0.05,
        num_leaves: int = 31,
        min_child_samples: int = 100,
        imbalance: str = "none",
        forest_weight: float = 0.0,
        random_state: int = 0,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.imbalance = imbalance
        self.forest_weight = forest_weight
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y) -> FraudModel:
        if self.imbalance not in IMBALANCE:
            raise ValueError(f"imbalance must be one of {', '.join(IMBALANCE)}, not {self.imbalance!r}")
        if not 0 <= self.forest_weight < 1:
            raise ValueError(f"forest_weight must be at least 0 and below 1, not {self.forest_weight!r}")
        y = np.asarray(y, dtype=int)
        positives = int(y.sum())
        if positives == 0 or positives == len(y):
            raise ValueError("fraud labels need both fraudulent and genuine payments")
        ratio = (len(y) - positives) / positives
        weight = {"none": 1.0, "sqrt": float(np.sqrt(ratio)), "balanced": float(ratio)}[self.imbalance]
        self.features_ = list(X.columns)
        self.categories_ = learn_categories(X)
        self.booster_ = booster(LGBMClassifier, self, scale_pos_weight=weight, colsample_bytree=0.8)
        self.booster_.fit(self._matrix(X), y)
        self.forest_ = None
        if self.forest_weight > 0:
            if self.categories_ is not None:
                raise ValueError("forest_weight needs numeric features only (a random forest takes no text)")
            self.forest_ = FraudBaseline("random_forest", self.random_state).fit(X, y)
        return self

    def _matrix(self, X: pd.DataFrame) -> pd.DataFrame:
        return encode(X, self.features_, self.categories_, "fraud")

    def _check(self) -> None:
        if not hasattr(self, "booster_"):
            raise NotFittedError("FraudModel is not fitted yet; call fit first")

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        self._check()
        return self._blend(self._matrix(X).to_numpy(dtype=np.float64))

    def predict_values(self, values: np.ndarray) -> np.ndarray:
        """predict_proba for a float matrix whose columns are `features_` in order: the request path of one
        payment, where building a DataFrame cost more than the model."""
        return self._blend(self._checked(values))

    def explain_values(self, values: np.ndarray, top: int = 3) -> list[list[str]]:
        return self._reasons(self._checked(values), top)

    def _blend(self, values: np.ndarray) -> np.ndarray:
        score = positive_probability(self.booster_, values)
        if getattr(self, "forest_", None) is None:
            return score
        return (1 - self.forest_weight) * score + self.forest_weight * self.forest_.predict_values(values)

    def prepare_to_serve(self) -> None:
        """Tabulate the path attributions (and lay out a blended forest) now: the service calls this on
        loading, so the first alert does not pay for it."""
        self._attribution()
        if getattr(self, "forest_", None) is not None:
            self.forest_.prepare_to_serve()

    def _attribution(self) -> PathAttribution:
        attribution = getattr(self, "attribution_", None)
        if attribution is None:  # tabulated once per model, not in every fit of the prequential selection
            with _TABULATING:
                attribution = getattr(self, "attribution_", None) or PathAttribution(self.booster_.booster_)
                self.attribution_ = attribution
        return attribution

    def _log_odds_credits(self, values: np.ndarray) -> np.ndarray:
        """Each feature's credit to the booster's log-odds (rows, features)."""
        return self._attribution().contributions(self.booster_.booster_, values, threads_for(len(values)))[:, :-1]

    def _reasons(self, values: np.ndarray, top: int) -> list[list[str]]:
        credits = self._log_odds_credits(values)
        if getattr(self, "forest_", None) is None:
            return reasons_from(credits, self.features_, top)
        p = positive_probability(self.booster_, values)
        booster_part = credits * (p * (1 - p))[:, None]  # log-odds to probability, to first order
        forest_part = self.forest_.contributions(values)
        return reasons_from(
            (1 - self.forest_weight) * booster_part + self.forest_weight * forest_part, self.features_, top
        )

    def _checked(self, values: np.ndarray) -> np.ndarray:
        self._check()
        if self.categories_ is not None:
            text = ", ".join(self.categories_.feature_names_in_)
            raise ValueError(f"text features {text} need predict_proba on a DataFrame")
        if values.ndim != 2 or values.shape[1] != len(self.features_):
            raise ValueError(f"expected rows of {len(self.features_)} features ({', '.join(self.features_)})")
        return values

    def explain(self, X: pd.DataFrame, top: int = 3) -> list[list[str]]:
        self._check()
        return self._reasons(self._matrix(X).to_numpy(dtype=np.float64), top)


SPEC = ModelSpec(
    name="fraud",
    summary="fraud score of a card payment with reason codes and an alert threshold (Handbook protocol)",
    estimator=FraudModel,
    config=FraudConfig,
    feature_service="fraud_v1",
    dataset="payments_prequential",
    label="is_fraud",
    metrics=None,  # per test day, with card precision: the protocol computes them (training/fraud.py)
    metric_names=("auc", "average_precision", "card_precision_at_100"),
    gate_metric="average_precision",
    predict=lambda model, X: model.predict_proba(X),
    # The Handbook's baselines, fitted on the same features and weeks; one that wins is served.
    baselines={
        name: (lambda config, kind=name: FraudBaseline(kind))
        for name in ("logistic_regression", "decision_tree_depth_2", "random_forest")
    },
    search_space=search_space,
    serving=ServingSpec(
        roles=("pricing-engine",),
        routes={"/v1/fraud/score": "fraud_score", "/v1/fraud/score-batch": "fraud_score_batch"},
    ),
)
