"""Train, evaluate against the baselines, optionally tune, and register a churn model, as of a date.

The holdout is the cohort at as_of - horizon (its labels are complete at as_of); training cohorts come
earlier (training/dataset.py). The champion is scored on the same holdout before the gate compares.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from features.errors import SpendError
from features.ingest.store import OfflineStore
from features.settings import SpendSettings
from features.store.config import feature_store
from models.churn import ChurnModel, search_space
from training.config import TrainingConfig, load_config
from training.dataset import churn_cohort, feature_columns, purchase_times, split_cutoffs
from training.evaluate import bgnbd_baseline, compare, metrics, recency_baseline
from training.tracking import Registry

TRAIN_STEPS = ("cohorts", "fit", "baselines", "register")


@dataclass
class TrainReport:
    model: str
    version: int
    alias: str
    as_of: str
    train_rows: int
    holdout_rows: int
    comparison: dict[str, dict[str, float]]
    champion_score: float | None
    gate_metric: str


def train_churn(
    settings: SpendSettings, as_of: pd.Timestamp, tune: int = 0, progress: Callable[[str], None] = lambda step: None
) -> TrainReport:
    config = load_config("churn")
    store, offline = feature_store(settings), OfflineStore(settings.paths)
    progress("cohorts")
    splits = split_cutoffs(as_of, config)
    purchases = purchase_times(offline)
    folder = settings.paths.feature_snapshots
    cohorts = [churn_cohort(store, offline, folder, cut, config, purchases) for cut in splits.train]
    train, holdout = (
        pd.concat(cohorts, ignore_index=True),
        churn_cohort(store, offline, folder, splits.holdout, config, purchases),
    )
    columns = feature_columns(train)
    registry = Registry(settings)
    progress("fit")
    params = dict(config.params)
    if tune:
        params |= _tune(registry, cohorts, columns, config, tune)
    model = ChurnModel(**params).fit(train[columns], train["churned"])
    progress("baselines")
    bgnbd, _ = bgnbd_baseline(purchases, holdout, splits.holdout, config.label.horizon_days)
    table = compare(
        holdout["churned"],
        {"spend": model.predict_proba(holdout[columns]), "bgnbd": bgnbd, "recency": recency_baseline(train, holdout)},
    )
    progress("register")
    champion_score = _champion_score(registry, config, holdout, columns)
    flat = {f"{who}_{metric}": float(v) for who, row in table.iterrows() for metric, v in row.items()}
    registered = registry.register(
        "churn",
        model,
        params | {"horizon_days": config.label.horizon_days},
        flat,
        {
            "feature_service": config.feature_service,
            "as_of": as_of.isoformat(),
            "holdout_cutoff": splits.holdout.isoformat(),
            "batches": _batches(settings),
        },
        {"comparison": table},
        config.gate.metric,
        champion_score,
        config.gate.min_improvement,
    )
    return TrainReport(
        "churn",
        registered.version,
        registered.alias,
        as_of.isoformat(),
        len(train),
        len(holdout),
        table.to_dict(orient="index"),
        champion_score,
        config.gate.metric,
    )


def _champion_score(registry: Registry, config: TrainingConfig, holdout: pd.DataFrame, columns) -> float | None:
    """The current champion on the new holdout, so the gate compares like with like."""
    if registry.version_by_alias("churn", "champion") is None:
        return None
    champion, _ = registry.load("churn", feature_service=config.feature_service)
    return metrics(holdout["churned"], champion.predict_proba(holdout[columns]))[config.gate.metric]


def _tune(
    registry: Registry, cohorts: list[pd.DataFrame], columns: list[str], config: TrainingConfig, trials: int
) -> dict:
    """Optuna over the configured bounds; train on the earlier cohorts, validate on the latest (by time).
    Each trial is a nested MLflow run, logged by optuna-integration's MLflow callback."""
    if len(cohorts) < 2:
        raise SpendError("--tune needs at least 2 training cut-offs (splits.train_cutoffs in experiments/churn.yaml)")
    import optuna
    from optuna_integration.mlflow import MLflowCallback

    fit_on, validate_on = pd.concat(cohorts[:-1], ignore_index=True), cohorts[-1]
    metric = config.gate.metric
    direction = "minimize" if metric in ("brier", "calibration_error") else "maximize"

    def objective(trial: optuna.Trial) -> float:
        model = ChurnModel(**search_space(trial, config.search_space)).fit(fit_on[columns], fit_on["churned"])
        return metrics(validate_on["churned"], model.predict_proba(validate_on[columns]))[metric]

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    callback = MLflowCallback(
        tracking_uri=registry.mlflow.get_tracking_uri(),
        metric_name=f"validation_{metric}",
        create_experiment=False,
        mlflow_kwargs={"nested": True},
    )
    registry.mlflow.set_experiment(experiment_id=registry._experiment("churn"))
    study = optuna.create_study(direction=direction, sampler=optuna.samplers.TPESampler(seed=0))
    with registry.mlflow.start_run(run_name="tuning"):
        study.optimize(objective, n_trials=trials, callbacks=[callback])
    return study.best_params


def _batches(settings: SpendSettings) -> str:
    manifest = settings.paths.feature_snapshots / "manifest.json"
    if not manifest.exists():
        raise SpendError("no feature snapshots; run `spend features build` first")
    return ",".join(json.loads(manifest.read_text())["batches"])[:5000]  # MLflow tags hold up to 5,000 chars
