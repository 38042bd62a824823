"""Customer activity features as daily snapshots: RFM windows, baskets, returns, discounts, points, tier.

A snapshot with event_timestamp T (a midnight, UTC) summarises events strictly before T, so a
point-in-time join that picks the latest snapshot at or before a label time never sees the future.
Each feature is a small named function of the windows, so the same definition serves the offline
snapshots and any request-time computation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from spend.core.names import TIERS
from spend.features.compute.windows import EventIndex, daily_cutoffs, seconds

DAY = 86_400
ACTIVE_DAYS = 365  # a customer gets snapshots until a year after their last order


@dataclass
class CustomerWindows:
    """Everything a customer feature needs at a batch of (customer, cut-off) pairs."""

    codes: np.ndarray
    cutoff: np.ndarray  # seconds
    orders: EventIndex  # purchase orders: net, gross, discount, channel flags, count
    returns: EventIndex  # return orders: refunded amount
    points: EventIndex | None
    tier_change: tuple[EventIndex, np.ndarray] | None  # index over changes, tier code per change
    signup: np.ndarray  # seconds per customer code, -1 if unknown
    # Per customer code, the tier held before any change known in the log (tier code, -1 if none): the
    # first change's previous tier, or with no change at all the customers table's tier.
    tier_before: np.ndarray | None = None
    # The tier codes' names: the tiers the data holds, so a shop's own ladder (SPEND_TIERS) round-trips.
    tier_names: np.ndarray = field(default_factory=lambda: np.asarray(TIERS, dtype=object))
    memo: dict = field(default_factory=dict)  # binary searches shared by the features of one batch

    def orders_sum(self, name: str, days: int | None) -> np.ndarray:
        return self.orders.window_sum(name, self.codes, self.cutoff, None if days is None else days * DAY, self.memo)


def spend_30d(w: CustomerWindows) -> np.ndarray:
    return w.orders_sum("net", 30)


def spend_90d(w: CustomerWindows) -> np.ndarray:
    return w.orders_sum("net", 90)


def spend_365d(w: CustomerWindows) -> np.ndarray:
    return w.orders_sum("net", 365)


def orders_30d(w: CustomerWindows) -> np.ndarray:
    return w.orders_sum("count", 30)


def orders_90d(w: CustomerWindows) -> np.ndarray:
    return w.orders_sum("count", 90)


def orders_365d(w: CustomerWindows) -> np.ndarray:
    return w.orders_sum("count", 365)


def orders_total(w: CustomerWindows) -> np.ndarray:
    return w.orders_sum("count", None)


def purchase_days_total(w: CustomerWindows) -> np.ndarray:
    """Distinct days with a purchase (BG/NBD counts days: several invoices on one day are one visit)."""
    return w.orders_sum("new_day", None)


def days_since_last_order(w: CustomerWindows) -> np.ndarray:
    last = w.orders.last_before(w.codes, w.cutoff)
    return np.where(last >= 0, (w.cutoff - last) / DAY, np.nan)


def days_since_first_order(w: CustomerWindows) -> np.ndarray:
    """Age of the relationship as seen in the orders (BG/NBD's T), known even without a signup date."""
    first = w.orders.first_before(w.codes, w.cutoff)
    return np.where(first >= 0, (w.cutoff - first) / DAY, np.nan)


def avg_basket_value_365d(w: CustomerWindows) -> np.ndarray:
    orders = w.orders_sum("count", 365)
    return np.divide(w.orders_sum("net", 365), orders, out=np.full(len(orders), np.nan), where=orders > 0)


def return_rate_90d(w: CustomerWindows) -> np.ndarray:
    """Money refunded in the window over money spent in it (0 when nothing was spent)."""
    spent = w.orders_sum("gross", 90)
    refunded = w.returns.window_sum("refund", w.codes, w.cutoff, 90 * DAY, w.memo)
    return np.divide(refunded, spent, out=np.zeros(len(spent)), where=spent > 0)


def discount_share_90d(w: CustomerWindows) -> np.ndarray:
    gross = w.orders_sum("gross", 90)
    return np.divide(w.orders_sum("discount", 90), gross, out=np.zeros(len(gross)), where=gross > 0)


def _channel_share(channel: str, days: int = 90) -> Callable[[CustomerWindows], np.ndarray]:
    def share(w: CustomerWindows) -> np.ndarray:
        orders = w.orders_sum("count", days)
        return np.divide(w.orders_sum(channel, days), orders, out=np.zeros(len(orders)), where=orders > 0)

    share.__name__ = f"{channel}_share_{days}d"
    return share


def _spending(days: int) -> tuple[Callable[[CustomerWindows], np.ndarray], Callable[[CustomerWindows], np.ndarray]]:
    """The Handbook's customer spending windows: number of orders and their mean amount over `days`."""

    def nb_tx(w: CustomerWindows) -> np.ndarray:
        return w.orders_sum("count", days)

    def avg_amount(w: CustomerWindows) -> np.ndarray:
        n = w.orders_sum("count", days)
        return np.divide(w.orders_sum("net", days), n, out=np.zeros(len(n)), where=n > 0)

    nb_tx.__name__, avg_amount.__name__ = f"nb_tx_{days}d", f"avg_amount_{days}d"
    return nb_tx, avg_amount


def points_balance(w: CustomerWindows) -> np.ndarray:
    if w.points is None:
        return np.zeros(len(w.codes))
    return w.points.window_sum("points", w.codes, w.cutoff, None, w.memo)


def tenure_days(w: CustomerWindows) -> np.ndarray:
    signup = w.signup[w.codes]
    return np.where(signup >= 0, (w.cutoff - signup) / DAY, np.nan)


def membership_tier(w: CustomerWindows) -> np.ndarray:
    """Tier from the last membership change before the cut-off; before a member's first known change, the
    tier that change left (its previous tier); for a member whose tier never changed in the log, the
    customers table's. Empty when none of these is known (joined after the cut-off, no log)."""
    result = np.full(len(w.codes), None, dtype=object)
    if w.tier_change is None:
        return result
    index, tier_codes = w.tier_change
    codes, has = index.latest(tier_codes, w.codes, w.cutoff)
    if w.tier_before is not None:
        codes = np.where(has, codes, w.tier_before[w.codes])
        has = codes >= 0
    result[has] = w.tier_names[codes[has]]
    return result


NUMERIC_FEATURES: tuple[Callable[[CustomerWindows], np.ndarray], ...] = (
    spend_30d,
    spend_90d,
    spend_365d,
    orders_30d,
    orders_90d,
    orders_365d,
    orders_total,
    purchase_days_total,
    days_since_last_order,
    days_since_first_order,
    avg_basket_value_365d,
    return_rate_90d,
    discount_share_90d,
    _channel_share("pos"),
    _channel_share("web"),
    _channel_share("app"),
    # Over a year too: a lapsed customer has no orders in 90 days, but how they shop still matters
    # (who answers an e-mail, whom a contact puts off).
    _channel_share("pos", 365),
    _channel_share("web", 365),
    _channel_share("app", 365),
    points_balance,
    tenure_days,
    *_spending(1),
    *_spending(7),
    *_spending(30),
)
COLUMNS = tuple(f.__name__ for f in NUMERIC_FEATURES) + ("membership_tier",)
# Counted from a customer's first day: they grow as a customer base ages, a trend rather than a season
# (drift monitoring scales their limits accordingly: models/drift.py).
LIFETIME = ("orders_total", "purchase_days_total", "days_since_first_order", "tenure_days")
# The ages grow by one every day, so a snapshot file stores them byte-split (features/store/layout.py).
AGES = ("days_since_last_order", "days_since_first_order", "tenure_days")


def order_table(transactions: pd.DataFrame) -> pd.DataFrame:
    """One row per (customer, order): net and gross spend, discount, refund, channel, purchase or return."""
    lines = transactions[transactions["customer_id"].notna()]
    gross = lines["quantity"] * lines["unit_price"]
    discount = lines["discount"].fillna(0.0)
    purchase = (lines["kind"] == "purchase").to_numpy()
    frame = pd.DataFrame(
        {
            "customer_id": lines["customer_id"].to_numpy(),
            "order_id": lines["order_id"].to_numpy(),
            "ts": lines["ts"].array,  # not to_numpy(): zoned times would become objects, one at a time
            "purchase": purchase,
            "gross": np.where(purchase, gross, 0.0),
            "discount": np.where(purchase, discount, 0.0),
            "refund": np.where(purchase, 0.0, -(gross - discount)),
            "channel": lines["channel"].to_numpy(),
        }
    )
    return (
        frame.groupby(["customer_id", "order_id"], sort=False, observed=True)
        .agg(
            ts=("ts", "min"),
            purchase=("purchase", "max"),
            gross=("gross", "sum"),
            discount=("discount", "sum"),
            refund=("refund", "sum"),
            channel=("channel", "first"),
        )
        .reset_index()
    )


def customer_snapshots(
    transactions: pd.DataFrame,
    points: pd.DataFrame,
    membership: pd.DataFrame,
    customers: pd.DataFrame,
    until: pd.Timestamp,
    chunk: int = 5_000,
):
    """Yield snapshot frames (customer_id, event_timestamp, features...) for cut-offs up to `until`."""
    orders = order_table(transactions)
    if customers.empty:  # no customers table ingested (a card-payments feed): no signup dates
        customers = pd.DataFrame({"customer_id": pd.Series([], dtype=object), "signup_ts": pd.Series([], dtype=object)})
    ids = pd.Index(pd.unique(pd.concat([orders["customer_id"], customers["customer_id"]], ignore_index=True)))
    windows = _windows(orders, points, membership, customers, ids)
    bought = orders[orders["purchase"]]
    code = ids.get_indexer(bought["customer_id"])
    ts = seconds(bought["ts"])
    first = pd.Series(ts).groupby(code).min()
    last = pd.Series(ts).groupby(code).max()
    # Chunks of customers in id order: each chunk is a contiguous range of ids, so the part written
    # from it (features/store/build.py) is the only one an erasure of those customers has to rewrite.
    order = np.argsort(ids.to_numpy()[first.index.to_numpy()].astype(str), kind="stable")
    customers_in_order = first.index.to_numpy()[order]
    start = ((first.to_numpy() // DAY + 1) * DAY)[order]  # first midnight after the first order
    end = np.minimum((last.to_numpy() // DAY + 1 + ACTIVE_DAYS) * DAY, int(until.timestamp()))[order]
    if not len(first):  # nobody bought (daily totals, anonymous sales): one empty frame, typed as the rest
        yield _snapshot(windows, np.zeros(0, dtype=int), np.zeros(0, dtype=np.int64), ids)
    for lo in range(0, len(first), chunk):
        # Within a chunk, rows in code order: the windows' searches then get their queries already sorted.
        by_code = lo + np.argsort(customers_in_order[lo : lo + chunk], kind="stable")
        entity, cutoff = daily_cutoffs(start[by_code], end[by_code])
        codes = customers_in_order[by_code][entity]
        yield _snapshot(windows, codes, cutoff, ids)


def _snapshot(windows: CustomerWindows, codes: np.ndarray, cutoff: np.ndarray, ids: pd.Index) -> pd.DataFrame:
    w = CustomerWindows(
        codes,
        cutoff,
        windows.orders,
        windows.returns,
        windows.points,
        windows.tier_change,
        windows.signup,
        windows.tier_before,
        windows.tier_names,
    )
    frame = {"customer_id": ids.to_numpy()[codes], "event_timestamp": pd.to_datetime(cutoff, unit="s", utc=True)}
    frame |= {f.__name__: f(w) for f in NUMERIC_FEATURES}
    frame["membership_tier"] = membership_tier(w)
    return pd.DataFrame(frame)


def _first_of_day(bought: pd.DataFrame) -> np.ndarray:
    """1 for a customer's first order of a (UTC) day, else 0: summed, the distinct days with a purchase."""
    day = seconds(bought["ts"]) // DAY
    key = pd.DataFrame({"c": bought["customer_id"].to_numpy(), "d": day})
    return (~key.duplicated()).to_numpy(dtype=float)


def _windows(orders, points, membership, customers, ids: pd.Index) -> CustomerWindows:
    bought, back = orders[orders["purchase"]], orders[~orders["purchase"]]
    channel = bought["channel"].astype(object)
    order_index = EventIndex.build(
        ids.get_indexer(bought["customer_id"]),
        seconds(bought["ts"]),
        {
            "net": bought["gross"] - bought["discount"],
            "gross": bought["gross"],
            "discount": bought["discount"],
            "count": np.ones(len(bought)),
            "new_day": _first_of_day(bought),
            "pos": channel == "pos",
            "web": channel == "web",
            "app": channel == "app",
        },
    )
    return_index = EventIndex.build(
        ids.get_indexer(back["customer_id"]), seconds(back["ts"]), {"refund": back["refund"]}
    )
    points_index = None
    if not points.empty:
        known = points[ids.get_indexer(points["customer_id"]) >= 0]
        points_index = EventIndex.build(
            ids.get_indexer(known["customer_id"]), seconds(known["ts"]), {"points": known["points"].astype("float64")}
        )
    tier_change, tier_before, names = None, None, _tier_names(membership, customers)
    if not membership.empty:
        known = membership[ids.get_indexer(membership["customer_id"]) >= 0]
        index = EventIndex.build(ids.get_indexer(known["customer_id"]), seconds(known["ts"]), {})
        tier_change = (index, names.get_indexer(known["tier"].to_numpy()))
        tier_before = _tier_before(known, customers, ids, names)
    signup = np.full(len(ids), -1, dtype=np.int64)
    if not customers.empty:
        at = ids.get_indexer(customers["customer_id"])
        signup[at] = seconds(customers["signup_ts"])
    return CustomerWindows(
        np.empty(0, np.int64),
        np.empty(0, np.int64),
        order_index,
        return_index,
        points_index,
        tier_change,
        signup,
        tier_before,
        names.to_numpy(dtype=object),
    )


def _tier_names(membership: pd.DataFrame, customers: pd.DataFrame) -> pd.Index:
    """Every tier the membership log and the customers table name (validated against SPEND_TIERS at
    ingestion), as the codes' index."""
    columns = [membership.get("tier"), membership.get("previous_tier"), customers.get("membership_tier")]
    seen = pd.concat([c.astype(object) for c in columns if c is not None] or [pd.Series([], dtype=object)])
    return pd.Index(sorted(seen.dropna().unique()), dtype=object)


def _tier_before(changes: pd.DataFrame, customers: pd.DataFrame, ids: pd.Index, names: pd.Index) -> np.ndarray:
    """Per customer code, the tier held before the log's first change: that change's previous tier (none
    on joining); with no change in the log, the customers table's tier, which then held throughout.
    Only with a change log: without one, the customers table's tier (as of the export) could be a later
    upgrade, and a snapshot dated before it must not see it."""
    out = np.full(len(ids), -1, dtype=np.int64)
    if "membership_tier" in customers and len(customers):
        at = ids.get_indexer(customers["customer_id"])
        ok = at >= 0
        out[at[ok]] = names.get_indexer(customers["membership_tier"].to_numpy()[ok])
    first = changes.assign(_t=seconds(changes["ts"])).sort_values("_t", kind="stable").drop_duplicates("customer_id")
    previous = first["previous_tier"] if "previous_tier" in first else pd.Series(None, index=first.index)
    out[ids.get_indexer(first["customer_id"])] = names.get_indexer(previous.to_numpy())
    return out
