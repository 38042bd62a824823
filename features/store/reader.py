"""Batch online reads for the serving path: the same values as Feast's get_online_features, at a fraction
of the cost for thousands of entities, read from Feast's own online store (SQLite or Redis).

Each entity is read from the packed record Spend's writer keeps beside Feast's layout
(features/store/records.py) when that record's event time matches Feast's; otherwise (no record, a record
of another schema, a newer write through Feast's own API) from Feast's layout itself.

Unknown entities, and values older than the view's TTL, come back as missing with `<view>__found` False,
never as an exception or a zero. An unknown feature service or feature is a SpendError. A store that
cannot be read (Redis refusing or slower than its socket timeout, the SQLite file gone) raises
OnlineStoreUnavailable at once, so the service can degrade instead of hanging.

SQLite is read through the reader's own read-only connection, reopened when the file is replaced:
Feast's cached connection would keep reading a deleted file's old contents (and would create an
empty file where none exists).
"""

from __future__ import annotations

import itertools
import os
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from feast import FeatureStore
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from spend.core.errors import OnlineStoreUnavailable, SpendError
from spend.features.store import codec, records
from spend.features.store.awaited_redis import AwaitedRedis
from spend.features.store.config import redis_cluster
from spend.features.store.entity_keys import entity_keys
from spend.features.store.feast_private import redis_client, redis_client_async
from spend.features.store.read_plan import ViewPlan, plans_for

CHUNK = 30_000  # entities per SQLite statement: SQLite caps the number of bound parameters
SMALL = 200  # rows placed one by one below this
FEW = 4  # Redis entities decoded value by value up to this
RECORDS_ABOVE = 16  # entities per read above which the records are read (for a few, Feast's layout is quicker)


def _fetch(conn: sqlite3.Connection, sql: str, parameters: list, absent_ok: str | None = None) -> list[tuple]:
    """The rows, or none when the table `absent_ok` does not exist; any other failure (locked too long, a
    table of Feast's gone) makes the store unavailable."""
    try:
        return conn.execute(sql, parameters).fetchall()
    except sqlite3.OperationalError as error:
        if absent_ok is not None and f"no such table: {absent_ok}" in str(error):
            return []
        raise OnlineStoreUnavailable(
            f"the online store cannot be read: {error}", "the online store cannot be read (locked or damaged)"
        ) from error


def _place(plan: ViewPlan, rows: list[tuple], position: dict, numbers, texts: dict, stamps) -> None:
    """Put SQLite's (entity_key, feature_name, value, event_ts) rows into the columns, by entity position."""
    slot = plan.slots
    if len(rows) <= SMALL:  # one or a few entities (a payment): numpy's per-call cost would dominate
        kinds, at, decoded = [], [], []
        for key, name, value, ts in rows:
            kind, one = _decoded(plan, name, value)
            if kind != -1:
                i = position[key]
                stamps[i] = ts
                if kind == -2:
                    texts[name][i] = one
                else:
                    kinds.append(kind)
                    at.append(i)
                    decoded.append(one)
        numbers[kinds, at] = decoded
        return
    keys, names, values, seconds = zip(*rows, strict=True)
    at = np.fromiter(map(position.__getitem__, keys), dtype=np.int64, count=len(rows))
    kind = np.fromiter((slot.get(n, -1) for n in names), dtype=np.int64, count=len(rows))  # -1: not asked for
    asked = kind != -1
    stamps[at[asked]] = np.array(seconds, dtype=float)[asked]
    sizes = np.fromiter((len(v) if v is not None else 0 for v in values), dtype=np.int64, count=len(rows))
    double = (kind >= 0) & (sizes == 9)
    decoded = np.frombuffer(b"".join(itertools.compress(values, double)), dtype=codec.DOUBLE_BLOB)
    tagged = decoded["tag"] == codec.DOUBLE_TAG
    numbers[kind[double][tagged], at[double][tagged]] = decoded["value"][tagged]
    rest = np.flatnonzero(double)[~tagged].tolist() + np.flatnonzero((kind >= 0) & (sizes != 9)).tolist()
    for i in rest:  # nulls and other value types, one at a time
        numbers[kind[i], at[i]] = codec.decode_double(values[i])
    for i in np.flatnonzero(kind == -2).tolist():
        texts[names[i]][at[i]] = codec.decode_strings([values[i]])[0]


def _decoded(plan: ViewPlan, name: str, value) -> tuple[int, object]:
    """Where one of Feast's SQLite values goes (its numeric row, -2 for a text, -1 when not asked for) and
    the value decoded."""
    kind = plan.slots.get(name, -1)
    if kind == -1:
        return -1, None
    return kind, codec.decode_strings([value])[0] if kind == -2 else codec.decode_double(value)


