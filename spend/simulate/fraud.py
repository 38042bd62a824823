"""Card fraud injected with the three scenarios of the Fraud Detection Handbook (Le Borgne et al.).

1. Any card payment above a threshold amount is fraud.
2. Each day some terminals are compromised: every card payment on them in the next 28 days is fraud.
3. Each day some cards are compromised: in the next 14 days a third of their card payments are fraud,
   with the amount multiplied by 5.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

TERMINAL_DAYS = 28
CARD_DAYS = 14
CARD_SHARE = 1 / 3
CARD_AMOUNT_FACTOR = 5


def compromised_intervals(entities: np.ndarray, n_days: int, per_day: float, rng: np.random.Generator) -> pd.DataFrame:
    """Entities compromised each day (Poisson count), with the day the compromise started."""
    counts = rng.poisson(per_day, n_days)
    days = np.repeat(np.arange(n_days), counts)
    chosen = np.concatenate([rng.choice(entities, k, replace=False) for k in counts]) if counts.sum() else []
    return pd.DataFrame({"entity": np.asarray(chosen, dtype=entities.dtype), "start_day": days})


def _within(entity: np.ndarray, day: np.ndarray, intervals: pd.DataFrame, length: int) -> np.ndarray:
    """Whether each (entity, day) falls in one of the entity's compromise windows [start, start + length)."""
    if intervals.empty:
        return np.zeros(entity.size, dtype=bool)
    hits = pd.DataFrame({"entity": entity, "day": day, "row": np.arange(entity.size)}).merge(intervals, on="entity")
    inside = (hits["day"] >= hits["start_day"]) & (hits["day"] < hits["start_day"] + length)
    flag = np.zeros(entity.size, dtype=bool)
    flag[hits.loc[inside, "row"].to_numpy()] = True
    return flag


def inject_fraud(
    payments: pd.DataFrame,
    terminals: np.ndarray,
    customers: np.ndarray,
    terminal_rate: float,
    card_rate: float,
    threshold: float,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """`payments` has customer, terminal_id ('' when card-not-present), day (int), amount, card (bool).

    Returns per payment: scenario (0 = genuine), amount_factor (5 for scenario 3, else 1), is_fraud.
    """
    n_days = int(payments["day"].max()) + 1
    card = payments["card"].to_numpy()
    day = payments["day"].to_numpy()
    terminals_hit = compromised_intervals(terminals, n_days, len(terminals) * terminal_rate, rng)
    cards_hit = compromised_intervals(customers, n_days, len(customers) * card_rate, rng)
    s2 = card & _within(payments["terminal_id"].to_numpy(), day, terminals_hit, TERMINAL_DAYS)
    s3 = (
        card & _within(payments["customer"].to_numpy(), day, cards_hit, CARD_DAYS) & (rng.random(day.size) < CARD_SHARE)
    )
    factor = np.where(s3, CARD_AMOUNT_FACTOR, 1)
    s1 = card & (payments["amount"].to_numpy() * factor > threshold)
    scenario = np.select([s1, s2, s3], [1, 2, 3], default=0)
    return pd.DataFrame({"scenario": scenario, "amount_factor": factor, "is_fraud": scenario > 0}, index=payments.index)
