"""Every reach below Feast's public API, in one place, pinned to the Feast version it was checked against.

Spend writes and reads Feast's online format itself (features/store/codec.py, records.py, materialize.py,
reader.py) because Feast's per-value Python paths cost several times more; for that it needs a few of
Feast's private names: the online store object behind the provider, its SQLite connection and table
names, its Redis clients and connection-string parser, and the MurmurHash of a feature's Redis field.
They are named here and nowhere else; tests/features/test_feast_private.py fails with a clear message
on any Feast other than CHECKED_WITH, and the byte-for-byte format tests check the layout itself.
"""

from __future__ import annotations

from importlib.metadata import version

from feast import FeatureStore

CHECKED_WITH = "0.67"  # major.minor of the Feast these private names were read from


def installed_feast() -> str:
    return version("feast")


def checked_version() -> bool:
    """True when the installed Feast is the one these private names were checked against."""
    return installed_feast().split(".")[:2] == CHECKED_WITH.split(".")


def redis_field_hash(name: str) -> bytes:
    """The MurmurHash Feast's Redis store uses as the hash field of `<view>:<feature>`."""
    from feast.infra.online_stores.helpers import _mmh3

    return _mmh3(name)


def online_store(store: FeatureStore):
    """The online store object (SqliteOnlineStore or RedisOnlineStore) behind the store's provider."""
    return store._get_provider().online_store


def sqlite_table(store: FeatureStore, view) -> str:
    """The SQLite table Feast keeps a feature view's online rows in."""
    from feast.infra.online_stores.sqlite import _table_id

    return _table_id(store.project, view, store.config.registry.enable_online_feature_view_versioning)


def sqlite_connection(store: FeatureStore):
    """Feast's own connection to the SQLite online store file."""
    return online_store(store)._get_conn(store.config)


def redis_client(store: FeatureStore):
    """Feast's blocking Redis client (made on first use)."""
    return online_store(store)._get_client(store.config.online_store)


async def redis_client_async(store: FeatureStore):
    """Feast's asyncio Redis client (made on first use, in the loop that uses it)."""
    return await online_store(store)._get_client_async(store.config.online_store)


def redis_connection(store: FeatureStore) -> tuple[list[dict], dict]:
    """(nodes, options) parsed from the online store's connection string, as Feast parses it."""
    return online_store(store)._parse_connection_string(store.config.online_store.connection_string)


def replace_redis_clients(store: FeatureStore, client, client_async) -> None:
    """Make Feast's Redis store use these clients (Feast's connection string cannot set retries)."""
    online = online_store(store)
    online._client = client
    online._client_async = client_async
