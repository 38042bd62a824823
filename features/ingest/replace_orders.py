"""Orders exported again as they are now (`spend ingest --replace-orders`).

A shop that exports the orders changed since its last export (Shopify's export by update date, a
database extract of the week's edited orders) sends an edited order whole: an item added or taken off, a
quantity or a price corrected. Read as new lines beside the stored ones, an edit doubled the order (new
content) or was refused (a line id it reuses with other content is a conflict), and the order stayed as
first exported. With the option, each order of the file whose lines differ from its stored lines
replaces them: its lines are judged as if the stored ones were not there, and once the batch is
committed the stored ones are removed (retract.py), as a cancelled order's are. An order whose lines in
the file are the stored ones is left as it is (its lines are duplicates), and an order with a line the
file's checks refused keeps its stored lines: a bad export never takes an order away.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from spend.core.errors import SpendError
from spend.features.ingest.retract import order_keys

COLUMNS = ["order_id", "customer_id"]  # what names an order: its number and its customer


@dataclass(frozen=True)
class Replacing:
    stored: np.ndarray  # per stored row: a line of an order this export replaces
    orders: pd.DataFrame  # order_id, customer_id of the orders replaced


def check_option(table: str, daily_totals: bool) -> None:
    if table != "transactions":
        raise SpendError(f"--replace-orders: the {table} table has no orders")
    if daily_totals:
        raise SpendError("--replace-orders: a daily report (--daily-totals) has no orders to replace")


def replacing(typed: pd.DataFrame, row_hash: pd.Series, invalid: pd.Series, stored: pd.DataFrame) -> Replacing:
    """The stored orders this export replaces: those whose lines in the file, every one valid, are not the
    lines stored for them."""
    mine = order_keys(typed)
    theirs = order_keys(stored) if len(stored) else pd.Series([], dtype=object)
    refused = invalid.to_numpy(dtype=bool)
    asked = (set(mine[~refused]) - set(mine[refused])) & set(theirs)
    if not asked:
        return Replacing(np.zeros(len(stored), dtype=bool), pd.DataFrame(columns=COLUMNS))
    new = _lines(mine, row_hash, asked)
    old = _lines(theirs, stored["row_hash"], asked)
    changed = {order for order in asked if new.get(order) != old.get(order)}
    hit = theirs.isin(changed).to_numpy(dtype=bool)
    orders = stored.loc[hit, COLUMNS].drop_duplicates()
    return Replacing(hit, orders)


def _lines(orders: pd.Series, hashes: pd.Series, asked: set[tuple]) -> dict[tuple, list[int]]:
    """Each asked order's line hashes, sorted (a line repeated counts twice)."""
    wanted = orders.isin(asked).to_numpy(dtype=bool)
    frame = pd.DataFrame({"order": orders[wanted].to_numpy(), "hash": np.asarray(hashes)[wanted]})
    return {order: sorted(group.tolist()) for order, group in frame.groupby("order")["hash"]}
