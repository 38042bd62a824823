"""Order-up-to replenishment from demand quantiles: how much to order per product x store so that stock
covers demand until the order after this one arrives, at a chosen service level.

The cover period is the lead time plus the review period (an order placed today arrives after the lead
time; the next chance to order is a review period away). Demand over it is taken as normal, with mean
the sum of the daily means and variance the sum of the daily variances read off each day's P10-P90
spread ((P90 - P10) / 2.563 is one standard deviation), never below the mean (units bought by many
shoppers independently vary at least as a Poisson count does), plus the covariance of every pair of
days at the correlation the model's own backtest showed between two days' errors (`cover_correlation`:
a forecast that misses a level misses it for the whole period, and daily intervals added up as if days
were independent are too narrow for the period's total). A day's mean is the
forecast's `mean` column, or, for a forecast without one, Swanson's rule on its three quantiles (0.3 P10
+ 0.4 P50 + 0.3 P90): daily units are skewed, their median sits below their mean, and a sum of medians
would under-stock. Then:

- target stock = mean + z(service level) x sd;
- suggested order = target - on hand - on order, rounded up, never negative; a count below zero (a till
  that sold units the stock system had not booked in) counts as 0 on hand, and the row's reason says so:
  the shelf holds none, and ordering the shortfall too would stock up on a booking error;
- expected fill rate = 1 - E[shortage] / mean, with E[shortage] = sd x L((on hand + on order + order -
  mean) / sd), L the standard normal loss function;
- binding reason: which condition sets the order (module constants below).

Without a stock count (on hand unknown: a history without inventory) the target is still computed; the
order and its fill rate are left empty, and the reason says so.

The normal approximation is rough for slow movers (a few units over the cover period); the fill rate of
the replay in benchmarks/demand.py says how rough.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

SD_PER_P10_P90 = 2 * norm.ppf(0.9)  # 2.563: a normal's P10-P90 width in standard deviations
BELOW_EXPECTED = "below expected demand over the cover period"
BELOW_SAFETY = "below safety stock"
COVERED = "stock position covers the target: no order"
NO_DEMAND = "no demand forecast over the cover period: no order"
NO_COUNT = "no stock count: order the target less what is on hand and on order"
BELOW_ZERO = "; the stock count is below zero, read as 0 on hand"
COLUMNS = (
    "product_id",
    "store_id",
    "on_hand",
    "on_order",
    "lead_time_days",
    "cover_days",
    "cover_p50",
    "cover_p90",
    "target_stock",
    "suggested_order",
    "expected_fill_rate",
    "reason",
)


def daily_mean(p10, p50, p90):
    """Swanson's rule: the mean of a skewed distribution from its P10, P50 and P90."""
    return 0.3 * p10 + 0.4 * p50 + 0.3 * p90


def cover_demand(forecast: pd.DataFrame, cover_days: pd.Series, correlation: float = 0.0) -> pd.DataFrame:
    """Per product x store: mean and sd of demand over its first `cover_days` forecast days, and the
    cover period's P50 and P90. `forecast`: product_id, store_id, date, p10, p50, p90 (any order), and
    where days carry a chance of an unplanned promotion, promo_chance and promo_lift (models/demand.py);
    `cover_days`: indexed by (product_id, store_id); `correlation`: between two days' errors
    (`cover_correlation`), 0 for independent days."""
    f = forecast.sort_values(["product_id", "store_id", "date"])
    day = f.groupby(["product_id", "store_id"]).cumcount().to_numpy()
    days = cover_days.reindex(pd.MultiIndex.from_frame(f[["product_id", "store_id"]])).to_numpy()
    grouped = _daily_spread(f[day < days]).groupby(["product_id", "store_id"])
    total = grouped["mean"].sum()
    var = _cover_variance(grouped["var"].sum(), grouped["sd"].sum(), total, correlation)
    if "promo_chance" in f.columns:
        var = var + _promotion_variance(grouped["promo_chance"].mean(), grouped["promo_lift"].sum())
    out = pd.DataFrame({"mean": total, "sd": np.sqrt(var)})
    out["cover_p50"] = out["mean"]  # the normal's median is its mean
    out["cover_p90"] = out["mean"] + norm.ppf(0.9) * out["sd"]
    return out


