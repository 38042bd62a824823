"""What customers are worth: order values, margins and the BG/NBD x Gamma-Gamma lifetime value.

Margin is net revenue minus unit cost where the transactions carry unit costs; without them (Online
Retail II) it is net revenue, and callers flag that (`margin_rate` returns None).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from spend.features.ingest.store import OfflineStore
from spend.models.clv import BetaGeoModel, GammaGammaModel
from spend.training.evaluate import rfm_summary

ID = "customer_id"
CLV_HORIZON_DAYS = 365


def order_lines(offline: OfflineStore) -> pd.DataFrame:
    """Every known customer's purchase and return lines with `net` revenue and `margin` (returns negative)."""
    tx = offline.read("transactions", [ID, "order_id", "ts", "kind", "quantity", "unit_price", "discount", "unit_cost"])
    tx = tx[tx[ID].notna() & tx["kind"].isin(["purchase", "return"])]
    discount = tx["discount"].fillna(0.0)
    sign = np.where(tx["kind"] == "purchase", 1.0, -1.0)
    net = tx["quantity"] * tx["unit_price"] - sign * discount  # return quantities are negative
    cost = (tx["quantity"] * tx["unit_cost"]).fillna(0.0)
    return tx.assign(net=net, margin=net - cost)


def purchase_lines(lines: pd.DataFrame) -> pd.DataFrame:
    return lines[lines["kind"] == "purchase"]


def margin_rate(lines: pd.DataFrame) -> float | None:
    costed = purchase_lines(lines)
    costed = costed[costed["unit_cost"].notna()]
    if costed.empty:
        return None
    revenue = costed["net"].sum()
    return float(costed["margin"].sum() / revenue) if revenue > 0 else None


def margin_labels(lines: pd.DataFrame, customers: pd.Series, cutoff: pd.Timestamp, horizon_days: int) -> np.ndarray:
    """Each customer's margin (net of returns) in [cutoff, cutoff + horizon)."""
    window = lines[(lines["ts"] >= cutoff) & (lines["ts"] < cutoff + pd.Timedelta(days=horizon_days))]
    return window.groupby(ID)["margin"].sum().reindex(customers.to_numpy()).fillna(0.0).to_numpy()


def lifetime_value(
    lines: pd.DataFrame, customers: pd.Series, cutoff: pd.Timestamp, horizon_days: int = CLV_HORIZON_DAYS
) -> np.ndarray:
    """Expected spend over the next `horizon_days` (BG/NBD x Gamma-Gamma), in currency, before margin."""
    before = purchase_lines(lines)
    before = before[before["ts"] < cutoff]
    rfm = rfm_summary(before, customers, cutoff)
    rfm["T"] = rfm["T"].clip(lower=rfm["recency"])
    orders = before.groupby([ID, "order_id"])["net"].sum().groupby(level=0).mean()
    rfm["monetary_value"] = orders.reindex(customers.to_numpy()).fillna(0.0).clip(lower=0.01).to_numpy()
    purchases = BetaGeoModel().fit(rfm)
    spend = GammaGammaModel().fit(rfm)
    return purchases.expected_purchases(rfm, horizon_days) * spend.expected_spend(rfm)


def lifetime_margin(
    lines: pd.DataFrame, customers: pd.Series, cutoff: pd.Timestamp, horizon_days: int = CLV_HORIZON_DAYS
) -> tuple[np.ndarray, bool]:
    """BG/NBD x Gamma-Gamma margin over the horizon, and whether a real margin rate was known (else revenue)."""
    rate = margin_rate(lines[lines["ts"] < cutoff])
    value = lifetime_value(lines, customers, cutoff, horizon_days)
    return value * (rate if rate is not None else 1.0), rate is not None
