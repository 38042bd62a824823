"""Customer lifetime value, the ML estimate: margin over the next H days (365 by default) from the customer
feature service, beside BG/NBD x Gamma-Gamma (models/bgnbd.py), the transparent baseline.

LightGBM with a Tweedie objective: next-year margin is zero for the many who never come back and
right-skewed for the rest, which a squared-error fit handles badly. Predictions are clipped at 0 (a
customer is not expected to cost margin on average; returns are inside the label).
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
from spend.models.boosting import booster
from spend.models.churn import search_space
from spend.models.encoding import encode, learn_categories
from spend.models.metrics import value_metrics


class MarginModel(BaseEstimator):
    def __init__(
        self,
        n_estimators: int = 400,
        learning_rate: float = 0.03,
        num_leaves: int = 15,
        min_child_samples: int = 100,
        tweedie_variance_power: float = 1.3,
        horizon_days: int = 365,
        random_state: int = 0,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.tweedie_variance_power = tweedie_variance_power
        self.horizon_days = horizon_days
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y) -> MarginModel:
        y = np.asarray(y, dtype=float)
        if len(y) != len(X) or not np.isfinite(y).all():
            raise ValueError("margin labels must be finite, one per customer")
        self.features_ = list(X.columns)
        self.categories_ = learn_categories(X)
        self.booster_ = booster(
            LGBMRegressor, self, objective="tweedie", tweedie_variance_power=self.tweedie_variance_power
        )
        self.booster_.fit(encode(X, self.features_, self.categories_, "margin"), np.clip(y, 0.0, None))
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        if not hasattr(self, "booster_"):
            raise NotFittedError("MarginModel is not fitted yet; call fit first")
        return np.clip(self.booster_.predict(encode(X, self.features_, self.categories_, "margin")), 0.0, None)


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
