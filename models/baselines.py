"""The named baselines customer models are compared with on the same holdout cohort.

The estimators (BgnbdChurn, RecencyChurn, BgnbdGammaGammaValue) are the baselines as models that read
the feature store: fitted on the training cohorts and scored on the holdout beside the candidate, and
registered and served in its place when one of them wins (training/loop.py). `lifetime_margin`, on order
lines, remains for the recall list without a CLV champion and for the benchmarks.

- recency: the churn rate of training customers with similar recency (deciles of days since the last
  order), applied to the holdout: the rule marketers use, made into a probability.
- bgnbd: BG/NBD fitted on each holdout customer's purchase history before the cut-off (unsupervised, so
  no label is used), scored as P(no purchase within the horizon).
- BG/NBD x Gamma-Gamma: expected margin over a horizon, the classic CLV.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError

from spend.features.compute.orders import ID, margin_rate, purchase_lines, rfm_summary
from spend.models.bgnbd import (
    BGNBD_INPUTS,
    BetaGeoModel,
    GammaGammaModel,
    customer_lifetime_value,
    summary_from_features,
)

CLV_HORIZON_DAYS = 365
BGNBD_REASONS = ("days_since_last_order", "purchase_days_total", "days_since_first_order")


def _rfm(purchases: pd.DataFrame, customers: pd.Series, cutoff: pd.Timestamp) -> pd.DataFrame:
    rfm = rfm_summary(purchases, customers, cutoff)
    rfm["T"] = rfm["T"].clip(lower=rfm["recency"])
    return rfm


def lifetime_margin(
    lines: pd.DataFrame, customers: pd.Series, cutoff: pd.Timestamp, horizon_days: int = CLV_HORIZON_DAYS
) -> tuple[np.ndarray, bool]:
    """BG/NBD x Gamma-Gamma margin over the horizon, and whether a real margin rate was known (else
    revenue: the value is then expected spend)."""
    before = purchase_lines(lines)
    before = before[before["ts"] < cutoff]
    rfm = _rfm(before, customers, cutoff)
    orders = before.groupby([ID, "order_id"])["net"].sum().groupby(level=0).mean()
    rfm["monetary_value"] = orders.reindex(customers.to_numpy()).fillna(0.0).clip(lower=0.01).to_numpy()
    rate = margin_rate(lines[lines["ts"] < cutoff])
    value = customer_lifetime_value(
        BetaGeoModel().fit(rfm), GammaGammaModel().fit(rfm), rfm, horizon_days, rate if rate is not None else 1.0
    )
    return value, rate is not None


class _RiskBands:
    """predict(X) as ChurnModel's: each customer's risk band (what MLflow's python_function flavor answers
    for a registered baseline)."""

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        from spend.models.churn import bands  # churn imports this module

        return bands(self.predict_proba(X))


class BgnbdChurn(_RiskBands, BaseEstimator):
    """BG/NBD's P(no purchase in the next `horizon_days`), as a model that can be registered and served:
    fitted (unsupervised) on the training rows' purchase days, recency and age from the feature store,
    scored on the same features. What churn serves when it beats the booster on the holdout."""

    def __init__(self, horizon_days: int = 90) -> None:
        self.horizon_days = horizon_days

    def fit(self, X: pd.DataFrame, y=None) -> BgnbdChurn:
        self.features_ = list(BGNBD_INPUTS)
        self.model_ = BetaGeoModel().fit(summary_from_features(X))
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        if not hasattr(self, "model_"):
            raise NotFittedError("BgnbdChurn is not fitted yet; call fit first")
        return self.model_.p_no_purchase(summary_from_features(X), self.horizon_days)

    def score(self, X: pd.DataFrame, reasons: bool = True, top: int = 3) -> tuple[np.ndarray, list[list[str]]]:
        """P(churn) and, as its reasons, the purchase rhythm it reads: recency and frequency."""
        probability = self.predict_proba(X)
        why = [list(BGNBD_REASONS[:top]) for _ in range(len(X))] if reasons else [[] for _ in range(len(X))]
        return probability, why

    def explain(self, X: pd.DataFrame, top: int = 3) -> list[list[str]]:
        return self.score(X, reasons=True, top=top)[1]


class RecencyChurn(_RiskBands, BaseEstimator):
    """The marketer's rule as a model: the training cohorts' churn rate by decile of days since the last
    order, applied to each customer."""

    def fit(self, X: pd.DataFrame, y) -> RecencyChurn:
        days = X["days_since_last_order"].to_numpy(dtype=float)
        self.features_ = ["days_since_last_order"]
        self.edges_ = np.unique(np.nanquantile(days, np.linspace(0, 1, 11)[1:-1]))
        rates = pd.Series(np.asarray(y, dtype=float)).groupby(np.searchsorted(self.edges_, days, side="right")).mean()
        self.rates_ = rates.reindex(range(len(self.edges_) + 1)).fillna(float(np.mean(y))).to_numpy()
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        if not hasattr(self, "rates_"):
            raise NotFittedError("RecencyChurn is not fitted yet; call fit first")
        days = np.nan_to_num(X["days_since_last_order"].to_numpy(dtype=float), nan=np.inf)
        return self.rates_[np.searchsorted(self.edges_, days, side="right")]

    def score(self, X: pd.DataFrame, reasons: bool = True, top: int = 3) -> tuple[np.ndarray, list[list[str]]]:
        why = [["days_since_last_order"] for _ in range(len(X))] if reasons else [[] for _ in range(len(X))]
        return self.predict_proba(X), why

    def explain(self, X: pd.DataFrame, top: int = 3) -> list[list[str]]:
        return self.score(X, reasons=True, top=top)[1]


class BgnbdGammaGammaValue(BaseEstimator):
    """BG/NBD x Gamma-Gamma expected spend over `horizon_days` from the feature store (purchase days,
    recency, age; last year's average basket as the spend per order), scaled to margin by the training
    cohorts' ratio of realised margin to expected spend: the classic CLV, as a model that can be served."""

    def __init__(self, horizon_days: int = CLV_HORIZON_DAYS) -> None:
        self.horizon_days = horizon_days

    def _rfm(self, X: pd.DataFrame) -> pd.DataFrame:
        rfm = summary_from_features(X)
        basket = X["avg_basket_value_365d"].to_numpy(dtype=float)
        rfm["monetary_value"] = np.nan_to_num(basket, nan=0.0).clip(min=0.01)
        return rfm

    def fit(self, X: pd.DataFrame, y) -> BgnbdGammaGammaValue:
        rfm = self._rfm(X)
        self.features_ = [*BGNBD_INPUTS, "avg_basket_value_365d"]
        self.purchases_, self.spend_ = BetaGeoModel().fit(rfm), GammaGammaModel().fit(rfm)
        expected = customer_lifetime_value(self.purchases_, self.spend_, rfm, self.horizon_days)
        total = float(expected.sum())
        self.margin_rate_ = float(np.sum(y) / total) if total > 0 else 1.0
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        if not hasattr(self, "margin_rate_"):
            raise NotFittedError("BgnbdGammaGammaValue is not fitted yet; call fit first")
        rfm = self._rfm(X)
        value = customer_lifetime_value(self.purchases_, self.spend_, rfm, self.horizon_days, self.margin_rate_)
        return np.clip(value, 0.0, None)
