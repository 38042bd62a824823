"""Customer cohorts: the customers active at each cut-off with their features then, labelled by what
they did in the H days after it. The holdout is the cohort at as_of - H (its labels are complete at
as_of); training cohorts come earlier (training/dataset.py). Churn and CLV train this way.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import numpy as np
import pandas as pd

from spend.core.errors import NoCustomers, SpendError
from spend.core.experiments import CohortConfig
from spend.core.names import CUSTOMER_ID as ID
from spend.core.registry import ModelSpec
from spend.core.settings import SpendSettings
from spend.features.compute.customer_activity import LIFETIME
from spend.features.compute.orders import purchase_lines
from spend.features.ingest.store import OfflineStore
from spend.features.store.config import feature_store
from spend.models.metrics import compare
from spend.models.season import SEASON_INDEX, season_index, season_profile, with_season
from spend.training.dataset import Splits, check_horizon, cohort_features, feature_columns, order_lines, split_cutoffs
from spend.training.datasets import Evaluation

STEPS = ("cohorts", "fit and compare", "register")


@dataclass
class CohortData:
    """Point-in-time cohorts for one as-of date: training cut-offs (oldest first) and the holdout."""

    splits: Splits
    lines: pd.DataFrame  # customers' purchase and return lines (spend.features.compute.orders)
    cohorts: list[pd.DataFrame]
    holdout: pd.DataFrame
    label: str
    season: np.ndarray | None = None  # the shop's yearly profile before the holdout, for seasonal models
    skipped: str | None = None  # what this history could not give, in one line

    @property
    def train(self) -> pd.DataFrame:
        return pd.concat(self.cohorts, ignore_index=True)

    @property
    def columns(self) -> list[str]:
        return feature_columns(self.holdout, self.label)


def _longest_label(as_of: pd.Timestamp, config: CohortConfig, first: pd.Timestamp) -> str:
    """The flag for the longest label the history holds with the YAML's cut-offs (holdout a label before
    as_of, the oldest training cut-off a label and (n - 1) steps before it, after the first purchase)."""
    spare = (as_of.normalize() - first).days - (config.splits.train_cutoffs - 1) * config.splits.step_days
    longest = (spare - 1) // 2
    return f" (this history holds up to {longest} days: --set label.horizon_days={longest})" if longest >= 7 else ""


def prepare(settings: SpendSettings, spec: ModelSpec, config: CohortConfig, as_of: pd.Timestamp) -> CohortData:
    store, offline = feature_store(settings), OfflineStore(settings.paths)
    lines = order_lines(offline)
    if lines.empty and offline.count("transactions"):
        raise NoCustomers
    if lines.empty:
        raise SpendError("no transactions ingested; run `spend ingest` or `spend demo` first")
    first = lines["ts"].min()
    splits = split_cutoffs(as_of, config, first)
    horizon, folder = config.label.horizon_days, settings.paths.feature_snapshots
    if splits.train[0] <= first:
        raise SpendError(
            f"history too short: a {horizon}-day label with {len(splits.train)} training cut-offs as of "
            f"{as_of:%Y-%m-%d} needs purchases from before {splits.train[0]:%Y-%m-%d}, but the first is "
            f"{first:%Y-%m-%d}; use a later --as-of or a shorter horizon{_longest_label(as_of, config, first)}"
        )
    purchases = purchase_lines(lines)  # once: every cut-off checks its horizon against them
    seasonal = getattr(spec.estimator, "seasonal", False)
    # Purchases before the holdout only: its window's index comes from the same days a year earlier.
    season = season_profile(purchases, splits.holdout) if seasonal else None
    skipped = "season index: under a year of purchases before the holdout" if seasonal and season is None else None

    def cohort(cutoff: pd.Timestamp) -> pd.DataFrame:
        check_horizon(purchases, cutoff, horizon)
        frame = cohort_features(store, folder, cutoff, spec.feature_service)
        frame[spec.label] = spec.make_label(lines, frame[ID], cutoff, horizon)
        return frame if season is None else frame.assign(**{SEASON_INDEX: season_index(season, cutoff, horizon)[0]})

    holdout = cohort(splits.holdout)  # first: a horizon past the history fails before any other work
    data = CohortData(splits, lines, [cohort(cut) for cut in splits.train], holdout, spec.label, season, skipped)
    _two_outcomes(spec, data)
    return data


def _two_outcomes(spec: ModelSpec, data: CohortData) -> None:
    """A label with one value in the training cohorts or the holdout (a shop of three customers, all
    churned) gives nothing to learn or judge: said in one line, before any fit (the booster's own error
    was an unexpected ValueError)."""
    for where, rows in (("training cohorts", data.train), ("holdout", data.holdout)):
        values = rows[spec.label].dropna().unique()
        if len(values) < 2:
            seen = f"{spec.label} = {values[0]:g}" if len(values) else f"no {spec.label}"
            raise SpendError(
                f"train {spec.name}: all {len(rows):,} rows (a customer at a cut-off) of the {where} have {seen}: "
                "nothing to learn from or judge on; a longer history or more customers gives both outcomes"
            )


def build(spec: ModelSpec, config: CohortConfig, params: dict):
    """The unfitted estimator; the label horizon is passed to estimators that take one."""
    if "horizon_days" in inspect.signature(spec.estimator).parameters:
        params = params | {"horizon_days": config.label.horizon_days}
    return spec.estimator(**params)


def fit(
    spec: ModelSpec,
    config: CohortConfig,
    rows: pd.DataFrame,
    columns: list[str],
    params: dict,
    season: np.ndarray | None = None,
):
    """The spec's estimator fitted on `rows`; a seasonal one also keeps the shop's yearly profile."""
    model = build(spec, config, params)
    if season is not None and "season" in inspect.signature(model.fit).parameters:
        return model.fit(rows[columns], rows[spec.label], season=season)
    return model.fit(rows[columns], rows[spec.label])


def baselines(spec: ModelSpec, config: CohortConfig, data: CohortData) -> dict[str, object]:
    """The configured baselines, each an estimator fitted on the same training cohorts as the model."""
    train = data.train
    return {name: spec.baselines[name](config).fit(train[data.columns], train[spec.label]) for name in config.baselines}


def baseline_scores(spec: ModelSpec, config: CohortConfig, data: CohortData) -> dict[str, np.ndarray]:
    """The configured baselines' scores on the holdout."""
    fitted = baselines(spec, config, data)
    return {name: spec.predict(model, data.holdout[data.columns]) for name, model in fitted.items()}


