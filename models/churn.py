"""Churn warning: calibrated probability of no purchase in the next H days, risk bands and reason codes.

LightGBM on the customer feature service. Probabilities come from one booster fitted on all rows and a
strictly increasing calibration map (models/calibration.py: Platt or interpolated isotonic, chosen by
held-out log loss) learnt on its out-of-fold raw scores, so a 0.7 means about 7 in 10 such customers
churn and the probabilities rank customers exactly as the booster does. One booster, not one per fold:
the service scores a thousand customers per call, and the same booster gives the reasons.
BG/NBD as the starting point: a BG/NBD model fitted (unsupervised) on the training rows' order counts,
recency and age turns each customer's whole history into P(alive) and P(no purchase within the horizon).
The booster starts from BG/NBD's log-odds (LightGBM's init_score) and learns only corrections to it,
with the two BG/NBD probabilities among its inputs. The windows alone only see a year; BG/NBD sees the
full purchase rhythm. Boosting from scratch with BG/NBD as one input among many lost to plain BG/NBD on
Online Retail II; a few rounds of corrections beat it (docs/training.md). The inputs are
feature-service features, so serving needs nothing else.

Reason codes are each customer's largest positive feature contributions to that booster's score: path
attributions (models/attribution.py), tabulated per leaf at fit time, much faster than TreeSHAP over
many customers; `score` gives probabilities and reasons from one pass. Models fitted before path
attributions existed explain with TreeSHAP. Text columns (membership_tier) are encoded inside the model,
so nothing but the fitted estimator is needed to score.

The season: given the shop's yearly profile at fit (models/season.py), BG/NBD's horizon is stretched by
the season index of each row's window (a 90-day window 40% busier than an average stretch counts as 126
days of purchasing), so the starting point knows an autumn rush or a January lull that the training
cohorts' labels did not cover. The stretch moves only customers BG/NBD believes alive; lapsed customers
come back in a rush too (and stay away in a lull), so the starting log-odds also move by
-season_shift x log(index) for everyone (docs/training.md). Rows carry their window's index in the
`season_index` column; without it (the service) the index of the window starting today is read from the
profile.

Bands (documented thresholds): low < 0.30 <= medium < 0.60 <= high.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from lightgbm import LGBMClassifier
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import StratifiedKFold

from spend.core.experiments import CohortConfig
from spend.core.registry import ModelSpec, ServingSpec
from spend.features.compute.orders import churned
from spend.models.attribution import PathAttribution
from spend.models.baselines import BgnbdChurn, RecencyChurn
from spend.models.bgnbd import BGNBD_INPUTS, BetaGeoModel, summary_from_features
from spend.models.boosting import booster, capacity_space, reasons_from, threads_for
from spend.models.calibration import METHODS, MonotoneCalibrator
from spend.models.encoding import encode, learn_categories
from spend.models.metrics import probability_metrics
from spend.models.reason_text import explain
from spend.models.season import SEASON_INDEX, season_index

BANDS = (("low", 0.0), ("medium", 0.30), ("high", 0.60))
CALIBRATIONS = {"auto": METHODS, "platt": ("platt",), "isotonic": ("isotonic",)}
BGNBD_FEATURES = ("bgnbd_p_alive", "bgnbd_p_churn")


DEFAULT_BOUNDS = {
    "n_estimators": (20, 300),
    "learning_rate": (0.02, 0.2),
    "num_leaves": (7, 63),
    "min_child_samples": (20, 200),
}


def search_space(trial, bounds: dict | None = None) -> dict:
    """Optuna search space over the booster's capacity and learning rate, within `bounds` (name -> low, high)."""
    return capacity_space(trial, bounds, DEFAULT_BOUNDS)