class BatchReader:
    """Reads a feature service (or `view:feature` references) for many entities in one round trip per view."""

    def __init__(self, store: FeatureStore, service: str | None = None, features: list[str] | None = None) -> None:
        self.store = store
        self.production = store.config.online_store.type == "redis"
        self.plans = plans_for(store, service, features)
        self._conn: sqlite3.Connection | None = None
        self._inode: int | None = None
        self._lock = threading.Lock()
        self._script = None  # the Redis records script, registered on first use
        self._awaited: AwaitedRedis | None = None  # read_async's connections, made on first use
        self.fallbacks = 0  # entities read from Feast's layout because no usable record answered
        self.records_above = RECORDS_ABOVE

    def read(self, entities: Mapping[str, Sequence] | pd.DataFrame, now: datetime | None = None) -> dict:
        """Columns for the entity rows: every feature, `<view>__event_seconds` (epoch, NaN if missing) and
        `<view>__found` (False for unknown entities and expired values). Plain arrays, no DataFrame: the
        single-entity path of a scoring request must stay well under a millisecond."""
        out, keyed = self._keyed(entities)
        return self._finish(out, keyed, self._fetch(keyed), now)

    def _fetch(self, keyed: list[tuple[ViewPlan, list[bytes]]]) -> list[tuple[np.ndarray, dict, np.ndarray]]:
        if self.production:
            return self._redis(keyed)
        conn = self._sqlite_conn()
        if self.records_above >= 1 and all(len(keys) == 1 for _, keys in keyed):
            return _sqlite_single(conn, keyed)
        return [self._sqlite(conn, plan, keys) for plan, keys in keyed]

    async def read_async(self, entities: Mapping[str, Sequence], now: datetime | None = None) -> dict:
        """read(), with the Redis round trip awaited for a few entities (a payment's card and terminal): a
        blocking read held the service's event loop for every round trip, so one slow Redis answer held
        every request. SQLite reads and large batches are read() as they are."""
        out, keyed = self._keyed(entities)
        if not self.production or sum(len(keys) for _, keys in keyed) > self.records_above:
            return self._finish(out, keyed, self._fetch(keyed), now)
        rest = [np.arange(len(keys)) for _, keys in keyed]
        commands = self._field_commands(keyed, rest)
        try:
            rows = await self._exchange(commands)
        except (RedisTimeoutError, RedisConnectionError) as error:
            raise self._redis_failure(error) from error
        return self._finish_fields(out, keyed, rows, now)

    async def _exchange(self, commands: list[tuple]) -> list:
        """The replies to `commands`: on redis-py's connections directly (awaited_redis.py), or through the
        asyncio client's pipeline on a cluster, which routes each key to its node."""
        if self._awaited is not None:
            return await self._awaited.exchange(commands)
        client = await redis_client_async(self.store)
        if redis_cluster(self.store):
            async with client.pipeline(transaction=False) as pipe:
                for command in commands:
                    pipe.execute_command(*command)
                return await pipe.execute()
        self._awaited = AwaitedRedis.like(client)
        return await self._awaited.exchange(commands)

    def _finish_fields(self, out: dict, keyed: list, rows: list, now: datetime | None) -> dict:
        """The answer from one HMGET reply per entity, every entity of every view in order."""
        fetched, start = [], 0
        for plan, keys in keyed:
            fetched.append(_redis_columns(plan, rows[start : start + len(keys)]))
            start += len(keys)
        return self._finish(out, keyed, fetched, now)

    def _keyed(self, entities) -> tuple[dict, list[tuple[ViewPlan, list[bytes]]]]:
        """The answer's entity columns, and each view's plan with its serialised entity keys."""
        out: dict = {
            k: list(v)
            for k, v in (
                entities.items()
                if isinstance(entities, Mapping)
                else ((c, entities[c].tolist()) for c in entities.columns)
            )
        }
        keyed = []
        for plan in self.plans:
            missing = [k for k in plan.join_keys if k not in out]
            if missing:
                raise SpendError(f"{plan.view} needs join key(s) {', '.join(missing)} in the entity rows")
            keys = entity_keys(list(plan.join_keys), [[str(v) for v in out[k]] for k in plan.join_keys])
            keyed.append((plan, keys))
        return out, keyed

    @staticmethod
    def _finish(out: dict, keyed: list, fetched: list, now: datetime | None) -> dict:
        """Values past a view's TTL become missing; every view's columns go into the answer."""
        now_s = (now or datetime.now(UTC)).timestamp()
        if all(len(keys) == 1 for _, keys in keyed):
            return _finish_single(out, keyed, fetched, now_s)
        for (plan, _), (numbers, texts, seconds) in zip(keyed, fetched, strict=True):
            found = seconds > now_s - plan.ttl_s  # NaN (never written) compares False
            if not found.all():  # the masks cost a payment's read more than the rest of this
                numbers[:, ~found] = np.nan
                seconds = np.where(found, seconds, np.nan)
                texts = {n: [v if ok else None for v, ok in zip(c, found, strict=True)] for n, c in texts.items()}
            out.update(zip(plan.numeric, numbers, strict=True))
            out.update(texts)
            out[plan.seconds_column] = seconds
            out[plan.found_column] = found
        return out

    def read_frame(self, entities: Mapping[str, Sequence] | pd.DataFrame, now: datetime | None = None) -> pd.DataFrame:
        frame = pd.DataFrame(self.read(entities, now))
        for plan in self.plans:
            seconds = frame.pop(plan.seconds_column)
            frame.insert(
                len(frame.columns) - 1, f"{plan.view}__event_timestamp", pd.to_datetime(seconds, unit="s", utc=True)
            )
        return frame

    def _sqlite_conn(self) -> sqlite3.Connection:
        path = self.store.config.online_store.path
        try:
            inode = os.stat(path).st_ino
        except FileNotFoundError as error:
            raise OnlineStoreUnavailable(
                f"the online store {path} is missing; run `spend features materialize`",
                "the online store is missing; run `spend features materialize`",
            ) from error
        with self._lock:
            if self._conn is None or inode != self._inode:
                # timeout: a write lock held longer than this is "too slow", not a wait
                self._conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=0.25, check_same_thread=False)
                self._inode = inode
            return self._conn

    def _sqlite(self, conn, plan: ViewPlan, keys: list[bytes]) -> tuple[np.ndarray, dict, np.ndarray]:
        """(numeric features x keys, text features by name, event seconds per key): from the records, then
        Feast's rows for the entities without a usable record."""
        position = {k: i for i, k in enumerate(dict.fromkeys(keys))}  # duplicate entity rows share one lookup
        unique = list(position)
        columns = _Columns(plan, len(unique))
        many = len(unique) > self.records_above
        for lo in range(0, len(unique) if many else 0, CHUNK):
            rows = _sqlite_records(conn, plan, unique[lo : lo + CHUNK])
            if rows:
                at = np.fromiter((position[r[0]] for r in rows), dtype=np.int64, count=len(rows))
                feast_seconds = np.array([np.nan if r[2] is None else r[2] for r in rows], dtype=float)
                columns.place_records(at, [r[1] for r in rows], feast_seconds)
        if many:
            rest = [unique[i] for i in np.flatnonzero(~columns.done).tolist()]
            self.fallbacks += len(rest)
        else:
            rest = unique
        for lo in range(0, len(rest), CHUNK):
            chunk = rest[lo : lo + CHUNK]
            rows = _fetch(
                conn,
                f'SELECT entity_key, feature_name, value, CAST(event_ts AS INTEGER) FROM "{plan.table}" '
                f"WHERE entity_key IN ({','.join('?' * len(chunk))})",
                chunk,
            )
            if rows:
                _place(plan, rows, position, columns.numbers, columns.texts, columns.stamps)
        if len(unique) == len(keys):  # no duplicate entity rows: already in order
            return columns.numbers, columns.texts, columns.stamps
        index = np.array([position[k] for k in keys], dtype=np.int64)
        texts = {n: [c[i] for i in index] for n, c in columns.texts.items()}
        return columns.numbers[:, index], texts, columns.stamps[index]

    def _redis_address(self) -> str:
        return self.store.config.online_store.connection_string.split(",", 1)[0]  # options may hold a password

    def _redis(self, keyed: list[tuple[ViewPlan, list[bytes]]]) -> list[tuple[np.ndarray, dict, np.ndarray]]:
        """Every view's records in one round trip (a payment's card and terminal together), then Feast's
        fields, in one more, for the entities without a usable record. Per view: (numeric features x keys,
        text features by name, event seconds per key)."""
        client = redis_client(self.store)
        project = self.store.project.encode("utf-8")
        many = sum(len(keys) for _, keys in keyed) > self.records_above
        try:
            out = [_Columns(plan, len(keys)) for plan, keys in keyed]
            if many:
                replies = self._redis_records(client, [(plan, [k + project for k in keys]) for plan, keys in keyed])
                for (_, keys), reply, columns in zip(keyed, replies, out, strict=True):
                    stamps = codec.timestamp_seconds([r[1] for r in reply])
                    columns.place_records(np.arange(len(keys)), [r[0] or b"" for r in reply], stamps)
            slow = [np.flatnonzero(~columns.done) for columns in out]
            if any(len(s) for s in slow):
                with client.pipeline(transaction=False) as pipe:
                    for command in self._field_commands(keyed, slow):
                        pipe.execute_command(*command)
                    rows = pipe.execute()
                self._merge_fields(keyed, out, slow, rows, many)
        except (RedisTimeoutError, RedisConnectionError) as error:
            raise self._redis_failure(error) from error
        return [(c.numbers, c.texts, c.stamps) for c in out]

    def _field_commands(self, keyed: list, rest: list[np.ndarray]) -> list[tuple]:
        """An HMGET of Feast's fields and timestamp for each entity of `rest` (positions, per view)."""
        project = self.store.project.encode("utf-8")
        return [
            ("HMGET", keys[i] + project, *plan.hmget_fields)
            for (plan, keys), positions in zip(keyed, rest, strict=True)
            for i in positions.tolist()
        ]

    def _merge_fields(self, keyed: list, out: list, rest: list[np.ndarray], rows: list, many: bool) -> None:
        start = 0
        for (plan, _), columns, positions in zip(keyed, out, rest, strict=True):
            columns.merge(positions, _redis_columns(plan, rows[start : start + len(positions)]))
            start += len(positions)
            self.fallbacks += len(positions) if many else 0

    def _redis_failure(self, error: Exception) -> OnlineStoreUnavailable:
        address = self._redis_address()
        if isinstance(error, RedisTimeoutError):
            return OnlineStoreUnavailable(
                f"SPEND_REDIS_URL: Redis at {address} did not answer in time ({error})",
                "the online store (Redis) did not answer in time",
            )
        return OnlineStoreUnavailable(
            f"SPEND_REDIS_URL: cannot reach Redis at {address} ({error})", "the online store (Redis) cannot be reached"
        )

    def _redis_records(self, client, keyed: list[tuple[ViewPlan, list[bytes]]]) -> list[list]:
        """[record, Feast's _ts field] per key, per view. One Lua call on a single Redis (its 1,000 HMGETs
        cost the server a few milliseconds; a pipeline of 1,000 commands costs the client more than that
        to build); a pipeline on a cluster, whose keys a script cannot span."""
        fields = [[records.redis_field(plan.view), codec.redis_ts_field(plan.view)] for plan, _ in keyed]
        everything = [k for _, keys in keyed for k in keys]
        if redis_cluster(self.store):
            with client.pipeline(transaction=False) as pipe:
                for (_, keys), pair in zip(keyed, fields, strict=True):
                    for key in keys:
                        pipe.hmget(key, pair)
                flat = pipe.execute()
        else:
            if self._script is None:
                self._script = client.register_script(_RECORDS_LUA)
            args = [a for (_, keys), pair in zip(keyed, fields, strict=True) for a in (len(keys), *pair)]
            flat = self._script(keys=everything, args=args, client=client)
        out, start = [], 0
        for _, keys in keyed:
            out.append(flat[start : start + len(keys)])
            start += len(keys)
        return out


