"""Orders taken back after they were stored (`spend ingest`, under the ledger lock).

A shop that exports orders as they change (Shopify's export by update date, a database extract of the
week's changed orders) sends an order again once it is cancelled or refunded. Its lines were stored as a
sale when first exported, and the new export's lines are the same lines (a status is not a line's
content), so they counted as duplicates and the sale stayed. The stored lines of an order whose export
now says it was cancelled, or fully refunded without its return lines, are removed (order id and
customer both match: an order number another customer's order reuses is left alone), and the new lines
go to the quarantine with their reason, as such an order exported once does. A refunded order whose
return lines are stored (a refunds export ingested before) keeps its sale: the sale and its return
already net out. Files are rewritten one at a time, each in one move, as an erasure rewrites them; the
feature build reads the store whole, so its next run sees the order gone.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from spend.core.files import replace_with
from spend.features.store import layout

ANONYMOUS = "\x00"  # a line without a customer: matched as such, never as a customer's


def retract_orders(files: list[str], orders: pd.DataFrame) -> int:
    """Remove the committed lines (of `files`) of these orders (`order_id`, `customer_id` pairs; a blank
    customer is an anonymous order); returns how many lines were removed."""
    if orders.empty:
        return 0
    wanted = set(order_keys(orders))
    removed = 0
    for path in _holding(files, _ids(orders)):
        parquet = pq.ParquetFile(path)
        table = parquet.read()
        keys = table.select(["order_id", "customer_id"]).to_pandas()
        hit = order_keys(keys).isin(wanted).to_numpy(dtype=bool)
        if not hit.any():
            continue
        kept = table.filter(pa.array(~hit))
        options = layout.options_of(parquet)
        replace_with(path, lambda temporary, kept=kept, options=options: pq.write_table(kept, temporary, **options))
        removed += int(hit.sum())
    return removed


def _holding(files: list[str], ids: pa.Array):
    """The files with lines of these order ids (row-group statistics rule most files out unread)."""
    for name in files:
        path = Path(name)
        if "order_id" not in pq.ParquetFile(path).schema_arrow.names:
            continue
        if pq.read_table(path, columns=["order_id"], filters=pc.field("order_id").isin(ids)).num_rows:
            yield path


def returned(files: list[str], orders: pd.DataFrame) -> pd.Series:
    """Per row of `orders` (`order_id`, `customer_id`): whether its order has a stored return line (a
    negative quantity) in any of `files`."""
    asked = order_keys(orders)
    found: set[tuple[str, str]] = set()
    for path in _holding(files, _ids(orders)) if len(orders) else ():
        lines = pq.read_table(path, columns=["order_id", "customer_id", "quantity"]).to_pandas()
        lines = lines[(lines["quantity"] < 0).to_numpy(dtype=bool)]
        found |= set(order_keys(lines))
    return asked.isin(found)


def _ids(orders: pd.DataFrame) -> pa.Array:
    return pa.array(sorted(orders["order_id"].dropna().astype(str).unique()), type=pa.string())


def order_keys(frame: pd.DataFrame) -> pd.Series:
    """Each row's order: its (order id, customer) pair, an anonymous order's customer ANONYMOUS."""
    customer = frame["customer_id"].astype(object).where(frame["customer_id"].notna(), ANONYMOUS)
    pairs = list(zip(frame["order_id"].astype(object), customer, strict=True))
    return pd.Series(pairs, index=frame.index, dtype=object)
