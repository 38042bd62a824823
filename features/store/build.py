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
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from spend.core import lineage
from spend.core.errors import SpendError
from spend.core.files import exclusive
from spend.core.settings import SpendSettings
from spend.features.compute.customer_activity import customer_snapshots
from spend.features.compute.days import ShopClock, StoreClocks, store_zones
from spend.features.compute.products import NO_STORE, ONE_SHOP, demand_snapshots, pricing_snapshots
from spend.features.compute.terminals import terminal_snapshots
from spend.features.governance.after_erasure import erasures_held_off
from spend.features.ingest.store import OfflineStore, readable
from spend.features.store import layout
from spend.features.store.definitions import SNAPSHOT_FILES
from spend.features.store.manifest import manifest_path

INPUT_TABLES = ("transactions", "points", "membership", "customers", "fraud_labels", "inventory")
# The lines' columns each group reads (the local build never holds every column of every line).
CUSTOMER_LINE_COLUMNS = ["customer_id", "order_id", "ts", "quantity", "unit_price", "discount", "kind", "channel"]
PRODUCT_LINE_COLUMNS = [
    *("product_id", "store_id", "ts", "quantity", "unit_price", "unit_cost", "discount", "kind", "order_id"),
    "on_promotion",
]
TERMINAL_LINE_COLUMNS = ["terminal_id", "customer_id", "order_id", "ts", "quantity", "unit_price", "discount", "kind"]
CUSTOMERS_PER_READ = 100_000  # a range's history and snapshots in memory at once: about 2 GB
LINES_PER_READ = 4_000_000  # a range of products' (or terminals') lines in memory at once
BUILD_STEPS = ("read", "customer", "terminal", "product_store", "product")  # the progress steps, either engine
BUILD_LOCK = ".features-build.lock"  # under SPEND_HOME: one build at a time (flock: a killed build releases it)


@dataclass
class BuildReport:
    until: str
    rows: dict[str, int]
    batches: list[str]
    built_at: str
    skipped: dict[str, str]  # feature group -> why it has no rows (a history without what it needs)
    kept_since: str | None = None  # snapshots before it are not written: `spend retention apply` deleted them
    # stores whose lines name another zone than SPEND_TIMEZONE: their product x store days are cut at
    # their own midnight (features/compute/days.py), and the demand history reads them so
    store_zones: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Coverage:
    """What the history holds, as far as the feature groups care."""

    lines: int
    with_terminal: int
    with_store: int
    present: frozenset[str]  # input tables with at least one row
    with_customer: int  # lines naming a customer
    with_price: int  # lines with a price (daily totals of units alone have none)


def skipped_groups(coverage: Coverage) -> dict[str, str]:
    """The feature groups this history cannot feed, and why, in one line each; and the inputs the
    customer group goes without (it is built from transactions alone when it must)."""
    skipped = {}
    if not coverage.with_customer:
        skipped["customer"] = (
            "no transaction names a customer (anonymous sales or daily totals): no customer features; churn, "
            "CLV, segments, recall lists and offers need purchases by customer"
        )
    if not coverage.with_terminal:
        skipped["terminal"] = "no transaction has a terminal_id (card-present payments): no terminal risk windows"
    if not coverage.with_store:
        skipped["product_store.stores"] = (
            f"no transaction has a store_id: demand is the whole shop's (store {ONE_SHOP!r})"
        )
    elif coverage.with_store < coverage.lines:
        skipped["product_store.stores"] = (
            f"{coverage.lines - coverage.with_store} line(s) without a store_id: their demand is store {NO_STORE!r}"
        )
    if not coverage.with_price:
        skipped["product"] = (
            "no transaction has a price (daily totals of units alone): no price features; demand and "
            "replenishment read units alone, price elasticities and quotes need prices"
        )
    elif coverage.with_price < coverage.lines:
        skipped["product.prices"] = (
            f"{coverage.lines - coverage.with_price:,} line(s) without a price (daily totals of units alone): "
            "their units count as demand, and prices come from the other lines"
        )
    if "inventory" not in coverage.present:
        skipped["product_store.inventory"] = "no inventory ingested: stock-out days are not flagged"
    for table, what in (
        ("points", "points balance and earn/burn windows"),
        ("membership", "membership tier"),
        ("customers", "signup channel and region"),
    ):
        if table not in coverage.present and "customer" not in skipped:
            skipped[f"customer.{table}"] = f"no {table} ingested: customer features without {what}"
    return skipped


