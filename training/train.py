"""Train, evaluate against the baselines, optionally tune, and register a customer model, as of a date.

The holdout is the cohort at as_of - horizon (its labels are complete at as_of); training cohorts come
earlier (training/dataset.py). The champion is scored on the same holdout before the gate compares.
What differs between models (label, estimator, metrics, baselines) is a Task (training/tasks.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from spend.core.errors import SpendError
from spend.core.settings import SpendSettings
from spend.features.ingest.store import OfflineStore
from spend.features.store.config import feature_store
from spend.training.config import TrainingConfig, load_config
from spend.training.dataset import Splits, check_horizon, cohort_features, feature_columns, split_cutoffs
from spend.training.evaluate import compare
from spend.training.tasks import TASKS, Task
from spend.training.tracking import Registry
from spend.training.value import order_lines, purchase_lines

TRAIN_STEPS = ("cohorts", "fit", "baselines", "register")


@dataclass
class TrainReport:
    model: str
    version: int
    alias: str
    as_of: str
    train_rows: int
    holdout_rows: int
    splits: str  # seasonal or recent training cut-offs (training/dataset.py)
    comparison: dict[str, dict[str, float]]
    champion_score: float | None
    gate_metric: str


@dataclass
class CohortData:
    """Point-in-time cohorts for one as-of date: training cut-offs (oldest first) and the holdout."""

    splits: Splits
    lines: pd.DataFrame  # customers' purchase and return lines (training/value.py)
    cohorts: list[pd.DataFrame]
    holdout: pd.DataFrame

    @property
    def train(self) -> pd.DataFrame:
        return pd.concat(self.cohorts, ignore_index=True)

    @property
    def columns(self) -> list[str]:
        return feature_columns(self.holdout)


def task_for(model: str, config: TrainingConfig) -> Task:
    if model not in TASKS:
        raise SpendError(f"unknown model {model!r}; trainable: {', '.join(TASKS)}")
    task = TASKS[model]
    unknown = [b for b in config.baselines if b not in task.baselines]
    if unknown:
        raise SpendError(
            f"{model}.yaml: baselines: {', '.join(unknown)} not for {model} (known: {', '.join(task.baselines)})"
        )
    probe = task.metrics(np.array([0.0, 1.0, 1.0]), np.array([0.2, 0.7, 0.9]))
    if config.gate.metric not in probe:
        raise SpendError(
            f"{model}.yaml: gate.metric: {config.gate.metric} is not a {model} metric ({', '.join(probe)})"
        )
    return task


def cohort_data(settings: SpendSettings, as_of: pd.Timestamp, config: TrainingConfig, task: Task) -> CohortData:
    store, offline = feature_store(settings), OfflineStore(settings.paths)
    lines = order_lines(offline)
    if lines.empty:
        raise SpendError("no transactions of known customers ingested; run `spend ingest` or `spend demo` first")
    first = lines["ts"].min()
    splits = split_cutoffs(as_of, config, first)
    horizon, folder = config.label.horizon_days, settings.paths.feature_snapshots
    if splits.train[0] <= first:
        raise SpendError(
            f"history too short: a {horizon}-day label with {len(splits.train)} training cut-offs as of "
            f"{as_of:%Y-%m-%d} needs purchases from before {splits.train[0]:%Y-%m-%d}, but the first is "
            f"{first:%Y-%m-%d}; use a later --as-of or a shorter horizon (experiments/{task.name}.yaml)"
        )

    purchases = purchase_lines(lines)  # once: every cut-off checks its horizon against them

    def cohort(cutoff: pd.Timestamp) -> pd.DataFrame:
        check_horizon(purchases, cutoff, horizon)
        frame = cohort_features(store, folder, cutoff, config.feature_service)
        frame[task.label] = task.make_label(lines, frame["customer_id"], cutoff, horizon)
        return frame

    holdout = cohort(splits.holdout)  # first: a horizon past the history fails before any other work
    return CohortData(splits, lines, [cohort(cut) for cut in splits.train], holdout)


def fit_model(data: CohortData, config: TrainingConfig, task: Task, params: dict | None = None):
    train = data.train
    params = dict(config.params) if params is None else params
    estimator = task.estimator(**params, horizon_days=config.label.horizon_days)
    return estimator.fit(train[data.columns], train[task.label])


def baseline_scores(data: CohortData, config: TrainingConfig, task: Task) -> dict[str, np.ndarray]:
    """The configured baselines on the holdout, from the same data the model saw."""
    return {name: task.baselines[name](data, config.label.horizon_days) for name in config.baselines}


def train_model(
    settings: SpendSettings,
    model_name: str,
    as_of: pd.Timestamp,
    tune: int = 0,
    progress: Callable[[str], None] = lambda step: None,
) -> TrainReport:
    config = load_config(model_name)
    task = task_for(model_name, config)
    progress("cohorts")
    data = cohort_data(settings, as_of, config, task)
    holdout, columns = data.holdout, data.columns
    registry = Registry(settings)
    progress("fit")
    params = dict(config.params)
    if tune:
        params |= _tune(registry, data, config, task, tune)
    model = fit_model(data, config, task, params)
    progress("baselines")
    scores = {"spend": task.predict(model, holdout[columns])} | baseline_scores(data, config, task)
    table = compare(holdout[task.label], scores, task.metrics)
    progress("register")
    champion_score = _champion_score(registry, config, task, holdout, columns)
    flat = {f"{who}_{metric}": float(v) for who, row in table.iterrows() for metric, v in row.items()}
    registered = registry.register(
        model_name,
        model,
        params | {"horizon_days": config.label.horizon_days},
        flat,
        {
            "feature_service": config.feature_service,
            "as_of": as_of.isoformat(),
            "holdout_cutoff": data.splits.holdout.isoformat(),
            "train_cutoffs": ",".join(c.date().isoformat() for c in data.splits.train),
            "batches": _batches(settings),
        },
        {"comparison": table},
        config.gate.metric,
        champion_score,
        config.gate.min_improvement,
    )
    return TrainReport(
        model_name,
        registered.version,
        registered.alias,
        as_of.isoformat(),
        len(data.train),
        len(holdout),
        data.splits.kind,
        table.to_dict(orient="index"),
        champion_score,
        config.gate.metric,
    )


def _champion_score(registry: Registry, config: TrainingConfig, task: Task, holdout: pd.DataFrame, columns):
    """The current champion on the new holdout, so the gate compares like with like."""
    if registry.version_by_alias(task.name, "champion") is None:
        return None
    champion, _ = registry.load(task.name, feature_service=config.feature_service)
    return task.metrics(holdout[task.label], task.predict(champion, holdout[columns]))[config.gate.metric]


def _tune(registry: Registry, data: CohortData, config: TrainingConfig, task: Task, trials: int) -> dict:
    """Optuna over the configured bounds; train on the earlier cohorts, validate on the latest (by time).
    Each trial is a nested MLflow run, logged by optuna-integration's MLflow callback."""
    if len(data.cohorts) < 2:
        raise SpendError(
            f"--tune needs at least 2 training cut-offs (splits.train_cutoffs in experiments/{task.name}.yaml)"
        )
    fit_on, validate_on = pd.concat(data.cohorts[:-1], ignore_index=True), data.cohorts[-1]
    metric, columns = config.gate.metric, data.columns

    def objective(trial) -> float:
        params = task.search_space(trial, config.search_space) | {"horizon_days": config.label.horizon_days}
        model = task.estimator(**params).fit(fit_on[columns], fit_on[task.label])
        return task.metrics(validate_on[task.label], task.predict(model, validate_on[columns]))[metric]

    return registry.tune(task.name, objective, trials, f"validation_{metric}", metric in task.lower_is_better)


def _batches(settings: SpendSettings) -> str:
    manifest = settings.paths.feature_snapshots / "manifest.json"
    if not manifest.exists():
        raise SpendError("no feature snapshots; run `spend features build` first")
    return ",".join(json.loads(manifest.read_text())["batches"])[:5000]  # MLflow tags hold up to 5,000 chars