def _daily_spread(days: pd.DataFrame) -> pd.DataFrame:
    """Each day's mean and sd as replenishment reads them from the quantiles."""
    sd = (days["p90"] - days["p10"]) / SD_PER_P10_P90
    mean = days["mean"] if "mean" in days.columns else daily_mean(days["p10"], days["p50"], days["p90"])
    return days.assign(mean=mean, sd=sd, var=sd**2)


def _promotion_variance(chance, lift):
    """Whether the cover period is promoted, as one draw for all its days (promotions run for days):
    chance x (1 - chance) x the lift over the period, squared."""
    return chance * (1 - chance) * lift**2


def _cover_variance(var, sd_sum, mean, correlation: float):
    """Days' variances, floored at the mean (a Poisson count's), plus `correlation` times every pair of
    days' covariance: sum var + rho x ((sum sd)^2 - sum var)."""
    return np.maximum(var, mean) + correlation * np.maximum(sd_sum**2 - var, 0.0)


def cover_correlation(backtest: pd.DataFrame, days: int = 14) -> float:
    """The correlation between two days' forecast errors within a cover period, from a backtest's
    forecasts (product_id, store_id, window, date, p10, p50, p90, mean, demand): over each series' first
    `days` days after each origin, the pooled moment estimate sum(S^2 - V) / sum((sum sd)^2 - sum var),
    S the period's total error and V the variance independent days would give. A forecaster whose
    errors run together (a level missed for a whole period, a season's ramp) has cover totals far wider
    than its daily intervals add up to; one whose days are independent gets about 0. In [0, 1]."""
    f = backtest.sort_values(["product_id", "store_id", "window", "date"])
    first = f.groupby(["product_id", "store_id", "window"])["date"].transform("min")
    f = _daily_spread(f[(f["date"] - first).dt.days < days])
    blocks = f.assign(error=f["demand"] - f["mean"]).groupby(["product_id", "store_id", "window"])
    var, sd_sum, mean = blocks["var"].sum(), blocks["sd"].sum(), blocks["mean"].sum()
    excess = float((blocks["error"].sum() ** 2 - np.maximum(var, mean)).sum())
    pairs = float(np.maximum(sd_sum**2 - var, 0.0).sum())
    return float(np.clip(excess / pairs, 0.0, 1.0)) if pairs > 0 else 0.0


def order_up_to(stock: pd.DataFrame, demand: pd.DataFrame, service_level: float) -> pd.DataFrame:
    """`stock`: product_id, store_id, on_hand, on_order, cover_days; `demand`: cover_demand's frame.
    One row per stock row with the target, the suggested order, the expected fill rate and the reason."""
    if not 0.5 <= service_level < 1:
        raise ValueError(f"service level {service_level} must be at least 0.5 and below 1")
    rows = stock.merge(demand, left_on=["product_id", "store_id"], right_index=True, how="left")
    mean = pd.to_numeric(rows["mean"]).fillna(0.0).to_numpy(dtype=float)
    sd = pd.to_numeric(rows["sd"]).fillna(0.0).to_numpy(dtype=float)
    on_hand = rows["on_hand"].to_numpy(float)
    position = np.where(on_hand < 0, 0.0, on_hand) + rows["on_order"].fillna(0.0).to_numpy(float)
    target = np.ceil(mean + norm.ppf(service_level) * sd)
    order = np.where(target <= 0, 0.0, np.maximum(0.0, target - position))  # no count, no demand: no order
    rows["target_stock"] = target
    rows["suggested_order"] = order
    rows["expected_fill_rate"] = fill_rate(position + order, mean, sd)
    rows["reason"] = np.select(
        [mean <= 0, np.isnan(position), position >= target, position < mean],
        [NO_DEMAND, NO_COUNT, COVERED, BELOW_EXPECTED],
        default=BELOW_SAFETY,
    )
    rows.loc[on_hand < 0, "reason"] += BELOW_ZERO
    return rows.drop(columns=["mean", "sd"])


def fill_rate(available: np.ndarray, mean: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """Expected share of demand served from `available` units, demand ~ Normal(mean, sd)."""
    available, mean, sd = (np.asarray(a, dtype=float) for a in (available, mean, sd))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (available - mean) / sd
        shortage = np.where(sd > 0, sd * (norm.pdf(z) - z * norm.sf(z)), np.maximum(mean - available, 0.0))
        rate = np.where(mean > 0, 1.0 - shortage / mean, 1.0)
    return np.clip(rate, 0.0, 1.0)
