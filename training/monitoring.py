"""`spend monitor` and the drift check before every promotion.

For each model with a champion: today's inputs (its dataset strategy's `current_inputs`) against the
profile of the champion's training inputs logged with it (models/drift.py); the latest data-quality
scorecard; and, once labels have arrived, the champion's realised quality (the strategy's
`live_metrics`) against its holdout figure. A breach of the model's `monitor` limits (its YAML) is
listed with its reason. The result is written to SPEND_HOME/monitoring/latest.json, which the service
reads for /v1/health and its metrics. docs/monitoring.md has the rules.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pandas as pd

from spend.core.errors import SpendError, first_few
from spend.core.experiments import MonitorConfig
from spend.core.files import replace_atomically
from spend.core.names import MONITORING
from spend.core.registry import ModelSpec, specs
from spend.core.settings import SpendSettings
from spend.models.drift import Thresholds, compare
from spend.training.dataset import latest_day
from spend.training.datasets import strategy
from spend.training.tracking import Registry

# Timeliness is left out of the quality breach: a historical export (Online Retail II ends in 2011) is
# stale by design, and that is not a reason to stop serving; it is reported all the same.
QUALITY_DIMENSIONS = ("completeness", "validity", "uniqueness", "consistency")


def drift_table(spec: ModelSpec, config, reference: dict, settings: SpendSettings, as_of) -> pd.DataFrame | None:
    """Drift of every profiled feature, or None for a strategy without today's inputs."""
    current = getattr(strategy(spec.dataset), "current_inputs", None)
    if current is None:
        return None
    return compare(reference, current(settings, spec, config, as_of), _limits(config.monitor), as_of)


def promotion_blocker(settings: SpendSettings, spec: ModelSpec, config, reference: dict | None, as_of) -> str | None:
    """Why a candidate must not be promoted now (its training inputs and today's differ beyond the limits),
    or None."""
    if reference is None:
        return None
    try:
        table = drift_table(spec, config, reference, settings, as_of or latest_day(settings))
    except SpendError as error:  # today's inputs cannot be read (no snapshot that day): not a reason to block
        logging.getLogger(__name__).warning("%s: drift not checked before promotion: %s", spec.name, error)
        return None
    return None if table is None else _drift_reason(table[table["blocks"].astype(bool)])


def monitor(settings: SpendSettings, names: list[str] | None = None, now: datetime | None = None) -> dict:
    """Check every model with a champion (or the named ones); write and return the result."""
    from spend.features.quality.scorecard import scorecard
    from spend.training.config import load_config

    registry = Registry(settings)
    as_of = latest_day(settings)
    card = scorecard(settings, now)
    result = {"checked_at": (now or datetime.now(UTC)).isoformat(), "as_of": as_of.isoformat(), "models": {}}
    for name, spec in specs().items():
        if names is not None and name not in names:
            continue
        version = registry.version_by_alias(name)
        if version is None:
            if names is not None:
                result["models"][name] = {"status": "no champion", "breaches": []}
            continue
        config = load_config(spec)
        result["models"][name] = _check(settings, registry, spec, config, version, as_of, card)
    result["quality"] = {table: _quality(scores) for table, scores in card["tables"].items()}
    folder = settings.paths.home / "monitoring"
    replace_atomically(folder / MONITORING, json.dumps(result, indent=2, default=str))
    return result


def _check(settings, registry: Registry, spec: ModelSpec, config, version, as_of, card: dict) -> dict:
    out: dict = {"version": int(version.version), "breaches": [], "notes": []}
    measured = hasattr(strategy(spec.dataset), "current_inputs")
    reference = registry.reference_profile(version) if measured else None
    try:
        table = None if reference is None else drift_table(spec, config, reference, settings, as_of)
    except SpendError as error:
        reference, table = None, None
        out["notes"].append(f"drift not measured: {error}")
    if not measured:
        out["notes"].append(f"drift is not measured for {spec.dataset} models")
    elif reference is None and not out["notes"]:
        out["notes"].append("no training profile logged with this version: retrain to monitor drift")
    elif table is not None:
        out["features"] = table.to_dict(orient="records")
        reason = _drift_reason(table)
        out["breaches"] += [f"drift: {reason}"] if reason else []
    for table_name, scores in card["tables"].items():
        quality = _quality(scores)
        if quality < config.monitor.min_quality:
            out["breaches"].append(f"data quality: {table_name} {quality:.1f} < {config.monitor.min_quality}")
    out["live"] = _live(settings, registry, spec, config, version, as_of)
    if out["live"].get("breach"):
        out["breaches"].append(f"live quality: {out['live']['breach']}")
    out["status"] = "breach" if out["breaches"] else "ok"
    return out


def _live(settings, registry: Registry, spec: ModelSpec, config, version, as_of) -> dict:
    """The champion's realised gate metric on customers whose labels arrived since its holdout."""
    live = getattr(strategy(spec.dataset), "live_metrics", None)
    if live is None:
        return {"status": f"not measured for {spec.dataset} models"}
    run = registry.client.get_run(version.run_id)
    metric = config.gate.metric or spec.gate_metric
    scorer = version.tags.get("scorer", "spend")
    holdout = run.data.metrics.get(f"{scorer}_{metric}")
    try:
        model = registry.load_version(version, spec.feature_service)
        realised = live(settings, spec, config, model, run.data.tags, as_of)
    except SpendError as error:
        return {"status": f"not measured: {error}"}
    if "value" not in realised or holdout is None:
        return realised
    drop = holdout - realised["value"] if metric not in spec.lower_is_better else realised["value"] - holdout
    out = realised | {"metric": metric, "holdout": holdout, "drop": drop}
    if drop > config.monitor.live_drop:
        out["breach"] = f"{metric} {realised['value']:.3f} against {holdout:.3f} on the holdout"
    return out


def _drift_reason(table: pd.DataFrame) -> str | None:
    breached = table[table["breach"].astype(bool)]
    if breached.empty:
        return None
    return first_few([f"{row.feature} ({row.breach})" for row in breached.itertuples()], 3)


def _quality(scores: dict) -> float:
    return round(sum(scores[d]["score"] for d in QUALITY_DIMENSIONS) / len(QUALITY_DIMENSIONS), 1)


def _limits(config: MonitorConfig) -> Thresholds:
    return Thresholds(
        config.psi, config.missing_change, config.out_of_range, config.natural_multiplier, config.block_factor
    )
