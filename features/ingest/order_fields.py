"""Order-level values written once per order (`spend ingest`).

Web shops' exports (Shopify's among them) write one row per line item and the order's own fields (its
currency, channel, store, customer, time) on the order's first row only, blank on the rows after it.
Read as they are, those lines lost their customer and time (quarantined as missing) and took the default
currency, whatever the order's was. A blank order-level cell takes the value the order's other lines in
the file give, when they give exactly one; lines that disagree stay as they are, for the rules to judge.
"""

from __future__ import annotations

import pandas as pd

from spend.features.ingest.order_keys import DAY
from spend.features.ingest.parse import blank

# Fields one order has one value of (a till's order is paid once, in one place, by one customer).
ORDER_LEVEL = (
    "customer_id",
    "ts",
    "store_id",
    "channel",
    "currency",
    "payment_method",
    "terminal_id",
    "order_status",  # Shopify writes its Financial Status on the order's first line only
    "cancelled_at",  # and its Cancelled at
    "order_discount",  # and its Discount Amount
)


def fill_from_order(
    typed: pd.DataFrame, raw: pd.DataFrame, within: tuple[str, ...]
) -> tuple[pd.DataFrame, dict[str, int]]:
    """`typed` with blank order-level cells filled from the order's other lines, and how many per column.
    Only cells the file left blank are filled: a value that did not parse keeps its own reason. Columns
    that complete the order id (`within`, and the time when the day does) are its key, never filled."""
    if "order_id" not in typed:
        return typed, {}
    keyed = set(within) | ({"ts"} if DAY in within else set())
    columns = [c for c in ORDER_LEVEL if c in typed and c in raw and c not in keyed]
    orders = typed["order_id"]
    counts: dict[str, int] = {}
    for column in columns:
        empty = blank(raw[column]).to_numpy() & orders.notna().to_numpy()
        if not empty.any():
            continue
        values = _single_value_per_order(orders[~empty], typed[column][~empty])
        found = orders[empty].map(values).dropna()
        if found.empty:
            continue
        if not counts:
            typed = typed.copy()
        typed.loc[found.index, column] = found.astype(typed[column].dtype)
        counts[column] = len(found)
    return typed, counts


def _single_value_per_order(orders: pd.Series, values: pd.Series) -> pd.Series:
    """order id -> its value, for the orders whose lines give exactly one (NA, a failed parse, is none)."""
    given = pd.DataFrame({"order": orders, "value": values}).dropna().drop_duplicates()
    one = given[~given["order"].duplicated(keep=False)]
    return one.set_index("order")["value"]
