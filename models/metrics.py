"""Metrics the models are judged by, and the table that compares a model with its baselines."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score


def calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error over equal-width probability bins."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    which = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in np.unique(which):
        mask = which == b
        total += mask.sum() * abs(p[mask].mean() - y[mask].mean())
    return float(total / len(y))


def probability_metrics(y, p) -> dict[str, float]:
    """For probabilities of a binary event: ranking (AUC, average precision) and calibration (Brier, ECE)."""
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


def compare(y, scores: dict[str, np.ndarray], measure=probability_metrics) -> pd.DataFrame:
    """One row per scorer (the model and each baseline), metrics as columns."""
    return pd.DataFrame({name: measure(y, p) for name, p in scores.items()}).T