_RECORDS_LUA = """
local out, k = {}, 1
for a = 1, #ARGV, 3 do
  local n, record, stamp = tonumber(ARGV[a]), ARGV[a + 1], ARGV[a + 2]
  for _ = 1, n do
    out[k] = redis.call('HMGET', KEYS[k], record, stamp)
    k = k + 1
  end
end
return out
"""


class _Columns:
    """One view's answer being filled in: numeric features x entities, texts by name, event seconds, and
    which entities a usable record answered."""

    def __init__(self, plan: ViewPlan, n: int) -> None:
        self.plan = plan
        self.numbers = np.empty((len(plan.numeric), n))
        self.numbers.fill(np.nan)  # empty + fill: np.full's own overhead showed on a one-payment read
        self.texts: dict[str, list] = {name: [None] * n for name in plan.texts}
        self.stamps = np.empty(n)
        self.stamps.fill(np.nan)
        self.done = np.zeros(n, dtype=bool)

    def place_records(self, at: np.ndarray, blobs: list[bytes], feast_seconds: np.ndarray) -> None:
        """Records whose layout is the view's and whose event time is the one Feast's layout holds."""
        plan = self.plan
        usable, seconds, values, texts = records.decode(blobs, plan.layout, *plan.record_sizes)
        ok = usable & (seconds == feast_seconds)
        if not ok.any():
            return
        target = at[ok]
        self.numbers[:, target] = values[list(plan.record_numeric)][:, ok]
        self.stamps[target] = seconds[ok]
        self.done[target] = True
        for name, j in zip(plan.texts, plan.record_texts, strict=True):
            column, source = self.texts[name], texts[j]
            for i, t in zip(np.flatnonzero(ok).tolist(), target.tolist(), strict=True):
                column[t] = source[i]

    def merge(self, at: np.ndarray, part: tuple[np.ndarray, dict, np.ndarray]) -> None:
        numbers, texts, stamps = part
        self.numbers[:, at] = numbers
        self.stamps[at] = stamps
        for name, column in texts.items():
            for i, t in enumerate(at.tolist()):
                self.texts[name][t] = column[i]


