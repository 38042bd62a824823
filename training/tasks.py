"""What differs between the customer models the training loop trains: the label, the estimator, the
metrics and the baselines. Everything else (cohorts at cut-offs, tuning, registry, gate) is shared.

- churn: label = no purchase in the H days after the cut-off; ChurnModel; baselines BG/NBD and recency.
- clv: label = margin (net of returns) in the H days after the cut-off; MarginModel; baseline BG/NBD x
  Gamma-Gamma (times the margin rate) over the same H days.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from spend.models.churn import ChurnModel, search_space
from spend.models.margin import MarginModel
from spend.training.dataset import churn_labels
from spend.training.evaluate import bgnbd_baseline, metrics, recency_baseline, value_metrics
from spend.training.value import lifetime_margin, margin_labels, purchase_lines

ID = "customer_id"


@dataclass(frozen=True)
class Task:
    name: str
    label: str  # label column in the cohorts
    make_label: Callable[[pd.DataFrame, pd.Series, pd.Timestamp, int], np.ndarray]  # lines, ids, cutoff, horizon
    estimator: Callable[..., object]
    predict: Callable[[object, pd.DataFrame], np.ndarray]
    metrics: Callable[[np.ndarray, np.ndarray], dict[str, float]]
    baselines: dict[str, Callable]  # name -> f(data, horizon_days) -> holdout scores
    lower_is_better: frozenset[str]
    search_space: Callable = search_space


def _churned(lines: pd.DataFrame, customers: pd.Series, cutoff: pd.Timestamp, horizon_days: int) -> np.ndarray:
    return churn_labels(purchase_lines(lines), customers, cutoff, horizon_days)


def _bgnbd(data, horizon_days: int) -> np.ndarray:
    return bgnbd_baseline(purchase_lines(data.lines), data.holdout, data.splits.holdout, horizon_days)[0]


def _recency(data, horizon_days: int) -> np.ndarray:
    return recency_baseline(data.train, data.holdout)


def _bgnbd_gamma_gamma(data, horizon_days: int) -> np.ndarray:
    value, _ = lifetime_margin(data.lines, data.holdout[ID], data.splits.holdout, horizon_days)
    return value


CHURN = Task(
    name="churn",
    label="churned",
    make_label=_churned,
    estimator=ChurnModel,
    predict=lambda model, X: model.predict_proba(X),
    metrics=metrics,
    baselines={"bgnbd": _bgnbd, "recency": _recency},
    lower_is_better=frozenset({"brier", "calibration_error"}),
)

CLV = Task(
    name="clv",
    label="margin_next",
    make_label=margin_labels,
    estimator=MarginModel,
    predict=lambda model, X: model.predict(X),
    metrics=value_metrics,
    baselines={"bgnbd_gamma_gamma": _bgnbd_gamma_gamma},
    lower_is_better=frozenset({"mae", "rmse"}),
)

TASKS = {task.name: task for task in (CHURN, CLV)}