def build_snapshots(
    settings: SpendSettings,
    until: pd.Timestamp | None = None,
    progress: Callable[[str], None] = lambda step: None,
    waiting: Callable[[], None] | None = None,
) -> BuildReport:
    """Every group's snapshots up to `until`: in this process, or on Spark under SPEND_ENV=cluster. One build
    at a time per data home (two at once shared their staging files, and one failed); `waiting` is called if
    another build is running, and this one then starts when it ends."""
    until = pd.Timestamp.now(tz="UTC") if until is None else pd.Timestamp(until)
    until = until.tz_localize("UTC") if until.tzinfo is None else until.tz_convert("UTC")
    with exclusive(settings.paths.home / BUILD_LOCK, waiting):
        return _build(settings, until, progress)


def _build(settings: SpendSettings, until: pd.Timestamp, progress: Callable[[str], None]) -> BuildReport:
    store = OfflineStore.pinned(settings.paths)  # an ingest committing meanwhile waits for the next build
    folder = settings.paths.feature_snapshots
    folder.mkdir(parents=True, exist_ok=True)
    build = _build_on_spark if settings.env == "cluster" else _build_here
    since, clocks = retained_since(settings), store_clocks(settings, store, ds.field("ts") < until)
    rows, coverage = build(settings, store, until, folder, progress, clocks, since)
    batches = sorted(set().union(*(store.committed_ids(t) for t in INPUT_TABLES)))
    built_at, kept = datetime.now(UTC).isoformat(), None if since is None else since.isoformat()
    report = BuildReport(until.isoformat(), rows, batches, built_at, skipped_groups(coverage), kept, clocks.zones)
    manifest_path(settings).write_text(json.dumps(asdict(report), indent=2) + "\n")
    lineage.emit(
        settings.paths.home,
        settings.feature_project,
        "features.build",
        [lineage.Data(f"offline.{t}") for t in INPUT_TABLES if t in coverage.present],
        [lineage.Data(f"features.{name}_snapshots", report.built_at) for name in SNAPSHOT_FILES],
    )
    return report


def retained_since(settings: SpendSettings) -> pd.Timestamp | None:
    """The first snapshot time to write: the cut-off `spend retention apply` last deleted snapshots before
    (None: it never did). A build wrote them all again from the history, kept longer, so every build undid
    the retention (decided 2026-12-07: the build keeps the applied cut-off; a period not applied yet keeps
    every snapshot, so a historical export's snapshots are not dropped by the calendar alone)."""
    from spend.features.governance.retention import applied_cutoff

    return applied_cutoff(settings.paths, "feature_snapshots")


def _retained(chunks, since: pd.Timestamp | None):
    """The snapshot frames without their rows before `since`."""
    for frame in chunks:
        yield frame if since is None or frame.empty else frame[frame["event_timestamp"] >= since]


def _coverage(settings: SpendSettings, store: OfflineStore) -> Coverage:
    """What the history holds, counted by Arrow from the files (no row is read into memory); either engine."""
    coverage = Coverage(
        store.count("transactions"),
        store.count("transactions", ds.field("terminal_id").is_valid()),
        store.count("transactions", ds.field("store_id").is_valid()),
        frozenset(t for t in INPUT_TABLES if store.has_rows(t)),
        store.count("transactions", ds.field("customer_id").is_valid()),
        store.count("transactions", ds.field("unit_price").is_valid()),
    )
    if not coverage.lines:
        raise SpendError(f"no transactions under {settings.home}; ingest some first (`spend ingest` or `spend demo`)")
    return coverage


def store_clocks(settings: SpendSettings, store: OfflineStore, where: ds.Expression) -> StoreClocks:
    """The shop's clock, and the stores whose lines (`where` holds for) mostly name another zone: only the
    lines that name a zone are read (most histories have none)."""
    shop = ShopClock(settings.timezone)
    if not store.has_column("transactions", "time_zone"):
        return StoreClocks(shop)
    zoned = store.read("transactions", STORE_ZONE, where & ds.field("time_zone").is_valid())
    return StoreClocks.of(shop, store_zones(zoned))


