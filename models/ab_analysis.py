"""Analysis of a customer-randomised A/B test: the effect on margin per customer, with CUPED, a confidence
interval, guardrails and a ship / continue / stop decision.

One row per customer: the arm they were assigned to, the metric over the test (margin by default) and,
when known, the same metric over a pre-period of equal length (the CUPED covariate). CUPED subtracts
theta * (pre - mean(pre)), theta = cov(metric, pre) / var(pre) on both arms pooled: the estimate stays
unbiased because assignment is independent of the pre-period, and its variance falls by 1 - rho^2.

Guardrails are rates that must not get worse by more than a tolerance: conversion (higher is better)
and return rate (lower is better). A guardrail holds when its whole interval lies on the good side of
the tolerance, and is breached when it is significantly worse (its whole interval lies on the bad side of
0) by more than the tolerance at the point estimate.

A sample-ratio mismatch (the arms' sizes differ from the planned split more than chance allows) means
assignment or logging is broken; nothing else can then be trusted and the decision is stop.

A test of several offers against one control (A/B/n, `analyze_arms`) compares each arm with the control
as above, at alpha / (number of arms) (Bonferroni): judged each at the lone test's level, several
useless arms give one a winning interval by chance far more often than alpha (docs/experiments.md). The
arm shipped is the one whose interval's lower end is highest among the arms that would ship.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd
from scipy.stats import binomtest
from statsmodels.stats.proportion import confint_proportions_2indep, test_proportions_2indep
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from spend.core.errors import SpendError
from spend.core.user_tables import numeric_column
from spend.models.experiment_design import sample_size

REQUIRED = ("customer_id", "variant")
# Guardrail column -> True when higher is better.
GUARDRAILS = {"converted": True, "returned": False}
SRM_ALPHA = 0.001  # the usual threshold: a real mismatch is gross, and a false alarm stops a good test


@dataclass(frozen=True)
class AbSettings:
    metric: str = "margin"
    covariate: str = "pre_margin"
    control: str = "control"
    alpha: float = 0.10  # a 90% interval, the same level as the elasticities'
    treatment_share: float = 0.5  # the planned split, for the sample-ratio check
    guardrail_tolerance: float = 0.01  # absolute: one percentage point of conversion or return rate


@dataclass(frozen=True)
class Guardrail:
    name: str
    control_rate: float
    treatment_rate: float
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    status: str  # holds | breached | unclear


@dataclass(frozen=True)
class AbResult:
    metric: str
    n_control: int
    n_treatment: int
    control_mean: float
    treatment_mean: float
    effect: float
    ci_low: float
    ci_high: float
    p_value: float
    relative_effect: float | None
    cuped: bool
    variance_reduction: float  # share of the metric's variance CUPED removed; 0 without CUPED
    srm_p_value: float
    decision: str  # ship | continue | stop
    reason: str
    guardrails: list[Guardrail] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ArmsResult:
    """Each arm against the control at the corrected level, and what to do with the test as a whole."""

    control: str
    correction: str
    alpha_per_arm: float
    arms: dict[str, AbResult]
    decision: str  # ship | continue | stop
    best: str | None  # the arm to ship
    reason: str

    def as_dict(self) -> dict:
        return asdict(self)


def analyze_arms(
    results: pd.DataFrame, settings: AbSettings = AbSettings(), arm_share: float | None = None
) -> ArmsResult:
    """Every arm but the control against the control, at alpha / arms. `arm_share`: each treatment arm's
    planned share of the customers (default: every arm, the control's too, the same size)."""
    frame, _ = _checked(results, settings, many=True)
    arms = sorted(set(frame["variant"].astype(str)) - {settings.control})
    control_share = 1 - len(arms) * arm_share if arm_share is not None else None
    if control_share is not None and not 0 < control_share < 1:
        raise SpendError(
            f"--treatment-share: {len(arms)} arms of {arm_share:g} each leave the control {control_share:g}; "
            "give each treatment arm's share, their sum below 1"
        )
    alpha = settings.alpha / len(arms)
    within = 0.5 if arm_share is None else arm_share / (arm_share + control_share)  # treated share of a pair
    each = replace(settings, alpha=alpha, treatment_share=within)
    variant = frame["variant"].astype(str)
    answers = {arm: analyze(frame[variant.isin([settings.control, arm])], each) for arm in arms}
    decision, best, reason = _decide_arms(answers, settings)
    return ArmsResult(settings.control, "bonferroni", alpha, answers, decision, best, reason)


def _decide_arms(answers: dict[str, AbResult], settings: AbSettings) -> tuple[str, str | None, str]:
    winners = {arm: r for arm, r in answers.items() if r.decision == "ship"}
    level = f"{1 - settings.alpha:.0%}"
    if winners:
        best = max(winners, key=lambda arm: winners[arm].ci_low)
        others = f"; {', '.join(a for a in winners if a != best)} would ship too" if len(winners) > 1 else ""
        return (
            "ship",
            best,
            (
                f"{best}: {answers[best].reason} (each arm against {settings.control!r} at {level} corrected for "
                f"{len(answers)} arms){others}"
            ),
        )
    if all(r.decision == "stop" for r in answers.values()):
        return "stop", None, "every arm stops: " + "; ".join(f"{arm}: {r.reason}" for arm, r in answers.items())
    going = [arm for arm, r in answers.items() if r.decision == "continue"]
    return "continue", None, f"no arm is shown to win yet ({', '.join(going)} continue); see each arm's reason"


def analyze(results: pd.DataFrame, settings: AbSettings = AbSettings()) -> AbResult:
    """The test's effect, guardrails and decision. Errors name the column and the problem."""
    frame, treated = _checked(results, settings)
    skipped: list[str] = []
    metric = frame[settings.metric].to_numpy(float)
    cuped = settings.covariate in frame.columns
    if cuped:
        adjusted, reduction = cuped_adjust(metric, frame[settings.covariate].to_numpy(float))
    else:
        adjusted, reduction = metric, 0.0
        skipped.append(f"CUPED: no {settings.covariate} column, so the raw metric is compared")
    effect, low, high, p_value = mean_difference(adjusted[treated], adjusted[~treated], settings.alpha)
    guardrails = []
    for name, higher_is_better in GUARDRAILS.items():
        if name in frame.columns:
            guardrails.append(_guardrail(frame, treated, name, higher_is_better, settings))
        else:
            skipped.append(f"guardrail {name}: no {name} column")
    srm = binomtest(int(treated.sum()), len(frame), settings.treatment_share).pvalue
    control_mean = float(metric[~treated].mean())
    decision, reason = _decide(effect, low, high, guardrails, srm, adjusted, treated, settings)
    return AbResult(
        metric=settings.metric,
        n_control=int((~treated).sum()),
        n_treatment=int(treated.sum()),
        control_mean=control_mean,
        treatment_mean=float(metric[treated].mean()),
        effect=effect,
        ci_low=low,
        ci_high=high,
        p_value=p_value,
        relative_effect=effect / abs(control_mean) if control_mean else None,
        cuped=cuped,
        variance_reduction=reduction,
        srm_p_value=float(srm),
        decision=decision,
        reason=reason,
        guardrails=guardrails,
        skipped=skipped,
    )


def cuped_adjust(metric: np.ndarray, covariate: np.ndarray) -> tuple[np.ndarray, float]:
    """The metric minus its pre-period's linear prediction, and the share of variance removed."""
    variance = covariate.var()
    if variance == 0:
        return metric, 0.0
    theta = np.cov(metric, covariate)[0, 1] / covariate.var(ddof=1)
    adjusted = metric - theta * (covariate - covariate.mean())
    total = metric.var()
    return adjusted, float(1 - adjusted.var() / total) if total > 0 else 0.0


def mean_difference(treatment: np.ndarray, control: np.ndarray, alpha: float) -> tuple[float, float, float, float]:
    """Treatment minus control, Welch's interval and p-value (statsmodels)."""
    compare = CompareMeans(DescrStatsW(treatment), DescrStatsW(control))
    low, high = compare.tconfint_diff(alpha=alpha, usevar="unequal")
    _, p_value, _ = compare.ttest_ind(usevar="unequal")
    return float(treatment.mean() - control.mean()), float(low), float(high), float(p_value)


def _guardrail(
    frame: pd.DataFrame, treated: np.ndarray, name: str, higher_is_better: bool, settings: AbSettings
) -> Guardrail:
    values = frame[name].to_numpy(float)
    count_t, n_t = values[treated].sum(), int(treated.sum())
    count_c, n_c = values[~treated].sum(), int((~treated).sum())
    low, high = confint_proportions_2indep(
        count_t, n_t, count_c, n_c, method="newcomb", compare="diff", alpha=settings.alpha
    )
    p_value = test_proportions_2indep(count_t, n_t, count_c, n_c, compare="diff").pvalue
    # Signed so that positive is better, then judged against the tolerance.
    sign = 1.0 if higher_is_better else -1.0
    worst, best = sorted((sign * low, sign * high))
    difference = count_t / n_t - count_c / n_c
    tolerance = settings.guardrail_tolerance
    if worst > -tolerance:
        status = "holds"
    elif best < 0 and sign * difference < -tolerance:
        status = "breached"
    else:
        status = "unclear"
    return Guardrail(
        name=name,
        control_rate=float(count_c / n_c),
        treatment_rate=float(count_t / n_t),
        difference=float(difference),
        ci_low=float(low),
        ci_high=float(high),
        p_value=float(p_value),
        status=status,
    )


def _decide(effect, low, high, guardrails, srm, adjusted, treated, settings) -> tuple[str, str]:
    if srm < SRM_ALPHA:
        share = treated.mean()
        return "stop", (
            f"sample-ratio mismatch: {share:.1%} of customers are in treatment, {settings.treatment_share:.0%} "
            f"planned (p = {srm:.1e}); assignment or logging is broken, so no result can be trusted"
        )
    breached = [g.name for g in guardrails if g.status == "breached"]
    if breached:
        return "stop", f"guardrail breached: {', '.join(breached)} got worse by more than the tolerance"
    level = f"{1 - settings.alpha:.0%}"
    if high < 0:
        return "stop", f"{settings.metric} per customer falls: the {level} interval lies below 0"
    unclear = [g.name for g in guardrails if g.status != "holds"]
    if low > 0 and not unclear:
        return "ship", f"{settings.metric} per customer rises (the {level} interval lies above 0) and guardrails hold"
    if low > 0:
        return "continue", f"{settings.metric} rises, but guardrail(s) {', '.join(unclear)} are not yet shown to hold"
    return "continue", f"the {level} interval includes 0; {_more_needed(effect, adjusted, treated, settings)}"


def _more_needed(effect, adjusted, treated, settings) -> str:
    if effect == 0:
        return "the observed effect is 0"
    sd = float(adjusted.std(ddof=1))
    ratio = settings.treatment_share / (1 - settings.treatment_share)
    # The size at which the observed effect would be detected with 80% power at the test's alpha.
    try:
        needed = sample_size(effect, sd, alpha=settings.alpha, power=0.8, ratio=ratio)
    except SpendError:  # an effect too small for any test (the design's own refusal)
        return "the observed effect is too small for any number of customers to tell from 0"
    now = int((~treated).sum())
    if needed <= now:
        return "the observed effect is within noise at this size"
    times = needed / now
    shown = f"{times:.1f}" if times < 10 else f"{times:.0f}"
    return f"about {shown}x the customers so far would detect an effect this size"


def _arms_hint(variants: list[str], control: str) -> str:
    """What to type when the arms nearly fit: the control's own spelling."""
    named = [v for v in variants if v.casefold() == control.casefold()]
    if control not in variants and len(named) == 1:
        return f" (--control {named[0]!r} names the control arm as the file spells it)"
    return ""


def _distinct_arms(variants: list[str]) -> None:
    """Arms whose names differ only in case or spaces are one arm mistyped, not two (` Control` beside
    `control` was analysed as a treatment)."""
    seen: dict[str, str] = {}
    for name in variants:
        key = " ".join(name.split()).casefold()
        if key in seen:
            raise SpendError(
                f"A/B results: column variant has arms {seen[key]!r} and {name!r}, which differ only in case or "
                "spaces; spell each arm one way"
            )
        seen[key] = name


def _checked(results: pd.DataFrame, settings: AbSettings, many: bool = False) -> tuple[pd.DataFrame, np.ndarray]:
    """The results with numeric columns read, and who is treated; `many`: more than one treatment arm
    allowed (analyze_arms)."""
    needed = (*REQUIRED, settings.metric)
    missing = [c for c in needed if c not in results.columns]
    if missing:
        raise SpendError(f"A/B results lack required column(s) {', '.join(missing)}; need {', '.join(needed)}")
    if results.empty:
        raise SpendError("A/B results: the file has no rows")
    numeric = [settings.metric, *(c for c in (settings.covariate, *GUARDRAILS) if c in results.columns)]
    frame = results.assign(**{c: numeric_column(results, c, "A/B results") for c in numeric})
    for column in (c for c in GUARDRAILS if c in results.columns):
        if not frame[column].isin([0.0, 1.0]).all():
            raise SpendError(f"A/B results: column {column} must be 0 or 1 per customer")
    duplicated = int(results["customer_id"].duplicated().sum())
    if duplicated:
        raise SpendError(f"A/B results: {duplicated} customer_id(s) appear more than once; one row per customer")
    empty = int((results["variant"].isna() | (results["variant"].astype(str).str.strip() == "")).sum())
    if empty:
        raise SpendError(f"A/B results: column variant has {empty} empty value(s); every customer needs an arm")
    variants = sorted(results["variant"].astype(str).unique())
    _distinct_arms(variants)
    if (len(variants) < 2 or not many and len(variants) != 2) or settings.control not in variants:
        arms = "two arms or more" if many else "exactly two arms"
        raise SpendError(
            f"A/B results: column variant must hold {arms}, one of them {settings.control!r}; "
            f"found {', '.join(variants[:10])}{_arms_hint(variants, settings.control)}"
        )
    treated = (frame["variant"].astype(str) != settings.control).to_numpy()
    if min(treated.sum(), (~treated).sum()) < 2:
        raise SpendError("A/B results: each arm needs at least 2 customers")
    return frame, treated
