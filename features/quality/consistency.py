"""Cross-row and cross-table consistency checks on stored data; each returns (name, pass share, detail)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

Check = tuple[str, float, str]
Loader = Callable[[str, list[str]], pd.DataFrame]


def _share(passed: pd.Series | np.ndarray, what: str, name: str) -> Check:
    passed = np.asarray(passed, dtype=bool)
    if passed.size == 0:
        return name, 1.0, f"no {what} to check"
    return name, float(passed.mean()), f"{int((~passed).sum()):,} of {passed.size:,} {what} fail"


def known_customers(frame: pd.DataFrame, load: Loader) -> list[Check]:
    customers = load("customers", ["customer_id"])
    if customers.empty or "customer_id" not in frame:
        return []
    ids = frame["customer_id"].dropna()
    return [_share(ids.isin(customers["customer_id"]), "rows", "customer_id_known")]


def transactions(frame: pd.DataFrame, load: Loader) -> list[Check]:
    checks = known_customers(frame, load)
    orders = frame.groupby("order_id").agg(customers=("customer_id", "nunique"), times=("ts", "nunique"))
    checks.append(
        _share((orders["customers"] <= 1) & (orders["times"] == 1), "orders", "order_has_one_customer_and_time")
    )
    returns = frame[frame["kind"] == "return"]
    if not returns.empty:
        first_purchase = (
            frame[frame["kind"] == "purchase"]
            .groupby(["customer_id", "product_id"])["ts"]
            .min()
            .rename("first_purchase")
            .reset_index()
        )
        matched = returns.merge(first_purchase, on=["customer_id", "product_id"], how="left")
        checks.append(_share(matched["first_purchase"] <= matched["ts"], "returns", "return_follows_purchase"))
    return checks


def points(frame: pd.DataFrame, load: Loader) -> list[Check]:
    ordered = frame.sort_values(["customer_id", "ts"], kind="stable")
    running_min = ordered.groupby("customer_id")["points"].cumsum().groupby(ordered["customer_id"]).min()
    return [*known_customers(frame, load), _share(running_min >= 0, "customers", "points_balance_never_negative")]


def membership(frame: pd.DataFrame, load: Loader) -> list[Check]:
    ordered = frame.sort_values(["customer_id", "ts"], kind="stable")
    before = ordered.groupby("customer_id")["tier"].shift()
    follows = before.isna() | (ordered["previous_tier"] == before).fillna(False)
    return [*known_customers(frame, load), _share(follows, "tier changes", "previous_tier_matches_history")]


def customers(frame: pd.DataFrame, load: Loader) -> list[Check]:
    changes = load("membership", ["customer_id", "ts", "tier"])
    if changes.empty:
        return []
    last = changes.sort_values("ts", kind="stable").groupby("customer_id")["tier"].last()
    joined = frame.set_index("customer_id")["membership_tier"].to_frame().join(last, how="inner")
    return [_share(joined["membership_tier"] == joined["tier"], "customers", "tier_matches_membership_history")]


def campaigns(frame: pd.DataFrame, load: Loader) -> list[Check]:
    arms = frame.groupby("campaign_id")["group"].nunique()
    return [*known_customers(frame, load), _share(arms == 2, "campaigns", "campaign_has_both_arms")]


def fraud_labels(frame: pd.DataFrame, load: Loader) -> list[Check]:
    orders = load("transactions", ["order_id", "ts"])
    if orders.empty:
        return []
    paid = orders.groupby("order_id")["ts"].min()
    known = frame["order_id"].map(paid)
    return [
        _share(known.notna(), "labels", "label_order_known"),
        _share((frame["ts"] >= known)[known.notna()], "labels", "label_after_payment"),
    ]


def inventory(frame: pd.DataFrame, load: Loader) -> list[Check]:
    """Counts are of products the shop sells, and one product x store count a moment."""
    sold = load("transactions", ["product_id"])
    checks = [_share(~frame.duplicated(["product_id", "store_id", "ts"]), "counts", "one_count_per_pair_and_time")]
    if not sold.empty:
        checks.append(_share(frame["product_id"].isin(sold["product_id"]), "counts", "product_known"))
    return checks


def products(frame: pd.DataFrame, load: Loader) -> list[Check]:
    """The products sold are in the catalogue (one it does not name is pooled with the whole shop)."""
    sold = load("transactions", ["product_id"])
    if sold.empty:
        return []
    ids = pd.Series(sold["product_id"].dropna().unique())
    return [_share(ids.isin(frame["product_id"]), "sold products", "sold_product_catalogued")]


CHECKS: dict[str, Callable[[pd.DataFrame, Loader], list[Check]]] = {
    "transactions": transactions,
    "points": points,
    "membership": membership,
    "customers": customers,
    "campaigns": campaigns,
    "fraud_labels": fraud_labels,
    "inventory": inventory,
    "products": products,
}