STORE_ZONE = ["store_id", "time_zone"]


def _build_here(
    settings, store: OfflineStore, until: pd.Timestamp, folder: Path, progress, clocks: StoreClocks, since=None
) -> tuple[dict, Coverage]:
    """The four groups in this process, each read a range of its entity's ids at a time (as Spark partitions
    them), so memory follows the range, not the history: customers CUSTOMERS_PER_READ at a time, terminals
    and products about LINES_PER_READ lines at a time."""
    progress("read")
    coverage = _coverage(settings, store)
    rows = {}
    before = ds.field("ts") < until
    progress("customer")
    customers = _retained(_customer_ranges(store, until), since)
    rows["customer"] = _write_parts(settings, folder / SNAPSHOT_FILES["customer"], customers)
    progress("terminal")
    frauds = _before(store.read("fraud_labels", None, ds.field("is_fraud") == 1), until)
    terminals = (
        terminal_snapshots(store.read("transactions", TERMINAL_LINE_COLUMNS, mine & before), frauds, until)
        for mine in _line_ranges(store, "terminal_id", before & ds.field("terminal_id").is_valid())
    )
    rows["terminal"] = _write_chunks(folder / SNAPSHOT_FILES["terminal"], _retained(terminals, since))
    end, prices = history_end(store, before), []
    progress("product_store")
    demand = _product_ranges(store, before, until, end, prices, clocks)
    rows["product_store"] = _write_chunks(folder / SNAPSHOT_FILES["product_store"], _retained(demand, since))
    progress("product")
    rows["product"] = _write_chunks(folder / SNAPSHOT_FILES["product"], _retained(prices, since))
    return rows, coverage


def _customer_ranges(store: OfflineStore, until: pd.Timestamp):
    """Customer snapshot chunks, reading the history one range of CUSTOMERS_PER_READ customer ids at a time."""
    ids = store.read("transactions", ["customer_id"])["customer_id"].dropna().unique()
    for mine in _id_ranges(np.sort(np.asarray(ids, dtype=object))):
        tx = store.read("transactions", CUSTOMER_LINE_COLUMNS, mine)
        yield from customer_snapshots(
            tx[tx["ts"] < until],
            _before(store.read("points", None, mine), until),
            _before(store.read("membership", None, mine), until),
            store.current("customers", None, mine),
            until,
        )


def _id_ranges(ids: np.ndarray):
    """Filters over sorted `ids`, CUSTOMERS_PER_READ at a time. With no customer at all (daily totals, a
    till's anonymous sales), one that matches nothing: the group still gets its typed, empty parts (with
    none, the materialisation found no event_timestamp to read)."""
    if not len(ids):
        yield ds.scalar(False)
    for lo in range(0, len(ids), CUSTOMERS_PER_READ):
        first, last = ids[lo], ids[min(lo + CUSTOMERS_PER_READ, len(ids)) - 1]
        yield (ds.field("customer_id") >= first) & (ds.field("customer_id") <= last)


def _product_ranges(
    store: OfflineStore, before: ds.Expression, until: pd.Timestamp, end, prices: list, clocks: StoreClocks
):
    """Demand snapshots of a range of products at a time (each store's days on its clock); each range's
    pricing snapshots (a row per product and the shop's day, small) are kept in `prices`, so the lines are
    read once for both groups."""
    for mine in _line_ranges(store, "product_id", before):
        lines = store.read("transactions", PRODUCT_LINE_COLUMNS, mine & before)
        prices.append(pricing_snapshots(lines, until, clocks.shop))
        yield demand_snapshots(lines, until, _before(store.read("inventory", None, mine), until), end, clocks)


