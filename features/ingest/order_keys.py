"""Order numbers that only name an order within a store or a day (`spend ingest --order-within`).

Many tills restart their receipt numbers every day or number them per register: receipt 0001 of two stores
is two orders. Read as one, their lines failed `one_customer_per_order` (or merged two baskets of one
customer). The option makes each order id whole by appending the named columns' values, e.g. `0001` in
store S2 on 2026-01-31 becomes `0001/S2/2026-01-31`.
"""

from __future__ import annotations

import pandas as pd

from spend.core.errors import SpendError
from spend.features.schema.fields import TEXT

DAY = "day"  # the line's local calendar day (SPEND_TIMEZONE), read from its ts
SEPARATOR = "/"  # allowed inside ids (the dictionary's pattern)


def check_order_within(within: tuple[str, ...], table: str, fields: list[str], found: list[str], private) -> None:
    """One clear error before anything is parsed: the table must have orders, and each name must be a
    column of the file (a register number need not be a table field) or `day`, never one holding a person
    (`private`: it would be stored as it is, inside the order id)."""
    if not within:
        return
    if "order_id" not in fields:
        raise SpendError(f"--order-within: the {table} table has no order_id to complete")
    personal = [name for name in within if name in private]
    if personal:
        raise SpendError(f"--order-within: {', '.join(personal)} names a person, whom an order id must not carry")
    has = [c for c in found if c != "order_id"] + ([DAY] if "ts" in fields else [])
    unknown = [name for name in within if name not in has]
    if unknown:
        raise SpendError(
            f"--order-within: {', '.join(unknown)} cannot complete an order id; name columns of the file "
            f"({', '.join(has)})"
        )


def compose_order_ids(typed: pd.DataFrame, raw: pd.DataFrame, within: tuple[str, ...], timezone: str) -> pd.DataFrame:
    """`typed` with each present order id followed by its line's `within` values as the file wrote them
    (empty when blank) and `day` as its local day."""
    if not within:
        return typed
    whole = typed["order_id"].astype(TEXT)
    for name in within:
        part = _day(typed["ts"], timezone) if name == DAY else raw[name].astype(TEXT).str.strip().fillna("")
        whole = whole + SEPARATOR + part
    typed = typed.copy()
    typed["order_id"] = whole.where(typed["order_id"].notna())
    return typed


def _day(ts: pd.Series, timezone: str) -> pd.Series:
    return ts.dt.tz_convert(timezone).dt.strftime("%Y-%m-%d").astype(TEXT).fillna("")
