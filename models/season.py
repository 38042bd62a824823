"""The shop's yearly rhythm: how busy the days ahead are against an average stretch of the year.

A churn label asks whether a customer buys in the next H days, and the same customer is likelier to buy
in an autumn rush than in a January lull. A model trained on labels from one season is miscalibrated in
another (on Online Retail II the training cohorts of the 2011-09-01 holdout churned at 0.62, the holdout
at 0.50). The profile is the shop's purchase days (distinct customer x day) on each day of the year
before a cut-off, divided by that year's daily mean; the index of a window is the profile's mean over
the window's days, taken by position in the yearly cycle. So the index of the H days after a cut-off
is read from the same days a year earlier, and needs nothing after the cut-off.

Positions are days since 1970-01-01 modulo 365: every day of a 365-day year has its own, and a leap
year shifts the cycle by a quarter of a day a year.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

CYCLE = 365
SEASON_INDEX = "season_index"  # the input column a seasonal model reads (its window's index)
# A year-ago window can be empty for reasons that will not recur (a shop closed for a refit, a site down
# for a month); an index near 0 would then read as "nobody buys" and every customer as churned. Bounded
# well outside what a trading season does (Online Retail II spans 0.78 to 1.42, Christmas-heavy shops
# about 2).
BOUNDS = (1 / 3, 3.0)


def _days(when) -> np.ndarray:
    """Days since 1970-01-01 (UTC) of a timestamp or an array of them."""
    stamps = pd.to_datetime(pd.Series(np.atleast_1d(when)), utc=True)
    return (stamps.dt.normalize() - pd.Timestamp(0, tz="UTC")).dt.days.to_numpy()


def season_profile(purchases: pd.DataFrame, until: pd.Timestamp, customer: str = "customer_id") -> np.ndarray | None:
    """Purchase days per day of the year before `until`, over their mean, by position in the cycle; None
    when the purchases do not cover that whole year (the first purchase after its first day)."""
    until = pd.Timestamp(until).normalize()
    start = until - pd.Timedelta(days=CYCLE)
    if purchases.empty or purchases["ts"].min() > start:
        return None
    year = purchases[(purchases["ts"] >= start) & (purchases["ts"] < until)]
    days = pd.DataFrame({"who": year[customer].to_numpy(), "day": _days(year["ts"])}).drop_duplicates()
    counts = np.bincount(days["day"].to_numpy() % CYCLE, minlength=CYCLE).astype(float)
    mean = counts.mean()
    return counts / mean if mean > 0 else None


def season_index(profile: np.ndarray, starts, horizon_days: int) -> np.ndarray:
    """Each window's index: the profile's mean over the `horizon_days` days from each start (1.0 is an
    average stretch of the year; 1.4 is 40% more purchase days than that), within BOUNDS."""
    first = _days(starts)
    positions = (first[:, None] + np.arange(horizon_days)[None, :]) % CYCLE
    return np.clip(profile[positions].mean(axis=1), *BOUNDS)


def with_season(model, frame: pd.DataFrame, cutoff) -> pd.DataFrame:
    """`frame` with the season index of the window from `cutoff` (one date, or one per row) when the
    model keeps a yearly profile. Without the column a seasonal model reads the window from today, which
    is right for the service only."""
    profile = getattr(model, "season_", None)
    if profile is None:
        return frame
    index = season_index(profile, cutoff, model.horizon_days)
    return frame.assign(**{SEASON_INDEX: index[0] if np.ndim(cutoff) == 0 else index})
