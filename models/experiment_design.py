"""How many customers, and how many days, a price or offer test needs to see a given effect.

A customer-randomised test compares a metric per customer (margin by default) between a control and a
treatment arm. Its size follows from the minimum detectable effect (MDE), the metric's spread, the
significance level and the power; statsmodels solves the power equation. CUPED on a pre-period
covariate with correlation rho shrinks the variance by 1 - rho^2, and so the sample.

Duration is the enrolment: the days it takes for enough customers to enter, rounded up to whole weeks
so each weekday is seen equally often (weekly seasonality would otherwise bias a test that stops
mid-week). Each customer's metric is then read over a fixed window from their entry, so the last
results are in one window after enrolment closes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from statsmodels.stats.power import NormalIndPower

from spend.core.errors import SpendError

MAX_CUSTOMERS = 1e10  # per arm: past every shop's customers, and past what the solver reaches reliably


@dataclass(frozen=True)
class MetricSpread:
    """What the design needs to know of the metric: its mean and standard deviation per customer, the
    correlation with the same customer's pre-period value (0 when CUPED is not used), and how many new
    customers enter the test per day."""

    mean: float
    sd: float
    daily_customers: float
    pre_correlation: float = 0.0

    def __post_init__(self) -> None:
        if not math.isfinite(self.mean):
            raise SpendError(f"mean: the metric's mean must be a finite number, got {self.mean}")
        if not 0 < self.sd < math.inf:
            raise SpendError(f"sd: the metric's standard deviation must be > 0 and finite, got {self.sd}")
        if not 0 < self.daily_customers < math.inf:
            raise SpendError(f"daily_customers: must be > 0 and finite, got {self.daily_customers}")
        if not 0 <= abs(self.pre_correlation) < 1:
            raise SpendError(f"pre_correlation: must lie in (-1, 1), got {self.pre_correlation}")

    @property
    def adjusted_sd(self) -> float:
        """The standard deviation left after CUPED."""
        return self.sd * math.sqrt(1 - self.pre_correlation**2)


@dataclass(frozen=True)
class Design:
    mde: float  # absolute, in the metric's unit
    relative_mde: float | None  # mde / mean, when the mean is not zero
    alpha: float
    power: float
    treatment_share: float
    n_control: int
    n_treatment: int
    days: int
    weeks: int
    cuped: bool

    def as_dict(self) -> dict:
        return asdict(self)


def sample_size(mde: float, sd: float, alpha: float = 0.05, power: float = 0.8, ratio: float = 1.0) -> int:
    """Customers in the control arm of a two-sided test (the treatment arm holds `ratio` times as many)."""
    _check_test(mde, alpha, power, ratio)
    n = NormalIndPower().solve_power(effect_size=abs(mde) / sd, alpha=alpha, power=power, ratio=ratio)
    if not math.isfinite(n) or n > MAX_CUSTOMERS:  # statsmodels' solver gives up (NaN) on tiny effects
        raise SpendError(
            f"mde: {abs(mde):g} is too small against the metric's spread (sd {sd:g}) for any test to detect "
            f"(more than {MAX_CUSTOMERS:,.0f} customers per arm); ask for a larger effect"
        )
    return math.ceil(n)


def detectable_effect(n_control: int, sd: float, alpha: float = 0.05, power: float = 0.8, ratio: float = 1.0) -> float:
    """The smallest absolute effect a test with `n_control` customers in control detects at `power`."""
    _check_test(1.0, alpha, power, ratio)
    effect = NormalIndPower().solve_power(nobs1=n_control, alpha=alpha, power=power, ratio=ratio)
    return float(effect) * sd


def design(
    spread: MetricSpread,
    mde: float,
    alpha: float = 0.05,
    power: float = 0.8,
    treatment_share: float = 0.5,
) -> Design:
    """Sample size and duration for an absolute minimum detectable effect `mde`."""
    if not 0 < treatment_share < 1:
        raise SpendError(f"treatment_share: must lie in (0, 1), got {treatment_share}")
    ratio = treatment_share / (1 - treatment_share)
    n_control = sample_size(mde, spread.adjusted_sd, alpha, power, ratio)
    n_treatment = math.ceil(n_control * ratio)
    weeks = max(1, math.ceil((n_control + n_treatment) / spread.daily_customers / 7))
    return Design(
        mde=abs(mde),
        relative_mde=abs(mde) / abs(spread.mean) if spread.mean else None,
        alpha=alpha,
        power=power,
        treatment_share=treatment_share,
        n_control=n_control,
        n_treatment=n_treatment,
        days=weeks * 7,
        weeks=weeks,
        cuped=spread.pre_correlation != 0,
    )


def effect_by_duration(
    spread: MetricSpread,
    weeks: Iterable[int] = (1, 2, 4, 8, 13, 26, 52),
    alpha: float = 0.05,
    power: float = 0.8,
    treatment_share: float = 0.5,
) -> list[dict]:
    """The detectable effect after each of `weeks` of enrolment: what stopping earlier or later would cost."""
    ratio = treatment_share / (1 - treatment_share)
    rows = []
    for week in sorted(set(weeks)):
        n_control = int(spread.daily_customers * 7 * week * (1 - treatment_share))
        if n_control < 2:
            continue
        effect = detectable_effect(n_control, spread.adjusted_sd, alpha, power, ratio)
        rows.append(
            {
                "weeks": week,
                "n_control": n_control,
                "mde": effect,
                "relative_mde": effect / abs(spread.mean) if spread.mean else None,
            }
        )
    return rows


def _check_test(mde: float, alpha: float, power: float, ratio: float) -> None:
    if not mde:
        raise SpendError("mde: the minimum detectable effect must not be 0")
    if not math.isfinite(mde):
        raise SpendError(f"mde: the minimum detectable effect must be a finite number, got {mde}")
    if not 0 < alpha < 0.5:
        raise SpendError(f"alpha: must lie in (0, 0.5), got {alpha}")
    if not alpha < power < 1:
        raise SpendError(f"power: must lie in (alpha, 1), got {power}")
    if not ratio > 0:
        raise SpendError(f"ratio: must be > 0, got {ratio}")
