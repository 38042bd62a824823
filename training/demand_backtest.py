"""Rolling-origin backtest of the demand forecaster beside statsforecast's baselines, on the same windows.

Each window: fit on the `history_days` before its origin, forecast the `horizon` days after it, score
against `truth` (true demand where the simulator knows it; otherwise sales, on in-stock days only, since
a stock-out day's sales understate its demand). The last window ends on the history's last day; each
earlier origin is `step` days before the next. Metrics (utilsforecast where it has them):

- WAPE: sum |truth - P50| / sum truth (P50: the point forecast of every scorer);
- MASE: mean absolute error over the in-sample seasonal naive's (season 7), per series, averaged over
  the series whose naive error is not zero;
- bias: sum (P50 - truth) / sum truth;
- pinball: the mean quantile loss over P10, P50, P90, scaled by the mean of truth (comparable across
  data sets);
- coverage_80: the share of truth inside [P10, P90] (goal: 0.8); below_p10 and above_p90: the shares
  outside on each side (0.1 each for continuous outcomes); zero_share: the share of truth that is 0.
  On counts that are mostly 0 a calibrated P10 is 0 and every zero day falls inside, so coverage_80
  sits above 0.8 while above_p90 stays near 0.1 (docs/demand.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from spend.core.errors import SpendError
from spend.training.refusals import raised_in

QUANTILES = (0.1, 0.5, 0.9)


@dataclass
class Backtest:
    table: pd.DataFrame  # scorer -> metrics over every window, plus fit_s and predict_s
    windows: list[str]  # the origins (last training day), oldest first
    forecasts: pd.DataFrame = field(repr=False)  # scorer, window, product_id, store_id, date, p10, p50, p90, truth


def origins(last_day: pd.Timestamp, horizon: int, windows: int, step: int | None = None) -> list[pd.Timestamp]:
    step = horizon if step is None else step
    return [last_day - pd.Timedelta(days=horizon + step * k) for k in reversed(range(windows))]


def _fitted(make: Callable[[], object], train: pd.DataFrame, window: str, name: str):
    """`make()` fitted on `train`; a history it cannot learn from is a SpendError naming the window."""
    try:
        return make().fit(train)
    except ValueError as error:
        if raised_in(error) == "LightGBM":  # a value of params, not the history (training/refusals.py)
            raise
        raise SpendError(
            f"the demand backtest's {window} cannot fit {name}: {error}; a longer history or fewer windows "
            "(--set backtest.windows=1) gives each window more days"
        ) from error


def run_backtest(
    history: pd.DataFrame,
    scorers: dict[str, Callable[[], object]],
    horizon: int,
    windows: int,
    history_days: int,
    season_length: int = 7,
    truth: pd.DataFrame | None = None,
    step: int | None = None,
    progress: Callable[[str], None] = lambda step: None,
) -> Backtest:
    """`history`: the forecasters' input (product_id, store_id, date, units, price, promo, stockout);
    `scorers`: name -> a factory of an unfitted forecaster (models/demand.py's interface: `fit(history)`,
    `predict(horizon, plan=, series=)`); `truth`: product_id, store_id, date, demand (default: sales on
    in-stock days)."""
    history = history.assign(date=pd.to_datetime(history["date"]).dt.tz_localize(None).dt.normalize())
    truth = _truth(history) if truth is None else truth.assign(date=pd.to_datetime(truth["date"]).dt.normalize())
    cuts = origins(history["date"].max(), horizon, windows, step)
    frames, timing = [], {}
    for k, origin in enumerate(cuts):
        train = history[(history["date"] <= origin) & (history["date"] > origin - pd.Timedelta(days=history_days))]
        future = history[(history["date"] > origin) & (history["date"] <= origin + pd.Timedelta(days=horizon))]
        # the history's calendar, as training reads it: a day without a discounted sale was not promoted
        plan = future[["product_id", "store_id", "date", "price", "promo"]].fillna({"promo": 0.0})
        series = train[["product_id", "store_id"]].drop_duplicates()
        for name, make in scorers.items():
            progress(f"window {k + 1}/{len(cuts)}: {name}")
            started = time.perf_counter()
            model = _fitted(make, train, f"window {k + 1} of {len(cuts)} (training up to {origin:%Y-%m-%d})", name)
            fitted = time.perf_counter()
            forecast = model.predict(horizon, plan=plan, series=series)
            timing.setdefault(name, []).append((fitted - started, time.perf_counter() - fitted))
            frames.append(forecast.drop(columns="method").assign(scorer=name, window=origin))
    forecasts = pd.concat(frames, ignore_index=True).merge(truth, on=["product_id", "store_id", "date"], how="inner")
    table = score(forecasts, history, cuts, season_length)
    for name, times in timing.items():
        table.loc[name, "fit_s"] = round(sum(t[0] for t in times), 2)
        table.loc[name, "predict_s"] = round(sum(t[1] for t in times), 2)
    return Backtest(table, [c.date().isoformat() for c in cuts], forecasts)


def _truth(history: pd.DataFrame) -> pd.DataFrame:
    in_stock = ~(history["stockout"].fillna(0) > 0) if "stockout" in history.columns else slice(None)
    return history.loc[in_stock, ["product_id", "store_id", "date", "units"]].rename(columns={"units": "demand"})


def score(forecasts: pd.DataFrame, history: pd.DataFrame, cuts: list[pd.Timestamp], season_length: int) -> pd.DataFrame:
    rows = {}
    scale = _naive_scale(history, cuts, season_length)
    for scorer, part in forecasts.groupby("scorer", sort=False):
        y, p50 = part["demand"].to_numpy(float), part["p50"].to_numpy(float)
        total = y.sum()
        pinball = np.mean([_pinball(y, part[f"p{int(q * 100)}"].to_numpy(float), q) for q in QUANTILES])
        errors = part.assign(error=np.abs(y - p50)).groupby(["window", "product_id", "store_id"])["error"].mean()
        ratio = errors / scale.reindex(errors.index)
        rows[scorer] = {
            "wape": float(np.abs(y - p50).sum() / total),
            "mase": float(ratio[np.isfinite(ratio)].mean()),
            "bias": float((p50 - y).sum() / total),
            "pinball": float(pinball / y.mean()),
            "coverage_80": float(((y >= part["p10"]) & (y <= part["p90"])).mean()),
            "below_p10": float((y < part["p10"]).mean()),
            "above_p90": float((y > part["p90"]).mean()),
            "zero_share": float((y == 0).mean()),
            "points": len(part),
        }
    return pd.DataFrame(rows).T


def _pinball(y: np.ndarray, q_hat: np.ndarray, q: float) -> float:
    diff = y - q_hat
    return float(np.mean(np.maximum(q * diff, (q - 1) * diff)))


def _naive_scale(history: pd.DataFrame, cuts, season_length: int) -> pd.Series:
    """Per window and series: the in-sample mean absolute error of the seasonal naive forecast."""
    parts = []
    ordered = history.sort_values(["product_id", "store_id", "date"])
    for origin in cuts:
        train = ordered[ordered["date"] <= origin]
        lagged = train.groupby(["product_id", "store_id"])["units"].shift(season_length)
        gap = (train["units"] - lagged).abs()
        mae = gap.groupby([train["product_id"], train["store_id"]]).mean()
        mae = mae[mae > 0]
        parts.append(pd.concat({origin: mae}, names=["window"]))
    return pd.concat(parts)
