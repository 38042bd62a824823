"""Compute every feature snapshot from the offline store and write the Feast sources (Parquet).

Each build rewrites the snapshots up to `until` from the committed batches (the functions are pure, so a
rebuild is the simplest correct incremental step) and records which batches fed it in a manifest.

The customer snapshots are a folder of parts (customer_snapshots.parquet/part-NNNNN.parquet), each the
snapshots of a range of customer ids: erasing a customer rewrites one part instead of every customer's
year of snapshots, and the parts' id statistics say which one without reading the others
(features/governance/erasure.py). Readers (Feast, pandas, Arrow datasets) read the folder as one table.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from spend.core import lineage
from spend.core.errors import SpendError
from spend.core.settings import SpendSettings
from spend.features.compute.customer_activity import customer_snapshots
from spend.features.compute.products import NO_STORE, ONE_SHOP, demand_snapshots, pricing_snapshots
from spend.features.compute.terminals import terminal_snapshots
from spend.features.ingest.store import OfflineStore
from spend.features.store.definitions import SNAPSHOT_FILES

ROW_GROUP = 65_536
INPUT_TABLES = ("transactions", "points", "membership", "customers", "fraud_labels", "inventory")
BUILD_STEPS = ("read", "customer", "terminal", "product_store", "product")


@dataclass
class BuildReport:
    until: str
    rows: dict[str, int]
    batches: list[str]
    built_at: str
    skipped: dict[str, str]  # feature group -> why it has no rows (a history without what it needs)


def skipped_groups(tables: dict[str, pd.DataFrame]) -> dict[str, str]:
    """The feature groups this history cannot feed, and why, in one line each; and the inputs the
    customer group goes without (it is built from transactions alone when it must)."""
    tx = tables["transactions"]
    skipped = {}
    if not tx["terminal_id"].notna().any():
        skipped["terminal"] = "no transaction has a terminal_id (card-present payments): no terminal risk windows"
    if not tx["store_id"].notna().any():
        skipped["product_store.stores"] = (
            f"no transaction has a store_id: demand is the whole shop's (store {ONE_SHOP!r})"
        )
    elif tx["store_id"].isna().any():
        skipped["product_store.stores"] = (
            f"{int(tx['store_id'].isna().sum())} line(s) without a store_id: their demand is store {NO_STORE!r}"
        )
    if tables["inventory"].empty:
        skipped["product_store.inventory"] = "no inventory ingested: stock-out days are not flagged"
    for table, what in (
        ("points", "points balance and earn/burn windows"),
        ("membership", "membership tier"),
        ("customers", "signup channel and region"),
    ):
        if tables[table].empty:
            skipped[f"customer.{table}"] = f"no {table} ingested: customer features without {what}"
    return skipped


def build_snapshots(
    settings: SpendSettings, until: pd.Timestamp | None = None, progress: Callable[[str], None] = lambda step: None
) -> BuildReport:
    until = pd.Timestamp.now(tz="UTC") if until is None else pd.Timestamp(until)
    until = until.tz_localize("UTC") if until.tzinfo is None else until.tz_convert("UTC")
    store = OfflineStore(settings.paths)
    progress("read")
    tables = {t: store.read(t) for t in INPUT_TABLES}
    if tables["transactions"].empty:
        raise SpendError(f"no transactions under {settings.home}; ingest some first (`spend ingest` or `spend demo`)")
    tx = tables["transactions"][tables["transactions"]["ts"] < until]
    folder = settings.paths.feature_snapshots
    folder.mkdir(parents=True, exist_ok=True)
    rows = {}
    progress("customer")
    rows["customer"] = _write_parts(
        folder / SNAPSHOT_FILES["customer"],
        customer_snapshots(
            tx, _before(tables["points"], until), _before(tables["membership"], until), tables["customers"], until
        ),
    )
    progress("terminal")
    rows["terminal"] = _write_chunks(
        folder / SNAPSHOT_FILES["terminal"], [terminal_snapshots(tx, _before(tables["fraud_labels"], until), until)]
    )
    progress("product_store")
    rows["product_store"] = _write_chunks(
        folder / SNAPSHOT_FILES["product_store"], [demand_snapshots(tx, until, _before(tables["inventory"], until))]
    )
    progress("product")
    rows["product"] = _write_chunks(folder / SNAPSHOT_FILES["product"], [pricing_snapshots(tx, until)])
    batches = sorted(set().union(*(store.catalog.committed_ids(t) for t in INPUT_TABLES)))
    skipped = skipped_groups(tables)
    report = BuildReport(until.isoformat(), rows, batches, datetime.now(UTC).isoformat(), skipped)
    (folder / "manifest.json").write_text(json.dumps(asdict(report), indent=2) + "\n")
    lineage.emit(
        settings.paths.home,
        settings.feature_project,
        "features.build",
        [lineage.Data(f"offline.{t}") for t in INPUT_TABLES if not tables[t].empty],
        [lineage.Data(f"features.{name}_snapshots", report.built_at) for name in SNAPSHOT_FILES],
    )
    return report


def _before(frame: pd.DataFrame, until: pd.Timestamp) -> pd.DataFrame:
    return frame if frame.empty else frame[frame["ts"] < until]


def _write_chunks(path: Path, chunks) -> int:
    """Stream frames into one Parquet file, swapped in atomically so readers never see half a build.
    A history without rows for it (no card terminals, say) still gets a typed, empty file."""
    partial = path.with_suffix(".partial")
    writer, rows, last = None, 0, None
    try:
        for frame in chunks:
            last = frame
            if frame.empty:
                continue
            # Sorted by time in small row groups: a read of the last days (materialisation) or of a
            # period (training sets) skips most of the file on row-group statistics.
            frame = frame.sort_values("event_timestamp", kind="stable")
            table = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)
            writer = writer or pq.ParquetWriter(partial, table.schema, compression="zstd")
            writer.write_table(table.cast(writer.schema), row_group_size=ROW_GROUP)
            rows += len(frame)
    finally:
        if writer is not None:
            writer.close()
    if writer is None:
        pq.write_table(_empty_table(last), partial)
    os.replace(partial, path)
    return rows


def _write_parts(path: Path, chunks) -> int:
    """One part file per chunk in a folder at `path`, swapped in for the previous folder (or file). The
    swap is two renames: a reader opening the snapshots at that instant finds none and can retry."""
    staging = path.with_name(path.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    rows, last = 0, None
    for number, frame in enumerate(chunks):
        last = frame
        if not frame.empty:
            rows += _write_chunks(staging / f"part-{number:05d}.parquet", [frame])
    if not rows:
        pq.write_table(_empty_table(last), staging / "part-00000.parquet")
    old = path.with_name(path.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if path.exists():
        os.replace(path, old)
    os.replace(staging, path)
    shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink(missing_ok=True)
    return rows


def _empty_table(frame: pd.DataFrame | None) -> pa.Table:
    columns = [] if frame is None else list(frame.columns)
    fields = [
        pa.field(
            c,
            pa.timestamp("us", tz="UTC")
            if c == "event_timestamp"
            else pa.string()
            if c.endswith("_id") or c == "membership_tier"
            else pa.float64(),
        )
        for c in columns
    ]
    return pa.schema(fields).empty_table()
