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

The lines taken out are kept under SPEND_HOME/retracted/<batch>/, where their files were: removing the
batch that took them back (`spend batches --remove`) puts them back (`restore`), as an export read with
a wrong status column would otherwise have cancelled sales for good.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from spend.core.files import replace_with
from spend.features.store import layout

ANONYMOUS = "\x00"  # a line without a customer: matched as such, never as a customer's


def retract_orders(files: list[str], orders: pd.DataFrame, undo: Undo) -> int:
    """Remove the committed lines (of `files`) of these orders (`order_id`, `customer_id` pairs; a blank
    customer is an anonymous order), kept in `undo`; returns how many lines were removed."""
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
        undo.keep(path, table.filter(pa.array(hit)), options)
        replace_with(path, lambda temporary, kept=kept, options=options: pq.write_table(kept, temporary, **options))
        removed += int(hit.sum())
    return removed


@dataclass(frozen=True)
class Undo:
    """Where one batch keeps the lines it took back: `folder`/<path of their file under `root`>."""

    root: Path  # the offline store
    folder: Path  # SPEND_HOME/retracted/<batch>

    def keep(self, path: Path, lines: pa.Table, options: dict) -> None:
        copy = self.folder / path.relative_to(self.root)
        if copy.exists():  # the same batch took back lines of this file twice (edited, then cancelled)
            lines = pa.concat_tables([pq.read_table(copy), lines], promote_options="permissive")
        copy.parent.mkdir(parents=True, exist_ok=True)
        replace_with(copy, lambda temporary: pq.write_table(lines, temporary, **options))

    def restore(self, committed: set[str], stored: pa.Array) -> int:
        """Put the lines back in their files (those of batches still `committed`), except those `stored`
        again since (by row hash: a later export of the order as it was), then forget them; returns how
        many lines went back."""
        restored = 0
        for copy in sorted(self.folder.rglob("*.parquet")) if self.folder.exists() else ():
            path = self.root / copy.relative_to(self.folder)
            lines = pq.read_table(copy)
            if "row_hash" in lines.column_names:
                lines = lines.filter(pc.invert(pc.is_in(lines["row_hash"], stored)))
            if path.stem not in committed or not lines.num_rows:  # its own batch was removed (or expired) since
                continue
            options = layout.options_of(pq.ParquetFile(copy))
            back = lines.num_rows
            if path.exists():
                lines = pa.concat_tables([pq.read_table(path), lines], promote_options="permissive")
            path.parent.mkdir(parents=True, exist_ok=True)
            replace_with(path, lambda temporary, lines=lines, o=options: pq.write_table(lines, temporary, **o))
            restored += back
        shutil.rmtree(self.folder, ignore_errors=True)
        return restored


def restore_retracted(store, batch_ids: list[str]) -> int:
    """After batches were removed (under the ledger lock): the lines each had taken back go back where they
    were, and the kept lines of theirs that others took back are deleted; returns how many went back."""
    restored = 0
    root = store.paths.retracted
    for folder in [root / b for b in batch_ids if (root / b).exists()]:
        for table in [p.name for p in folder.iterdir() if p.is_dir()]:
            hashes = store.read(table, ["row_hash"]) if store.has_rows(table) else pd.DataFrame()
            stored = pa.array(hashes["row_hash"].to_numpy(dtype="int64") if "row_hash" in hashes else [], pa.int64())
            restored += Undo(store.paths.offline / table, folder / table).restore(store.committed_ids(table), stored)
        shutil.rmtree(folder, ignore_errors=True)
    for copy in [c for c in root.rglob("*.parquet") if c.stem in batch_ids] if root.exists() else ():
        copy.unlink()  # the removed batches' own lines that other batches took back: gone with them
    return restored


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
