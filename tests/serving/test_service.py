"""The real service over HTTP (`bentoml serve` in a subprocess): open health and readiness, churn scores
for a marketing key, 401/403 with a reason, hot swap on an admin reload, audit without ids."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import warnings
from datetime import date, timedelta

import httpx
import pandas as pd
import pytest

from features.compute.payments import FEATURES
from features.compute.terminals import card_payments
from features.ingest.pipeline import IngestOptions, ingest
from features.ingest.store import OfflineStore
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
from tests.conftest import TEST_KEY
from training.dataset import active_at
from training.fraud import payments_with_features
from training.tracking import Registry
from training.train import train_model


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    warnings.filterwarnings("ignore", message="On demand feature view is an experimental feature")
    root = tmp_path_factory.mktemp("serving")
    settings = SpendSettings(home=root / "home", pseudonym_key=TEST_KEY)
    start = date.today() - timedelta(days=365)  # ends yesterday: online values are fresh
    write_simulation(simulate(SimulationConfig(customers=1_500, days=365, seed=5, start=start)), root / "sim")
    for table in TABLE_ORDER:
        ingest(root / "sim" / f"{table}.csv", IngestOptions(table), settings)
    build_snapshots(settings)
    feature_store(settings).apply(build_repo(settings.paths.feature_snapshots).objects)
    materialize(settings)
    as_of = pd.Timestamp(date.today(), tz="UTC")
    first = train_model(settings, "churn", as_of)
    fraud_version = _register_fraud_model(settings)
    keys = KeyStore(settings.paths.home / "serving" / "api_keys.json")
    roles = {role: keys.add(role, role) for role in ("marketing", "pricing-engine", "data-scientist")}
    payments = card_payments(OfflineStore(settings.paths).read("transactions"))
    port = _free_port()
    env = os.environ | {"SPEND_HOME": str(settings.home), "SPEND_PSEUDONYM_KEY": TEST_KEY}
    server = subprocess.Popen(
        [sys.executable, "-m", "bentoml", "serve", "serving.service:Spend", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    while time.monotonic() - started < 90:
        try:
            if httpx.post(f"{url}/v1/ready", json={}, timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if server.poll() is not None:
            raise RuntimeError(server.stdout.read().decode()[-3000:])
        time.sleep(0.5)
    else:
        server.kill()
        raise RuntimeError("the service did not become ready in 90 s")
    customers = active_at(settings.paths.feature_snapshots, as_of)["customer_id"].head(50).tolist()
    yield {
        "url": url,
        "keys": roles,
        "settings": settings,
        "customers": customers,
        "first": first,
        "as_of": as_of,
        "fraud_version": fraud_version,
        "terminal": payments["terminal_id"].iloc[-1],
    }
    server.terminate()
    server.wait(timeout=20)


def _register_fraud_model(settings) -> int:
    """A small fraud model on this history's card payments, registered as training would (the one-year
    retail history is too short for the full Handbook protocol's prequential folds)."""
    frame = payments_with_features(settings)
    X = frame[list(FEATURES)]
    model = FraudModel(n_estimators=50).fit(X, frame["is_fraud"])
    model.set_alert_budget(X, frame["ts"].dt.floor("D").to_numpy(), 5)
    metrics = {"spend_average_precision": 0.5}
    tags = {"feature_service": "fraud_v1"}
    return Registry(settings).register("fraud", model, {}, metrics, tags, {}, "average_precision", None).version


def _post(served, path, body, role=None):
    headers = {"X-API-Key": served["keys"][role]} if role else {}
    return httpx.post(f"{served['url']}{path}", json=body, headers=headers, timeout=30)


def test_health_and_readiness_are_open_and_name_the_model_in_use(served):
    health = _post(served, "/v1/health", {})
    assert health.status_code == 200 and health.json()["models"]["churn"] == served["first"].version