def evaluate(spec: ModelSpec, config: CohortConfig, data: CohortData, params: dict) -> Evaluation:
    contenders = {"spend": fit(spec, config, data.train, data.columns, params, data.season)} | baselines(
        spec, config, data
    )
    holdout = data.holdout
    scores = {name: spec.predict(model, holdout[data.columns]) for name, model in contenders.items()}
    table = compare(holdout[spec.label], scores, spec.metrics)
    tags = {
        "as_of_holdout_cutoff": data.splits.holdout.isoformat(),
        "train_cutoffs": ",".join(c.date().isoformat() for c in data.splits.train),
    }
    details = {"train_rows": len(data.train), "holdout_rows": len(holdout), "splits": data.splits.kind}
    if SEASON_INDEX in holdout:
        details["season_index"] = {"holdout": float(holdout[SEASON_INDEX].iloc[0])}
    if data.skipped:
        details["skipped"] = data.skipped
    inputs = [c for c in data.columns if c != SEASON_INDEX]  # the features the service reads
    params = params | {"horizon_days": config.label.horizon_days}
    label = holdout[spec.label].to_numpy()
    binary = set(np.unique(label)) <= {0, 1}
    return Evaluation(
        table,
        params,
        tags,
        details=details,
        contenders=contenders,
        example=holdout[inputs].head(5),
        holdout_scores=(label, scores) if binary else None,
        reference=data.train[inputs],
        recent=holdout[inputs],
        reference_at=pd.Series(data.splits.train).mean(),
        recent_at=data.splits.holdout,
        trends=LIFETIME,
    )


