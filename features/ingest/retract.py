"""Orders cancelled after they were stored (`spend ingest`, under the ledger lock).

A shop that exports orders as they change (Shopify's export by update date, a database extract of the
week's changed orders) sends an order again once it is cancelled. Its lines were stored as a sale when
first exported, and the cancelled export's lines are the same lines (a status is not a line's content),
so they counted as duplicates and the sale stayed. The stored lines of an order whose export now says
it was cancelled are removed (order id and customer both match: an order number another customer's
order reuses is left alone), and the cancelled lines go to the quarantine with their reason, as a
cancelled order exported once does. Files are rewritten one at a time, each in one move, as an
erasure rewrites them; the feature build reads the store whole, so its next run sees the order gone.
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
    ids = pa.array(sorted(orders["order_id"].dropna().astype(str).unique()), type=pa.string())
    wanted = set(_pairs(orders["order_id"], orders["customer_id"]))
    removed = 0
    for name in files:
        path = Path(name)
        parquet = pq.ParquetFile(path)
        if "order_id" not in parquet.schema_arrow.names:
            continue
        candidates = pq.read_table(path, columns=["order_id"], filters=pc.field("order_id").isin(ids))
        if candidates.num_rows == 0:  # row-group statistics rule most files out unread
            continue
        table = parquet.read()
        keys = table.select(["order_id", "customer_id"]).to_pandas()
        hit = pd.Series(_pairs(keys["order_id"], keys["customer_id"])).isin(wanted).to_numpy(dtype=bool)
        if not hit.any():
            continue
        kept = table.filter(pa.array(~hit))
        options = layout.options_of(parquet)
        replace_with(path, lambda temporary, kept=kept, options=options: pq.write_table(kept, temporary, **options))
        removed += int(hit.sum())
    return removed


def _pairs(order_ids: pd.Series, customers: pd.Series) -> list[tuple[str, str]]:
    customer = customers.astype(object).where(customers.notna(), ANONYMOUS)
    return list(zip(order_ids.astype(object), customer, strict=True))
