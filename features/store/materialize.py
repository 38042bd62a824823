"""Materialise snapshots into Feast's online store, fast, in Feast's own format.

Stock `FeatureStore.materialize` builds one protobuf per value and, on SQLite, runs one INSERT per value.
This writes the same rows (tests compare them with Feast's reads) with vectorised encoding and bulk
statements, and records the interval in the registry as Feast does, so `materialize-incremental`
semantics hold. Window: (start, end], start = the last materialised end (incremental) or end - TTL.

Newer values are never replaced by older ones, whoever writes: an entity's row whose event time is older
than the one stored is skipped, in the same statement (SQLite) or script (Redis) as the write, as Feast's
Redis store does. One difference: an equal time replaces (Feast keeps the first), because a card's two
payments in one second must leave the second's windows online.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime

import numpy as np
import orjson
import pandas as pd
import pyarrow.compute as pc
import pyarrow.dataset as ds
from feast import FeatureStore, FeatureView

from spend.core.errors import SpendError
from spend.core.names import CUSTOMER_ID as ID
from spend.core.settings import SpendSettings
from spend.features.ingest.lock import ledger_lock
from spend.features.ingest.store import OfflineStore
from spend.features.store import codec, records
from spend.features.store.config import feature_store, redis_cluster
from spend.features.store.entity_keys import entity_keys
from spend.features.store.feast_private import redis_client, sqlite_connection, sqlite_table
from spend.features.store.manifest import manifest_path

BATCH = 5_000


def batch_source_path(view: FeatureView) -> str:
    source = view.batch_source if view.batch_source is not None else view.stream_source.batch_source
    return source.path


def latest_rows(view: FeatureView, start: datetime, end: datetime) -> pd.DataFrame:
    """Each entity's latest snapshot with start < event_timestamp <= end."""
    keys = [e.name for e in view.entity_columns]
    columns = [*keys, "event_timestamp", *(f.name for f in view.features)]
    ts = ds.field("event_timestamp")
    table = ds.dataset(batch_source_path(view)).to_table(
        columns=columns, filter=(ts > pd.Timestamp(start)) & (ts <= pd.Timestamp(end))
    )
    frame = table.to_pandas()
    return frame.sort_values("event_timestamp", kind="stable").drop_duplicates(keys, keep="last")


def materialize(
    settings: SpendSettings,
    end: datetime | None = None,
    incremental: bool = False,
    progress: Callable[[str], None] = lambda step: None,
    overwrite: bool = False,
) -> dict[str, int]:
    """Each online view's latest snapshots up to `end` into the online store. An entity holding newer
    values online (a push since) keeps them, unless `overwrite` (after correcting the history)."""
    if not manifest_path(settings).exists():
        raise SpendError("no feature snapshots to materialise; run `spend features build` first")
    fs = feature_store(settings)
    end = end or datetime.now(UTC)
    written = {}
    for view in fs.list_feature_views():
        if not view.online:
            continue
        progress(view.name)
        start = _start(view, end, incremental)
        with _erasures_held_off(settings, view):
            written[view.name] = _write_latest(settings, fs, view, start, end, overwrite)
        fs.registry.apply_materialization(view, fs.project, start, end)
    return written


def why_empty(settings: SpendSettings, written: dict[str, int], end: datetime) -> dict[str, str]:
    """Per view that wrote nothing, why in one line: no snapshots at all, or none within its TTL before
    `end` (a product's snapshots stop at the history's last day; an old export's end is long before now)."""
    fs = feature_store(settings)
    reasons = {}
    for name in (n for n, rows in written.items() if rows == 0):
        view = fs.get_feature_view(name)
        latest = pc.max(ds.dataset(batch_source_path(view)).to_table(columns=["event_timestamp"]).column(0)).as_py()
        if latest is None:
            reasons[name] = "no snapshots (`spend features build` says what it skipped)"
        else:
            day = _last_state(settings, pd.Timestamp(latest))
            reasons[name] = (
                f"the latest snapshot ({pd.Timestamp(latest).date()}) is more than the view's {view.ttl.days}-day "
                f"TTL before {pd.Timestamp(end).date()}; `--until {day}` loads the history's last state"
            )
    return reasons


def _last_state(settings: SpendSettings, latest: pd.Timestamp) -> str:
    """The day after the history's last line, where the snapshots run past it: a customer's go on for a year
    after their last order (as they would in a shop still trading), so on an export that stopped long ago
    the latest snapshot says a year of nobody buying, not the history's last state."""
    from spend.features.store.build import history_end  # here: the service imports this module, not the build

    last = history_end(OfflineStore(settings.paths))
    after = latest if last is None else min(latest, last.normalize() + pd.Timedelta(days=1))
    return after.date().isoformat()


