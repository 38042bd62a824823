"""The service in the production environment: features from Redis, models from an MLflow registry in
PostgreSQL. Redis here is a server of the test's own (the machine's shared one must not be stopped):
stalled with CLIENT PAUSE, then stopped, then started again, while the service keeps answering: churn
fails fast with 503 and the reason, fraud is scored from the payment alone and flagged, and the service
recovers without a restart."""

from __future__ import annotations

import subprocess
import threading
import time
import uuid

import pandas as pd
import pytest

from spend.serving.launch import free_port, stop
from spend.training.dataset import active_at
from tests.conftest import TEST_KEY, require_service, running_in_ci
from tests.serving.conftest import post, start_service
from tests.support.sample_home import sample_home
from tests.support.sandbox import missing_tools, postgres_database, production_settings, redis_server

pytestmark = pytest.mark.service


@pytest.fixture(scope="module")
def database():
    """A PostgreSQL database of this module's own for the Feast and MLflow registries, dropped after."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    with postgres_database("spend_serving") as url:
        yield url


@pytest.fixture(scope="module")
def production(tmp_path_factory, database):
    message = missing_tools()
    if message is not None:
        if running_in_ci():
            pytest.fail(f"{message}; CI must provide them", pytrace=False)
        pytest.skip(message)
    root = tmp_path_factory.mktemp("serving-production")
    port = free_port()
    redis = redis_server(port)
    settings = production_settings(root / "home", TEST_KEY, port, database, "spend_serving")
    home = sample_home(settings, root, customers=600)
    server, url, _ = start_service(settings, root / "service.log")
    customers = active_at(settings.paths.feature_snapshots, home["as_of"])["customer_id"].head(20).tolist()
    state = home | {"url": url, "customers": customers, "redis": redis, "redis_port": port, "settings": settings}
    yield state
    stop(server)
    state["redis"].kill()


def _churn(production, timeout=5):
    body = {"customer_ids": production["customers"]}
    return post(production["url"], "/v1/churn/score", body, production["keys"]["marketing"], timeout)


def _fraud(production, timeout=5):
    payment = {
        "order_id": f"pos-{uuid.uuid4().hex[:12]}",  # a new payment each call
        "card_id": "CARD-7",
        "terminal_id": "T-1",
        "ts": pd.Timestamp(time.time() - 30, unit="s", tz="UTC").isoformat(),
        "amount": 25.0,
    }
    return post(production["url"], "/v1/fraud/score", {"transaction": payment}, production["keys"]["pricing-engine"])


def test_scores_come_from_redis_and_the_postgresql_registry(production):
    response = _churn(production)
    assert response.status_code == 200, response.text
    assert response.json()["version"] == production["first"].version
    assert all(s["found"] for s in response.json()["scores"])
    fraud = _fraud(production)
    assert fraud.status_code == 200 and fraud.json()["pushed"] and not fraud.json()["degraded"]


def test_a_payment_sent_many_times_at_once_is_counted_once_and_answered_the_same(production):
    """A client that retries before its first answer came back: 12 copies in flight together, a third of
    them inside batches (another thread of the service). The Redis read is awaited, so without a guard the
    copies interleave with the first and are scored and counted again. Each must get the first's answer,
    and the card's windows must hold the payment once."""
    ts = pd.Timestamp(time.time() - 60, unit="s", tz="UTC")

    def score(card: str, order_id: str, amount: float, at: pd.Timestamp, batch: bool = False) -> dict:
        payment = {"order_id": order_id, "card_id": card, "terminal_id": "T-1", "ts": at.isoformat(), "amount": amount}
        key = production["keys"]["pricing-engine"]
        if batch:
            return post(production["url"], "/v1/fraud/score-batch", {"transactions": [payment]}, key).json()["scores"][
                0
            ]
        return post(production["url"], "/v1/fraud/score", {"transaction": payment}, key).json()

    rush, answers, gate = f"rush-{uuid.uuid4().hex[:8]}", [None] * 12, threading.Barrier(12)

    def send(i: int) -> None:
        gate.wait()
        answers[i] = score("CARD-RUSH", rush, 180.0, ts, batch=i % 3 == 2)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers[0]["pushed"] and all(a == answers[0] for a in answers)
    assert (
        score("CARD-RUSH-ONCE", f"once-{uuid.uuid4().hex[:8]}", 180.0, ts)["fraud_score"] == answers[0]["fraud_score"]
    )
    later = ts + pd.Timedelta(seconds=30)
    after_rush = score("CARD-RUSH", f"next-{uuid.uuid4().hex[:8]}", 35.0, later)
    after_once = score("CARD-RUSH-ONCE", f"next-{uuid.uuid4().hex[:8]}", 35.0, later)
    assert after_rush["fraud_score"] == after_once["fraud_score"]


