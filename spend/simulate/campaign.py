"""Past randomised win-back campaigns (one wave, or `campaign_waves` of them) with a known,
customer-specific effect.

Each wave, eligible: customers signed up 90+ days before the campaign who bought in the year before it but not in
the last 60 days. Half are treated at random. The outcome is a purchase within the campaign window.
- Most treated customers respond with probability u_i (higher for gold/platinum, web shoppers and
  frequent buyers): one extra "win-back" order in the window.
- "Sleeping dogs" (basic-tier app shoppers) are put off: if still alive, they drop out with probability 0.25.
The true individual uplift on P(purchase in window) is written to the ground truth. A later wave sees the
purchases (and drop-outs) the earlier ones caused; a customer still lapsed is eligible again.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from spend.simulate.catalog import Calendar
from spend.simulate.config import SimulationConfig
from spend.simulate.customers import Purchases

SLEEPING_DOG_DROPOUT = 0.25


def run_campaigns(
    customers: pd.DataFrame,
    purchases: Purchases,
    calendar: Calendar,
    config: SimulationConfig,
    rng: np.random.Generator,
) -> tuple[Purchases, pd.DataFrame]:
    """Every wave in turn; the truth has one row per wave and eligible customer (`campaign_day` tells
    the waves apart)."""
    days, window = config.campaign_wave_days, config.campaign_window_days
    check_waves("campaign", config.campaign_waves, config.campaign_every_days, window)
    if config.campaign_waves > 1 and days[-1] + window > config.days:  # one wave: as it always was
        raise ValueError(f"the last win-back wave's {window}-day window must end inside the {config.days}-day history")
    waves = []
    for day0 in days:
        purchases, truth = run_campaign(customers, purchases, calendar, config, rng, float(day0))
        waves.append(truth)
    return purchases, pd.concat(waves, ignore_index=True)


def check_waves(kind: str, waves: int, every: int, window: int) -> None:
    """Refuse `{kind}_waves` below 1, or several waves closer together than their outcome window: a wave's
    contacts or orders would fall inside the previous wave's window and be counted there."""
    if waves < 1:
        raise ValueError(f"{kind}_waves must be at least 1, not {waves}")
    if waves > 1 and every < window:
        raise ValueError(f"{kind}_every_days ({every}) must be at least the {window}-day window")


def run_campaign(
    customers: pd.DataFrame,
    purchases: Purchases,
    calendar: Calendar,
    config: SimulationConfig,
    rng: np.random.Generator,
    day0: float,
) -> tuple[Purchases, pd.DataFrame]:
    window = config.campaign_window_days
    last, count = year_before(purchases, day0)
    eligible_idx = last.index[(last <= day0 - 60).to_numpy()]
    eligible_idx = eligible_idx[customers["signup_day"].to_numpy()[eligible_idx] <= day0 - 90]
    eligible_idx = np.sort(eligible_idx.to_numpy())
    c = customers.iloc[eligible_idx]
    treated = rng.random(len(c)) < 0.5

    alive = purchases.dropout_day[eligible_idx] > day0
    exposure = calendar.visit_season[int(day0) + config.days : int(day0) + config.days + window].sum()
    p0 = alive * (1 - np.exp(-c["purchase_rate_per_day"].to_numpy() * exposure))
    dog = ((c["tier_at_signup"] == "basic") & (c["channel"] == "app")).to_numpy()
    z = (
        -1.5
        + 1.0 * (c["tier_index"].to_numpy() >= 2)
        + 0.6 * (c["channel"] == "web").to_numpy()
        + 0.4 * np.log1p(count.reindex(eligible_idx).to_numpy())
        - 0.01 * (day0 - last.reindex(eligible_idx).to_numpy() - 60)
    )
    respond = np.where(dog, 0.0, 0.3 / (1 + np.exp(-z)))
    uplift = np.where(dog, -SLEEPING_DOG_DROPOUT * p0, (1 - p0) * respond)

    responders = eligible_idx[treated & (rng.random(len(c)) < respond)]
    put_off = eligible_idx[treated & dog & alive & (rng.random(len(c)) < SLEEPING_DOG_DROPOUT)]
    updated = apply_campaign(purchases, responders, put_off, day0, window, rng)
    in_window = (updated.day >= day0) & (updated.day < day0 + window)
    bought = np.isin(eligible_idx, updated.customer[in_window])
    truth = pd.DataFrame(
        {
            "customer_index": eligible_idx,
            "customer_id": c["customer_id"].to_numpy(),
            "treated": treated,
            "alive_at_campaign": alive,
            "p_purchase_control": p0,
            "response_prob": respond,
            "sleeping_dog": dog,
            "true_uplift": uplift,
            "purchased_in_window": bought,
            "campaign_day": day0,
        }
    )
    return updated, truth


def year_before(purchases: Purchases, day0: float) -> tuple[pd.Series, pd.Series]:
    """Per customer who bought in the 365 days before `day0`: the day of the last purchase, and how many."""
    prior = pd.DataFrame({"c": purchases.customer, "day": purchases.day})
    prior = prior[(prior["day"] < day0) & (prior["day"] >= day0 - 365)]
    return prior.groupby("c")["day"].max(), prior.groupby("c")["day"].size()


def apply_campaign(
    purchases: Purchases,
    responders: np.ndarray,
    put_off: np.ndarray,
    day0: float,
    window: int,
    rng: np.random.Generator,
) -> Purchases:
    keep = ~(np.isin(purchases.customer, put_off) & (purchases.day >= day0))
    dropout_day = purchases.dropout_day.copy()
    dropout_day[put_off] = day0
    extra_days = day0 + rng.uniform(0, window, responders.size)
    return Purchases(
        np.concatenate([purchases.customer[keep], responders]),
        np.concatenate([purchases.day[keep], extra_days]),
        dropout_day,
    )
