"""Retention: delete what is older than each table's configured period (SPEND_RETENTION_DAYS).

- An offline table loses the rows whose time column is before `as_of - days`. Its files are partitioned
  by month: a month wholly before the cut-off is deleted as files, the month the cut-off falls in is
  rewritten without the older rows, later months are not opened.
- The quarantine loses the batches ingested before its cut-off (its rows are raw text: their own times
  may not parse).
- The feature snapshots lose the snapshots before their cut-off.
- The lines a batch took back (SPEND_HOME/retracted, features/ingest/retract.py) follow their table.
A dry run counts the same rows and changes nothing. Under the ingest lock, as erasure is.

Each cut-off applied is recorded (SPEND_HOME/retention.json, the latest per table): the feature build
reads the snapshots' one and does not write older snapshots again from a history kept longer.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from spend.core.files import replace_with
from spend.core.settings import SpendPaths, SpendSettings
from spend.features.governance.scrub import parquet_files
from spend.features.ingest.catalog import BatchCatalog
from spend.features.ingest.lock import ledger_lock
from spend.features.schema.tables import TABLES


@dataclass
class RetentionReport:
    as_of: str
    dry_run: bool
    cutoffs: dict[str, str] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)  # rows, per table
    kept: dict[str, int] = field(default_factory=dict)
    files_removed: int = 0
    files_rewritten: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def apply_retention(settings: SpendSettings, as_of: datetime, dry_run: bool = False) -> RetentionReport:
    as_of = pd.Timestamp(as_of)
    as_of = as_of.tz_localize("UTC") if as_of.tzinfo is None else as_of
    report = RetentionReport(as_of=as_of.isoformat(), dry_run=dry_run)
    with ledger_lock(settings.paths.home):
        for name, days in settings.retention_days.items():
            cutoff = as_of - pd.Timedelta(days=days)
            report.cutoffs[name] = cutoff.isoformat()
            if name == "quarantine":
                _quarantine(settings, cutoff, dry_run, report)
            elif name == "feature_snapshots":
                for path in parquet_files(settings.paths.feature_snapshots):
                    _rows_before(path, "event_timestamp", cutoff, dry_run, report, name)
            else:
                # and the lines a batch took back, kept so that removing the batch puts them back
                taken_back = sorted(settings.paths.retracted.glob(f"*/{name}"))
                for path in [p for folder in [settings.paths.table(name), *taken_back] for p in parquet_files(folder)]:
                    _rows_before(path, TABLES[name].time_column, cutoff, dry_run, report, name)
        if not dry_run:
            _record(settings.paths, report.cutoffs)
    return report


APPLIED = "retention.json"


def applied_cutoff(paths: SpendPaths, name: str) -> pd.Timestamp | None:
    """The latest cut-off retention applied to `name` (None: never applied)."""
    found = _applied(paths).get(name)
    return None if found is None else pd.Timestamp(found)


def _applied(paths: SpendPaths) -> dict[str, str]:
    path = paths.home / APPLIED
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _record(paths: SpendPaths, cutoffs: dict[str, str]) -> None:
    """Keep each table's latest applied cut-off: an apply with an earlier as-of deletes nothing newer, so
    the later one still holds."""
    path = paths.home / APPLIED
    kept = _applied(paths)
    for name, cutoff in cutoffs.items():
        if name not in kept or pd.Timestamp(cutoff) > pd.Timestamp(kept[name]):
            kept[name] = cutoff
    replace_with(path, lambda temporary: temporary.write_text(json.dumps(kept, indent=2) + "\n", encoding="utf-8"))


def _rows_before(path: Path, column: str, cutoff: pd.Timestamp, dry_run: bool, report, name: str) -> None:
    """Delete the rows of one file before the cut-off; a month partition wholly on one side is decided
    from its name and row count alone."""
    month = next((p.removeprefix("month=") for p in path.parts if p.startswith("month=")), None)
    if month is not None:
        first = pd.Timestamp(f"{month}-01", tz="UTC")
        if first >= cutoff:
            _count(report.kept, name, pq.read_metadata(path).num_rows)
            return
        if first + pd.offsets.MonthBegin(1) <= cutoff:
            _count(report.deleted, name, pq.read_metadata(path).num_rows)
            _remove(path, dry_run, report)
            return
    table = pq.read_table(path)
    times = table.column(column)
    old = pc.fill_null(pc.less(times, pa.scalar(cutoff.to_pydatetime(), times.type)), False)
    removed = pc.sum(old).as_py() or 0
    _count(report.deleted, name, removed)
    _count(report.kept, name, table.num_rows - removed)
    if removed == table.num_rows:
        _remove(path, dry_run, report)
    elif removed and not dry_run:
        kept = table.filter(pc.invert(old)).replace_schema_metadata(table.schema.metadata)
        replace_with(path, lambda temporary: pq.write_table(kept, temporary, compression="zstd"))
        report.files_rewritten += 1


def _remove(path: Path, dry_run: bool, report: RetentionReport) -> None:
    if not dry_run:
        path.unlink()
        report.files_removed += 1


def _quarantine(settings: SpendSettings, cutoff: pd.Timestamp, dry_run: bool, report: RetentionReport) -> None:
    ingested = {b.batch_id: pd.Timestamp(b.started_at) for b in BatchCatalog(settings.paths.catalog).batches()}
    for path in parquet_files(settings.paths.quarantine):
        rows = pq.read_metadata(path).num_rows
        at = ingested.get(path.stem)
        if at is None or at >= cutoff:
            _count(report.kept, "quarantine", rows)
            continue
        _count(report.deleted, "quarantine", rows)
        _remove(path, dry_run, report)


def _count(counts: dict[str, int], name: str, rows: int) -> None:
    counts[name] = counts.get(name, 0) + int(rows)