def champion_metrics(spec: ModelSpec, config: CohortConfig, data: CohortData, model) -> dict[str, float]:
    holdout = data.holdout
    return spec.metrics(holdout[spec.label], spec.predict(model, holdout[data.columns]))


def current_inputs(settings: SpendSettings, spec: ModelSpec, config: CohortConfig, as_of: pd.Timestamp) -> pd.DataFrame:
    """The active customers' features at `as_of`, as a cohort there would have them."""
    frame = cohort_features(feature_store(settings), settings.paths.feature_snapshots, as_of, spec.feature_service)
    return frame[feature_columns(frame)]


def live_metrics(settings: SpendSettings, spec: ModelSpec, config: CohortConfig, model, tags: dict, as_of) -> dict:
    """The model on the latest cohort whose labels are complete at `as_of`, if it is later than the
    holdout the model was judged on."""
    horizon = config.label.horizon_days
    cutoff = as_of - pd.Timedelta(days=horizon)
    judged = tags.get("as_of_holdout_cutoff")
    if judged is None or cutoff <= pd.Timestamp(judged):
        ready = (pd.Timestamp(judged) if judged else as_of) + pd.Timedelta(days=horizon + 1)
        return {"status": f"waiting for labels: the first cohort after the holdout is complete on {ready:%Y-%m-%d}"}
    scores, label = labelled_cohort(settings, spec, config, model, cutoff)
    value = spec.metrics(label, scores)[config.gate.metric]
    return {"value": float(value), "cohort": cutoff.date().isoformat(), "customers": len(label)}


def labelled_cohort(settings: SpendSettings, spec: ModelSpec, config: CohortConfig, model, cutoff: pd.Timestamp):
    """(the model's scores, the labels) of the customers active at `cutoff`, labelled by what they did in
    the horizon after it (complete only if the history reaches that far)."""
    lines = order_lines(OfflineStore(settings.paths))
    frame = cohort_features(feature_store(settings), settings.paths.feature_snapshots, cutoff, spec.feature_service)
    label = spec.make_label(lines, frame[ID], cutoff, config.label.horizon_days)
    inputs = with_season(model, frame[feature_columns(frame)], cutoff)
    return np.asarray(spec.predict(model, inputs)), np.asarray(label)


def objective(spec: ModelSpec, config: CohortConfig, data: CohortData):
    """Train on the earlier cohorts, validate on the latest (by time), on the gate's metric."""
    if len(data.cohorts) < 2:
        raise SpendError(
            f"--tune needs at least 2 training cut-offs (splits.train_cutoffs in experiments/{spec.name}.yaml)"
        )
    fit_on, validate_on = pd.concat(data.cohorts[:-1], ignore_index=True), data.cohorts[-1]
    metric, columns = config.gate.metric, data.columns

    def score(trial) -> float:
        params = spec.search_space(trial, config.search_space)
        model = fit(spec, config, fit_on, columns, params, data.season)
        return spec.metrics(validate_on[spec.label], spec.predict(model, validate_on[columns]))[metric]

    return score


def score(settings: SpendSettings, spec: ModelSpec, as_of: pd.Timestamp, **_) -> tuple[pd.DataFrame, dict]:
    """Every customer active in the year before `as_of`, scored by the registered champion; and a summary
    (customers, the score's mean and total, counts of each text column such as the churn band)."""
    from spend.training.scoring import score_customers

    frame = score_customers(settings, spec, as_of)
    values = frame[spec.score_column]
    summary = {"customers": len(frame), spec.score_column: {"mean": float(values.mean()), "sum": float(values.sum())}}
    for column in frame.columns:
        if frame[column].dtype == object and column not in (ID, "reasons") and frame[column].nunique() <= 10:
            summary[column] = frame[column].value_counts().to_dict()
    return frame, summary
