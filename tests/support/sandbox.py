"""A Redis server and a PostgreSQL database of their own, for the tests and benchmarks that run the
production environment: they stop, stall and fill their stores, which must never be the machine's shared
ones. Both are removed afterwards.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432"


def missing_tools() -> str | None:
    """Why a private Redis cannot be started here, or None."""
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        return "redis-server and redis-cli are needed to run a Redis of one's own"
    return None


def redis_server(port: int) -> subprocess.Popen:
    """A Redis on 127.0.0.1:`port` that keeps nothing on disk, answering PING before this returns."""
    command = ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while subprocess.run(["redis-cli", "-p", str(port), "PING"], capture_output=True).stdout.strip() != b"PONG":
        if time.monotonic() > deadline:
            server.kill()
            raise RuntimeError(f"redis-server on port {port} did not start")
        time.sleep(0.1)
    return server


@contextlib.contextmanager
def postgres_database(prefix: str) -> Iterator[str]:
    """A fresh database on the local PostgreSQL (SQLAlchemy URL), dropped on exit."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{POSTGRES}/{name}"
    finally:
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def production_settings(home: Path, key: str, redis_port: int, database: str, project: str):
    """Settings for the production environment on a private Redis and database (both registries in it)."""
    from spend.core.settings import SpendSettings

    return SpendSettings(
        home=home,
        pseudonym_key=key,
        env="production",
        redis_url=f"127.0.0.1:{redis_port}",
        registry_url=database,
        tracking_url=database,
        feature_project=project,
    )