def test_marketing_gets_churn_scores_with_model_version_and_feature_times(served):
    ids = [*served["customers"][:20], "c_unknown"]
    response = _post(served, "/v1/churn/score", {"customer_ids": ids}, "marketing")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["model"], body["version"]) == ("spend-churn", served["first"].version)
    known, unknown = body["scores"][:-1], body["scores"][-1]
    assert all(s["found"] and 0 <= s["churn_probability"] <= 1 and s["churn_band"] for s in known)
    assert all(s["features_at"] > time.time() - 3 * 86_400 for s in known)
    assert unknown == {**unknown, "found": False, "churn_probability": None}


@pytest.mark.parametrize(
    ("path", "role", "status", "reason"),
    [
        ("/v1/churn/score", None, 401, "missing API key"),
        ("/v1/churn/score", "pricing-engine", 403, "may not call churn"),
        ("/v1/admin/reload", "marketing", 403, "may not call admin"),
    ],
)
def test_refusals_say_why(served, path, role, status, reason):
    body = {"customer_ids": served["customers"][:2]} if "churn" in path else {}
    response = _post(served, path, body, role)
    assert response.status_code == status and reason in response.json()["error"]
    forged = httpx.post(f"{served['url']}{path}", json=body, headers={"X-API-Key": "forged"}, timeout=10)
    assert forged.status_code == 401 and "unknown API key" in forged.json()["error"]


def test_a_new_champion_is_served_after_an_admin_reload_and_calls_are_audited(served):
    second = train_model(served["settings"], "churn", served["as_of"])  # same data: passes the gate
    assert second.alias == "champion"
    reloaded = _post(served, "/v1/admin/reload", {}, "data-scientist")
    assert reloaded.status_code == 200 and reloaded.json()["models"]["churn"] == second.version
    scored = _post(served, "/v1/churn/score", {"customer_ids": served["customers"][:3]}, "marketing")
    assert scored.json()["version"] == second.version
    lines = (served["settings"].paths.home / "audit" / "serving.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert any(r.get("caller") == "marketing" and r["customers"] == 3 for r in records)
    assert any(r.get("status") == 403 for r in records)
    assert not any(c in line for line in lines for c in served["customers"])  # never the ids


def _payment(served, **change) -> dict:
    now = time.time()
    body = {
        "order_id": "web-1",
        "card_id": "CARD-NEW-1",
        "terminal_id": served["terminal"],
        "ts": pd.Timestamp(now - 60, unit="s", tz="UTC").isoformat(),
        "amount": 42.5,
        "currency": "GBP",
    }
    return {"transaction": body | change}


def test_the_pricing_engine_scores_a_payment_and_the_next_one_sees_it(served):
    first = _post(served, "/v1/fraud/score", _payment(served), "pricing-engine")
    assert first.status_code == 200, first.text
    body = first.json()
    assert 0 <= body["fraud_score"] <= 1 and body["version"] == served["fraud_version"]
    assert body["features_at"]["customer_spending"] is None  # a new card: no windows yet
    second = _post(served, "/v1/fraud/score", _payment(served, order_id="web-2", amount=10.0), "pricing-engine")
    pushed_at = second.json()["features_at"]["customer_spending"]
    assert pushed_at == pytest.approx(pd.Timestamp(_payment(served)["transaction"]["ts"]).timestamp(), abs=2)
    assert _post(served, "/v1/fraud/score", _payment(served), "marketing").status_code == 403


@pytest.mark.parametrize(
    ("change", "field", "text"),
    [
        ({"amount": -5}, "amount", "greater than 0"),
        ({"amount": 5e6}, "amount", "SPEND_MAX_LINE_AMOUNT"),
        ({"currency": "XYZ"}, "currency", "unknown currency"),
        ({"ts": "2099-01-01T00:00:00Z"}, "ts", "in the future"),
        ({"terminal_id": ""}, "terminal_id", "at least 1 character"),
        ({"card_id": ""}, "card_id", "at least 1 character"),
    ],
)
def test_bad_payments_are_400_naming_the_field(served, change, field, text):
    response = _post(served, "/v1/fraud/score", _payment(served, **change), "pricing-engine")
    assert response.status_code == 400 and field in response.text and text in response.text, response.text
