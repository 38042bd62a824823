"""A data home ready to serve (history, feature store, churn and fraud champions, a publication) and a
real `bentoml serve` process over it, shared by the local and production service tests."""

from __future__ import annotations

import socket
import subprocess
import time
import warnings
from datetime import date, timedelta
from pathlib import Path

import httpx
import pandas as pd

from features.compute.payments import FEATURES
from features.ingest.pipeline import IngestOptions, ingest
from features.settings import SpendSettings
from features.simulate.config import SimulationConfig
from features.simulate.run import simulate
from features.simulate.writer import TABLE_ORDER, write_simulation
from features.store.build import build_snapshots
from features.store.config import feature_store
from features.store.definitions import build_repo
from features.store.materialize import materialize
from models.fraud import FraudModel
from serving.auth import KeyStore
from serving.launch import serve_command, serve_environment
from tests.conftest import TEST_KEY
from training.fraud import payments_with_features
from training.publish import publish
from training.tracking import Registry
from training.train import train_model

ROLES = ("marketing", "pricing-engine", "data-scientist")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare_home(settings: SpendSettings, root: Path, customers: int) -> dict:
    """One year of history ending yesterday (online values are fresh), the feature store, a churn champion,
    a fraud champion, a publication and one key per role."""
    warnings.filterwarnings("ignore", message="On demand feature view is an experimental feature")
    start = date.today() - timedelta(days=365)
    write_simulation(simulate(SimulationConfig(customers=customers, days=365, seed=5, start=start)), root / "sim")
    for table in TABLE_ORDER:
        ingest(root / "sim" / f"{table}.csv", IngestOptions(table), settings)
    build_snapshots(settings)
    feature_store(settings).apply(build_repo(settings.paths.feature_snapshots).objects)
    materialize(settings)
    as_of = pd.Timestamp(date.today(), tz="UTC")
    churn = train_model(settings, "churn", as_of)
    fraud_version = register_fraud_model(settings)
    publish(settings, as_of)
    keys = KeyStore(settings.paths.home / "serving" / "api_keys.json")
    return {
        "as_of": as_of,
        "first": churn,
        "fraud_version": fraud_version,
        "keys": {role: keys.add(role, role) for role in ROLES},
    }


def register_fraud_model(settings: SpendSettings) -> int:
    """A small fraud model on this history's card payments, registered as training would (the one-year
    retail history is too short for the full Handbook protocol's prequential folds)."""
    frame = payments_with_features(settings)
    X = frame[list(FEATURES)]
    model = FraudModel(n_estimators=50).fit(X, frame["is_fraud"])
    model.set_alert_budget(X, frame["ts"].dt.floor("D").to_numpy(), 5)
    metrics = {"spend_average_precision": 0.5}
    tags = {"feature_service": "fraud_v1"}
    return Registry(settings).register("fraud", model, {}, metrics, tags, {}, "average_precision", None).version


def service_environment(settings: SpendSettings) -> dict[str, str]:
    env = {
        "SPEND_HOME": str(settings.home),
        "SPEND_PSEUDONYM_KEY": TEST_KEY,
        "SPEND_ENV": settings.env,
        "SPEND_REDIS_URL": settings.redis_url,
        "SPEND_REGISTRY_URL": settings.registry_url,
        "SPEND_TRACKING_URL": settings.tracking_url,
        "SPEND_FEATURE_PROJECT": settings.feature_project,
    }
    return serve_environment(env)


def start_service(settings: SpendSettings, log: Path, timeout: float = 90) -> tuple[subprocess.Popen, str, float]:
    """`bentoml serve` on a free port, logging to a file (a pipe nobody reads would block the server);
    returns the process, its URL and the seconds from start to ready."""
    port = free_port()
    command = serve_command(port)
    handle = open(log, "wb")  # noqa: SIM115 - closed with the process
    started = time.monotonic()
    server = subprocess.Popen(command, env=service_environment(settings), stdout=handle, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    while time.monotonic() - started < timeout:
        try:
            if httpx.post(f"{url}/v1/ready", json={}, timeout=2).status_code == 200:
                return server, url, time.monotonic() - started
        except httpx.HTTPError:
            pass
        if server.poll() is not None:
            raise RuntimeError(log.read_text()[-3000:])
        time.sleep(0.2)
    server.kill()
    raise RuntimeError(f"the service did not become ready in {timeout:.0f} s: {log.read_text()[-3000:]}")


def stop_service(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()


def post(url: str, path: str, body: dict, key: str | None = None, timeout: float = 30) -> httpx.Response:
    headers = {"X-API-Key": key} if key else {}
    return httpx.post(f"{url}{path}", json=body, headers=headers, timeout=timeout)
