"""The named baselines customer models are compared with on the same holdout cohort.

- recency: the churn rate of training customers with similar recency (deciles of days since the last
  order), applied to the holdout: the rule marketers use, made into a probability.
- bgnbd: BG/NBD fitted on each holdout customer's purchase history before the cut-off (unsupervised, so
  no label is used), scored as P(no purchase within the horizon).
- BG/NBD x Gamma-Gamma: expected margin over a horizon, the classic CLV.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from spend.features.compute.orders import ID, margin_rate, purchase_lines, rfm_summary
from spend.models.bgnbd import BetaGeoModel, GammaGammaModel, customer_lifetime_value

CLV_HORIZON_DAYS = 365


def recency_baseline(train: pd.DataFrame, holdout: pd.DataFrame, label: str = "churned") -> np.ndarray:
    edges = np.unique(np.nanquantile(train["days_since_last_order"], np.linspace(0, 1, 11)[1:-1]))
    train_bin = np.searchsorted(edges, train["days_since_last_order"].to_numpy(), side="right")
    rates = pd.Series(train[label].to_numpy()).groupby(train_bin).mean()
    holdout_bin = np.searchsorted(edges, holdout["days_since_last_order"].to_numpy(), side="right")
    return rates.reindex(holdout_bin).fillna(train[label].mean()).to_numpy()


def _rfm(purchases: pd.DataFrame, customers: pd.Series, cutoff: pd.Timestamp) -> pd.DataFrame:
    rfm = rfm_summary(purchases, customers, cutoff)
    rfm["T"] = rfm["T"].clip(lower=rfm["recency"])
    return rfm


def bgnbd_baseline(purchases: pd.DataFrame, holdout: pd.DataFrame, cutoff: pd.Timestamp, horizon_days: int):
    """(P(no purchase within the horizon) per holdout customer, the fitted BG/NBD)."""
    rfm = _rfm(purchases, holdout[ID], cutoff)
    model = BetaGeoModel().fit(rfm)
    return model.p_no_purchase(rfm, horizon_days), model


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
