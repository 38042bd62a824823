"""Exports without order numbers or without quantities (`spend ingest --no-order-ids`, `--one-unit-per-line`).

Many purchase logs have no order number: a customer's purchases by date and amount (CDNOW's), or one row
per item bought (H&M's transactions, with a date, a customer, an article and a price). Read as they
were, they were refused for lacking `order_id` (and `quantity`), and the user had to invent both.

`--no-order-ids`: each customer's lines at one time in one store are one order (a visit), numbered by
Spend as `visit/<hash>` of the customer's pseudonym, the time and the store, so the same export read
again gives the same numbers and no raw customer id is written into an order number.
`--one-unit-per-line`: an export without a quantity column writes one row per item: each line is one
unit, and two of an item bought together are two rows, both kept (as `--keep-repeated-lines` keeps them:
the same file read again still adds nothing).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from spend.core.errors import SpendError
from spend.features.ingest.identity import content_hash
from spend.features.ingest.parse import blank

VISIT = "visit"  # the order id every line holds until `visit_order_ids` numbers its visit


def as_visit_lines(raw: pd.DataFrame) -> pd.DataFrame:
    """`raw` with an order id to number once the customer is pseudonymised, or one error when the export
    has order numbers of its own."""
    if "order_id" in raw.columns and not blank(raw["order_id"]).all():
        raise SpendError(
            "--no-order-ids: the file has an order_id column: its lines have order numbers; ingest it without "
            "--no-order-ids"
        )
    return raw.assign(order_id=VISIT)


def visit_order_ids(typed: pd.DataFrame) -> pd.Series:
    """Each line's visit: `visit/` and a hash of its customer (pseudonymised), time and store."""
    utc = typed["ts"].dt.tz_convert("UTC").dt.tz_localize(None)
    parts = pd.DataFrame(
        {
            "customer": typed["customer_id"].astype("string").fillna(""),
            "ts": np.asarray(utc, dtype="datetime64[ns]").astype("int64"),  # NaT (quarantined for it) as one value
            "store": typed["store_id"].astype("string").fillna("") if "store_id" in typed else "",
        },
        index=typed.index,
    )
    hashed = content_hash(parts).to_numpy().view(np.uint64)  # the hash event ids are derived with
    return pd.Series(np.char.add(f"{VISIT}/", np.char.mod("%016x", hashed)), index=typed.index, dtype=object)


def as_unit_lines(raw: pd.DataFrame) -> pd.DataFrame:
    """`raw` with one unit on every line, or one error when the export has quantities of its own."""
    if "quantity" in raw.columns:
        raise SpendError("--one-unit-per-line: the file has a quantity column; ingest it without --one-unit-per-line")
    return raw.assign(quantity="1")


def check_options(table: str, daily_totals: bool, order_within: tuple, orders: str | None, no_order_ids: bool) -> None:
    """The combinations these options cannot make sense in, each one error."""
    flag = "--no-order-ids" if no_order_ids else "--one-unit-per-line"
    if table != "transactions":
        raise SpendError(f"{flag}: only order lines (--table transactions) have orders and units, not {table}")
    if daily_totals:
        raise SpendError(f"{flag}: a daily report (--daily-totals) has its own orders and units")
    if no_order_ids and order_within:
        raise SpendError("--no-order-ids: there are no order numbers for --order-within to complete")
    if no_order_ids and orders is not None:
        raise SpendError("--no-order-ids: an orders file (--orders) is joined by order numbers the lines do not have")
