"""The offline store and the quarantine: Parquet files under SPEND_HOME, one file per batch and partition.

Layout: offline/<table>/month=YYYY-MM/<batch_id>.parquet and quarantine/<table>/<batch_id>.parquet.
Files are written to staging first and moved into place; readers only see batches the ledger
has committed, so a crash mid-batch leaves nothing a reader can see. Files of a batch the ledger never
committed (a process killed between the move and the ledger row) are orphans: other readers of the
folder (DuckDB, Spark, pandas) would see them, so the next ingest removes them, under the ingest lock,
and `spend doctor` lists and repairs them. A committed file that cannot be read (a disk or a copy that
damaged it) is named by every read that meets it, and `spend doctor` lists every such file with its
batch and source; `--repair` removes those batches, whose sources are then ingested again.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from spend.core.errors import DAMAGED_STORE, SpendError, first_line
from spend.core.settings import SpendPaths
from spend.features.ingest.catalog import BatchCatalog
from spend.features.schema.fields import TEXT
from spend.features.schema.tables import TABLES


@dataclass(frozen=True)
class DamagedFile:
    path: Path
    batch_id: str
    source: str
    problem: str


@contextmanager
def readable(what: str) -> Iterator[None]:
    """A stored Parquet file that cannot be read becomes one error naming it, not Arrow's exception."""
    try:
        yield
    except pa.ArrowInvalid as error:  # not OSError: a refused permission is not damage (the CLI names the file)
        raise SpendError(f"a stored file of {what} cannot be read ({first_line(error)}); {DAMAGED_STORE}") from error


def _batch_of(path: Path) -> str:
    return path.stem


def _files(root: Path, committed: set[str]) -> list[str]:
    if not root.exists():
        return []
    return sorted(str(p) for p in root.rglob("*.parquet") if _batch_of(p) in committed)


def _unified(files: list[str]) -> ds.Dataset:
    """The files as one dataset with every column any of them has (Arrow takes the first file's schema,
    so a column a newer Spend writes would be missing whenever an older file came first)."""
    schemas = [pq.read_schema(f) for f in files]
    if all(schema.equals(schemas[0]) for schema in schemas[1:]):
        return ds.dataset(files, format="parquet", schema=schemas[0])
    return ds.dataset(files, format="parquet", schema=pa.unify_schemas(schemas, promote_options="permissive"))


