"""Order lines and what customers did with them: revenue and margin per line, purchases, the BG/NBD
summary (frequency, recency, age in days) and the labels the customer models learn, each named after
the column it makes (`churned`, `margin_next`).

Margin is net revenue minus unit cost where the transactions carry unit costs; without them (Online
Retail II) it is net revenue, and callers flag that (`margin_rate` returns None).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from spend.core.names import CUSTOMER_ID as ID

LINE_COLUMNS = [ID, "order_id", "ts", "kind", "quantity", "unit_price", "discount", "unit_cost"]


def line_values(transactions: pd.DataFrame) -> pd.DataFrame:
    """Known customers' purchase and return lines with `net` revenue and `margin` (returns negative)."""
    tx = transactions[transactions[ID].notna() & transactions["kind"].isin(["purchase", "return"])]
    discount = tx["discount"].fillna(0.0)
    sign = np.where(tx["kind"] == "purchase", 1.0, -1.0)
    net = tx["quantity"] * tx["unit_price"] - sign * discount  # return quantities are negative
    cost = (tx["quantity"] * tx["unit_cost"]).fillna(0.0)
    return tx.assign(net=net, margin=net - cost)


def purchase_lines(lines: pd.DataFrame) -> pd.DataFrame:
    return lines[lines["kind"] == "purchase"]


def margin_rate(lines: pd.DataFrame) -> float | None:
    """Margin over revenue of the lines that carry a unit cost; None when none does."""
    costed = purchase_lines(lines)
    costed = costed[costed["unit_cost"].notna()]
    if costed.empty:
        return None
    revenue = costed["net"].sum()
    return float(costed["margin"].sum() / revenue) if revenue > 0 else None


def rfm_summary(purchases: pd.DataFrame, customers: pd.Series, cutoff: pd.Timestamp) -> pd.DataFrame:
    """BG/NBD inputs in days at `cutoff`: repeat purchase days, last minus first, cut-off minus first."""
    before = purchases[purchases["ts"] < cutoff]
    days = before.assign(day=before["ts"].dt.floor("D")).drop_duplicates([ID, "day"])
    grouped = days.groupby(ID)["day"]
    first, last, count = grouped.min(), grouped.max(), grouped.size()
    frame = pd.DataFrame(
        {"frequency": count - 1, "recency": (last - first).dt.days, "T": (cutoff.normalize() - first).dt.days}
    ).reindex(customers.to_numpy())
    return frame.fillna({"frequency": 0, "recency": 0, "T": 0}).astype(float)


def churned(lines: pd.DataFrame, customers: pd.Series, cutoff: pd.Timestamp, horizon_days: int) -> np.ndarray:
    """1 if the customer makes no purchase in [cutoff, cutoff + horizon), else 0."""
    purchases = purchase_lines(lines) if "kind" in lines else lines
    end = cutoff + pd.Timedelta(days=horizon_days)
    window = purchases[(purchases["ts"] >= cutoff) & (purchases["ts"] < end)]
    return (~customers.isin(window[ID])).astype(int).to_numpy()


def margin_next(lines: pd.DataFrame, customers: pd.Series, cutoff: pd.Timestamp, horizon_days: int) -> np.ndarray:
    """Each customer's margin (net of returns) in [cutoff, cutoff + horizon)."""
    window = lines[(lines["ts"] >= cutoff) & (lines["ts"] < cutoff + pd.Timedelta(days=horizon_days))]
    return window.groupby(ID)["margin"].sum().reindex(customers.to_numpy()).fillna(0.0).to_numpy()
