"""Remove the rows that name given customers from files, rewriting only the files that hold one.

A file is rewritten under a temporary name beside it and moved into place, so a reader sees the old file
or the new one, never half of either. Parquet is read column by column: only the id columns are read to
decide, and a file without a match is left untouched (most of a store, for one customer).
"""

from __future__ import annotations

import bisect
import re
from collections import Counter
from collections.abc import Collection
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from spend.core.files import replace_with
from spend.features.store import layout

TABULAR = (".parquet", ".csv", ".xlsx")
TEXT = (".json", ".jsonl", ".txt", ".md", ".html", ".log")


def scrub_parquet(path: Path, targets: pa.Array, columns: Collection[str] | None = None) -> Counter:
    """Drop the rows whose `columns` (every text column if None) hold a target; returns rows removed per
    target found. Row groups whose id statistics exclude every target are not read to decide."""
    parquet = pq.ParquetFile(path)
    names = [
        f.name
        for f in parquet.schema_arrow
        if (columns is None or f.name in columns) and (pa.types.is_string(f.type) or pa.types.is_large_string(f.type))
    ]
    groups = _candidate_groups(parquet, names, sorted(targets.to_pylist())) if names else []
    if not groups:
        return Counter()
    ids = parquet.read_row_groups(groups, columns=names)
    hit = _matches(ids, targets)
    if not pc.any(hit).as_py():
        return Counter()
    found = _found(ids, hit, targets)
    replace_with(path, lambda tmp: _write_without(parquet, names, targets, tmp))
    return found


def _write_without(parquet: pq.ParquetFile, names: list[str], targets: pa.Array, tmp: Path) -> None:
    """The file without the rows naming a target, row group by row group with the file's own encodings, so
    a snapshot file keeps the layout its reads skip by (features/store/layout.py)."""
    schema = parquet.schema_arrow
    with pq.ParquetWriter(tmp, schema, **layout.options_of(parquet)) as writer:
        for g in range(parquet.metadata.num_row_groups):
            group = parquet.read_row_group(g)
            kept = group.filter(pc.invert(_matches(group.select(names), targets)))
            if kept.num_rows:
                writer.write_table(kept, row_group_size=kept.num_rows)


def _candidate_groups(parquet: pq.ParquetFile, names: list[str], targets: list[str]) -> list[int]:
    """Row groups that may hold a target: those whose min-max range of some id column takes one in."""
    meta, wanted = parquet.metadata, [parquet.schema_arrow.get_field_index(n) for n in names]
    out = []
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for i in wanted:
            stats = group.column(i).statistics
            if stats is None or not stats.has_min_max or _any_between(targets, stats.min, stats.max):
                out.append(g)
                break
    return out


def _any_between(targets: list[str], low, high) -> bool:
    at = bisect.bisect_left(targets, low)
    return at < len(targets) and targets[at] <= high


def scrub_csv(path: Path, targets: pa.Array) -> Counter:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    hit, found = _frame_matches(frame, targets)
    if hit.any():
        replace_with(path, lambda tmp: frame[~hit].to_csv(tmp, index=False))
    return found


def scrub_excel(path: Path, targets: pa.Array) -> Counter:
    frame = pd.read_excel(path, dtype=str, keep_default_na=False)
    hit, found = _frame_matches(frame, targets)
    if hit.any():
        replace_with(path, lambda tmp: frame[~hit].to_excel(tmp, index=False, engine="openpyxl"))
    return found


def scrub_file(path: Path, targets: pa.Array) -> Counter:
    """Any tabular file a user or a command wrote: rows holding a target in any text cell."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return scrub_parquet(path, targets)
    if suffix == ".csv":
        return scrub_csv(path, targets)
    return scrub_excel(path, targets)


def parquet_files(root: Path) -> list[Path]:
    """Parquet files under `root` (the customer snapshots are a folder named *.parquet)."""
    return sorted(p for p in root.rglob("*.parquet") if p.is_file()) if root.exists() else []


def mentions(path: Path, targets: Collection[str]) -> bool:
    """Whether a text file holds one of the targets as a whole id (such files are reported, not edited):
    a shop's id "2026" or "12346" is inside dates and figures of every report, and a receipt listing
    them all as not removed told an erasure had failed where nothing of the customer was there."""
    text = path.read_bytes()
    return any(_as_a_whole(t.encode("utf-8")).search(text) for t in targets if t.encode("utf-8") in text)


def _as_a_whole(target: bytes) -> re.Pattern:
    """The target not continued by a letter, a digit or the punctuation ids are made of on either side."""
    return re.compile(rb"(?<![\w.:/#@-])" + re.escape(target) + rb"(?![\w.:/#@-])")


def _matches(table: pa.Table, targets: pa.Array) -> pa.Array:
    hit = pa.array(np.zeros(table.num_rows, dtype=bool))
    for column in table.columns:
        hit = pc.or_(hit, pc.fill_null(pc.is_in(column, value_set=targets), False))
    return hit


def _found(table: pa.Table, hit: pa.Array, targets: pa.Array) -> Counter:
    """Rows removed per target (a row naming two targets counts for the first column's)."""
    found: Counter = Counter()
    rows = table.filter(hit)
    taken = pa.array(np.zeros(rows.num_rows, dtype=bool))
    for column in rows.columns:
        here = pc.and_(pc.fill_null(pc.is_in(column, value_set=targets), False), pc.invert(taken))
        found.update(pc.filter(column, here).to_pylist())
        taken = pc.or_(taken, here)
    return found


def _frame_matches(frame: pd.DataFrame, targets: pa.Array) -> tuple[pd.Series, Counter]:
    wanted = set(targets.to_pylist())
    hit = pd.Series(False, index=frame.index)
    found: Counter = Counter()
    for _, column in frame.items():
        here = column.isin(wanted) & ~hit
        found.update(column[here].tolist())
        hit |= here
    return hit, found
