"""Churn warning: calibrated probability of no purchase in the next H days, risk bands and reason codes.

LightGBM on the customer feature service. Probabilities come from isotonic calibration of one booster
fitted on all rows, the calibrator learnt on its cross-validated predictions (CalibratedClassifierCV with
ensemble=False), so a 0.7 means about 7 in 10 such customers churn. One booster, not one per fold: the
service scores a thousand customers per call, and the same booster gives the reasons.
BG/NBD stacking: a BG/NBD model fitted (unsupervised) on the training rows' order counts, recency and
age turns each customer's whole history into P(alive) and P(no purchase within the horizon), which the
booster takes as two more inputs (`bgnbd_p_alive`, `bgnbd_p_churn`). The windows alone only see a year;
BG/NBD sees the full purchase rhythm, and the booster corrects it where the segments differ. The inputs
are feature-service features, so serving needs nothing else.

Reason codes are each customer's largest positive feature contributions to that booster's score: path
attributions (models/attribution.py), tabulated per leaf at fit time, much faster than TreeSHAP over
many customers; `score` gives probabilities and reasons from one pass. Models fitted before path
attributions existed explain with TreeSHAP. Text columns (membership_tier) are encoded inside the model,
so nothing but the fitted estimator is needed to score.

Bands (documented thresholds): low < 0.30 <= medium < 0.60 <= high.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from lightgbm import LGBMClassifier
from sklearn.base import BaseEstimator
from sklearn.calibration import CalibratedClassifierCV
from sklearn.exceptions import NotFittedError

from spend.core.experiments import CohortConfig
from spend.core.registry import ModelSpec, ServingSpec
from spend.features.compute.orders import churned, purchase_lines
from spend.models.attribution import PathAttribution
from spend.models.baselines import bgnbd_baseline, recency_baseline
from spend.models.bgnbd import BetaGeoModel
from spend.models.boosting import booster, capacity_space, reasons_from, threads_for, top_reasons
from spend.models.encoding import encode, learn_categories
from spend.models.metrics import probability_metrics

BANDS = (("low", 0.0), ("medium", 0.30), ("high", 0.60))
BGNBD_INPUTS = ("purchase_days_total", "days_since_last_order", "days_since_first_order")
BGNBD_FEATURES = ("bgnbd_p_alive", "bgnbd_p_churn")


DEFAULT_BOUNDS = {
    "n_estimators": (100, 600),
    "learning_rate": (0.02, 0.2),
    "num_leaves": (7, 63),
    "min_child_samples": (20, 200),
}


def search_space(trial, bounds: dict | None = None) -> dict:
    """Optuna search space over the booster's capacity and learning rate, within `bounds` (name -> low, high)."""
    return capacity_space(trial, bounds, DEFAULT_BOUNDS)


