"""Customer lifetime value, the ML estimate: margin over the next H days (365 by default) from the customer
feature service, beside BG/NBD x Gamma-Gamma (models/bgnbd.py), the transparent baseline.

LightGBM with a Tweedie objective: next-year margin is zero for the many who never come back and
right-skewed for the rest, which a squared-error fit handles badly. Predictions are clipped at 0 (a
customer is not expected to cost margin on average; returns are inside the label). Started from BG/NBD x
Gamma-Gamma when the history has its inputs (as churn starts from BG/NBD): the booster's log-scale score
begins at the baseline's log value, with the baseline's value among its inputs, and learns corrections.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from lightgbm import LGBMRegressor
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError

from spend.core.experiments import CohortConfig
from spend.core.registry import ModelSpec
from spend.features.compute.orders import margin_next
from spend.models.baselines import BgnbdGammaGammaValue
from spend.models.bgnbd import BGNBD_INPUTS
from spend.models.boosting import booster
from spend.models.churn import search_space
from spend.models.encoding import encode, learn_categories
from spend.models.metrics import value_metrics

STACK_INPUTS = (*BGNBD_INPUTS, "avg_basket_value_365d")
FLOOR = 0.01  # the smallest value a start takes: log(0) has no place on the booster's scale


class MarginModel(BaseEstimator):
    def __init__(
        self,
        n_estimators: int = 400,
        learning_rate: float = 0.03,
        num_leaves: int = 15,
        min_child_samples: int = 100,
        tweedie_variance_power: float = 1.3,
        horizon_days: int = 365,
        bgnbd: bool = True,
        random_state: int = 0,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.tweedie_variance_power = tweedie_variance_power
        self.horizon_days = horizon_days
        self.bgnbd = bgnbd
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y) -> MarginModel:
        y = np.asarray(y, dtype=float)
        if len(y) != len(X) or not np.isfinite(y).all():
            raise ValueError("margin labels must be finite, one per customer")
        self.features_ = list(X.columns)
        self.categories_ = learn_categories(X)
        stacked = self.bgnbd and set(STACK_INPUTS) <= set(X)
        self.baseline_ = BgnbdGammaGammaValue(self.horizon_days).fit(X, y) if stacked else None
        self.booster_ = booster(
            LGBMRegressor, self, objective="tweedie", tweedie_variance_power=self.tweedie_variance_power
        )
        matrix, start = self._inputs(X)
        self.booster_.fit(matrix, np.clip(y, 0.0, None), init_score=start)
        return self

    def _inputs(self, X: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
        """The encoded features (with the baseline's value when stacked) and each row's starting log value."""
        matrix = encode(X, self.features_, self.categories_, "margin")
        if getattr(self, "baseline_", None) is None:
            return matrix, np.zeros(len(X))
        value = self.baseline_.predict(X)
        return matrix.assign(bgnbd_gamma_gamma_value=value), np.log(np.maximum(value, FLOOR))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        if not hasattr(self, "booster_"):
            raise NotFittedError("MarginModel is not fitted yet; call fit first")
        matrix, start = self._inputs(X)
        return np.clip(np.exp(self.booster_.predict(matrix, raw_score=True) + start), 0.0, None)


SPEC = ModelSpec(
    name="clv",
    summary="next-year margin of every active customer (LightGBM, Tweedie), beside BG/NBD x Gamma-Gamma",
    estimator=MarginModel,
    config=CohortConfig,
    feature_service="churn_v1",
    dataset="customer_cohorts",
    label="margin_next",
    make_label=margin_next,
    metrics=value_metrics,
    metric_names=("mae", "rmse", "spearman", "top_decile_share"),
    lower_is_better=frozenset({"mae", "rmse"}),
    gate_metric="mae",
    predict=lambda model, X: model.predict(X),
    baselines={"bgnbd_gamma_gamma": lambda config: BgnbdGammaGammaValue(config.label.horizon_days)},
    search_space=search_space,
    score_column="next_year_margin",
)
