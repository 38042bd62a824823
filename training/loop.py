"""The one training loop every model goes through, driven by its spec (spend.core.registry): read and
check its YAML, make its data by its dataset strategy (training/datasets/), optionally tune with Optuna,
fit and compare with the baselines on the holdout, score the current champion on the same holdout, and
register in MLflow with the gate's verdict (training/tracking.py).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from spend.core import lineage
from spend.core.errors import SpendError
from spend.core.experiments import ExperimentConfig
from spend.core.registry import ModelSpec, spec
from spend.core.settings import SpendSettings
from spend.features.store.manifest import read_manifest
from spend.models.drift import profile
from spend.training.config import load_config
from spend.training.datasets import Evaluation, strategy
from spend.training.monitoring import promotion_blocker
from spend.training.plots import classifier_figures, close, feature_importance, importance_figure
from spend.training.refusals import params_refused
from spend.training.tracking import LINEAGE, REFERENCE_PROFILE, Gate, Registry


@dataclass
class TrainReport:
    model: str
    version: int
    alias: str
    as_of: str | None
    gate_metric: str
    champion_score: float | None
    comparison: dict[str, dict[str, float]]  # scorer -> metric -> value on the holdout
    details: dict  # the dataset strategy's own figures (rows, splits, alerts ...)
    winner: str  # the scorer registered: the candidate ("spend") or the baseline that beat it
    verdict: str  # in words: who won on the gate metric, by how much, and what the gate did


def steps(name: str) -> tuple[str, ...]:
    return strategy(spec(name).dataset).STEPS


def evaluate(
    settings: SpendSettings,
    name: str,
    as_of: pd.Timestamp | None,
    tune: int = 0,
    progress=lambda step: None,
    config: ExperimentConfig | None = None,
    on_trial=lambda number, total, value, best: None,
) -> tuple[ModelSpec, ExperimentConfig, object, Evaluation]:
    """Data, tuning and the holdout comparison, without registering (`spend backtest NAME`). `config`
    replaces the model's YAML (a benchmark pins the Handbook's weeks)."""
    model = spec(name)
    config = load_config(model) if config is None else config
    dataset = strategy(model.dataset)
    progress(dataset.STEPS[0])
    data = dataset.prepare(settings, model, config, as_of)
    progress(dataset.STEPS[1])
    params = dict(config.params)
    with params_refused(model, params):
        if tune:
            params |= Registry(settings).tune(
                model.name,
                dataset.objective(model, config, data),
                tune,
                f"validation_{config.gate.metric}",
                config.gate.metric in model.lower_is_better,
                on_trial,
            )
        return model, config, data, dataset.evaluate(model, config, data, params)


def train(
    settings: SpendSettings,
    name: str,
    as_of: pd.Timestamp | None = None,
    tune: int = 0,
    progress: Callable[[str], None] = lambda step: None,
    config: ExperimentConfig | None = None,
    on_trial: Callable[[int, int, float, float], None] = lambda number, total, value, best: None,
) -> TrainReport:
    """One MLflow run named for the model and its date, holding the tuning trials and the final fit as
    nested runs."""
    registry = Registry(settings)
    when = (as_of or pd.Timestamp.now(tz="UTC")).strftime("%Y-%m-%d")
    with registry.session(name, f"{name} {when}" + (f" tuned {tune} trials" if tune else "")):
        model, config, data, result = evaluate(settings, name, as_of, tune, progress, config, on_trial)
        progress(strategy(model.dataset).STEPS[-1])
        with registry.gate_lock(name):  # the champion compared with is the one replaced
            return _register(registry, settings, model, config, data, result, as_of)


def _register(registry, settings, model: ModelSpec, config, data, result: Evaluation, as_of) -> TrainReport:
    metric = config.gate.metric
    winner = best_scorer(model, result, metric)
    champion = _champion_score(registry, model, config, data)
    score = float(result.table.loc[winner, metric])
    won = champion is None or model.better(metric, score, champion, config.gate.min_improvement)
    reference = (
        None
        if result.reference is None
        else profile(result.reference, result.recent, result.reference_at, result.recent_at, result.trends)
    )
    blocked = promotion_blocker(settings, model, config, reference, as_of)
    documents = {LINEAGE: _inputs(settings)} | ({REFERENCE_PROFILE: reference} if reference is not None else {})
    gate = Gate(metric, score, champion, won and blocked is None, blocked, won)
    flat = {f"{who}_{m}": float(v) for who, row in result.table.iterrows() for m, v in row.items()}
    tags = {"feature_service": model.feature_service, "batches": _batches(settings), "scorer": winner} | result.tags
    if as_of is not None:
        tags["as_of"] = as_of.isoformat()
    params = result.params if winner == "spend" else {"scorer": winner}
    fitted = result.contenders[winner]
    example = None if result.example is None else (result.example, model.predict(fitted, result.example))
    figures = _figures(result, fitted)
    try:
        tables = {"comparison": result.table}
        registered = registry.register(
            model.name, fitted, params, flat | result.metrics, tags, tables, gate, example, figures, documents
        )
    finally:
        close(figures.values())
    inputs = _inputs(settings)
    lineage.emit(
        settings.paths.home,
        settings.feature_project,
        f"train.{model.name}",
        [lineage.Data(f"features.{model.feature_service}", inputs["snapshots_built_at"])],
        [lineage.Data(f"model.{registered.name}", str(registered.version))],
    )
    return TrainReport(
        model.name,
        registered.version,
        registered.alias,
        as_of.isoformat() if as_of is not None else None,
        metric,
        champion,
        result.table.to_dict(orient="index"),
        result.details,
        winner,
        verdict(model, result.table, metric, winner, gate, registered.alias, result.contenders),
    )


def _figures(result: Evaluation, fitted) -> dict[str, object]:
    """The run's plots: ROC, precision-recall and calibration for a binary label; feature importance
    of a boosted model."""
    figures = classifier_figures(*result.holdout_scores) if result.holdout_scores is not None else {}
    figures |= {name: draw() for name, draw in result.figures.items()}
    importance = feature_importance(fitted)
    if importance is not None:
        figures["feature_importance.png"] = importance_figure(importance)
    return figures


def best_scorer(model: ModelSpec, result: Evaluation, metric: str) -> str:
    """The contender (the candidate, or a baseline that can be served) with the best gate metric on the
    holdout; a baseline that ties the candidate (a shop whose every forecast is zero) is served, as the
    simpler scorer the candidate did not beat. A scorer the holdout could not measure (its metric unknown) cannot
    win; where none could be measured, nothing is registered and the error says so."""
    scores = result.table.loc[[n for n in result.table.index if n in result.contenders], metric].astype(float)
    judged = [name for name, value in scores.items() if math.isfinite(value)]
    if not judged:
        raise SpendError(
            f"train {model.name}: the holdout measured no scorer ({metric} unknown for {', '.join(scores.index)}): "
            "it holds nothing the metric can be computed on; a longer history or holdout gives it something, "
            "and nothing was registered"
        )
    best = "spend" if "spend" in judged else judged[0]
    for name in judged:
        if name == best or name == "spend":
            continue
        if best == "spend":  # the candidate is crowned only if it beats every baseline: a tie is not a win
            take = model.better(metric, float(scores[name]), float(scores[best]))
        else:
            take = not model.better(metric, float(scores[best]), float(scores[name]))
        best = name if take else best
    return best


def verdict(
    model: ModelSpec, table: pd.DataFrame, metric: str, winner: str, gate: Gate, alias: str, servable=None
) -> str:
    """One sentence: which scorer won on the gate metric and by how much over the best other scorer that
    could have been served, whether a scorer that cannot be served did better, and what became of it."""
    every = table[metric].astype(float)
    unmeasured = [name for name, value in every.items() if not math.isfinite(value)]
    scores = every.drop(index=unmeasured)
    servable = set(scores.index if servable is None else servable)
    rivals = scores[[name for name in scores.index if name != winner and name in servable]]
    shown = scores[[name for name in scores.index if name != winner and name not in servable]]
    mine = float(scores[winner])
    if len(rivals):
        runner_up = rivals.idxmin() if metric in model.lower_is_better else rivals.idxmax()
        margin = abs(mine - rivals[runner_up])
        won = f"{winner} won on {metric} ({mine:.4f}) by {margin:.4f} over {runner_up}"
        won = f"{winner} tied with {runner_up} on {metric} ({mine:.4f})" if margin == 0 else won
    else:
        alone = "no other scorer can be served" if len(shown) else "no baseline configured"
        alone = "no other scorer could be measured" if unmeasured and not len(shown) else alone
        won = f"{winner} scored {mine:.4f} on {metric} ({alone})"
    above = [name for name in shown.index if not model.better(metric, mine, float(shown[name]))]
    if above:  # only a scorer that cannot be served did better: say so rather than hide it
        best = min(above, key=shown.get) if metric in model.lower_is_better else max(above, key=shown.get)
        won += f"; {best} scored {shown[best]:.4f} but cannot be served"
    if unmeasured:
        won += f"; the holdout could not measure {', '.join(unmeasured)}"
    if winner != "spend":
        tied = "spend" in scores.index and float(scores["spend"]) == mine
        lost = "could not be measured" if "spend" in unmeasured else "only tied" if tied else "lost"
        won += f"; the candidate {lost}, so {winner} is registered as {model.name} in its place"
    drift = f"today's data has drifted from its training data: {gate.blocked}" if gate.blocked else ""
    if gate.blocked and gate.won:
        return f"{won}; not promoted, {drift}: @{alias}"
    if gate.champion_score is None:
        outcome = "no champion to compare with on this holdout"
    else:
        kept = "replaces" if alias == "champion" else "does not beat"
        outcome = f"it {kept} the champion ({gate.champion_score:.4f} on the same holdout)"
    return f"{won}; {outcome}{'; ' + drift if drift else ''}: @{alias}"


def _champion_score(registry: Registry, model: ModelSpec, config, data) -> float | None:
    """The current champion on the new holdout, so the gate compares like with like. A champion this
    version of Spend cannot load or score (made by an older release, or on another feature service) is
    no comparison: the log says why, and the new version is judged against the baselines alone."""
    if registry.version_by_alias(model.name) is None:
        return None
    try:
        champion, _ = registry.load(model.name, feature_service=model.feature_service)
        score = float(strategy(model.dataset).champion_metrics(model, config, data, champion)[config.gate.metric])
    except Exception as error:  # noqa: BLE001 - an unusable champion must not block its replacement
        logging.getLogger(__name__).warning("the %s champion cannot be scored here: %s", model.name, error)
        return None
    if not math.isfinite(score):  # compared, NaN would keep an unmeasurable champion forever
        logging.getLogger(__name__).warning(
            "the %s champion's %s is unknown on this holdout", model.name, config.gate.metric
        )
        return None
    return score


def _inputs(settings: SpendSettings) -> dict:
    """What a model is trained from: the snapshot build (when, up to when) and every batch it read."""
    built = read_manifest(settings)
    if not built:
        return {"batches": [], "snapshots_built_at": None, "snapshots_until": None}
    return {"batches": built["batches"], "snapshots_built_at": built["built_at"], "snapshots_until": built["until"]}


def _batches(settings: SpendSettings) -> str:
    # A tag for MLflow's search; MLflow tags hold up to 5,000 characters (the whole list: LINEAGE).
    return ",".join(_inputs(settings)["batches"])[:5000]
