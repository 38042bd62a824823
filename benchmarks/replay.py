"""Replenishment replay for benchmarks/demand.py: two order-up-to policies run over the simulated
history's last weeks against its true demand, from the same starting stock, with the same lead times,
weekly reviews and service-level target.

- Spend: the target is mean + z x sd of demand over lead time + review, from the demand model's
  quantiles (models/replenishment.py). The model is fitted once, on the year before the replay; at each
  review it re-forecasts from the sales seen so far (`update`: the lags read the replay's own sales,
  days that closed empty flagged as stock-outs), as the shop would run it each week, with its price and
  promotion calendar for the weeks ahead as the plan (`spend replenish --price-plan`: the shop set those
  prices and promotions, the simulator's demand answered them).
- Spend without the calendar: the same, each day forecast at the last price and at its series' chance
  of a promotion (what `spend replenish` does without a plan: models/promotions.py), reported beside: a
  quarter of the simulated shop's days are promoted.
- Mean forecast: the textbook policy a shop runs without a forecaster: the trailing 28-day mean of sales
  over the cover period plus z x the trailing daily standard deviation x sqrt(cover days).

Each day: arrivals, then demand served from stock (the rest is lost), then, on review days, an order
that arrives after the lead time. Stock on order at the start arrives on the first day, for both.
Reported: fill rate (served / demanded units) and the average stock on hand at the close of a day, at
the target and along a range of service levels for both policies, so stock can be compared at equal
fill rate (the mean-forecast policy misses its target, which makes stock at the same target unequal
ground).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from spend.models.demand import KEEP_LAST_DAYS
from spend.models.replenishment import cover_correlation, cover_demand
from spend.training.demand_backtest import run_backtest

TRAILING = 28
CALIBRATION_DAYS = 28  # experiments/demand.yaml's backtest horizon
LEVELS = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.975, 0.99, 0.995, 0.999)


def replay(
    history: pd.DataFrame,
    truth: pd.DataFrame,
    counts: pd.DataFrame,
    make_model,
    weeks: int = 8,
    service_level: float = 0.95,
    review_days: int = 7,
) -> dict:
    last = history["date"].max()
    days = 7 * weeks
    start = last - pd.Timedelta(days=days)  # the last day before the replay
    train = history[(history["date"] <= start) & (history["date"] > start - pd.Timedelta(days=365))]
    pairs = train[["product_id", "store_id"]].drop_duplicates().sort_values(["product_id", "store_id"])
    at_start = (
        counts[counts["date"] == start].set_index(["product_id", "store_id"]).reindex(pd.MultiIndex.from_frame(pairs))
    )
    lead = at_start["lead_time_days"].fillna(7).to_numpy(dtype=int)
    horizon = int(lead.max()) + review_days
    model = make_model(horizon).fit(train)
    model.cover_correlation_ = calibrated(train, make_model)
    demand = _wide(truth[truth["date"] > start], pairs, ["demand"], days)["demand"]
    sales = _wide(train[train["date"] > start - pd.Timedelta(days=TRAILING)], pairs, ["units"], TRAILING)["units"]
    first = (at_start["on_hand"].fillna(0) + at_start["on_order"].fillna(0)).to_numpy(dtype=float)
    seen = history[(history["date"] > start - pd.Timedelta(days=KEEP_LAST_DAYS)) & (history["date"] <= last)]
    rows = pairs.reset_index(drop=True).reset_index(names="row")
    seen = rows.merge(seen, on=["product_id", "store_id"]).sort_values(["row", "date"])
    index = pd.MultiIndex.from_frame(pairs)
    cover = pd.Series(lead + review_days, index=index)

    # the shop's calendar for every day (a day without a price keeps the last one; without a discounted
    # sale, not promoted, as training reads it)
    plan = history[history["date"] > start][["product_id", "store_id", "date", "price", "promo"]]
    plan = plan.fillna({"promo": 0.0})

    def spend_target(day: int, served: np.ndarray, stock: np.ndarray, z: float, calendar=plan) -> np.ndarray:
        model.update(_observed(seen, start, served[:, :day], stock[:, :day]))
        forecast = model.predict(horizon, plan=calendar, series=pairs)
        demand = cover_demand(forecast, cover, model.cover_correlation_).reindex(index).fillna(0.0)
        return np.ceil(demand["mean"].to_numpy() + z * demand["sd"].to_numpy())

    def mean_target(day: int, served: np.ndarray, stock: np.ndarray, z: float) -> np.ndarray:
        recent = np.concatenate([sales, served[:, :day]], axis=1)[:, -TRAILING:]
        cover = lead + review_days
        return np.ceil(recent.mean(axis=1) * cover + z * recent.std(axis=1) * np.sqrt(cover))

    def blind_target(day: int, served: np.ndarray, stock: np.ndarray, z: float) -> np.ndarray:
        return spend_target(day, served, stock, z, calendar=None)

    out = {"curves": {}}
    policies = (("spend", spend_target), ("spend_without_calendar", blind_target), ("mean_forecast", mean_target))
    for name, target in policies:
        curve = []
        for level in LEVELS:
            z = norm.ppf(level)
            run = _run(demand, first, lead, review_days, lambda d, *seen_so_far, z=z, t=target: t(d, *seen_so_far, z))
            curve.append({"service_level": level} | run)
        out["curves"][name] = curve
        out[name] = next(row for row in curve if row["service_level"] == service_level)
    mean_curve, spend_curve = out["curves"]["mean_forecast"], out["curves"]["spend"]
    out["mean_forecast_stock_at_spend_fill"] = _along(
        mean_curve, "fill_rate", out["spend"]["fill_rate"], "average_stock"
    )
    out["spend_fill_at_mean_forecast_stock"] = _along(
        spend_curve, "average_stock", out["mean_forecast"]["average_stock"], "fill_rate"
    )
    out["series"] = len(pairs)
    out["cover_correlation"] = model.cover_correlation_
    out["days"] = days
    out["service_level"] = service_level
    return out


def calibrated(train: pd.DataFrame, make_model) -> float:
    """The correlation between two days' errors that `spend train demand` gives the model it registers:
    from the rolling-origin backtest of its settings (3 windows of 28 days, in-stock sales as truth)
    ending where the replay starts, so nothing of the replay's weeks is read."""
    backtest = run_backtest(train, {"spend": lambda: make_model(CALIBRATION_DAYS)}, CALIBRATION_DAYS, 3, 365)
    return cover_correlation(backtest.forecasts)


