"""Feast configuration for the two environments, chosen by SPEND_ENV with no code change.

- local (default): file offline store (Parquet snapshots under SPEND_HOME), SQLite online store and a
  file registry, all under SPEND_HOME.
- production: Redis online store (SPEND_REDIS_URL) and a SQL registry in PostgreSQL (SPEND_REGISTRY_URL);
  the offline store stays Parquet files: the snapshots are written by Spend itself and read in bulk.
- cluster: production's services, and Feast's Spark offline store over the same Parquet snapshots
  (SPEND_SPARK_MASTER): point-in-time training sets run as Spark jobs (docs/scale.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from feast import FeatureStore
from feast.repo_config import RepoConfig
from sqlalchemy.engine import make_url

from spend.core.errors import SpendError, first_line
from spend.core.settings import SpendSettings


def repo_config(settings: SpendSettings) -> RepoConfig:
    paths = settings.paths
    if settings.uses_services:
        registry = {"registry_type": "sql", "path": settings.registry_url, "cache_ttl_seconds": 60}
        online = {"type": "redis", "connection_string": settings.redis_url}
    else:
        paths.feast.mkdir(parents=True, exist_ok=True)
        registry = {"registry_type": "file", "path": str(paths.feast / "registry.db"), "cache_ttl_seconds": 60}
        online = {"type": "sqlite", "path": str(paths.feast / "online.db")}
    return RepoConfig(
        project=settings.feature_project,
        provider="local",
        registry=registry,
        online_store=online,
        offline_store=offline_store(settings),
        entity_key_serialization_version=3,
    )


def offline_store(settings: SpendSettings) -> dict:
    if settings.env != "cluster":
        return {"type": "file"}
    from spend.features.store.spark_session import require_spark, spark_conf

    require_spark()
    return {"type": "spark", "spark_conf": spark_conf(settings)}


def write_repo_yaml(settings: SpendSettings) -> Path:
    """SPEND_HOME/feast/feature_store.yaml: the same store as `repo_config`, for Feast's own tools
    (`feast -c SPEND_HOME/feast feature-views list`, `feast -c ... ui`). Production's connection strings
    stay environment variables (Feast expands them), so no password is written to disk."""
    import yaml

    config = repo_config(settings)
    if settings.uses_services:
        registry = {"registry_type": "sql", "path": "${SPEND_REGISTRY_URL}", "cache_ttl_seconds": 60}
        online = {"type": "redis", "connection_string": "${SPEND_REDIS_URL}"}
    else:
        # Absolute: Feast reads a relative path from the yaml's folder, and the default home is `.spend`
        # relative to where Spend runs (`feast -c .spend/feast` looked for .spend/feast/.spend/feast).
        registry = {"registry_type": "file", "path": _absolute(config.registry.path), "cache_ttl_seconds": 60}
        online = {"type": "sqlite", "path": _absolute(config.online_store.path)}
    document = {
        "project": config.project,
        "provider": "local",
        "registry": registry,
        "online_store": online,
        "offline_store": offline_store(settings),
        "entity_key_serialization_version": 3,
    }
    path = settings.paths.feast / "feature_store.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    header = "# Written by Spend (`spend features repo`); Spend builds its store from the same settings.\n"
    path.write_text(header + yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def feature_store(settings: SpendSettings) -> FeatureStore:
    return FeatureStore(config=repo_config(settings))


def bound_online_latency(store: FeatureStore, timeout: float) -> None:
    """Serving: a Redis that refuses or stalls must be an error within `timeout` seconds, not a wait.

    redis-py retries a failed command three times with backoff by default (seconds against a stopped
    server: docs/serving.md), and Feast's connection string cannot turn that off; so Feast's Redis online
    store is given clients (blocking and asyncio) without retries and with socket timeouts, used by
    reads and pushes alike.
    Batch jobs keep Feast's own client: a large pipeline may rightly take longer than a request.
    """
    if store.config.online_store.type != "redis":
        return  # SQLite: the reader's own connection has a busy timeout
    from redis import Redis
    from redis.asyncio import Redis as AsyncRedis
    from redis.asyncio.retry import Retry as AsyncRetry
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    from spend.features.store.feast_private import redis_connection, replace_redis_clients

    nodes, options = redis_connection(store)
    where = {"host": nodes[0]["host"], "port": int(nodes[0]["port"])}
    bounded = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
    replace_redis_clients(
        store,
        Redis(**where, **options, **bounded, retry=Retry(NoBackoff(), 0)),
        # The asyncio client (BatchReader.read_async) connects on first use, in the loop that uses it.
        AsyncRedis(**where, **options, **bounded, retry=AsyncRetry(NoBackoff(), 0)),
    )


def redis_cluster(store: FeatureStore) -> bool:
    """A Redis Cluster online store: one script cannot span its keys, so reads and writes pipeline there."""
    return getattr(store.config.online_store, "redis_type", "redis") == "redis_cluster"


@contextmanager
def backend_errors(settings: SpendSettings) -> Iterator[None]:
    """Turn an unreachable Redis or PostgreSQL, or a repository not yet applied, into one clear line
    instead of a driver traceback."""
    from feast.errors import FeatureServiceNotFoundException, FeatureViewNotFoundException
    from redis.exceptions import ConnectionError as RedisConnectionError
    from sqlalchemy.exc import OperationalError

    try:
        yield
    except (FeatureViewNotFoundException, FeatureServiceNotFoundException) as error:
        raise SpendError(
            "the feature store has no feature views yet; run `spend features build` then `spend features apply` "
            "(or `spend demo`)"
        ) from error
    except OperationalError as error:
        where = make_url(settings.registry_url).render_as_string(hide_password=True)
        why = first_line(error.orig or error)  # the driver's message, without SQLAlchemy's SQL and link
        raise SpendError(f"SPEND_REGISTRY_URL: cannot use the registry at {where} ({why})") from error
    except RedisConnectionError as error:
        raise SpendError(f"SPEND_REDIS_URL: cannot reach Redis at {settings.redis_url} ({error})") from error


def _absolute(path: str) -> str:
    return str(Path(path).resolve())


def apply_repo(settings: SpendSettings):
    """Register Spend's entities, sources, views and services with Feast (online tables created), and
    write feature_store.yaml beside them, so Feast's own commands work on the store just applied. Every
    apply goes through here (`spend features apply`, the demo): the demo's store had no yaml before."""
    from spend.features.store.definitions import build_repo

    repo = build_repo(settings.paths.feature_snapshots, spark=settings.env == "cluster")
    feature_store(settings).apply(repo.objects)
    write_repo_yaml(settings)
    return repo