def _sqlite_single(conn: sqlite3.Connection, keyed: list) -> list[tuple[np.ndarray, dict, np.ndarray]]:
    """BatchReader._sqlite for one entity per view (a payment's card and terminal): every view's Feast rows
    in one statement, placed with plain lists. The general path's statements, arrays and positions were
    most of a payment's read."""
    sql = " UNION ALL ".join(
        f'SELECT {v}, feature_name, value, CAST(event_ts AS INTEGER) FROM "{plan.table}" WHERE entity_key = ?'
        for v, (plan, _) in enumerate(keyed)
    )
    parts = [([np.nan] * len(plan.numeric), {name: [None] for name in plan.texts}, [np.nan]) for plan, _ in keyed]
    for v, name, value, ts in _fetch(conn, sql, [keys[0] for _, keys in keyed]):
        (numbers, texts, stamp), (kind, one) = parts[v], _decoded(keyed[v][0], name, value)
        if kind == -1:
            continue
        stamp[0] = ts
        if kind == -2:
            texts[name][0] = one
        else:
            numbers[kind] = one
    return [(np.array(n, dtype=float).reshape(-1, 1), t, np.array(s, dtype=float)) for n, t, s in parts]


def _finish_single(out: dict, keyed: list, fetched: list, now_s: float) -> dict:
    """BatchReader._finish for one entity per view, with Python floats instead of one-element masks."""
    for (plan, _), (numbers, texts, seconds) in zip(keyed, fetched, strict=True):
        stamp = float(seconds[0])
        found = stamp > now_s - plan.ttl_s  # NaN (never written) compares False
        if not found:
            numbers[:] = np.nan
            seconds = np.array([np.nan])
            texts = {name: [None] for name in texts}
        out.update(zip(plan.numeric, numbers, strict=True))
        out.update(texts)
        out[plan.seconds_column] = seconds
        out[plan.found_column] = np.array([found])
    return out