class OfflineStore:
    def __init__(self, paths: SpendPaths) -> None:
        self.paths = paths
        self.catalog = BatchCatalog(paths.catalog)
        self._pinned: dict[str, set[str]] | None = None

    @classmethod
    def pinned(cls, paths: SpendPaths) -> OfflineStore:
        """A store that reads the batches committed now, whatever commits later: a job that reads the
        history several times (a feature build) sees one history, and can say which batches it was."""
        store = cls(paths)
        committed: dict[str, set[str]] = {}
        for batch in store.catalog.batches():  # one read of the ledger: every table as of one moment
            committed.setdefault(batch.table_name, set()).add(batch.batch_id)
        store._pinned = committed
        return store

    def committed_ids(self, table: str) -> set[str]:
        """The table's batches this store reads: as the ledger says now, or as it said when pinned."""
        if self._pinned is not None:
            return set(self._pinned.get(table, ()))
        return self.catalog.committed_ids(table)

    def read(self, table: str, columns: list[str] | None = None, where: ds.Expression | None = None) -> pd.DataFrame:
        """All committed rows of a table (an empty frame if nothing was ingested); `where`: only the rows
        it holds for (an Arrow expression, applied while reading)."""
        return self._read(self.paths.table(table), table, columns, where)

    def current(self, table: str, columns: list[str] | None = None, where: ds.Expression | None = None) -> pd.DataFrame:
        """The rows that hold today: a replacing table's (TableSpec.replaces: the catalogue, the customers
        list) last row per key, every row of any other table."""
        spec = TABLES[table]
        return self.latest(table, spec.key, columns, where) if spec.replaces else self.read(table, columns, where)

    def latest(
        self, table: str, key: str, columns: list[str] | None = None, where: ds.Expression | None = None
    ) -> pd.DataFrame:
        """The last committed row of each `key` (a table whose newer rows replace older ones), in the
        ledger's commit order, with `columns` (default: all); `where` as in `read`."""
        wanted = None if columns is None else list(dict.fromkeys([*columns, key, "batch_id"]))
        rows = self.read(table, wanted, where)
        if rows.empty:
            return rows.reindex(columns=columns) if columns else rows
        position = rows["batch_id"].astype(str).map(self.batch_order(table))
        rows = rows.iloc[np.argsort(position.to_numpy(), kind="stable")]
        rows = rows.drop_duplicates(key, keep="last").reset_index(drop=True)
        return rows[columns] if columns else rows

    def batch_order(self, table: str) -> dict[str, int]:
        """Each committed batch's place in the ledger's commit order (the later, the newer its rows)."""
        committed = self.committed_ids(table)
        order = [b.batch_id for b in self.catalog.batches(table) if b.batch_id in committed]
        return {batch: i for i, batch in enumerate(order)}

    def read_quarantine(
        self, table: str, columns: list[str] | None = None, where: ds.Expression | None = None
    ) -> pd.DataFrame:
        return self._read(self.paths.quarantine / table, table, columns, where)

    def _read(self, root: Path, table: str, columns: list[str] | None, where=None) -> pd.DataFrame:
        files = _files(root, self.committed_ids(table))
        if not files:
            return pd.DataFrame(columns=columns or [])
        with readable(table):
            dataset = ds.dataset(files, format="parquet")
            if columns is None or any(c not in dataset.schema.names for c in columns):
                dataset = _unified(files)  # a column added since the first file was written
            wanted = None if columns is None else [c for c in columns if c in dataset.schema.names]
            table_read = dataset.to_table(columns=wanted, filter=where)
        return table_read.to_pandas(types_mapper=_types_mapper)

    def dataset(self, table: str) -> ds.Dataset:
        """The table's committed files as one Arrow dataset (open and read it under `readable`)."""
        return ds.dataset(self.files(table), format="parquet")

    def files(self, table: str) -> list[str]:
        """The table's committed Parquet files (for another reader: Spark, DuckDB)."""
        return _files(self.paths.table(table), self.committed_ids(table))

    def quarantine_files(self, table: str) -> list[str]:
        """The table's committed quarantine files."""
        return _files(self.paths.quarantine / table, self.committed_ids(table))

    def has_rows(self, table: str) -> bool:
        return bool(self.files(table))

    def has_column(self, table: str, column: str) -> bool:
        """Whether any committed file of the table has `column` (a home written before a field was added
        has files without it; the first file's schema is looked at first, every file's only if needed)."""
        files = self.files(table)
        if not files:
            return False
        with readable(table):
            return column in pq.read_schema(files[0]).names or column in _unified(files).schema.names

    def count(self, table: str, where: ds.Expression | None = None) -> int:
        """Committed rows of a table (that `where` holds for), counted without reading them into memory."""
        files = self.files(table)
        if not files:
            return 0
        with readable(table):
            return ds.dataset(files, format="parquet").count_rows(filter=where)

    def stage(
        self, batch_id: str, table: str, accepted: pd.DataFrame, quarantined: pd.DataFrame, time_column: str
    ) -> list[tuple[Path, Path]]:
        """Write a batch's files to staging; return (staged, final) pairs for `publish`."""
        stage_root = self.paths.staging / batch_id
        moves: list[tuple[Path, Path]] = []
        files: list[tuple[pa.Table, Path]] = []
        if not accepted.empty:
            for month, part in _by_month(accepted, time_column):
                staged = stage_root / table / f"month={month}" / f"{batch_id}.parquet"
                moves.append((staged, self.paths.table(table) / f"month={month}" / f"{batch_id}.parquet"))
                files.append((part, staged))
        if not quarantined.empty:
            staged = stage_root / "quarantine" / f"{batch_id}.parquet"
            moves.append((staged, self.paths.quarantine / table / f"{batch_id}.parquet"))
            files.append((_arrow(quarantined), staged))
        _write_all(files)
        return moves

    def publish(self, batch_id: str, moves: list[tuple[Path, Path]]) -> None:
        for staged, final in moves:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged, final)
        shutil.rmtree(self.paths.staging / batch_id, ignore_errors=True)

    def discard(self, batch_id: str, moves: list[tuple[Path, Path]] = ()) -> None:
        """Undo a batch that will not be committed: its staging folder and any file already moved."""
        for _, final in moves:
            final.unlink(missing_ok=True)
        shutil.rmtree(self.paths.staging / batch_id, ignore_errors=True)

    def orphans(self) -> list[Path]:
        """Files of batches the ledger never committed, and leftover staging folders. Only meaningful under
        the ingest lock (features/ingest/lock.py): otherwise an ingest in flight looks the same."""
        committed = set().union(*(self.catalog.committed_ids(t) for t in self._tables()))
        found = [path for path in self._stored() if _batch_of(path) not in committed]
        staging = sorted(self.paths.staging.iterdir()) if self.paths.staging.exists() else []
        return sorted(found) + staging

    def unrestored(self) -> list[str]:
        """Removed batches whose taken-back lines were never put back (a removal stopped between forgetting
        the batch and `restore_retracted`): their SPEND_HOME/retracted/<batch> folder outlived them."""
        root = self.paths.retracted
        if not root.exists():
            return []
        committed = {b.batch_id for b in self.catalog.batches()}
        return sorted(p.name for p in root.iterdir() if p.is_dir() and p.name not in committed)

    def sweep(self) -> list[Path]:
        """Remove the orphans; returns what was removed."""
        removed = self.orphans()
        for path in removed:
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
        return removed

    def damaged(self) -> list[DamagedFile]:
        """Committed files whose Parquet footer cannot be read, with their batch and its source."""
        batches = {b.batch_id: b for b in self.catalog.batches()}
        found = []
        for path in self._stored():
            batch = batches.get(_batch_of(path))
            if batch is None:  # an orphan: `orphans` lists it
                continue
            try:
                pq.read_metadata(path)
            except pa.ArrowInvalid as error:  # damage; a refused permission is not, and --repair deletes
                found.append(DamagedFile(path, batch.batch_id, batch.source, first_line(error)))
        return found

    def forget(self, batch_ids: set[str]) -> list[Path]:
        """Remove batches whole (under the ingest lock): their ledger rows first, so no reader sees them, then
        their files (a crash between leaves orphans, which the next ingest removes). Returns the files."""
        self.catalog.forget(sorted(batch_ids))
        files = [path for path in self._stored() if _batch_of(path) in batch_ids]
        for path in files:
            path.unlink(missing_ok=True)
        return files

    def _stored(self) -> list[Path]:
        """Every Parquet file under the offline store and the quarantine, committed or not, in path order."""
        roots = [r for r in (self.paths.offline, self.paths.quarantine) if r.exists()]
        return sorted(path for root in roots for path in root.rglob("*.parquet"))

    def _tables(self) -> set[str]:
        roots = [r for r in (self.paths.offline, self.paths.quarantine) if r.exists()]
        return {p.name for root in roots for p in root.iterdir() if p.is_dir()}