class ChurnModel(BaseEstimator):
    seasonal = True  # the cohorts give it each window's season index and the shop's yearly profile

    def __init__(
        self,
        n_estimators: int = 50,
        learning_rate: float = 0.05,
        num_leaves: int = 31,
        min_child_samples: int = 50,
        calibration_folds: int = 3,
        horizon_days: int = 90,
        bgnbd: bool = True,
        calibration: str = "auto",
        season_shift: float = 0.5,
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
        self.season_shift = season_shift
        self.random_state = random_state

    def __setstate__(self, state: dict) -> None:
        # A model saved before season_shift existed has none: it starts from BG/NBD's stretched churn alone,
        # as it was judged, and its parameters (repr, get_params) still read.
        super().__setstate__({"season_shift": 0.0} | state)

    def _booster(self) -> LGBMClassifier:
        return booster(LGBMClassifier, self)

    def fit(self, X: pd.DataFrame, y, season: np.ndarray | None = None) -> ChurnModel:
        """`season`: the shop's yearly profile (models/season.py), for the service's windows; the rows'
        own windows come in X's `season_index` column."""
        y = np.asarray(y, dtype=int)
        if len(np.unique(y)) < 2:
            raise ValueError("churn labels need both churners and stayers in the training cohort")
        self.features_ = [c for c in X.columns if c != SEASON_INDEX]
        self.categories_ = learn_categories(X[self.features_])
        self.season_ = None if season is None else np.asarray(season, dtype=np.float64)
        self.seasonal_ = SEASON_INDEX in X.columns
        stacked = self.bgnbd and set(BGNBD_INPUTS) <= set(X)
        self.bgnbd_ = BetaGeoModel().fit(summary_from_features(X)) if stacked else None
        self.from_bgnbd_ = stacked
        index = self._season(X)
        matrix = self._encode(X, index)
        start = self._start(matrix, index)
        folds = StratifiedKFold(self.calibration_folds, shuffle=True, random_state=self.random_state)
        out_of_fold = np.empty(len(y))
        for fit_on, check_on in folds.split(matrix, y):
            fold = self._booster().fit(matrix.iloc[fit_on], y[fit_on], init_score=start[fit_on])
            out_of_fold[check_on] = fold.predict(matrix.iloc[check_on], raw_score=True) + start[check_on]
        methods = CALIBRATIONS[self.calibration]
        self.calibrator_ = MonotoneCalibrator(methods, random_state=self.random_state).fit(out_of_fold, y)
        self.explainer_ = self._booster().fit(matrix, y, init_score=start)  # the booster that scores and explains
        self.start_mean_ = float(start.mean())
        self.attribution_ = PathAttribution(self.explainer_.booster_)
        self.base_rate_ = float(y.mean())
        return self

    def _encode(self, X: pd.DataFrame, index: np.ndarray | float = 1.0) -> pd.DataFrame:
        """The booster's inputs; BG/NBD's churn over the horizon stretched by each row's season `index`."""
        out = encode(X, self.features_, self.categories_, "churn")
        if getattr(self, "bgnbd_", None) is not None:
            summary = summary_from_features(X)
            out = out.assign(  # a new frame: encode may hand back the caller's columns uncopied
                bgnbd_p_alive=self.bgnbd_.p_alive(summary),
                bgnbd_p_churn=self.bgnbd_.p_no_purchase(summary, self.horizon_days * index),
            )
        return out

    def _season(self, X: pd.DataFrame) -> np.ndarray | float:
        """Each row's season index: the row's `season_index`, else the window from today in the fitted
        profile, else 1. A model fitted without the column (or before seasons existed) ignores it: its
        booster learnt from the label's own horizon."""
        if not getattr(self, "seasonal_", False):
            return 1.0
        if SEASON_INDEX in X:
            index = X[SEASON_INDEX].to_numpy(dtype=np.float64)
            return np.where(np.isfinite(index) & (index > 0), index, 1.0)
        profile = getattr(self, "season_", None)
        if profile is None:
            return 1.0
        return float(season_index(profile, pd.Timestamp.now(tz="UTC"), self.horizon_days)[0])

    def _start(self, encoded: pd.DataFrame, index: np.ndarray | float) -> np.ndarray:
        """Each row's starting log-odds: BG/NBD's P(no purchase within the season-stretched horizon), the
        `bgnbd_p_churn` the encoding computed, moved by -season_shift x log(index); 0 unstacked, and for
        models fitted before the booster started from BG/NBD (no `from_bgnbd_`). Models fitted before the
        shift existed have none."""
        if not getattr(self, "from_bgnbd_", False):
            return np.zeros(len(encoded))
        shift = self.season_shift * np.log(index)
        return _logit(encoded["bgnbd_p_churn"].to_numpy(dtype=np.float64)) - shift

    @property
    def inputs_(self) -> list[str]:
        """What the booster sees: the features, then the BG/NBD summaries when stacked."""
        return self.features_ + (list(BGNBD_FEATURES) if getattr(self, "bgnbd_", None) is not None else [])

    def _check(self) -> None:
        if not hasattr(self, "calibrator_"):
            raise NotFittedError("ChurnModel is not fitted yet; call fit first")

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.score(X, reasons=False)[0]

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return bands(self.predict_proba(X))

    def explain(self, X: pd.DataFrame, top: int = 3) -> list[list[str]]:
        """Per customer, the `top` features pushing the churn score up most (positive contributions only)."""
        return self.score(X, reasons=True, top=top)[1]

    def score(self, X: pd.DataFrame, reasons: bool = True, top: int = 3) -> tuple[np.ndarray, list[list[str]]]:
        """Calibrated P(churn) and, if asked, each customer's top reasons, from one pass over the booster:
        the path attributions add up to its raw score, which the calibrator maps as predict_proba does."""
        self._check()
        index = self._season(X)
        encoded = self._encode(X, index)
        values = np.asarray(encoded, dtype=np.float64)
        booster = self.explainer_.booster_
        start = self._start(encoded, index)
        if reasons:
            contributions = self.attribution_.contributions(booster, values, threads_for(len(values)))
            raw, why = contributions.sum(axis=1) + start, self._reasons(contributions[:, :-1], start, top)
        else:
            raw = booster.predict(values, raw_score=True, num_threads=threads_for(len(values))) + start
            why = [[] for _ in range(len(values))]
        return self.calibrator_.predict(raw), why

    def _reasons(self, contributions: np.ndarray, start: np.ndarray, top: int) -> list[list[str]]:
        """The starting point counts as BG/NBD's contribution, measured from the training rows' average."""
        if getattr(self, "from_bgnbd_", False):
            column = self.inputs_.index("bgnbd_p_churn")
            contributions = contributions.copy()
            contributions[:, column] += start - self.start_mean_
        return reasons_from(contributions, self.inputs_, top)


def _logit(p: np.ndarray) -> np.ndarray:
    """Probabilities on the booster's raw-score (log-odds) scale."""
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return np.log(p / (1 - p))


def bands(probability: np.ndarray) -> np.ndarray:
    edges = np.array([edge for _, edge in BANDS[1:]])
    return np.asarray([name for name, _ in BANDS], dtype=object)[np.searchsorted(edges, probability, side="right")]


def describe(model: ChurnModel, X: pd.DataFrame, probability: np.ndarray) -> dict[str, object]:
    """What `spend score churn` adds to each probability: its band, the top reasons as codes and as
    sentences with the customer's values (models/reason_text.py)."""
    codes = model.explain(X)
    return {"churn_band": bands(probability), "reasons": [";".join(r) for r in codes], "why": explain(codes, X)}


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
    baselines={"bgnbd": lambda config: BgnbdChurn(config.label.horizon_days), "recency": lambda config: RecencyChurn()},
    describe=describe,
    search_space=search_space,
    score_column="churn_probability",
    serving=ServingSpec(roles=("marketing",), routes={"/v1/churn/score": "churn_score"}),
)