class ChurnModel(BaseEstimator):
    def __init__(
        self,
        n_estimators: int = 300,
        learning_rate: float = 0.05,
        num_leaves: int = 31,
        min_child_samples: int = 50,
        calibration_folds: int = 3,
        horizon_days: int = 90,
        bgnbd: bool = True,
        calibration: str = "isotonic",
        random_state: int = 0,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.calibration_folds = calibration_folds
        self.horizon_days = horizon_days
        self.bgnbd = bgnbd
        self.calibration = calibration
        self.random_state = random_state

    def _booster(self) -> LGBMClassifier:
        return booster(LGBMClassifier, self)

    def fit(self, X: pd.DataFrame, y) -> ChurnModel:
        y = np.asarray(y, dtype=int)
        if len(np.unique(y)) < 2:
            raise ValueError("churn labels need both churners and stayers in the training cohort")
        self.features_ = list(X.columns)
        self.categories_ = learn_categories(X)
        self.bgnbd_ = BetaGeoModel().fit(bgnbd_summary(X)) if self.bgnbd and set(BGNBD_INPUTS) <= set(X) else None
        matrix = self._encode(X)
        self.calibrated_ = CalibratedClassifierCV(
            self._booster(), method=self.calibration, cv=self.calibration_folds, ensemble=False
        ).fit(matrix, y)
        self.explainer_ = self.calibrated_.calibrated_classifiers_[0].estimator  # fitted on all rows
        self.attribution_ = PathAttribution(self.explainer_.booster_)
        self.base_rate_ = float(y.mean())
        return self

    def _encode(self, X: pd.DataFrame) -> pd.DataFrame:
        out = encode(X, self.features_, self.categories_, "churn")
        if getattr(self, "bgnbd_", None) is not None:
            summary = bgnbd_summary(X)
            out = out.assign(  # a new frame: encode may hand back the caller's columns uncopied
                bgnbd_p_alive=self.bgnbd_.p_alive(summary),
                bgnbd_p_churn=self.bgnbd_.p_no_purchase(summary, self.horizon_days),
            )
        return out

    @property
    def inputs_(self) -> list[str]:
        """What the booster sees: the features, then the BG/NBD summaries when stacked."""
        return self.features_ + (list(BGNBD_FEATURES) if getattr(self, "bgnbd_", None) is not None else [])

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
        return self.score(X, reasons=True, top=top)[1]

    def score(self, X: pd.DataFrame, reasons: bool = True, top: int = 3) -> tuple[np.ndarray, list[list[str]]]:
        """Calibrated P(churn) and, if asked, each customer's top reasons, from one pass over the booster:
        the path attributions add up to its raw score, which the calibrator maps as predict_proba does."""
        self._check()
        matrix = self._encode(X)
        if getattr(self, "attribution_", None) is None:  # fitted before path attributions: fold ensemble
            why = top_reasons(self.explainer_, matrix, self.inputs_, top) if reasons else [[] for _ in range(len(X))]
            return self.calibrated_.predict_proba(matrix)[:, 1], why
        values = np.asarray(matrix, dtype=np.float64)
        booster = self.explainer_.booster_
        if reasons:
            contributions = self.attribution_.contributions(booster, values, threads_for(len(values)))
            raw, why = contributions.sum(axis=1), reasons_from(contributions[:, :-1], self.inputs_, top)
        else:
            raw = booster.predict(values, raw_score=True, num_threads=threads_for(len(values)))
            why = [[] for _ in range(len(values))]
        # The calibrator learnt on what sklearn asks the booster for: decision_function (the raw score)
        # where the booster has one (LightGBM 4.6+), else P(class 1).
        response = raw if hasattr(self.explainer_, "decision_function") else 1.0 / (1.0 + np.exp(-raw))
        calibrator = self.calibrated_.calibrated_classifiers_[0].calibrators[0]
        return np.clip(calibrator.predict(response), 0.0, 1.0), why


def bgnbd_summary(X: pd.DataFrame) -> pd.DataFrame:
    """BG/NBD's frequency (repeat purchase days), recency and T in days from the feature store; a customer
    with no known first order counts as new (all zeros)."""
    first = X["days_since_first_order"].to_numpy(dtype=float)
    last = X["days_since_last_order"].to_numpy(dtype=float)
    T = np.nan_to_num(first, nan=0.0).clip(min=0.0)
    recency = np.nan_to_num(first - last, nan=0.0).clip(0.0, T)
    frequency = np.nan_to_num(X["purchase_days_total"].to_numpy(dtype=float) - 1, nan=0.0).clip(min=0.0)
    return pd.DataFrame({"frequency": frequency, "recency": recency, "T": T})


def bands(probability: np.ndarray) -> np.ndarray:
    edges = np.array([edge for _, edge in BANDS[1:]])
    return np.asarray([name for name, _ in BANDS], dtype=object)[np.searchsorted(edges, probability, side="right")]


def describe(model: ChurnModel, X: pd.DataFrame, probability: np.ndarray) -> dict[str, object]:
    """What `spend score churn` adds to each probability: its band and the top reasons."""
    return {"churn_band": bands(probability), "reasons": [";".join(r) for r in model.explain(X)]}


def _bgnbd(data, config: CohortConfig) -> np.ndarray:
    purchases = purchase_lines(data.lines)
    return bgnbd_baseline(purchases, data.holdout, data.splits.holdout, config.label.horizon_days)[0]


def _recency(data, config: CohortConfig) -> np.ndarray:
    return recency_baseline(data.train, data.holdout, "churned")


SPEC = ModelSpec(
    name="churn",
    summary="P(no purchase in the next H days), risk band and reasons, for every active customer",
    estimator=ChurnModel,
    config=CohortConfig,
    feature_service="churn_v1",
    dataset="customer_cohorts",
    label="churned",
    make_label=churned,
    metrics=probability_metrics,
    metric_names=("auc", "average_precision", "brier", "calibration_error"),
    lower_is_better=frozenset({"brier", "calibration_error"}),
    gate_metric="average_precision",
    predict=lambda model, X: model.predict_proba(X),
    baselines={"bgnbd": _bgnbd, "recency": _recency},
    describe=describe,
    search_space=search_space,
    score_column="churn_probability",
    serving=ServingSpec(roles=("marketing",), routes={"/v1/churn/score": "churn_score"}),
)