def _write_latest(settings, fs: FeatureStore, view: FeatureView, start: datetime, end: datetime, overwrite: bool):
    """The view's latest snapshots in (start, end] into the online store: read here, or under
    SPEND_ENV=cluster chosen by Spark and written from its partitions (docs/scale.md)."""
    if settings.env == "cluster":
        from spend.features.store.spark_materialize import materialize_view_on_spark

        return materialize_view_on_spark(settings, view, start, end, overwrite)
    frame = latest_rows(view, start, end)
    write_online(fs, view, frame, overwrite)
    return len(frame)


def _erasures_held_off(settings: SpendSettings, view: FeatureView) -> AbstractContextManager[None]:
    """A customer view is read and written under the data home's ledger lock, which an erasure holds from
    its first store to its deny list: the erasure ran wholly before (the snapshots read no longer hold its
    customers) or runs wholly after (and deletes what was written), never between the read and the write."""
    if ID not in {e.name for e in view.entity_columns}:
        return nullcontext()
    return ledger_lock(settings.paths.home)


def _start(view: FeatureView, end: datetime, incremental: bool) -> datetime:
    if incremental and view.materialization_intervals:
        return max(interval[1] for interval in view.materialization_intervals)
    return end - view.ttl


def write_online(fs: FeatureStore, view: FeatureView, frame: pd.DataFrame, overwrite: bool = False) -> None:
    """Upsert the view's rows (join keys, event_timestamp, every feature) into the online store, in the
    bytes Feast writes; a row older than the entity's stored one is skipped (newer values are kept)
    unless `overwrite`."""
    if frame.empty:
        return
    keys = {e.name: frame[e.name].astype(str).tolist() for e in view.entity_columns}
    columns = {f.name: frame[f.name] for f in view.features}
    write_columns(fs, view, keys, epoch_seconds(frame["event_timestamp"]), columns, overwrite)


def write_columns(
    fs: FeatureStore,
    view: FeatureView,
    keys: dict[str, list[str]],
    seconds: np.ndarray,
    columns,
    overwrite: bool = False,
) -> None:
    """write_online on plain columns: join key values as strings, whole epoch seconds, one array per
    feature (texts as object arrays or lists). The service's pushes come here directly: the pandas frame
    cost more than the write, and under the GIL it stalled the requests being served."""
    if not len(seconds):
        return
    entity_bytes = entity_keys(list(keys), list(keys.values()))
    values = {f.name: _encode(columns[f.name], f) for f in view.features}
    packed = _records(view, columns, seconds)
    if fs.config.online_store.type == "redis":
        _write_redis(fs, view, entity_bytes, values, packed, seconds, overwrite)
    else:
        _write_sqlite(fs, view, entity_bytes, values, packed, seconds, overwrite)


def _records(view: FeatureView, columns, seconds: np.ndarray) -> list[bytes]:
    """Each entity's whole row as one record (features/store/records.py), for Spend's batch reader."""
    numeric, texts = records.feature_kinds(view)
    # The same conversion as the fields' encoding (codec.encode_doubles), so record and fields agree.
    numbers = np.empty((len(seconds), len(numeric)))
    for j, name in enumerate(numeric):
        numbers[:, j] = np.asarray(columns[name], dtype=np.float64)
    text_columns = [list(columns[name]) for name in texts]
    return records.encode(records.layout_id(numeric, texts), seconds.astype(float), numbers, text_columns)


def epoch_seconds(timestamps: pd.Series) -> np.ndarray:
    """Whole epoch seconds of tz-aware timestamps, whatever their unit (a push's frame may hold
    microseconds, a snapshot nanoseconds)."""
    return timestamps.dt.tz_convert("UTC").astype("datetime64[s, UTC]").astype("int64").to_numpy()


def _encode(column, field) -> list[bytes]:
    return codec.encode_strings(list(column)) if codec.is_text(field) else codec.encode_doubles(column)


