"""The simulator's oracle churn probabilities, the ceilings a churn model is measured against.

`oracle_churn_probability` is what a forecaster who knew every customer's true purchase rate and drop-out
probability (but not whether they had already dropped out) would say. `bayes_churn_probability` is the best
any model can do from the data: it knows the simulator's population (the Gamma and Beta priors, each
customer's segment multiplier, the season) but, like a model, only each customer's observed purchases.

A customer alive after their last purchase buys at rate lambda x season(t). They dropped out right after
that purchase with probability p, so by Bayes, having seen no purchase since,

    P(alive at s) = (1 - p) e^(-lambda E(t_last, s)) / ((1 - p) e^(-lambda E(t_last, s)) + p)

and P(no purchase in [s, s + H)) = 1 - P(alive at s) (1 - e^(-lambda E(s, s + H))), where E(a, b) is the
season-weighted exposure between a and b. Campaign side effects (extra win-back orders, sleeping dogs put
off) are the one thing both ignore.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from spend.simulate.catalog import build_calendar
from spend.simulate.config import SimulationConfig


def _exposure(cumulative: np.ndarray, offset: int, start_day: np.ndarray, end_day: np.ndarray) -> np.ndarray:
    """Integral of the daily season multiplier between two times in days from the start (piecewise constant)."""

    def at(day: np.ndarray) -> np.ndarray:
        index = np.clip(day + offset, 0, len(cumulative) - 2)
        whole = np.floor(index).astype(int)
        return cumulative[whole] + (index - whole) * (cumulative[whole + 1] - cumulative[whole])

    return at(end_day) - at(start_day)


def _days(ts: pd.Series | np.ndarray, start: pd.Timestamp) -> np.ndarray:
    return ((pd.to_datetime(ts, utc=True) - start) / pd.Timedelta(days=1)).to_numpy(dtype=float)


def oracle_churn_probability(
    config: SimulationConfig,
    truth_customers: pd.DataFrame,
    last_purchase: pd.Series,
    cutoff: pd.Timestamp,
    horizon_days: int,
) -> pd.Series:
    """P(no purchase in the `horizon_days` after `cutoff`) per customer in `last_purchase` (raw id -> time of
    the last purchase before the cut-off), from the simulator's ground truth."""
    season = build_calendar(config).visit_season
    cumulative = np.concatenate([[0.0], np.cumsum(season)])
    start = pd.Timestamp(config.start, tz="UTC")
    truth = truth_customers.set_index("customer_id").reindex(last_purchase.index)
    rate = truth["purchase_rate_per_day"].to_numpy()
    dropout = truth["dropout_prob"].to_numpy()
    last_day = _days(last_purchase, start)
    cut_day = np.full(len(last_day), _days(pd.Series([cutoff]), start)[0])
    survive = (1 - dropout) * np.exp(-rate * _exposure(cumulative, config.days, last_day, cut_day))
    alive = survive / (survive + dropout)
    buys = 1 - np.exp(-rate * _exposure(cumulative, config.days, cut_day, cut_day + horizon_days))
    return pd.Series(1 - alive * buys, index=last_purchase.index, name="oracle_p_churn")


def observed_history(transactions: pd.DataFrame, cutoff: pd.Timestamp, start: pd.Timestamp, ids=None) -> pd.DataFrame:
    """The `history` the Bayes forecasts take: per customer seen buying before `cutoff`, or per id in
    `ids`, the purchases written before it and the last one's time; an id that bought only before the
    written history began (at `start`) has none, the last seen at its start."""
    bought = transactions[transactions["kind"] == "purchase"]
    bought = bought.assign(ts=pd.to_datetime(bought["ts"], utc=True))
    seen = bought[bought["ts"] < cutoff].groupby("customer_id")
    history = pd.DataFrame({"purchases": seen["order_id"].nunique(), "last_purchase": seen["ts"].max()})
    if ids is None:
        return history
    history = history.reindex(ids)
    return history.assign(
        purchases=history["purchases"].fillna(0.0), last_purchase=history["last_purchase"].fillna(start)
    )


