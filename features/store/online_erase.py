"""Delete entities from the online store, in the layout Spend and Feast write (Feast has no such call).

Without Feast's import (seconds, most of a one-customer erasure): an entity's serialised key names its
join key, so it can only match rows of views keyed by that join key.
- SQLite: the entity's rows in every table of the online store file (Feast's, one row per feature, and
  Spend's packed records), with secure_delete on so the bytes do not stay in free pages.
- Redis: the entity's hash (serialised key + project), which holds every view of that entity, Feast's
  fields and Spend's records alike.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import closing

from spend.core.settings import SpendSettings
from spend.features.store.entity_keys import entity_keys


def delete_entities(settings: SpendSettings, join_key: str, values: Sequence[str]) -> int:
    """Remove the entities with these values of `join_key` from the configured online store; returns how
    many were there."""
    values = list(dict.fromkeys(values))
    if not values:
        return 0
    keys = entity_keys([join_key], [values])
    if settings.uses_services:
        return _delete_redis(settings, keys)
    path = settings.paths.feast / "online.db"
    return _delete_sqlite(path, keys) if path.exists() else 0


def redis_options(url: str) -> dict:
    """redis-py arguments from Feast's connection string `host:port[,db=N][,password=...][,ssl=true]`."""
    where, *options = [part.strip() for part in url.split(",") if part.strip()]
    host, _, port = where.rpartition(":")
    out: dict = {"host": host or where, "port": int(port) if host else 6379}
    for option in options:
        name, _, value = option.partition("=")
        out[name] = int(value) if name == "db" else value.lower() == "true" if name == "ssl" else value
    return out


def _delete_redis(settings: SpendSettings, keys: list[bytes]) -> int:
    from redis import Redis

    project = settings.feature_project.encode("utf-8")
    with Redis(**redis_options(settings.redis_url), socket_timeout=10) as client:
        with client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.delete(key + project)
            return sum(pipe.execute())


def _delete_sqlite(path, keys: list[bytes]) -> int:
    with closing(sqlite3.connect(path, timeout=30)) as conn:
        conn.execute("PRAGMA secure_delete = ON")
        tables = [
            name
            for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if "entity_key" in {row[1] for row in conn.execute(f'PRAGMA table_info("{name}")')}
        ]
        found: set[bytes] = set()
        with conn:
            conn.execute("CREATE TEMP TABLE erasing (entity_key BLOB PRIMARY KEY)")
            conn.executemany("INSERT OR IGNORE INTO erasing VALUES (?)", [(k,) for k in keys])
            for name in tables:
                where = f'FROM "{name}" WHERE entity_key IN (SELECT entity_key FROM erasing)'
                found.update(row[0] for row in conn.execute(f"SELECT DISTINCT entity_key {where}"))
                conn.execute(f"DELETE {where}")
        if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the deleted pages' old copies leave the log
    return len(found)
