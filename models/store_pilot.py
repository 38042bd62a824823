"""Analysis of a store-level pilot against matched control stores: difference in differences.

A pilot changes something (prices, a promotion) in a few stores from a start date. Its effect on a
store metric (average ticket, repurchase rate) is the change in the pilot stores minus the change in
control stores that moved like them before the start:

1. Matching, on the first half of the pre-period: among the stores outside the pilot, the `n_controls`
   whose path of the metric, each taken relative to its own mean, is closest (RMSE) to the pilot
   stores' mean path. Levels may differ; difference in differences removes them. Trends must not.
2. Per period after the matching half, d_t = mean of the pilot stores minus mean of the controls.
3. The effect is the post-period mean of d_t minus its pre-period mean: the coefficient of `post` in an
   OLS of d_t on a constant and `post` (statsmodels), with Newey-West errors when the residuals are
   autocorrelated. The matching half is left out because matching fits its noise: on those weeks the
   residuals, and so the standard error, would be too small.
4. Parallel pre-trends are checked on the held-out pre-period: the slope of d_t over time before the
   start. A significant slope means the controls do not track the pilot stores; the estimate is flagged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import statsmodels.api as sm
from statsmodels.stats.diagnostic import acorr_ljungbox

from spend.core.errors import SpendError
from spend.core.user_tables import numeric_column

REQUIRED = ("store_id", "period", "treated", "post")
# A spreadsheet writes 1/0 as 1.0/0.0 once a column held a blank, and people write yes/no.
FLAGS = {"1": True, "0": False, "1.0": True, "0.0": False, "true": True, "false": False, "yes": True, "no": False}
METRICS = ("avg_ticket", "repurchase_rate")
PRETREND_ALPHA = 0.05
AUTOCORRELATION_ALPHA = 0.05


@dataclass(frozen=True)
class PilotEffect:
    metric: str
    pilot_stores: list[str]
    control_stores: list[str]
    pre_periods: int
    post_periods: int
    pilot_pre_mean: float
    effect: float
    ci_low: float
    ci_high: float
    p_value: float
    relative_effect: float | None
    pretrend_p_value: float
    parallel_trends: bool
    errors: str  # classical or newey-west
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class PilotResult:
    effects: list[PilotEffect]
    skipped: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def analyze_pilot(panel: pd.DataFrame, n_controls: int = 5, alpha: float = 0.10) -> PilotResult:
    """The pilot's effect on each metric the panel holds (avg_ticket, repurchase_rate)."""
    panel = _checked(panel)
    metrics = [m for m in METRICS if m in panel.columns]
    skipped = [f"{m}: not in the panel" for m in METRICS if m not in metrics]
    effects = [did(panel, metric, n_controls, alpha) for metric in metrics]
    return PilotResult(effects, skipped)