def _write_sqlite(fs, view, entity_bytes, values, packed, event_ts: np.ndarray, overwrite: bool) -> None:
    """Feast's rows (same columns and text forms as SqliteOnlineStore.online_write_batch; event_ts in whole
    epoch seconds, as Feast's adapter stores them) and the records, committed together, BATCH entities per
    statement."""
    conn = sqlite_connection(fs)
    table = sqlite_table(fs, view)
    record_table = records.sqlite_table(table)
    conn.execute(
        f'CREATE TABLE IF NOT EXISTS "{record_table}" (entity_key BLOB PRIMARY KEY, record BLOB NOT NULL) WITHOUT ROWID'
    )
    features = sorted(values)
    grid, texts = _grid([values[f] for f in features]), _grid([_value_texts(values[f], f, view) for f in features])
    keys = _grid([entity_bytes])[0]
    # Rows in primary-key order (entity, then feature) keep SQLite's B-tree inserts local, unlike
    # feature by feature (docs/feature-store.md).
    order = np.array(sorted(range(len(entity_bytes)), key=entity_bytes.__getitem__), dtype=np.int64)
    synchronous = conn.execute("PRAGMA synchronous").fetchone()[0]
    conn.execute("PRAGMA synchronous = OFF")  # derived data: a crash mid-write is repaired by materialising again
    try:
        with conn:  # Feast's rows and the records commit together
            for lo in range(0, len(order), BATCH):
                part = order[lo : lo + BATCH]
                rows, record_rows, blobs = _sqlite_batch(part, keys, features, grid, texts, event_ts, packed)
                conn.execute(_upsert_rows(table, overwrite), (*blobs, rows))
                conn.execute(_upsert_records(table, record_table, overwrite), (blobs[0], blobs[2], record_rows))
    finally:
        conn.execute(f"PRAGMA synchronous = {int(synchronous)}")


# One statement per batch rather than executemany: the rows travel as three byte strings (keys, values,
# records) and a JSON list of (offset, length, ...) per row, which SQLite unpacks with json_each and
# substr. executemany releases and retakes the GIL around every row, and the service writes card windows
# from a background thread while requests hold the GIL: each row's retake waited for the request thread,
# which cost the fraud endpoint throughput and most of its p99 (docs/serving.md). One
# statement releases the GIL once and runs on the other core.
def _upsert_rows(table: str, overwrite: bool) -> str:
    newer = "" if overwrite else f' WHERE excluded.event_ts >= CAST("{table}".event_ts AS INTEGER)'
    return (
        f'INSERT INTO "{table}" (entity_key, feature_name, value, value_text, event_ts, created_ts) '
        "SELECT substr(?1, r.value ->> 0, r.value ->> 1), r.value ->> 2, substr(?2, r.value ->> 3, r.value ->> 4), "
        "r.value ->> 5, r.value ->> 6, NULL FROM json_each(?4) AS r WHERE true "  # WHERE: SQLite's upsert syntax
        "ON CONFLICT(entity_key, feature_name) DO UPDATE SET value = excluded.value, "
        "value_text = excluded.value_text, event_ts = excluded.event_ts, created_ts = excluded.created_ts" + newer
    )


def _upsert_records(table: str, record_table: str, overwrite: bool) -> str:
    # Runs after the rows' upsert: the entity's stored time is then the newer of the two, so a record is
    # written only where its rows were (none of them newer).
    newer = (
        "true"
        if overwrite
        else f'NOT EXISTS (SELECT 1 FROM "{table}" AS t WHERE t.entity_key = substr(?1, r.value ->> 0, '
        "r.value ->> 1) AND CAST(t.event_ts AS INTEGER) > r.value ->> 4)"
    )
    return (
        f'INSERT INTO "{record_table}" (entity_key, record) '
        "SELECT substr(?1, r.value ->> 0, r.value ->> 1), substr(?2, r.value ->> 2, r.value ->> 3) "
        f"FROM json_each(?3) AS r WHERE {newer} ON CONFLICT(entity_key) DO UPDATE SET record = excluded.record"
    )


def _sqlite_batch(part, keys, features, grid, texts, event_ts, packed) -> tuple[bytes, bytes, tuple]:
    """The JSON rows of Feast's table and of the records for the entities `part` (positions, key order),
    and the byte strings their offsets point into: keys, values (entity by entity, features in order),
    records. `keys` is an object array; `grid` and `texts` are (feature, entity) object arrays. Offsets are
    1-based, as substr counts."""
    m = len(features)
    keys = keys[part]
    flat = grid[:, part].T.ravel()  # entity by entity, features in order
    record = [packed[i] for i in part.tolist()]
    key_at, key_len = _offsets(keys)
    value_at, value_len = _offsets(flat)
    record_at, record_len = _offsets(record)
    rows = zip(
        np.repeat(key_at, m).tolist(),
        np.repeat(key_len, m).tolist(),
        features * len(part),
        value_at.tolist(),
        value_len.tolist(),
        texts[:, part].T.ravel().tolist(),
        np.repeat(event_ts[part], m).tolist(),
        strict=True,
    )
    times = event_ts[part].tolist()
    record_rows = zip(key_at.tolist(), key_len.tolist(), record_at.tolist(), record_len.tolist(), times, strict=True)
    data = (b"".join(keys.tolist()), b"".join(flat.tolist()), b"".join(record))
    return orjson.dumps(list(rows)), orjson.dumps(list(record_rows)), data