def _sqlite_records(conn: sqlite3.Connection, plan: ViewPlan, keys: list[bytes]) -> list[tuple]:
    """(entity_key, record, Feast's event seconds for it) for the keys that have a record; none when the
    store was written before records existed."""
    table = records.sqlite_table(plan.table)
    sql = (
        f'SELECT r.entity_key, r.record, CAST(f.event_ts AS INTEGER) FROM "{table}" r '
        f'LEFT JOIN "{plan.table}" f ON f.entity_key = r.entity_key AND f.feature_name = ? '
        f"WHERE r.entity_key IN ({','.join('?' * len(keys))})"
    )
    return _fetch(conn, sql, [plan.first_feature, *keys], absent_ok=table)


def _redis_columns(plan: ViewPlan, rows: list[list]) -> tuple[np.ndarray, dict, np.ndarray]:
    if len(rows) <= FEW:  # a payment's card or terminal, a few entities: numpy's per-call cost would dominate
        numeric = plan.numeric_at
        by_row = [codec.decode_double_row([row[j] for j in numeric]) for row in rows]
        numbers = np.array(by_row, dtype=float).reshape(len(rows), len(numeric)).T
        texts = {plan.features[j]: codec.decode_strings([row[j] for row in rows]) for j in plan.text_at}
        return numbers, texts, np.array([codec.timestamp_second(row[-1]) for row in rows])
    seconds = codec.timestamp_seconds([row[-1] for row in rows])
    blobs = {f: [row[j] for row in rows] for j, f in enumerate(plan.features)}
    numbers = codec.decode_double_columns([blobs[name] for name in plan.numeric])
    texts = {n: codec.decode_strings(blobs[n]) for n in plan.texts}
    return numbers.reshape(len(plan.numeric), len(rows)), texts, seconds
