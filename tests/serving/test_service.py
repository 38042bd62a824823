"""The real service over HTTP (`bentoml serve` in a subprocess, local environment): open health and
readiness, every endpoint for the role allowed to call it, 401/403 with a reason, the published recall
list and segments, single and batch fraud scores, hot swap under traffic, degraded mode with the online
store file removed, metrics, structured logs and the audit trail without ids."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pandas as pd
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from spend.core.names import RECALL_LIST, SEGMENTS
from spend.core.settings import SpendSettings
from spend.features.compute.terminals import card_payments
from spend.features.ingest.store import OfflineStore
from spend.serving.launch import stop
from spend.serving.middleware import OPEN, route_permissions
from spend.serving.schemas import ChurnResponse, FraudBatchResponse, FraudScore
from spend.training.dataset import active_at
from spend.training.loop import train
from tests.conftest import TEST_KEY
from tests.serving.conftest import post, start_service
from tests.support.sample_home import sample_home


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("serving")
    settings = SpendSettings(home=root / "home", pseudonym_key=TEST_KEY)
    home = sample_home(settings, root, customers=1_500)
    log = root / "service.log"
    server, url, _ = start_service(settings, log)
    payments = card_payments(OfflineStore(settings.paths).read("transactions"))
    customers = active_at(settings.paths.feature_snapshots, home["as_of"])["customer_id"].head(50).tolist()
    yield home | {
        "url": url,
        "settings": settings,
        "customers": customers,
        "terminal": payments["terminal_id"].iloc[-1],
        "log": log,
    }
    stop(server)


@pytest.fixture(scope="module")
def api_schema(served):
    return schemathesis.openapi.from_url(f"{served['url']}/docs.json")


def test_the_openapi_document_lists_every_endpoint(api_schema):
    assert {p for p in api_schema.raw_schema["paths"] if p.startswith("/v1/")} == set(route_permissions()) | OPEN


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize("path", sorted(set(route_permissions()) | OPEN))
def test_generated_calls_never_get_a_5xx_and_every_400_names_the_field(served, api_schema, path, mode):
    """schemathesis against the served OpenAPI document (bounded examples), with a key that may call
    everything: valid and invalid bodies alike."""
    key = {"X-API-Key": served["keys"]["data-scientist"]}

    @given(case=api_schema[path]["POST"].as_strategy(mode))
    @settings(max_examples=20, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def check(case) -> None:
        response = case.call(headers=key, timeout=30)
        assert response.status_code < 500, f"{case.path} -> {response.status_code}: {response.text[:500]}"
        if 400 <= response.status_code < 500:
            body = response.json()
            assert body.get("error"), response.text
            if response.status_code == 400:  # validation: each entry says which field and what is wrong
                assert body["detail"] and all(_names_the_field(e) for e in body["detail"]), response.text

    check()


BODY_ERRORS = {"json_invalid", "model_type", "model_attributes_type", "dict_type"}  # the body as a whole


def _names_the_field(error: dict) -> bool:
    """A field path, or an error about the whole body (not JSON, not an object), and a message."""
    return bool(error["msg"]) and (bool(error["loc"]) or error["type"] in BODY_ERRORS)


def _post(served, path, body, role=None, timeout=30):
    return post(served["url"], path, body, served["keys"][role] if role else None, timeout)


def test_health_and_readiness_are_open_and_name_the_model_in_use(served):
    health = _post(served, "/v1/health", {})
    assert health.status_code == 200 and health.json()["models"]["churn"] == served["first"].version
    assert health.json()["published_at"] and health.json()["online_store"] == "ok"


def _fallbacks(served) -> float:
    text = httpx.get(f"{served['url']}/metrics", timeout=10).text
    lines = [line for line in text.splitlines() if line.startswith("spend_online_record_fallbacks_total")]
    return float(lines[0].split()[-1]) if lines else 0.0


def test_marketing_gets_churn_scores_with_model_version_and_feature_times(served):
    ids = [*served["customers"][:20], "c_unknown"]
    fallbacks = _fallbacks(served)
    response = _post(served, "/v1/churn/score", {"customer_ids": ids}, "marketing")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body == ChurnResponse.model_validate(body).model_dump(mode="json")  # the documented shape, every field
    assert (body["model"], body["version"], body["degraded"]) == ("spend-churn", served["first"].version, False)
    known, unknown = body["scores"][:-1], body["scores"][-1]
    assert all(s["found"] and 0 <= s["churn_probability"] <= 1 and s["churn_band"] for s in known)
    assert all(s["features_at"] > time.time() - 3 * 86_400 for s in known)
    assert unknown == {**unknown, "found": False, "churn_probability": None}
    # The known customers came from their packed records; only the unknown one was looked up in Feast's rows.
    assert _fallbacks(served) - fallbacks == 1


def test_the_recall_list_pages_through_the_published_list_with_filters(served):
    published = pd.read_parquet(served["settings"].paths.published / RECALL_LIST)
    segment = published["segment"].mode().iloc[0]
    expected = published[published["segment"] == segment].sort_values(
        "expected_saved_margin", ascending=False, kind="stable"
    )["customer_id"]
    top_k = min(25, len(expected))
    seen, offset = [], 0
    while offset is not None:
        body = {"top_k": top_k, "limit": 10, "offset": offset, "segment": segment}
        page = _post(served, "/v1/recall/list", body, "marketing")
        assert page.status_code == 200, page.text
        page = page.json()
        assert page["total"] == top_k and page["version"] == served["first"].version
        assert all(c["segment"] == segment for c in page["customers"])
        seen += [c["customer_id"] for c in page["customers"]]
        offset = page["next_offset"]
    assert seen == expected.head(top_k).tolist()
    high = _post(served, "/v1/recall/list", {"churn_band": "high", "limit": 1000}, "marketing").json()
    assert all(c["churn_band"] == "high" for c in high["customers"])
    assert high["total"] == min(500, int((published["churn_band"] == "high").sum()))


def test_segment_lookup_answers_from_the_publication_with_profiles(served):
    published = pd.read_parquet(served["settings"].paths.published / SEGMENTS).head(3)
    ids = [*published["customer_id"], "c_unknown"]
    response = _post(served, "/v1/segments/lookup", {"customer_ids": ids}, "marketing")
    assert response.status_code == 200, response.text
    body = response.json()
    got = [(c["segment"], c["cluster"]) for c in body["customers"][:3]]
    assert got == list(zip(published["segment"], published["cluster"], strict=True))
    assert body["customers"][3]["found"] is False
    assert set(body["profiles"]["segment"]) == set(published["segment"])
    assert all(p["customers"] > 0 for p in body["profiles"]["segment"].values())


@pytest.mark.parametrize(
    ("path", "role", "status", "reason"),
    [
        ("/v1/churn/score", None, 401, "missing API key"),
        ("/v1/churn/score", "pricing-engine", 403, "may not call churn"),
        ("/v1/recall/list", "pricing-engine", 403, "may not call recall"),
        ("/v1/segments/lookup", "pricing-engine", 403, "may not call segments"),
        ("/v1/fraud/score", "marketing", 403, "may not call fraud"),
        ("/v1/fraud/score-batch", "marketing", 403, "may not call fraud"),
        ("/v1/admin/reload", "marketing", 403, "may not call admin"),
        ("/v1/nothing", "data-scientist", 404, "no endpoint"),
    ],
)
def test_refusals_say_why(served, path, role, status, reason):
    body = {"customer_ids": served["customers"][:2]} if "churn" in path else {}
    response = _post(served, path, body, role)
    assert response.status_code == status and reason in response.json()["error"]
    if status == 404:
        return
    forged = httpx.post(f"{served['url']}{path}", json=body, headers={"X-API-Key": "forged"}, timeout=10)
    assert forged.status_code == 401 and "unknown API key" in forged.json()["error"]


def _payment(served, **change) -> dict:
    body = {
        "order_id": "web-1",
        "card_id": "CARD-NEW-1",
        "terminal_id": served["terminal"],
        "ts": pd.Timestamp(time.time() - 60, unit="s", tz="UTC").isoformat(),
        "amount": 42.5,
        "currency": "GBP",
    }
    return body | change


def test_the_pricing_engine_scores_a_payment_and_the_next_one_sees_it(served):
    first = _post(served, "/v1/fraud/score", {"transaction": _payment(served)}, "pricing-engine")
    assert first.status_code == 200, first.text
    body = first.json()
    assert body == FraudScore.model_validate(body).model_dump(mode="json")  # the documented shape, every field
    assert 0 <= body["fraud_score"] <= 1 and body["version"] == served["fraud_version"] and body["pushed"]
    assert body["features_at"]["customer_spending"] is None  # a new card: no windows yet
    second = _post(served, "/v1/fraud/score", {"transaction": _payment(served, order_id="web-2")}, "pricing-engine")
    pushed_at = second.json()["features_at"]["customer_spending"]
    assert pushed_at == pytest.approx(pd.Timestamp(_payment(served)["ts"]).timestamp(), abs=2)


def test_a_batch_is_answered_in_order_and_each_card_sees_its_earlier_payments(served):
    now = time.time()
    stamps = [pd.Timestamp(now - s, unit="s", tz="UTC").isoformat() for s in (30, 300, 200)]
    batch = [
        _payment(served, order_id=f"b-{i}", card_id="CARD-BATCH", ts=ts, amount=10.0 * (i + 1))
        for i, ts in enumerate(stamps)
    ]
    response = _post(served, "/v1/fraud/score-batch", {"transactions": batch}, "pricing-engine")
    assert response.status_code == 200, response.text
    assert response.json() == FraudBatchResponse.model_validate(response.json()).model_dump(mode="json")
    scores = response.json()["scores"]
    assert [s["order_id"] for s in scores] == ["b-0", "b-1", "b-2"]
    single = [
        _post(served, "/v1/fraud/score", {"transaction": _payment(served, **p)}, "pricing-engine").json()
        for p in ({"card_id": "CARD-ALONE", "ts": stamps[1], "amount": 20.0},)
    ]
    assert scores[1]["fraud_score"] == pytest.approx(single[0]["fraud_score"])  # the card's first payment
    after = _post(served, "/v1/fraud/score", {"transaction": _payment(served, card_id="CARD-BATCH")}, "pricing-engine")
    assert after.json()["features_at"]["customer_spending"] == pytest.approx(pd.Timestamp(stamps[0]).timestamp())


@pytest.mark.parametrize(
    ("change", "field", "text"),
    [
        ({"amount": -5}, "amount", "greater than 0"),
        ({"amount": 5e6}, "amount", "SPEND_MAX_LINE_AMOUNT"),
        ({"currency": "XYZ"}, "currency", "unknown currency"),
        ({"ts": "2099-01-01T00:00:00Z"}, "ts", "in the future"),
        ({"ts": "0003-01-03T00:33:01Z"}, "ts", "on or after 1970-01-01"),
        ({"amount": 0}, "amount", "greater than 0"),
        ({"terminal_id": ""}, "terminal_id", "at least 1 character"),
        ({"card_id": ""}, "card_id", "at least 1 character"),
    ],
)
def test_bad_payments_are_400_naming_the_field(served, change, field, text):
    response = _post(served, "/v1/fraud/score", {"transaction": _payment(served, **change)}, "pricing-engine")
    assert response.status_code == 400 and field in response.text and text in response.text, response.text
    batch = {"transactions": [_payment(served), _payment(served, **change)]}
    response = _post(served, "/v1/fraud/score-batch", batch, "pricing-engine")
    located = [e["loc"] for e in response.json()["detail"]]
    assert response.status_code == 400 and any(loc[:2] == ["transactions", 1] for loc in located), located


def test_without_the_online_store_churn_fails_fast_and_fraud_is_degraded(served):
    online = served["settings"].paths.feast / "online.db"
    aside = online.with_name("online.db.aside")
    online.rename(aside)
    try:
        started = time.monotonic()
        churn = _post(served, "/v1/churn/score", {"customer_ids": served["customers"][:5]}, "marketing", timeout=5)
        assert churn.status_code == 503 and "online store" in churn.json()["error"]
        assert time.monotonic() - started < 2
        fraud = _post(served, "/v1/fraud/score", {"transaction": _payment(served)}, "pricing-engine", timeout=5)
        assert fraud.status_code == 200, fraud.text
        body = fraud.json()
        assert body["degraded"] and "missing" in body["degraded_reason"] and not body["pushed"]
        assert body["features_at"] == {"customer_spending": None, "terminal_risk": None}
        assert "missing" in _post(served, "/v1/health", {}).json()["online_store"]
        recall = _post(served, "/v1/recall/list", {"limit": 1}, "marketing")  # published: unaffected
        assert recall.status_code == 200
    finally:
        aside.rename(online)
    assert _post(served, "/v1/churn/score", {"customer_ids": served["customers"][:5]}, "marketing").status_code == 200
    metrics = httpx.get(f"{served['url']}/metrics", timeout=10).text
    assert 'spend_degraded_answers_total{endpoint="/v1/fraud/score"}' in metrics
    assert 'spend_errors_total{endpoint="/v1/churn/score",status="503"}' in metrics


def test_a_new_champion_is_swapped_in_under_traffic_without_a_failed_request(served):
    before = served["first"].version
    results: list[tuple[int, int | None]] = []
    stop = threading.Event()

    def traffic() -> None:
        with httpx.Client(timeout=30) as client:
            while not stop.is_set():
                r = client.post(
                    f"{served['url']}/v1/churn/score",
                    json={"customer_ids": served["customers"][:10]},
                    headers={"X-API-Key": served["keys"]["marketing"]},
                )
                results.append((r.status_code, r.json().get("version")))

    caller = threading.Thread(target=traffic)
    caller.start()
    try:
        second = train(served["settings"], "churn", served["as_of"])  # same data: passes the gate
        assert second.alias == "champion" and second.version != before
        reloaded = _post(served, "/v1/admin/reload", {}, "data-scientist")
        time.sleep(1.0)
    finally:
        stop.set()
        caller.join()
    assert reloaded.status_code == 200 and reloaded.json()["models"]["churn"] == second.version
    assert results and all(status == 200 for status, _ in results)
    versions = [v for _, v in results]
    assert versions[0] == before and versions[-1] == second.version
    assert versions == sorted(versions)  # never back to the old model once swapped
    metrics = httpx.get(f"{served['url']}/metrics", timeout=10).text
    assert f'spend_model_version{{model="churn"}} {float(second.version)}' in metrics


def test_calls_are_audited_and_logged_as_json_without_ids(served):
    _post(served, "/v1/churn/score", {"customer_ids": served["customers"][:3]}, "marketing")
    lines = (served["settings"].paths.home / "audit" / "serving.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert any(r.get("caller") == "marketing" and r.get("customers") == 3 for r in records)
    assert any(r.get("status") == 403 for r in records) and any(r.get("status") == 503 for r in records)
    logged = [json.loads(line) for line in served["log"].read_text().splitlines() if line.startswith("{")]
    churn = [r for r in logged if r.get("endpoint") == "/v1/churn/score" and r["status"] == 200]
    assert churn and all(r["model"] == "spend-churn" and r["ms"] > 0 and r["role"] for r in churn)
    assert any(r["role"] == "marketing" and r["customers"] == 3 for r in churn)
    text = "\n".join(lines) + served["log"].read_text()
    assert not any(c in text for c in served["customers"])  # never the ids
    assert "CARD-NEW-1" not in text
