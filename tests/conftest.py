"""Shared fixtures: an isolated data home per test and small hand-built exports."""

from __future__ import annotations

import os
from pathlib import Path

# One OpenMP thread per test worker: the suite runs two workers on two cores. LightGBM's scikit-learn API
# ignores OMP_NUM_THREADS (n_jobs=None means every physical core), so only OpenMP's own thread limit
# holds it to one; and a passive wait makes an idle OpenMP thread sleep instead of spinning on a core
# the other worker needs. Without both, fraud and demand trainings that take a minute alone ran past
# the 1500 s timeout in CI (2026-12-05). Set before any test imports LightGBM.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_THREAD_LIMIT", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pandas as pd
import pytest

from spend.core.settings import SpendSettings

TEST_KEY = "test-pseudonym-key"


@pytest.fixture(scope="session")
def empty_model_store(tmp_path_factory) -> Path:
    """An empty local MLflow store at the installed MLflow's schema. Creating one runs MLflow's database
    migrations (about 2 s a home on the 2-core machine); copying this one takes milliseconds, and most
    tests start from a fresh home."""
    from spend.core.model_store import ModelStore

    settings = SpendSettings(home=tmp_path_factory.mktemp("model-store"), pseudonym_key=TEST_KEY)
    ModelStore(settings).client.search_registered_models()
    return settings.home / "mlflow" / "mlflow.db"


def with_model_store(home: Path, store: Path) -> Path:
    """A data home holding a copy of the empty model store, as if a first command had created it."""
    import shutil

    (home / "mlflow").mkdir(parents=True, exist_ok=True)
    shutil.copy(store, home / "mlflow" / "mlflow.db")
    return home


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_model_store: Path) -> SpendSettings:
    """Settings on a fresh data home (its empty model store copied in); the environment points there too,
    for CLI tests."""
    home = with_model_store(tmp_path / "home", empty_model_store)
    monkeypatch.setenv("SPEND_HOME", str(home))
    monkeypatch.setenv("SPEND_PSEUDONYM_KEY", TEST_KEY)
    return SpendSettings(home=home, pseudonym_key=TEST_KEY)


@pytest.fixture
def write_csv(tmp_path: Path):
    """Write rows (a list of dicts or a DataFrame) as CSV and return its path."""

    def write(rows, name: str = "export.csv") -> Path:
        path = tmp_path / name
        frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
        frame.to_csv(path, index=False)
        return path

    return write


def running_in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_service(name: str, host: str, port: int) -> None:
    """Skip with a reason on a laptop without the service; under CI=true its absence is a failure."""
    import socket

    try:
        with socket.create_connection((host, port), timeout=1.0):
            return
    except OSError as error:
        message = f"{name} is not reachable at {host}:{port} ({error})"
        if running_in_ci():
            pytest.fail(f"{message}; CI must provide it", pytrace=False)
        pytest.skip(message)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files with a slow test first, each file's tests in their own order: on two workers (pyproject's
    addopts) the long files then run side by side and the short ones fill in at the end, instead of one
    long file running alone while the other worker waits."""
    slow = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow)