def _by_month(frame: pd.DataFrame, time_column: str):
    """Yield (YYYY-MM, Arrow table) per month: one conversion to Arrow, then zero-copy slices."""
    ts = frame[time_column]
    keys = (ts.dt.year * 100 + ts.dt.month).to_numpy()  # integer keys: strftime costs seconds on 1M rows
    if (np.diff(keys) < 0).any():  # exports are mostly in time order: sort only when needed
        order = np.argsort(keys, kind="stable")
        frame, keys = frame.iloc[order], keys[order]
    table = _arrow(frame)
    sorted_keys = keys
    bounds = np.flatnonzero(np.diff(sorted_keys)) + 1
    for start, stop in zip(np.r_[0, bounds], np.r_[bounds, len(sorted_keys)], strict=True):
        key = int(sorted_keys[start])
        yield f"{key // 100:04d}-{key % 100:02d}", table.slice(start, stop - start)


def _write_arrow(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd")


WRITERS = 4  # files written at once at most: each holds its encoded pages in memory until it is closed


def _write_all(files: list[tuple[pa.Table, Path]]) -> None:
    """Write each table to its path, several at a time: Arrow's writer leaves the GIL, and a year's
    export is a file per month."""
    if len(files) < 2:
        for table, path in files:
            _write_arrow(table, path)
        return
    with ThreadPoolExecutor(max_workers=min(len(files), os.cpu_count() or 1, WRITERS)) as pool:
        list(pool.map(lambda file: _write_arrow(*file), files))  # list(): a writer's error is raised here


def _arrow(frame: pd.DataFrame) -> pa.Table:
    return _plain(pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False))


def _plain(table: pa.Table) -> pa.Table:
    """Decode dictionary columns (constant columns are built as categoricals for speed) and drop pandas
    metadata, so every file of a table has the same plain schema."""
    for i, field in enumerate(table.schema):
        if pa.types.is_dictionary(field.type):
            table = table.set_column(i, field.name, table.column(i).cast(field.type.value_type))
    return table.replace_schema_metadata(None)


def _types_mapper(arrow_type: pa.DataType):
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return TEXT
    if pa.types.is_integer(arrow_type):
        return pd.Int64Dtype()
    return None
