"""Sales reported as daily totals (`spend ingest --daily-totals`): one row per product (and store) and day
with the units sold, as a POS's daily sales report, an ERP's sell-through export or the M5 and Favorita
data sets write them. They name no order and no customer, which every transaction line needs.

Each row is stored as one anonymous line of an order of its own, numbered from its store, day and product
(`daily/S1/2026-01-31/P7`), so a second ingest of the same report finds the same lines (duplicates), and
the demand, pricing and replenishment models read them as any sales. Customer models see no customer in
them, and say so. Rows of one product, store and day at two prices are two lines of that order.

A report of units alone (Favorita's `unit_sales`, M5's sales, many ERPs' sell-through) has no price: its
lines are stored with the price unknown (blank), and a blank price in a report that has the column is
unknown too. Demand forecasts and replenishment need units only; price elasticities, price quotes and
revenue need prices, and skip the lines without one, saying so.
"""

from __future__ import annotations

import pandas as pd

from spend.core.errors import SpendError
from spend.features.ingest.order_keys import DAY, SEPARATOR
from spend.features.ingest.parse import blank
from spend.features.schema.fields import TEXT

DAILY = "daily"  # every order id of a daily total starts with it


def as_order_lines(raw: pd.DataFrame, table: str, order_within: tuple[str, ...]) -> tuple[pd.DataFrame, tuple]:
    """(`raw` with an order id to complete and no customer, the columns that complete the order id), or
    one error naming why these rows are not daily totals."""
    if table != "transactions":
        raise SpendError(f"--daily-totals: the {table} table holds no sales; only transactions can be daily totals")
    if order_within:
        raise SpendError("--daily-totals: each row is an order of its own; --order-within has nothing to complete")
    named = [c for c in ("order_id", "customer_id") if c in raw.columns and not blank(raw[c]).all()]
    if named:
        raise SpendError(
            f"--daily-totals: the file has {', '.join(named)}: its rows are order lines, not daily totals; "
            "ingest it without --daily-totals"
        )
    within = (*(("store_id",) if "store_id" in raw.columns else ()), DAY, "product_id")
    unpriced = {} if "unit_price" in raw.columns else {"unit_price": None}
    return raw.assign(order_id=DAILY, customer_id=None, **unpriced), within  # an empty column is replaced


def daily_lines(order_ids: pd.Series) -> pd.Series:
    """Which stored lines came from daily totals: their order ids are the ones `as_order_lines` composes."""
    return order_ids.astype(TEXT).str.startswith(DAILY + SEPARATOR).fillna(False)