def _offsets(pieces) -> tuple[np.ndarray, np.ndarray]:
    """Where each byte string starts (1-based, as substr counts) in their concatenation, and its length."""
    lengths = np.fromiter(map(len, pieces), dtype=np.int64, count=len(pieces))
    return np.cumsum(lengths) - lengths + 1, lengths


def _grid(columns: list[list]) -> np.ndarray:
    """(column, entity) object array: numpy would turn a list of equal-length bytes into a bytes array."""
    grid = np.empty((len(columns), len(columns[0]) if columns else 0), dtype=object)
    for j, column in enumerate(columns):
        grid[j] = column
    return grid


def _value_texts(blobs: list[bytes], name: str, view) -> list[str | None]:
    field = next(f for f in view.features if f.name == name)
    if codec.is_text(field):
        return codec.decode_strings(blobs)
    decoded = codec.decode_doubles(blobs)
    texts = decoded.astype(str).astype(object)
    texts[np.isnan(decoded)] = None
    return texts.tolist()


def _write_redis(fs, view, entity_bytes, values, packed, seconds: np.ndarray, overwrite: bool) -> None:
    """One HSET per entity of Feast's fields, its `_ts` field and the record (so the record never
    disagrees with the fields). On a single Redis the HSETs of BATCH entities are one script call whose
    arguments are the field names once and then the values: redis-py packs each argument in Python, and a
    pipeline of HSETs packed every field name again for every entity (most of a card-window flush, under
    the GIL beside the requests). On a cluster, whose keys a script cannot span, a pipeline."""
    client = redis_client(fs)
    project = fs.project.encode("utf-8")
    names = [codec.redis_field(view.name, name) for name in values]
    names += [codec.redis_ts_field(view.name), records.redis_field(view.name)]
    grid = _grid([*values.values(), codec.encode_timestamps(seconds), packed])  # (field, entity)
    keys = [key + project for key in entity_bytes]
    script = None if redis_cluster(fs) else client.register_script(_HSET_LUA)
    for lo in range(0, len(keys), BATCH):
        part = grid[:, lo : lo + BATCH]
        if script is None:
            _pipelined(client, keys[lo : lo + BATCH], names, part, seconds[lo : lo + BATCH], overwrite)
        else:
            args = [len(names), int(not overwrite), *names, *part.T.ravel().tolist()]
            script(keys=keys[lo : lo + BATCH], args=args, client=client)


def _pipelined(client, keys: list[bytes], names: list[bytes], part: np.ndarray, seconds: np.ndarray, overwrite) -> None:
    """A cluster's write: the stored event times first, then HSETs of the keys not holding newer ones (not
    atomic across the two round trips, unlike the script: a write in between can still be overtaken)."""
    stored = np.full(len(keys), np.nan)
    if not overwrite:
        with client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hget(key, names[-2])
            stored = codec.timestamp_seconds(pipe.execute())
    with client.pipeline(transaction=False) as pipe:
        for key, row, old, new in zip(keys, part.T.tolist(), stored.tolist(), seconds.tolist(), strict=True):
            if not old > new:  # NaN (never written) compares False
                pipe.hset(key, mapping=dict(zip(names, row, strict=True)))
        pipe.execute()


# ARGV: the number of fields f, 1 to keep newer values (0 to overwrite), the f field names (the event time's
# `_ts` field next to last), then f values per key, key by key. With 1, a key whose stored `_ts` is newer
# than the one given is left alone.
_HSET_LUA = """
local function seconds(ts)  -- google.protobuf.Timestamp's seconds (field 1, a varint); "" is 0
  if not ts then return nil end
  if #ts == 0 then return 0 end
  if string.byte(ts, 1) ~= 8 then return nil end
  local value, scale = 0, 1
  for i = 2, #ts do
    local c = string.byte(ts, i)
    value = value + (c % 128) * scale
    if c < 128 then return value end
    scale = scale * 128
  end
  return nil
end
local f = tonumber(ARGV[1])
local keep_newer = ARGV[2] == "1"
local ts_field = ARGV[1 + f]
local hset = {}
local written = 0
for k = 1, #KEYS do
  local at = 2 + f + (k - 1) * f
  local stored = keep_newer and seconds(redis.call("HGET", KEYS[k], ts_field))
  local given = seconds(ARGV[at + f - 1])
  if not (stored and given and stored > given) then
    for j = 1, f do
      hset[2 * j - 1] = ARGV[2 + j]
      hset[2 * j] = ARGV[at + j]
    end
    redis.call("HSET", KEYS[k], unpack(hset))
    written = written + 1
  end
end
return written
"""