def bayes_churn_probability(
    config: SimulationConfig,
    truth_customers: pd.DataFrame,
    history: pd.DataFrame,
    cutoff: pd.Timestamp,
    horizon_days: int,
    chunk: int = 500,
) -> pd.Series:
    """P(no purchase in the `horizon_days` after `cutoff`) given each customer's observed purchases before it.

    `history`: one row per customer with `purchases` (observed in the history before the cut-off, the
    signup order included when it falls inside) and `last_purchase`. The posterior over (lambda, p) is
    integrated on a log-spaced rate grid and a logit-spaced drop-out grid weighted by the true priors
    (fine enough for customers with dozens of purchases, whose posteriors are sharp). A customer who
    signed up before the history started had unobserved purchases; surviving them has probability
    (1 - p) e^(-lambda p E).
    """

    def no_purchase(rate, p, exposure):
        return np.exp(-rate * exposure)

    out = _posterior_mean(config, truth_customers, history, cutoff, horizon_days, no_purchase, 1.0, chunk)
    return pd.Series(out, index=history.index, name="bayes_p_churn")


def bayes_expected_orders(
    config: SimulationConfig,
    truth_customers: pd.DataFrame,
    history: pd.DataFrame,
    cutoff: pd.Timestamp,
    window_days: int,
    chunk: int = 500,
) -> pd.Series:
    """Expected purchases in the `window_days` after `cutoff` given each customer's observed purchases
    before it (`history` as for bayes_churn_probability): the best forecast from the data of the orders
    the offer campaign's truth counts as placed anyway. A customer alive at the start with rate mu over
    the window, dropping out after each purchase with probability p, places (1 - e^(-mu p)) / p on
    average (sum over k of P(N >= k) (1 - p)^(k - 1), summed through N's generating function)."""

    def orders(rate, p, exposure):
        return -np.expm1(-rate * exposure * p) / p

    out = _posterior_mean(config, truth_customers, history, cutoff, window_days, orders, 0.0, chunk)
    return pd.Series(out, index=history.index, name="bayes_expected_orders")


def _posterior_mean(config, truth_customers, history, cutoff, horizon_days, if_alive, if_dropped, chunk) -> np.ndarray:
    """E[f] over the posterior of (lambda, p, alive at the cut-off): `if_alive(rate, p, exposure over the
    horizon)` for a customer still alive, the constant `if_dropped` for one who dropped out."""
    season = build_calendar(config).visit_season
    cumulative = np.concatenate([[0.0], np.cumsum(season)])
    start = pd.Timestamp(config.start, tz="UTC")
    base_rate = np.geomspace(1e-5, 3.0, 200)
    rate_weight = stats.gamma.pdf(base_rate, config.bgnbd_r, scale=1 / config.bgnbd_alpha) * base_rate
    p = 1 / (1 + np.exp(-np.linspace(-10, 10, 160)))
    p_weight = stats.beta.pdf(p, config.bgnbd_a, config.bgnbd_b) * p * (1 - p)
    log_prior = np.log(rate_weight)[None, :, None] + np.log(p_weight)[None, None, :]
    base_rate, p = base_rate[None, :, None], p[None, None, :]
    truth = truth_customers.set_index("customer_id").reindex(history.index)
    signup, last = _days(truth["signup_ts"], start), _days(history["last_purchase"], start)
    cut = np.full(len(last), _days(pd.Series([cutoff]), start)[0])
    count = history["purchases"].to_numpy(dtype=float)
    multiplier = truth["segment_multiplier"].to_numpy()
    out = np.empty(len(history))
    for lo in range(0, len(history), chunk):
        part = slice(lo, lo + chunk)

        def exposure(a: np.ndarray, b: np.ndarray, part: slice = part) -> np.ndarray:
            return _exposure(cumulative, config.days, a[part], b[part])[:, None, None]

        x = count[part][:, None, None]
        rate = multiplier[part][:, None, None] * base_rate
        before = (signup[part] < 0)[:, None, None]  # signed up before the history: first purchases unseen
        first_seen = np.maximum(signup, 0.0)
        log_common = log_prior - rate * exposure(first_seen, last)
        log_common = log_common + np.where(
            before,
            np.log1p(-p)
            - rate * p * exposure(signup, np.zeros_like(signup))
            + x * np.log(rate)
            + (x - 1) * np.log1p(-p),
            (x - 1) * (np.log(rate) + np.log1p(-p)),
        )
        common = np.exp(log_common - log_common.max(axis=(1, 2), keepdims=True))
        alive_since = (1 - p) * np.exp(-rate * exposure(last, cut))
        value = if_alive(rate, p, exposure(cut, cut + horizon_days))
        evidence = (common * (p + alive_since)).sum(axis=(1, 2))
        out[part] = (common * (p * if_dropped + alive_since * value)).sum(axis=(1, 2)) / evidence
    return out
