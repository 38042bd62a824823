"""Metrics, and the named baselines every customer model is compared with on the same holdout cohort.

- recency: the churn rate of training customers with similar recency (deciles of days since the last
  order), applied to the holdout: the rule marketers use, made into a probability.
- bgnbd: BG/NBD fitted on each holdout customer's purchase history before the cut-off (unsupervised, so
  no label is used), scored as P(no purchase within the horizon).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from spend.models.clv import BetaGeoModel

ID = "customer_id"


def calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error over equal-width probability bins."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    which = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in np.unique(which):
        mask = which == b
        total += mask.sum() * abs(p[mask].mean() - y[mask].mean())
    return float(total / len(y))


def metrics(y, p) -> dict[str, float]:
    return {
        "auc": float(roc_auc_score(y, p)),
        "average_precision": float(average_precision_score(y, p)),
        "brier": float(brier_score_loss(y, p)),
        "calibration_error": calibration_error(y, p),
    }


def value_metrics(y, p) -> dict[str, float]:
    """For value estimates: errors in currency, rank agreement, and the share of the realised value held by
    the top 10% by estimate (what a targeted campaign cares about)."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    top = np.argsort(-p, kind="stable")[: max(len(p) // 10, 1)]
    total = y.clip(min=0).sum()
    return {
        "mae": float(np.abs(y - p).mean()),
        "rmse": float(np.sqrt(((y - p) ** 2).mean())),
        "spearman": float(spearmanr(y, p).statistic),
        "top_decile_share": float(y[top].clip(min=0).sum() / total) if total > 0 else float("nan"),
    }


def recency_baseline(train: pd.DataFrame, holdout: pd.DataFrame) -> np.ndarray:
    edges = np.unique(np.nanquantile(train["days_since_last_order"], np.linspace(0, 1, 11)[1:-1]))
    train_bin = np.searchsorted(edges, train["days_since_last_order"].to_numpy(), side="right")
    rates = pd.Series(train["churned"].to_numpy()).groupby(train_bin).mean()
    holdout_bin = np.searchsorted(edges, holdout["days_since_last_order"].to_numpy(), side="right")
    return rates.reindex(holdout_bin).fillna(train["churned"].mean()).to_numpy()


def rfm_summary(purchases: pd.DataFrame, customers: pd.Series, cutoff: pd.Timestamp) -> pd.DataFrame:
    """BG/NBD inputs in days at `cutoff`: repeat purchase days, last minus first, cut-off minus first."""
    before = purchases[purchases["ts"] < cutoff]
    days = before.assign(day=before["ts"].dt.floor("D")).drop_duplicates([ID, "day"])
    grouped = days.groupby(ID)["day"]
    first, last, count = grouped.min(), grouped.max(), grouped.size()
    frame = pd.DataFrame(
        {"frequency": count - 1, "recency": (last - first).dt.days, "T": (cutoff.normalize() - first).dt.days}
    ).reindex(customers.to_numpy())
    return frame.fillna({"frequency": 0, "recency": 0, "T": 0}).astype(float)


def bgnbd_baseline(purchases: pd.DataFrame, holdout: pd.DataFrame, cutoff: pd.Timestamp, horizon_days: int):
    rfm = rfm_summary(purchases, holdout[ID], cutoff)
    rfm["T"] = rfm["T"].clip(lower=rfm["recency"])
    model = BetaGeoModel().fit(rfm)
    return model.p_no_purchase(rfm, horizon_days), model


def compare(y, scores: dict[str, np.ndarray], measure=metrics) -> pd.DataFrame:
    """One row per scorer (the model and each baseline), metrics as columns."""
    return pd.DataFrame({name: measure(y, p) for name, p in scores.items()}).T