def test_an_erasure_reaches_redis_and_leaves_nothing_in_postgresql_or_the_home(production, database):
    """Before Redis is restarted empty below: the customer's hash must be there to be erased."""
    from spend.core.privacy.vault import IdentityVault
    from spend.serving.auth import key_store
    from tests.support.traces import file_traces, postgres_traces, redis_traces

    settings = production["settings"]
    active = active_at(settings.paths.feature_snapshots, production["as_of"])["customer_id"]
    target = next(c for c in active if c not in production["customers"])
    raw = IdentityVault(settings.paths.vault, TEST_KEY.encode()).reidentify([target])[target]
    assert redis_traces(production["redis_port"], [target]), "the customer is online before the erasure"
    dpo = key_store(settings.paths.home).add("dpo", "admin")
    payment = {"card_id": raw, "terminal_id": "T-1", "amount": 25.0}
    pay = lambda: post(  # noqa: E731
        production["url"],
        "/v1/fraud/score",
        {"transaction": payment | {"order_id": uuid.uuid4().hex, "ts": pd.Timestamp.now(tz="UTC").isoformat()}},
        production["keys"]["pricing-engine"],
    ).json()
    assert pay()["pushed"]  # the card's windows are pending, on their way to Redis, as the erasure comes

    answer = post(production["url"], "/v1/admin/erase", {"customer_ids": [raw]}, dpo)
    assert answer.status_code == 200, answer.text
    assert answer.json()["removed"]["online store"] == 1 and answer.json()["found"] == 1
    again = pay()  # the holder pays again: scored from the payment alone, nothing kept
    assert again["pushed"] is False and "erased" in again["degraded_reason"]
    time.sleep(3 * settings.serving_push_seconds)  # any write of this process would be done
    assert redis_traces(production["redis_port"], [target, raw]) == []
    assert postgres_traces(database, [target, raw]) == []
    assert file_traces(settings.paths.home, [target, raw]) == []
    body = {"customer_ids": [target, *production["customers"][:2]]}
    scores = post(production["url"], "/v1/churn/score", body, production["keys"]["marketing"]).json()["scores"]
    assert [s["found"] for s in scores] == [False, True, True]


def test_a_stalled_redis_is_a_fast_503_not_a_hang(production):
    port = str(production["redis_port"])
    subprocess.run(["redis-cli", "-p", port, "CLIENT", "PAUSE", "3000", "ALL"], check=True, capture_output=True)
    started = time.monotonic()
    response = _churn(production)
    elapsed = time.monotonic() - started
    started = time.monotonic()
    fraud = _fraud(production)  # its read is awaited on the asyncio client: bounded the same way
    fraud_elapsed = time.monotonic() - started
    subprocess.run(["redis-cli", "-p", port, "CLIENT", "UNPAUSE"], check=True, capture_output=True)
    assert response.status_code == 503 and "did not answer in time" in response.json()["error"], response.text
    assert str(production["redis_port"]) not in response.text  # what failed, not where
    assert elapsed < 1.5  # the read timeout is 0.25 s
    assert fraud.status_code == 200 and fraud.json()["degraded"], fraud.text
    assert "did not answer in time" in fraud.json()["degraded_reason"] and fraud_elapsed < 1.5
    assert _churn(production).status_code == 200  # recovered, no restart
    assert not _fraud(production).json()["degraded"]


def test_with_redis_stopped_churn_is_503_fraud_is_degraded_and_it_recovers(production):
    production["redis"].terminate()
    production["redis"].wait(timeout=10)
    started = time.monotonic()
    churn = _churn(production)
    assert churn.status_code == 503 and "Redis" in churn.json()["error"], churn.text
    assert time.monotonic() - started < 1.5
    fraud = _fraud(production)
    assert fraud.status_code == 200, fraud.text
    assert fraud.json()["degraded"] and not fraud.json()["pushed"]
    health = post(production["url"], "/v1/health", {})
    assert health.status_code == 200 and "Redis" in health.json()["online_store"]
    production["redis"] = redis_server(production["redis_port"])  # back, and empty: it keeps nothing
    recovered = _churn(production)
    assert recovered.status_code == 200 and not any(s["found"] for s in recovered.json()["scores"])
    assert not _fraud(production).json()["degraded"]  # the asyncio client reconnects too


@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_generated_calls_in_production_never_get_a_5xx(production, mode):
    """schemathesis against the production service's OpenAPI document (Redis, PostgreSQL registries):
    valid and invalid bodies on every endpoint, with a key that may call everything."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis import GenerationMode

    from spend.serving.middleware import OPEN, route_permissions

    schema = schemathesis.openapi.from_url(f"{production['url']}/docs.json")
    key = {"X-API-Key": production["keys"]["data-scientist"]}
    generation = GenerationMode.POSITIVE if mode == "positive" else GenerationMode.NEGATIVE
    for path in sorted(set(route_permissions()) | OPEN):

        @given(case=schema[path]["POST"].as_strategy(generation))
        @settings(max_examples=8, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def check(case) -> None:
            response = case.call(headers=key, timeout=30)
            assert response.status_code < 500, f"{case.path} -> {response.status_code}: {response.text[:500]}"

        check()
