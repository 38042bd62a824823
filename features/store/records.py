"""Entity records: one packed value per entity and view, written beside Feast's own layout.

Feast keeps one value per row (SQLite: a row per entity and feature) or per hash field (Redis), so reading
a thousand customers' 22 features means 22,000 rows or fields, each decoded on its own: 25-50 ms on the
2-core machine before any model runs. Spend's writer (features/store/materialize.py) also stores, in the
same transaction or pipeline, every entity's whole feature row as one record, and the batch reader reads
that record instead: a thousand records are a thousand keys.

Record: a fixed part (layout id, event time in epoch seconds, the view's numeric features as float64 with
NaN for a null, each text feature's length in UTF-8 bytes as uint32 with 0xFFFFFFFF for a null), then the
text features' bytes one after another. Everything but the texts decodes as one numpy buffer.
The layout id is a CRC of the view's feature names and kinds: a record written under another schema is
not decoded. Feast's layout stays the source of truth: the reader uses a record only when its event time
equals the one Feast's layout holds for the entity, so a write through Feast's own API (which does not
know about records) makes the reader fall back to Feast's layout for that entity, never serve stale
values.

Where records live: SQLite, a table `<feast table>__records` (entity_key primary key, WITHOUT ROWID);
Redis, the field `_spend_record:<view>` of the entity's hash, so Feast deleting the hash deletes it too.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np

from spend.features.store import codec

NULL_TEXT = 0xFFFFFFFF


def layout_id(numeric: Sequence[str], texts: Sequence[str]) -> int:
    return zlib.crc32(("n:" + ",".join(numeric) + "|t:" + ",".join(texts)).encode("utf-8"))


def _fixed(numeric_count: int, text_count: int) -> np.dtype:
    return np.dtype(
        [
            ("layout", "<u4"),
            ("seconds", "<f8"),
            ("values", "<f8", (numeric_count,)),
            ("lengths", "<u4", (text_count,)),
        ]
    )


def sqlite_table(feast_table: str) -> str:
    return f"{feast_table}__records"


def redis_field(view: str) -> bytes:
    return f"_spend_record:{view}".encode()


def encode(layout: int, seconds: np.ndarray, numbers: np.ndarray, texts: list[list]) -> list[bytes]:
    """One record per entity. numbers: (entities, numeric features) float64; texts: per text feature, one
    value (str or None) per entity."""
    n = len(seconds)
    fixed = np.empty(n, dtype=_fixed(numbers.shape[1], len(texts)))
    encoded = [[None if codec.is_null(v) else str(v).encode("utf-8") for v in column] for column in texts]
    fixed["layout"], fixed["seconds"], fixed["values"] = layout, seconds, numbers
    for j, column in enumerate(encoded):
        fixed["lengths"][:, j] = [NULL_TEXT if e is None else len(e) for e in column]
    raw, size = fixed.tobytes(), fixed.itemsize
    heads = [raw[i * size : (i + 1) * size] for i in range(n)]
    if not texts:
        return heads
    return [head + b"".join(column[i] or b"" for column in encoded) for i, head in enumerate(heads)]


def decode(
    records: Sequence[bytes], layout: int, numeric_count: int, text_count: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[list[str | None]]]:
    """(usable per record, event seconds, numbers (numeric features x records), texts per text feature).
    A record is unusable when its length is not what its fixed part says or it was written under another
    layout."""
    dtype = _fixed(numeric_count, text_count)
    size, n = dtype.itemsize, len(records)
    whole = np.fromiter(map(len, records), dtype=np.int64, count=n)
    usable = whole >= size
    heads = b"".join(r[:size] if ok else bytes(size) for r, ok in zip(records, usable.tolist(), strict=True))
    fixed = np.frombuffer(heads, dtype=dtype)
    lengths = fixed["lengths"].astype(np.int64)
    usable &= fixed["layout"] == layout
    usable &= whole == size + np.where(lengths == NULL_TEXT, 0, lengths).sum(axis=1)
    texts: list[list[str | None]] = [[None] * n for _ in range(text_count)]
    if text_count:
        ends = (size + np.cumsum(np.where(lengths == NULL_TEXT, 0, lengths), axis=1)).tolist()
        nulls = (lengths == NULL_TEXT).tolist()
        for i in np.flatnonzero(usable).tolist():
            record, start = records[i], size
            for j in range(text_count):
                if not nulls[i][j]:
                    texts[j][i] = record[start : ends[i][j]].decode("utf-8")
                start = ends[i][j]
    return usable, fixed["seconds"].copy(), fixed["values"].T.copy(), texts


def feature_kinds(view) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A Feast view's (numeric, text) feature names, in the view's order: the record's layout."""
    texts = tuple(f.name for f in view.features if codec.is_text(f))
    return tuple(f.name for f in view.features if f.name not in texts), texts
