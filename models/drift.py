"""Drift between a model's training inputs and today's: population stability, missing share, range.

A profile of the training inputs is kept with the model (a small JSON: each feature's decile edges and
shares, missing share, range, or a categorical feature's level shares); today's inputs are compared
with it without the training data itself, which may since have been erased or expired.

Small and numpy-only on purpose: evidently and nannyml do this and much more, but each brings a large
dependency tree into the training image for three statistics (docs/monitoring.md).

- PSI = sum over bins of (now - then) * ln(now / then), bins at the training deciles (ties merged),
  shares floored at 1e-4 so an empty bin counts without dividing by zero. Common reading: below 0.1
  stable, 0.1-0.25 moderate, above 0.25 a shift.
- Missing share: now minus then.
- Out of range: the share of today's values outside the training range.

Two levels: past a limit, a feature is flagged (`breach`: `spend monitor`, /v1/health); past `block`
times its limit, it also blocks promotion (`blocks`). Slow trends (lifetime order counts in an ageing
customer base) cross the first now and then; a price shock or a channel moving crosses both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

BINS = 10
FLOOR = 1e-4
TOP_LEVELS = 20


@dataclass(frozen=True)
class Thresholds:
    psi: float = 0.25
    missing_change: float = 0.10
    out_of_range: float = 0.05
    natural: float = 1.5  # a feature's limits are at least this multiple of its natural movement, time-scaled
    block: float = 2.0  # a breach this many times past its limit also blocks promotion (`blocks`)


def profile(
    frame: pd.DataFrame,
    recent: pd.DataFrame | None = None,
    reference_at: pd.Timestamp | None = None,
    recent_at: pd.Timestamp | None = None,
    trends: tuple[str, ...] = (),
) -> dict:
    """The training inputs' profile: {"rows": n, "features": {name: {...}}}.

    With `recent` (the holdout's inputs, later than training), each feature also keeps how far it moved
    between the two on its own (`natural_psi`, `natural_out_of_range`), and with their dates, over how
    many days: seasons and a young shop's ageing move features the model has seen move, and a limit
    below that movement, scaled to the time since training, would flag every December. `trends`: features
    that grow with time (lifetime counts): PSI grows with the square of a shift, so their movement is
    scaled by the square of the time."""
    features = {name: _feature(column) | ({"trend": True} if name in trends else {}) for name, column in frame.items()}
    if recent is not None:
        for name, then in features.items():
            if name in recent:
                moved = _measure(then, recent[name])
                then["natural_psi"], then["natural_out_of_range"] = moved["psi"], moved["out_of_range"]
    out = {"rows": len(frame), "features": features}
    if reference_at is not None and recent_at is not None:
        out["reference_at"], out["recent_at"] = (
            pd.Timestamp(reference_at).isoformat(),
            pd.Timestamp(recent_at).isoformat(),
        )
    return out


def time_scale(reference: dict, at: pd.Timestamp | None) -> float:
    """How many times further `at` is from the training inputs than the holdout was (at least 1)."""
    if at is None or "reference_at" not in reference:
        return 1.0
    start, recent = pd.Timestamp(reference["reference_at"]), pd.Timestamp(reference["recent_at"])
    natural_days = (recent - start) / pd.Timedelta(days=1)
    return max(1.0, ((pd.Timestamp(at) - start) / pd.Timedelta(days=1)) / natural_days) if natural_days > 0 else 1.0


def _feature(column: pd.Series) -> dict:
    missing = float(column.isna().mean()) if len(column) else 0.0
    values = column.dropna()
    if _numeric(column):
        x = values.to_numpy(dtype=float)
        if not len(x):
            return {"kind": "numeric", "missing": missing, "edges": [], "shares": [1.0], "min": None, "max": None}
        edges = np.unique(np.quantile(x, np.linspace(0, 1, BINS + 1)[1:-1]))
        return {
            "kind": "numeric",
            "missing": missing,
            "edges": edges.tolist(),
            "shares": _shares(x, edges).tolist(),
            "min": float(x.min()),
            "max": float(x.max()),
        }
    counts = values.astype(str).value_counts(normalize=True)
    top = counts.head(TOP_LEVELS)
    levels = {str(k): float(v) for k, v in top.items()}
    return {"kind": "categorical", "missing": missing, "levels": levels, "complete": len(counts) <= TOP_LEVELS}


def _numeric(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def _shares(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Shares of x per bin: (-inf, e1], (e1, e2], ..., (ek, inf)."""
    counts = np.bincount(np.searchsorted(edges, x, side="left"), minlength=len(edges) + 1)
    return counts / max(len(x), 1)


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    e = np.maximum(np.asarray(expected, dtype=float), FLOOR)
    a = np.maximum(np.asarray(actual, dtype=float), FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def compare(
    reference: dict, frame: pd.DataFrame, limits: Thresholds = Thresholds(), at: pd.Timestamp | None = None
) -> pd.DataFrame:
    """One row per profiled feature: psi, missing then and now, out-of-range share, and `breach` (the
    reasons joined, empty when within the limits). A feature absent today is a breach of its own. `at`:
    the date of `frame`'s inputs, which scales each feature's natural movement (time_scale)."""
    scale = time_scale(reference, at)
    rows = []
    for name, then in reference["features"].items():
        if name not in frame:
            rows.append({"feature": name, "psi": np.nan, "breach": "missing from today's inputs", "blocks": True})
            continue
        natural = limits.natural * (scale**2 if then.get("trend") else scale)
        rows.append({"feature": name} | _drift(then, frame[name], limits, natural))
    return pd.DataFrame(rows)


def _drift(then: dict, column: pd.Series, limits: Thresholds, natural: float) -> dict:
    out = _measure(then, column)
    psi_limit = max(limits.psi, natural * then.get("natural_psi", 0.0))
    range_limit = max(limits.out_of_range, natural * then.get("natural_out_of_range", 0.0))
    missing_change = out["missing_now"] - then["missing"]
    reasons, blocks = [], False
    for value, limit, reason in (
        (out["psi"], psi_limit, f"PSI {out['psi']:.2f} > {psi_limit:.2f}"),
        (missing_change, limits.missing_change, f"missing {then['missing']:.0%} -> {out['missing_now']:.0%}"),
        (out["out_of_range"], range_limit, f"{out['out_of_range']:.0%} outside the training range"),
    ):
        if value > limit:
            reasons.append(reason)
            blocks |= value > limits.block * limit
    return out | {"psi_limit": psi_limit, "breach": "; ".join(reasons), "blocks": blocks}


def _measure(then: dict, column: pd.Series) -> dict:
    missing = float(column.isna().mean()) if len(column) else 0.0
    values = column.dropna()
    out = {"missing_then": then["missing"], "missing_now": missing, "out_of_range": 0.0}
    if then["kind"] == "numeric":
        x = pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype=float)
        out["psi"] = psi(then["shares"], _shares(x, np.asarray(then["edges"])))
        if then["min"] is not None and len(x):
            out["out_of_range"] = float(np.mean((x < then["min"]) | (x > then["max"])))
    else:
        now = values.astype(str).value_counts(normalize=True)
        levels = list(then["levels"])
        expected = [*then["levels"].values(), max(0.0, 1 - sum(then["levels"].values()))]
        actual = [*(float(now.get(k, 0.0)) for k in levels), float(now.drop(levels, errors="ignore").sum())]
        out["psi"] = psi(expected, actual)
        if then["complete"]:  # every training level is known: the rest were never seen in training
            out["out_of_range"] = float(now.drop(levels, errors="ignore").sum())
    return out