def _line_ranges(store: OfflineStore, key: str, where: ds.Expression):
    """Filters that split the lines `where` holds for into ranges of `key` (in Arrow's order, which the
    filters compare in) of about LINES_PER_READ lines; one key's lines are never split."""
    counts = pc.value_counts(_line_column(store, key, where)).flatten()
    values, lines = counts[0], counts[1].to_numpy()
    order = pc.sort_indices(values).to_numpy()
    values, lines = values.take(pa.array(order)).to_pylist(), lines[order]
    if not values:  # nothing to split: one read of nothing, so the group still gets its typed, empty file
        yield where
        return
    starts = [0]
    total = 0
    for i, n in enumerate(lines):
        if total and total + n > LINES_PER_READ:
            starts.append(i)
            total = 0
        total += n
    for lo, hi in zip(starts, [*starts[1:], len(values)], strict=True):
        yield (ds.field(key) >= values[lo]) & (ds.field(key) <= values[hi - 1])


def history_end(store: OfflineStore, where: ds.Expression | None = None) -> pd.Timestamp | None:
    """The last line's time `where` holds for (every line's without it): every product's demand series runs
    to the day after it."""
    last = pc.max(_line_column(store, "ts", where)).as_py()
    return None if last is None else pd.Timestamp(last)


def _line_column(store: OfflineStore, column: str, where: ds.Expression | None) -> pa.ChunkedArray:
    """One column of the committed lines `where` holds for, as Arrow keeps it (no Python objects)."""
    with readable("transactions"):
        return store.dataset("transactions").to_table(columns=[column], filter=where).column(column)


def _build_on_spark(
    settings, store: OfflineStore, until: pd.Timestamp, folder: Path, progress, clocks: StoreClocks, since=None
):
    from spend.features.store.spark_session import require_spark

    require_spark()  # before importing the Spark build, which needs pyspark
    from spend.features.store.spark_build import build_groups_on_spark

    progress("read")
    coverage = _coverage(settings, store)

    def write(group: str, run: Callable[[Path], int]) -> int:
        return _swap_in(folder / SNAPSHOT_FILES[group], run, settings if group == "customer" else None)

    return build_groups_on_spark(settings, store, until, write, progress, clocks, since), coverage


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
            # Microseconds, as Spark writes them (and reads them: it refuses nanoseconds), so either engine's
            # snapshots serve either environment.
            frame = frame.assign(event_timestamp=frame["event_timestamp"].astype("datetime64[us, UTC]"))
            table = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)
            writer = writer or pq.ParquetWriter(partial, table.schema, **layout.writer_options(table.schema))
            for block in layout.quarter_blocks(table):
                writer.write_table(block.cast(writer.schema), row_group_size=layout.MAX_GROUP_ROWS)
            rows += len(frame)
    finally:
        if writer is not None:
            writer.close()
    if writer is None:
        pq.write_table(_empty_table(last), partial)
    _replace(path, partial)  # the previous file, or a Spark build's folder of parts (SPEND_ENV=cluster)
    return rows


def _write_parts(settings: SpendSettings, path: Path, chunks) -> int:
    """One part file per chunk in a folder at `path`, swapped in for the previous folder (or file) without
    the customers erased since the build began."""

    def write(staging: Path) -> int:
        rows, last = 0, None
        for number, frame in enumerate(chunks):
            last = frame
            if not frame.empty:
                rows += _write_chunks(staging / f"part-{number:05d}.parquet", [frame])
        if not rows:
            pq.write_table(_empty_table(last), staging / "part-00000.parquet")
        return rows

    return _swap_in(path, write, settings)


def _swap_in(path: Path, write: Callable[[Path], int], erasable: SpendSettings | None = None) -> int:
    """`write` fills a staging folder, which then replaces the folder (or file) at `path`. The swap is two
    renames: a reader opening the snapshots at that instant finds none and can retry. Customer snapshots
    (`erasable`: their settings) are swapped in with erasures held off, without anyone erased meanwhile."""
    staging = path.with_name(path.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    rows = write(staging)
    if erasable is None:
        _replace(path, staging)
        return rows
    with erasures_held_off(erasable, staging) as dropped:
        _replace(path, staging)
    return rows - dropped


def _replace(path: Path, new: Path) -> None:
    """`new` (a file or folder) takes the place of whatever is at `path`, file or folder."""
    old = path.with_name(path.name + ".old")
    shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink(missing_ok=True)
    if path.exists():
        os.replace(path, old)
    os.replace(new, path)
    shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink(missing_ok=True)


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
