"""Lines an earlier batch quarantined for a value it could not read, stored now that the options read it
(the same export ingested again with --ts-format, --decimal or --repeated-hour).

A row refused for such a value has no parsed value to hash, so its identity (row_hash) holds its raw
text; read with the right options, the same line hashes as its content, and nothing tied it to its
refusal: `spend quarantine` kept listing it and the quality scorecard counted it invalid. The line is
recognised by what the quarantine keeps of it (its customer's pseudonym and the raw text of its other
fields), and its quarantined copy takes the stored row's identity, so whatever asks whether a refused
row went in later asks by row_hash alone. Read now but refused for another reason (a time read, then
no customer), the old copy takes the new refusal's identity: the line is out once, for its latest
reason (`superseded`). A row that parsed whole hashes alike both times (judged again, it is a duplicate
of its refusal); every row still out is looked at, as a row's first reason may not be the value it
could not read (no customer, and a time not read).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from spend.core.files import replace_with
from spend.features.ingest.identity import among, content_hash
from spend.features.schema.fields import TEXT
from spend.features.store import layout


def as_kept(raw: pd.DataFrame, typed: pd.DataFrame, specs: dict, at: np.ndarray) -> pd.DataFrame:
    """The rows at positions `at` as the quarantine keeps them: the raw text of each field, the customer's
    pseudonym (never the raw id) and the event id as derived."""
    columns = [c for c in specs if c in raw.columns and c != "customer_id"]
    rows = raw.iloc[at][columns].astype(TEXT)
    if "customer_id" in typed:
        rows.insert(0, "customer_id", typed["customer_id"].iloc[at])
    if "event_id" in typed:
        rows["event_id"] = typed["event_id"].iloc[at]
    return rows


def probe_column(columns) -> str:
    """The column whose values narrow the quarantine to the rows an export's lines can be: the order,
    else the customer (read by ingestion beside the quarantine's row_hash)."""
    return "order_id" if "order_id" in columns else "customer_id"


def read_since(
    store, table: str, kept: pd.DataFrame, hashes: pd.Series, stored: np.ndarray, listed: pd.DataFrame
) -> dict[int, int]:
    """The quarantined rows still out (their row_hash not `stored`) that are lines of `kept` (the rows
    judged now, accepted or refused, as the quarantine would keep them; `hashes` theirs): each one's
    row_hash -> the line's now. `listed`: every quarantined row's row_hash and probe column, as read."""
    if kept.empty:
        return {}
    by = probe_column(kept.columns)
    where = None
    if by in kept and by in listed:  # else every row is read
        theirs, mine = listed[by], kept[by]
        if not (among(theirs, mine) | (theirs.isna().to_numpy() & bool(mine.isna().any()))).any():
            return {}  # the usual answer: none of the export's orders has a row in the quarantine
        where = _same(mine, by)
    refused = store.read_quarantine(table, where=where)
    if refused.empty or "row_hash" not in refused:
        return {}
    out = refused[~among(refused["row_hash"].to_numpy(dtype="int64"), stored)]
    if out.empty:
        return {}
    columns = [c for c in kept.columns if c != "event_id"]  # derived from the parsed values: not the line's
    mine = pd.Series(hashes.to_numpy(), index=_identity(kept, columns).to_numpy())
    mine = mine[~mine.index.duplicated()]
    theirs = _identity(out, columns)
    hit = theirs.isin(mine.index).to_numpy(dtype=bool)
    return dict(zip(out["row_hash"].to_numpy()[hit].tolist(), mine.loc[theirs[hit]].tolist(), strict=True))


def _same(values: pd.Series, column: str) -> ds.Expression:
    """Only a quarantined row with one of `values` in `column` (its order, else its customer; blank where
    one of them is) can be one of the lines read now: those are read, not every row refused in the
    quarantine's months (benchmarks/ingest_growth.py)."""
    given = values.dropna().unique().tolist()
    field = ds.field(column)
    if not given:
        return field.is_null()
    return field.isin(given) | field.is_null() if values.isna().any() else field.isin(given)


def settled(store, table: str, refused: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Which quarantined rows (`refused`: batch_id and row_hash) are no longer out as they were: stored by a
    later batch, and (the others) refused again by a later batch for another reason."""
    stored = store.read(table, ["row_hash"])
    later = refused["row_hash"].isin(stored["row_hash"] if "row_hash" in stored else []).to_numpy(dtype=bool)
    return later, superseded(refused) & ~later


def superseded(refused: pd.DataFrame) -> np.ndarray:
    """Which quarantined rows a later batch refused again under another reason (`relink` gave them its
    identity): the line is out once, for its latest reason. `refused` holds batch_id and row_hash."""
    if refused.empty:
        return np.zeros(0, dtype=bool)
    batch = refused["batch_id"].astype(str)
    latest = batch.groupby(refused["row_hash"].to_numpy()).transform("max")  # batch ids sort by time
    return (batch < latest).to_numpy(dtype=bool)


def _identity(rows: pd.DataFrame, columns: list[str]) -> pd.Series:
    blank = pd.Series(pd.NA, index=rows.index, dtype=TEXT)
    return content_hash(pd.DataFrame({c: rows[c].astype(TEXT) if c in rows else blank for c in columns}))


def relink(quarantine_files: list[str], links: dict[int, int]) -> None:
    """Give the quarantined rows `links` names the identity of the line now stored (each file holding one
    rewritten in one move, as a retraction rewrites them)."""
    if not links:
        return
    old = pd.Index(np.fromiter(links, dtype="int64", count=len(links)))
    new = np.fromiter(links.values(), dtype="int64", count=len(links))
    for path in quarantine_files:
        parquet = pq.ParquetFile(path)
        table = parquet.read()
        if "row_hash" not in table.column_names:
            continue
        hashes = table.column("row_hash").to_numpy()
        at = old.get_indexer(hashes)
        if not (at >= 0).any():
            continue
        relinked = pa.array(np.where(at >= 0, new[at], hashes), pa.int64())
        table = table.set_column(table.column_names.index("row_hash"), "row_hash", relinked)
        options = layout.options_of(parquet)
        replace_with(path, lambda temporary, t=table, o=options: pq.write_table(t, temporary, **o))
