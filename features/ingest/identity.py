"""Record identity: derived event ids, row hashes, and the duplicate/conflict decisions made from them.

- A *duplicate* is a record already received (same key and same content), in an earlier batch or
  earlier in this one. It is counted, not stored again: replaying a file adds nothing.
- A *conflict* is a new record whose key is already taken by different content. It is quarantined.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

STATUSES = ("accepted", "duplicate", "invalid", "conflict")
ACCEPTED, DUPLICATE, INVALID, CONFLICT = range(len(STATUSES))
_MIX = np.uint64(0x100000001B3)  # FNV-1a prime: mixes column hashes in order


def content_hash(frame: pd.DataFrame, when_given: Collection[str] = ()) -> pd.Series:
    """A stable 64-bit hash of each row's values, as int64: column hashes (pandas' SipHash with its
    fixed key) mixed in column order. The same values give the same hash in any batch or file format.
    A column in `when_given` is mixed in only where it holds a value: a row without one hashes as if the
    column did not exist (a field added to the schema leaves every stored row's hash as it was)."""
    combined = np.full(len(frame), np.uint64(0xCBF29CE484222325), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for name, column in frame.items():
            mixed = (combined ^ _column_hash(column)) * _MIX
            combined = np.where(column.notna().to_numpy(dtype=bool), mixed, combined) if name in when_given else mixed
    return pd.Series(combined.view("int64"), index=frame.index)


def _column_hash(column: pd.Series) -> np.ndarray:
    hashed = _plain_hash(column)
    nul = _holding_nul(column)
    if nul is not None:
        spelt = column[nul].astype(object).str.replace("\\", "\\\\").str.replace("\x00", "\\0")
        again = pd.util.hash_pandas_object(spelt, index=False).to_numpy()
        hashed = hashed.copy()
        hashed[nul] = again ^ _NUL_SALT
    return hashed


# pandas hashes a string only up to its first NUL: "\x00O1" and "\x00O2" hashed alike, so two lines of a
# damaged export counted as one. A value holding a NUL is hashed with it spelt out, salted apart from the
# values that spell it so literally; values without one keep their hash (and their derived event ids).
_NUL_SALT = np.uint64(0x9E3779B97F4A7C15)


def _holding_nul(column: pd.Series) -> np.ndarray | None:
    """Which values are text holding a NUL, or None when none is (or the column is not text)."""
    if not (isinstance(column.dtype, pd.StringDtype) or column.dtype == object):
        return None
    try:
        holding = column.str.contains("\x00", regex=False).to_numpy(dtype=bool, na_value=False)
    except (AttributeError, TypeError):  # an object column of something other than text
        return None
    return holding if holding.any() else None


def _plain_hash(column: pd.Series) -> np.ndarray:
    """pandas' hash of each value (the same whichever way it is computed: `categorize` only says how)."""
    n = len(column)
    if n and column.isna().all():  # absent optional column: one hash broadcast, not a million
        return np.full(n, pd.util.hash_pandas_object(column.iloc[:1], index=False).to_numpy()[0])
    if isinstance(column.dtype, pd.StringDtype) and column.dtype.storage == "pyarrow":
        arrow = pa.chunked_array(column.array._pa_array)
        # Hashed without a dictionary only where no value is blank: pandas hashes a blank differently then.
        whole = arrow.null_count == 0
        # Event ids: a dictionary of them costs more than it saves.
        encoded = None if whole and _mostly_distinct(arrow) else arrow.combine_chunks().dictionary_encode()
        if encoded is not None and len(encoded.dictionary) <= n // 4:
            # Few distinct values (ids of products, customers, orders): hash the dictionary, then take.
            codes = np.asarray(encoded.indices.fill_null(-1))
            categories = pd.Index(encoded.dictionary.to_pylist(), dtype=object)
            column = pd.Series(pd.Categorical.from_codes(codes, categories=categories))
        elif whole:
            return pd.util.hash_pandas_object(column, index=False, categorize=False).to_numpy()
    return pd.util.hash_pandas_object(column, index=False, categorize=True).to_numpy()


SAMPLE = 4096  # values looked at to tell a column of ids from one of repeated values


def _mostly_distinct(arrow: pa.ChunkedArray) -> bool:
    """Whether values spread evenly over the column are nearly all different (more than three in four of
    them): such a column is hashed value by value, without a dictionary."""
    if len(arrow) < 4 * SAMPLE:
        return False
    at = np.linspace(0, len(arrow) - 1, SAMPLE).astype(np.int64)
    return pc.count_distinct(arrow.take(at)).as_py() > 3 * SAMPLE // 4


def with_occurrence(content: pd.Series, key_given: pd.Series) -> pd.Series:
    """Rows without a key of their own that repeat an earlier row of the file exactly get a content of
    their own: the hash of (content, the how-manieth repeat), so a till's two lines of one scanned item
    are two lines. The first of each stays as it was, and a second ingest of the same file numbers the
    repeats the same way: they are duplicates again."""
    repeat = content.groupby(content).cumcount().where(~key_given, 0)
    if not repeat.any():
        return content
    again = repeat > 0
    out = content.copy()
    out[again] = content_hash(pd.DataFrame({"content": content[again], "repeat": repeat[again]}))
    return out


def derive_event_ids(event_id: pd.Series, content: pd.Series) -> pd.Series:
    """Event ids for rows that came without one: `ev-` + the hex hash of their parsed content."""
    digits = np.frombuffer(content.to_numpy().astype(">i8").tobytes().hex().encode("ascii"), dtype="S16")
    ids = np.empty(len(digits), dtype=[("prefix", "S3"), ("hex", "S16")])
    ids["prefix"], ids["hex"] = b"ev-", digits
    derived = pd.Series(pd.arrays.ArrowStringArray(pa.array(ids.view("S19")).cast(pa.string())), index=content.index)
    if event_id.isna().all():  # the usual case for exports without ids: no alignment needed
        return derived
    return event_id.where(event_id.notna(), derived)


def among(values: pd.Series | np.ndarray, pool: pd.Series | np.ndarray) -> np.ndarray:
    """Which of `values` are in `pool` (every stored row's hash or key: millions in a home of some years),
    by Arrow's hash set. numpy's isin sorts the pool and pandas' isin of Arrow strings walks it in Python,
    so every ingest slowed as the home grew (benchmarks/ingest_growth.py)."""
    values, pool = _arrow(values), _arrow(pool)
    if pa.types.is_null(values.type) or pa.types.is_null(pool.type) or not len(pool):
        return np.zeros(len(values), dtype=bool)  # nothing to find, or nothing to find it among
    if pool.type != values.type:
        pool = pool.cast(values.type)
    if len(values) < len(pool):  # the fewer make the hash set and the many are probed against it
        pool = pool.filter(pc.is_in(pool, value_set=values.unique(), skip_nulls=True).fill_null(False))
    return pc.is_in(values, value_set=pool, skip_nulls=True).fill_null(False).to_numpy(zero_copy_only=False)


def _arrow(column: pd.Series | np.ndarray) -> pa.Array:
    array = pa.array(column, from_pandas=True) if isinstance(column, pd.Series) else pa.array(np.asarray(column))
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def classify(
    row_hash: pd.Series,
    key: pd.Series,
    key_given: pd.Series,
    invalid: pd.Series,
    stored_hashes: np.ndarray,
    refused: np.ndarray,
    stored_keys: pd.Series,
) -> pd.Series:
    """Label each row 'accepted', 'duplicate', 'invalid' or 'conflict' (in that order of precedence).

    Only a key given by the source can conflict: a derived key is a hash of the content, so a second
    row with the same derived key has the same content and is already a duplicate. A table whose newer
    rows replace older ones passes no `stored_keys`: a key conflicts only within the file. A row an
    earlier batch refused (`refused`: per row, whether its hash is in the quarantine) is a duplicate
    unless it is accepted now: the setting or option its refusal asked for was given (a currency listed,
    `--decimal ,`), and the same file ingested again stores it, where before it was a duplicate of its
    own refusal for good.
    """
    hashes = row_hash.to_numpy()
    replay = among(hashes, stored_hashes) | row_hash.duplicated(keep="first").to_numpy()
    code = np.where(replay, DUPLICATE, np.where(invalid.to_numpy(), INVALID, ACCEPTED)).astype(np.int8)
    candidates = (code == ACCEPTED) & key_given.to_numpy()
    if candidates.any():
        keys = key[candidates]
        clash = among(keys, stored_keys) | keys.duplicated(keep="first").to_numpy()
        code[np.flatnonzero(candidates)[clash]] = CONFLICT
    code[(code != ACCEPTED) & refused] = DUPLICATE  # refused again: counted once
    # Categorical: comparing a million statuses as strings costs more than the classification itself.
    return pd.Series(pd.Categorical.from_codes(code, categories=STATUSES), index=key.index)
