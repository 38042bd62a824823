"""Feast configuration for the two environments, chosen by SPEND_ENV with no code change.

- local (default): file offline store (Parquet snapshots under SPEND_HOME), SQLite online store and a
  file registry, all under SPEND_HOME.
- production: Redis online store (SPEND_REDIS_URL) and a SQL registry in PostgreSQL (SPEND_REGISTRY_URL);
  the offline store stays Parquet files: the snapshots are written by Spend itself and read in bulk.
"""

from __future__ import annotations

from feast import FeatureStore
from feast.repo_config import RepoConfig

from features.settings import SpendSettings


def repo_config(settings: SpendSettings) -> RepoConfig:
    paths = settings.paths
    if settings.env == "production":
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
        offline_store={"type": "file"},
        entity_key_serialization_version=3,
    )


def feature_store(settings: SpendSettings) -> FeatureStore:
    return FeatureStore(config=repo_config(settings))
