"""Points and membership tiers.

Points: 1 point per unit of net spend on purchases (returns do not claw points back), and 500
redeemed whenever earned points pass a multiple of 500, so a balance never goes negative. Points
earned before the history starts enter as one opening `adjust` event at its first second.
Tiers: upgrade when cumulative spend since signup crosses a tier threshold; tiers never go down.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from spend.simulate.config import TIERS, SimulationConfig

REDEEM_BLOCK = 500


def points_ledger(purchases: pd.DataFrame, config: SimulationConfig) -> pd.DataFrame:
    """`purchases`: order_id, customer, ts, amount (net, > 0), and optionally points_multiplier."""
    frame = purchases.sort_values(["customer", "ts", "order_id"], kind="stable")
    earned = frame["amount"] * frame["points_multiplier"] if "points_multiplier" in frame else frame["amount"]
    earn = frame.assign(points=np.floor(earned).astype("int64"), kind="earn")
    earn = earn[earn["points"] > 0].drop(columns="points_multiplier", errors="ignore")
    earned = earn.groupby("customer")["points"].cumsum()
    blocks = earned // REDEEM_BLOCK
    crossed = blocks - blocks.groupby(earn["customer"]).shift(fill_value=0)
    redeem = earn[crossed > 0].assign(
        points=-REDEEM_BLOCK * crossed[crossed > 0], kind="redeem", ts=lambda f: f["ts"] + np.timedelta64(60, "s")
    )
    ledger = pd.concat([earn, redeem])
    before = ledger["ts"] < config.start_ts
    opening = ledger[before].groupby("customer", as_index=False)["points"].sum()
    opening = opening[opening["points"] != 0].assign(ts=config.start_ts, kind="adjust", order_id=None)
    ledger = pd.concat([opening, ledger[~before]]).sort_values(["ts", "customer", "kind"], kind="stable")
    return ledger[["customer", "ts", "points", "kind", "order_id"]].reset_index(drop=True)


def tier_changes(customers: pd.DataFrame, order_totals: pd.DataFrame, config: SimulationConfig) -> pd.DataFrame:
    """Join events at signup and upgrades as cumulative spend passes each threshold; tiers never go down."""
    frame = order_totals.sort_values(["customer", "ts", "order_id"], kind="stable")
    spend = frame["amount"].groupby(frame["customer"]).cumsum()
    earned_tier = np.searchsorted(np.asarray(config.tier_thresholds), spend.to_numpy(), side="right") - 1
    start_tier = customers["tier_index"].to_numpy()[frame["customer"].to_numpy()]
    tier = np.maximum(start_tier, earned_tier)
    tier = pd.Series(tier, index=frame.index).groupby(frame["customer"]).cummax()
    previous = tier.groupby(frame["customer"]).shift().fillna(pd.Series(start_tier, index=frame.index))
    up = frame[tier.to_numpy() > previous.to_numpy()].assign(
        tier=np.asarray(TIERS)[tier[tier > previous].to_numpy()],
        previous_tier=np.asarray(TIERS)[previous[tier > previous].astype(int).to_numpy()],
    )
    joins = pd.DataFrame(
        {
            "customer": np.arange(len(customers)),
            "ts": customers["signup_ts"].to_numpy(),
            "tier": customers["tier_at_signup"].to_numpy(),
            "previous_tier": None,
        }
    )
    changes = pd.concat([joins, up[["customer", "ts", "tier", "previous_tier"]]], ignore_index=True)
    return changes.sort_values(["ts", "customer"], kind="stable").reset_index(drop=True)


def final_tiers(customers: pd.DataFrame, changes: pd.DataFrame) -> np.ndarray:
    last = changes.groupby("customer")["tier"].last()
    return last.reindex(np.arange(len(customers))).fillna(customers["tier_at_signup"]).to_numpy()