def _along(curve: list[dict], given: str, value: float, wanted: str) -> float | None:
    """`wanted` where `given` equals `value`, interpolated along a policy's curve (None: out of range)."""
    xs = [row[given] for row in curve]
    if not min(xs) <= value <= max(xs):
        return None
    order = np.argsort(xs)
    return float(np.interp(value, np.asarray(xs)[order], np.asarray([row[wanted] for row in curve])[order]))


def _observed(seen: pd.DataFrame, start, served: np.ndarray, stock: np.ndarray) -> pd.DataFrame:
    """The history as the shop sees it on a review day: the days before the replay as they were, then the
    replay's days so far with the units it served (not the demand) and a stock-out flag where a day closed
    empty; prices and promotions as the history had them."""
    before = seen[seen["date"] <= start]
    days = served.shape[1]
    during = seen[(seen["date"] > start) & (seen["date"] <= start + pd.Timedelta(days=days))].copy()
    day = (during["date"] - start).dt.days.to_numpy() - 1
    row = during["row"].to_numpy()
    during["units"] = served[row, day]
    during["stockout"] = (stock[row, day] <= 0).astype(float)
    return pd.concat([before, during], ignore_index=True)


def _wide(frame: pd.DataFrame, pairs: pd.DataFrame, columns: list[str], width: int) -> dict[str, np.ndarray]:
    """Series x day arrays (zeros where a day is missing), series in `pairs` order, days from the first."""
    frame = frame.merge(pairs.reset_index(drop=True).reset_index(names="row"), on=["product_id", "store_id"])
    day = (frame["date"] - frame["date"].min()).dt.days.to_numpy()
    keep = day < width
    out = {}
    for column in columns:
        array = np.zeros((len(pairs), width))
        array[frame["row"].to_numpy()[keep], day[keep]] = frame[column].to_numpy(dtype=float)[keep]
        out[column] = array
    return out


def _run(demand: np.ndarray, first: np.ndarray, lead: np.ndarray, review_days: int, target) -> dict:
    n, days = demand.shape
    on_hand, on_order = first.copy(), np.zeros(n)
    arrivals = np.zeros((n, days + int(lead.max()) + 1))
    served, stock = np.zeros((n, days)), np.zeros((n, days))
    rows = np.arange(n)
    for d in range(days):
        on_hand += arrivals[:, d]
        on_order -= arrivals[:, d]
        if d % review_days == 0:
            order = np.maximum(0.0, target(d, served, stock) - on_hand - on_order)
            arrivals[rows, d + lead] += order
            on_order += order
        served[:, d] = np.minimum(on_hand, demand[:, d])
        on_hand -= served[:, d]
        stock[:, d] = on_hand
    return {
        "fill_rate": float(served.sum() / demand.sum()),
        "average_stock": float(stock.sum(axis=0).mean()),
        "demand_units": float(demand.sum()),
    }
