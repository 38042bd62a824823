"""Customers and their purchase times: a BG/NBD process whose rate depends on tier, region and channel.

Each customer buys at signup, then at rate lambda_i x season(day) (thinning), and after every purchase
drops out for good with probability p_i. Times are in days from the start of the history (negative
before it): signups spread over the `days` before the history and the history itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from spend.simulate.catalog import Calendar
from spend.simulate.config import CHANNELS, TIERS, SimulationConfig


@dataclass
class Purchases:
    customer: np.ndarray  # customer index of each purchase
    day: np.ndarray  # float days from the start of the history
    dropout_day: np.ndarray  # per customer: when they dropped out (inf if still alive at the end)


def build_customers(config: SimulationConfig, rng: np.random.Generator) -> pd.DataFrame:
    n = config.customers
    tier = rng.choice(len(TIERS), n, p=config.tier_share)
    region = rng.choice(len(config.regions), n, p=config.region_share)
    channel = rng.choice(len(CHANNELS), n, p=config.channel_share)
    base_rate = rng.gamma(config.bgnbd_r, 1 / config.bgnbd_alpha, n)
    multiplier = (
        np.asarray(config.tier_rate)[tier]
        * np.asarray(config.region_rate)[region]
        * np.asarray(config.channel_rate)[channel]
    )
    stores_by_region = [np.arange(r, config.stores, len(config.regions)) for r in range(len(config.regions))]
    home = np.array([rng.choice(stores_by_region[r]) if len(stores_by_region[r]) else 0 for r in region])
    return pd.DataFrame(
        {
            "customer_id": [f"C{i:07d}" for i in range(n)],
            "tier_at_signup": np.asarray(TIERS)[tier],
            "tier_index": tier,
            "region": np.asarray(config.regions)[region],
            "channel": np.asarray(CHANNELS)[channel],
            "home_store": [f"S{s:03d}" for s in home],
            "base_rate": base_rate,
            "segment_multiplier": multiplier,
            "purchase_rate_per_day": base_rate * multiplier,
            "dropout_prob": rng.beta(config.bgnbd_a, config.bgnbd_b, n),
            "signup_day": rng.uniform(-config.days, config.days, n),
            "birth_year": rng.integers(1950, 2006, n),
        }
    )


def simulate_purchases(
    customers: pd.DataFrame, calendar: Calendar, config: SimulationConfig, rng: np.random.Generator
) -> Purchases:
    rate = customers["purchase_rate_per_day"].to_numpy()
    dropout = customers["dropout_prob"].to_numpy()
    t = customers["signup_day"].to_numpy().copy()
    n, end = len(t), float(config.days)
    season, offset = calendar.visit_season, config.days  # calendar day index = floor(day) + offset
    ceiling = season.max()
    buyers, times = [np.arange(n)], [t.copy()]  # everybody buys at signup
    dropout_day = np.full(n, np.inf)
    active = _survive(np.arange(n), t, dropout, dropout_day, rng)
    while active.size:
        t[active] += rng.exponential(1 / (rate[active] * ceiling))
        active = active[t[active] < end]
        accepted = rng.random(active.size) < season[np.floor(t[active]).astype(int) + offset] / ceiling
        bought = active[accepted]
        buyers.append(bought)
        times.append(t[bought].copy())
        survivors = _survive(bought, t, dropout, dropout_day, rng)
        active = np.concatenate([active[~accepted], survivors])
    return Purchases(np.concatenate(buyers), np.concatenate(times), dropout_day)


def _survive(
    bought: np.ndarray, t: np.ndarray, dropout: np.ndarray, dropout_day: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    drops = rng.random(bought.size) < dropout[bought]
    dropout_day[bought[drops]] = t[bought[drops]]
    return bought[~drops]