def did(panel: pd.DataFrame, metric: str, n_controls: int = 5, alpha: float = 0.10) -> PilotEffect:
    wide, pilot, notes = _complete(panel, metric)
    post = panel.groupby("period")["post"].first().reindex(wide.index).to_numpy(bool)
    if (~post).sum() < 6 or post.sum() < 1:
        raise SpendError(f"pilot panel: {metric} needs at least 6 periods before the start and 1 after")
    # Matched on the first half of the pre-period, estimated on the rest: residuals the matching never saw
    # give an honest standard error and an honest pre-trend test (matching on the same weeks fits noise).
    pre_index = np.flatnonzero(~post)
    matching = np.zeros(len(post), bool)
    matching[pre_index[: len(pre_index) // 2]] = True
    controls = match_controls(wide[~post], pilot, matching[~post], n_controls)
    wide, post = wide[~matching], post[~matching]
    gap = wide[pilot].mean(axis=1) - wide[controls].mean(axis=1)
    fit, errors = _fit(gap.to_numpy(), post)
    low, high = fit.conf_int(alpha=alpha)[1]
    pretrend = _pretrend_p(gap[~post].to_numpy())
    pre_mean = float(wide.loc[~post, pilot].to_numpy().mean())
    effect = float(fit.params[1])
    return PilotEffect(
        metric=metric,
        pilot_stores=[str(s) for s in pilot],
        control_stores=[str(s) for s in controls],
        pre_periods=int((~post).sum()),  # those the estimate used: the matching half is not counted
        post_periods=int(post.sum()),
        pilot_pre_mean=pre_mean,
        effect=effect,
        ci_low=float(low),
        ci_high=float(high),
        p_value=float(fit.pvalues[1]),
        relative_effect=effect / abs(pre_mean) if pre_mean else None,
        pretrend_p_value=pretrend,
        parallel_trends=pretrend >= PRETREND_ALPHA,
        errors=errors,
        notes=notes,
    )


def _complete(panel: pd.DataFrame, metric: str) -> tuple[pd.DataFrame, list, list[str]]:
    """Stores x periods of `metric` with no gap: periods no store has are left out, and so are other
    stores with gaps (a pilot store with one is an error). Returns (wide, pilot stores, notes)."""
    wide = panel.pivot_table(index="period", columns="store_id", values=metric, aggfunc="mean", dropna=False)
    wide = wide.sort_index()
    notes = []
    empty = wide.isna().all(axis=1)
    if empty.any():
        notes.append(f"{int(empty.sum())} period(s) without any {metric} left out")
        wide = wide[~empty]
    pilot = sorted(panel.loc[panel["treated"], "store_id"].unique())
    gaps = wide.columns[wide.isna().any()].tolist()
    if set(gaps) & set(pilot):
        raise SpendError(f"pilot panel: {metric} is missing in some periods for a pilot store; fill or drop them")
    if gaps:
        notes.append(f"{len(gaps)} other store(s) with missing {metric} periods not used as controls")
        wide = wide.drop(columns=gaps)
    if len(wide.columns) == len(pilot):
        raise SpendError(f"pilot panel: no other store has {metric} in every period to serve as a control")
    return wide, pilot, notes


def match_controls(wide: pd.DataFrame, pilot: list, matching: np.ndarray, n_controls: int) -> list:
    """The candidate stores whose de-meaned path over the `matching` periods is closest to the pilot
    stores' mean path."""
    pre = wide.loc[matching]
    centred = pre - pre.mean()
    target = centred[pilot].mean(axis=1)
    candidates = [s for s in wide.columns if s not in set(pilot)]
    distance = ((centred[candidates].sub(target, axis=0)) ** 2).mean().pow(0.5)
    return distance.sort_values(kind="stable").index[:n_controls].tolist()


def _fit(gap: np.ndarray, post: np.ndarray):
    """OLS of the gap on `post`, with classical errors unless its residuals are autocorrelated (Ljung-Box),
    then Newey-West's: HAC errors on short independent series are too narrow, classical ones on
    autocorrelated series are too. Returns (fit, which errors)."""
    design = sm.add_constant(post.astype(float))
    classical = sm.OLS(gap, design).fit(use_t=True)
    lags = _lags(len(gap))
    if acorr_ljungbox(classical.resid, lags=[lags])["lb_pvalue"].iloc[0] >= AUTOCORRELATION_ALPHA:
        return classical, "classical"
    hac = sm.OLS(gap, design).fit(cov_type="HAC", cov_kwds={"maxlags": lags, "use_correction": True}, use_t=True)
    return hac, "newey-west"


def _pretrend_p(gap: np.ndarray) -> float:
    time = np.arange(len(gap), dtype=float)
    fit = sm.OLS(gap, sm.add_constant(time)).fit(cov_type="HAC", cov_kwds={"maxlags": _lags(len(gap))})
    return float(fit.pvalues[1])


def _lags(n: int) -> int:
    """Newey and West's rule of thumb for the HAC bandwidth."""
    return max(1, int(4 * (n / 100) ** (2 / 9)))


def _checked(panel: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in REQUIRED if c not in panel.columns]
    if missing:
        raise SpendError(f"pilot panel lacks required column(s) {', '.join(missing)}; need {', '.join(REQUIRED)}")
    if not any(m in panel.columns for m in METRICS):
        raise SpendError(f"pilot panel has no metric column; give at least one of {', '.join(METRICS)}")
    frame = panel.assign(store_id=panel["store_id"].astype(str))
    for metric in (m for m in METRICS if m in frame.columns):  # a blank is a gap (_complete); text is not
        frame[metric] = numeric_column(frame, metric, "pilot panel", blank_ok=True)
    for column in ("treated", "post"):
        values = frame[column].astype(str).str.strip().str.lower().map(FLAGS)
        if values.isna().any():
            bad = int(values.isna().sum())
            raise SpendError(f"pilot panel: column {column} must be 0/1, true/false or yes/no ({bad} value(s) are not)")
        frame[column] = values.astype(bool)
    if frame.groupby("store_id")["treated"].nunique().gt(1).any():
        raise SpendError("pilot panel: column treated must be constant per store")
    if frame.groupby("period")["post"].nunique().gt(1).any():
        raise SpendError("pilot panel: column post must be the same for every store in a period")
    stores = frame.groupby("treated")["store_id"].nunique()
    if stores.get(True, 0) < 1 or stores.get(False, 0) < 1:
        raise SpendError("pilot panel: need at least one pilot store (treated = 1) and one other store")
    periods = frame.groupby("post")["period"].nunique()
    if periods.get(False, 0) < 6 or periods.get(True, 0) < 1:
        raise SpendError("pilot panel: need at least 6 periods before the start (post = 0) and 1 after")
    return frame
