"""Order headers in a file of their own (`spend ingest LINES --table transactions --orders ORDERS`).

Exports taken from a shop's database (an ERP's order headers and lines, Magento's sales_order and
sales_order_item) write each order once in an orders file, with its customer, time, store and channel,
and its lines in another, with the product, quantity and price. Read alone, the lines had no customer
and no time, and the file was refused. With the orders file, each line takes its order's fields: the
order's row is the order's record, so a line's own time, store or channel that differs from it (an
item's own `created_at` a second later, under the same --map) is replaced by the order's and counted;
a line naming another customer than its order is quarantined (`customer_id:disagrees_with_orders_file`),
and a line of an order the file does not hold as `order_id:not_in_orders_file`, so nothing is stored
half-known.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from spend.core.errors import SpendError
from spend.features.ingest.order_fields import ORDER_LEVEL
from spend.features.ingest.parse import as_text
from spend.features.ingest.readers import read_export
from spend.features.ingest.suggest import map_flags, suggested_maps
from spend.features.schema.fields import TEXT

NOT_IN_ORDERS = "order_id:not_in_orders_file"
DISAGREES = "disagrees_with_orders_file"


@dataclass(frozen=True)
class Headed:
    raw: pd.DataFrame  # the lines with their orders' fields
    failures: pd.DataFrame  # (row, reason) of lines the orders file cannot vouch for
    filled: dict[str, int]  # blank cells taken from the orders file, per field
    replaced: dict[str, int] = field(default_factory=dict)  # cells that differed, replaced by the order's


def reasons() -> list[str]:
    """The reasons this step gives, in the order a line reports them (before any rule's: they are why the
    line's other fields are missing)."""
    return [NOT_IN_ORDERS, f"customer_id:{DISAGREES}"]


def check_orders_option(table: str, daily_totals: bool, order_within: tuple) -> None:
    """The options an orders file cannot go with, each one error."""
    if table != "transactions":
        raise SpendError(f"--orders: order headers are for --table transactions, not {table}")
    if daily_totals:
        raise SpendError("--orders: a daily report (--daily-totals) has no orders to take fields from")
    if order_within:
        raise SpendError(
            "--orders with --order-within: not supported (an orders file would need the same columns to complete "
            "its numbers); complete the order numbers in both exports first"
        )


def read_order_headers(orders: Path, lines: pd.DataFrame, mapping: dict, encoding: str) -> pd.DataFrame:
    """The orders file, read with the lines' maps (a map it lacks is skipped: the caller refuses one no file
    has): a pair of files that name no time or customer is refused, with the map the orders file suggests."""
    headers = read_export(orders, mapping, encoding, maps_optional=True)
    absent = [c for c in ORDER_LEVEL if c not in lines.columns and c not in headers.columns]
    pairs = suggested_maps(absent, [c for c in headers.columns if c not in ORDER_LEVEL and c != "order_id"])
    needed = [new for _, new in pairs if new in ("customer_id", "ts")]  # the lines cannot be read without
    if needed:  # the optional fields' maps too: one command
        raise SpendError(
            f"--orders: neither file has {', '.join(needed)}; {orders.name} looks like it: "
            f"{map_flags([f'{old}={new}' for old, new in pairs])}"
        )
    return headers


def with_order_headers(lines: pd.DataFrame, orders: pd.DataFrame, name: str) -> Headed:
    """`lines` with each order-level field its order's row in `orders` gives, where the line gives none."""
    if "order_id" not in lines:
        raise SpendError("--orders: the lines have no order_id column to find their orders by")
    fields = [c for c in ORDER_LEVEL if c in orders.columns]
    if "order_id" not in orders or not fields:
        raise SpendError(
            f"--orders: {name} needs an order_id column and at least one of {', '.join(ORDER_LEVEL)} "
            f"(it has {', '.join(map(str, orders.columns))}; --map applies to it too)"
        )
    headers = _headers(orders, fields, name)
    key = as_text(lines["order_id"])
    unknown = key.notna() & ~key.isin(headers.index)
    failures = [pd.DataFrame({"row": lines.index[unknown], "reason": NOT_IN_ORDERS})]
    raw, filled, replaced = lines.copy(), {}, {}
    for name in fields:
        theirs = key.map(headers[name]).astype(TEXT)
        own = as_text(raw[name]) if name in raw else pd.Series(pd.NA, index=raw.index, dtype=TEXT)
        empty = own.isna() & theirs.notna()
        differ = (own.notna() & theirs.notna() & (own != theirs)).fillna(False)
        if name == "customer_id":  # another customer's line in the order: which one bought it is unknown
            failures.append(pd.DataFrame({"row": raw.index[differ], "reason": f"{name}:{DISAGREES}"}))
            differ[:] = False
        taken = empty | differ
        if taken.any():  # a column the lines give in full, and alike, keeps its own cells (a Parquet file's types)
            raw[name] = own.mask(taken, theirs)
            filled.update({name: int(empty.sum())} if empty.any() else {})
            replaced.update({name: int(differ.sum())} if differ.any() else {})
    return Headed(raw, pd.concat(failures, ignore_index=True), filled, replaced)


def _headers(orders: pd.DataFrame, fields: list[str], name: str) -> pd.DataFrame:
    """One row per order id (text, stripped, blanks as NA); a row without an id, or an order given twice
    with different fields, refuses the file: which of its rows is the order's could only be guessed."""
    frame = pd.DataFrame({c: as_text(orders[c]) for c in ["order_id", *fields]})
    missing = np.flatnonzero(frame["order_id"].isna().to_numpy())
    if missing.size:
        raise SpendError(f"--orders: row {missing[0] + 1} of {name} has no order_id")
    frame = frame.drop_duplicates()
    twice = frame["order_id"].duplicated(keep=False)
    if twice.any():
        order = frame.loc[twice, "order_id"].iloc[0]
        raise SpendError(
            f"--orders: {name} gives order {order} {int((frame['order_id'] == order).sum())} rows that differ "
            f"({int(twice.sum()):,} rows of {frame.loc[twice, 'order_id'].nunique():,} orders); one row per order"
        )
    return frame.set_index("order_id")
