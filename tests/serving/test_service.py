"""The real service over HTTP (`bentoml serve` in a subprocess, local environment): open health and
readiness, every endpoint for the role allowed to call it, 401/403 with a reason, the published recall
list and segments, single and batch fraud scores, hot swap under traffic, degraded mode with the online
store file removed, metrics, structured logs and the audit trail without ids."""

from __future__ import annotations

import gzip
import json
import os
import threading
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import httpx
import pandas as pd
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
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

pytestmark = pytest.mark.slow  # a minute or more of fixtures and training: scheduled first (conftest.py)


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


def test_the_openapi_document_says_what_spend_is_and_how_calls_are_refused(api_schema):
    from importlib.metadata import version

    raw = api_schema.raw_schema
    assert raw["info"]["title"] == "Spend" and raw["info"]["version"] == version("spend")
    assert "X-API-Key" in raw["info"]["description"] and "BentoML" not in raw["info"].get("contact", {}).get("name", "")
    assert raw["components"]["securitySchemes"]["ApiKey"] == {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    for path in route_permissions():
        operation = raw["paths"][path]["post"]
        assert operation["security"] == [{"ApiKey": []}], path
        assert {"401", "403", "413", "415", "503"} <= set(operation["responses"]), path
    assert "security" not in raw["paths"]["/v1/health"]["post"]
    # each endpoint's own refusals: a stale page, an order id reused, an unknown product
    assert "409" in raw["paths"]["/v1/recall/list"]["post"]["responses"]
    assert "409" in raw["paths"]["/v1/fraud/score"]["post"]["responses"]
    assert "404" in raw["paths"]["/v1/price/quote"]["post"]["responses"]


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


@pytest.mark.parametrize("role", [None, "marketing", "pricing-engine", "supply-chain", "monitoring", "forged"])
@pytest.mark.parametrize("path", sorted(set(route_permissions()) | OPEN))
def test_generated_calls_by_every_role_and_without_a_key_never_get_a_5xx(served, api_schema, path, role):
    """The same generated bodies from each other role, a forged key and none: refusals (401/403) or
    answers, never a 5xx."""
    key = {"X-API-Key": served["keys"].get(role, "forged-key")} if role else {}

    @given(case=api_schema[path]["POST"].as_strategy(GenerationMode.POSITIVE))
    @settings(max_examples=5, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def check(case) -> None:
        response = case.call(headers=key, timeout=30)
        assert response.status_code < 500, f"{case.path} -> {response.status_code}: {response.text[:500]}"
        if response.status_code >= 400:
            assert response.json().get("error"), response.text

    check()


@given(
    path=st.text(alphabet=st.characters(codec="ascii", exclude_characters="?#"), min_size=1, max_size=60),
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]),
    key=st.one_of(st.none(), st.text(alphabet=st.characters(codec="latin-1"), max_size=300)),
)
@settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_made_up_paths_methods_and_key_headers_never_get_a_5xx(served, path, method, key):
    headers = {} if key is None else {"X-API-Key": key}
    try:
        response = httpx.request(method, f"{served['url']}/{path.lstrip('/')}", headers=headers, timeout=30)
    except (httpx.InvalidURL, httpx.LocalProtocolError, UnicodeEncodeError):
        return  # not a request a client can send
    assert response.status_code < 500, f"{method} /{path} -> {response.status_code}: {response.text[:300]}"


BODY_ERRORS = {"json_invalid", "model_type", "model_attributes_type", "dict_type"}  # the body as a whole


def _names_the_field(error: dict) -> bool:
    """A field path, or an error about the whole body (not JSON, not an object), and a message."""
    return bool(error["msg"]) and (bool(error["loc"]) or error["type"] in BODY_ERRORS)


def _post(served, path, body, role=None, timeout=30):
    return post(served["url"], path, body, served["keys"][role] if role else None, timeout)


def _reloaded(served, seconds: float = 120.0) -> dict:
    """What the service loaded after /v1/admin/reload has finished: a 202 says the refresh outlived its
    deadline and goes on in the background (loading a forest on a busy CI machine took longer than 5 s),
    and the same request asked again answers 200 once it is done."""
    deadline = time.monotonic() + seconds
    while True:
        answer = _post(served, "/v1/admin/reload", {}, "data-scientist")
        if answer.status_code != 202 or time.monotonic() > deadline:
            assert answer.status_code == 200, answer.text
            return answer.json()
        time.sleep(0.5)


def test_health_and_readiness_are_open_and_name_the_model_in_use(served):
    health = _post(served, "/v1/health", {})
    assert health.status_code == 200 and health.json()["models"]["churn"] == served["first"].version
    assert health.json()["published_at"] and health.json()["online_store"] == "ok"


def _metrics(served) -> str:
    response = httpx.get(f"{served['url']}/metrics", headers={"X-API-Key": served["keys"]["monitoring"]}, timeout=10)
    assert response.status_code == 200, response.text
    return response.text


def _fallbacks(served) -> float:
    text = _metrics(served)
    lines = [line for line in text.splitlines() if line.startswith("spend_online_record_fallbacks_total")]
    return float(lines[0].split()[-1]) if lines else 0.0


def test_marketing_gets_churn_scores_with_model_version_and_feature_times(served):
    ids = [*served["customers"][:20], "c_unknown"]
    fallbacks = _fallbacks(served)
    response = _post(served, "/v1/churn/score", {"customer_ids": ids}, "marketing")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body == ChurnResponse.model_validate(body).model_dump(mode="json")  # the documented shape, every field
    assert (body["model"], body["version"], body["degraded"]) == ("churn", served["first"].version, False)
    known, unknown = body["scores"][:-1], body["scores"][-1]
    assert all(s["found"] and 0 <= s["churn_probability"] <= 1 and s["churn_band"] for s in known)
    assert all(s["features_at"] > time.time() - 3 * 86_400 for s in known)
    assert unknown == {**unknown, "found": False, "churn_probability": None}
    # The known customers came from their packed records; only the unknown one was looked up in Feast's rows.
    assert _fallbacks(served) - fallbacks == 1


def test_the_service_output_carries_no_library_deprecation_warning(served):
    """BentoML's request handling printed pydantic's PydanticDeprecatedSince211 and its source line."""
    assert _post(served, "/v1/churn/score", {"customer_ids": served["customers"][:1]}, "marketing").status_code == 200
    assert "PydanticDeprecatedSince211" not in served["log"].read_text()


def test_a_damaged_key_file_is_a_503_that_says_what_failed_not_where(served):
    """Was a 500 (the key check raised JSONDecodeError inside the middleware)."""
    from spend.serving.auth import key_store

    path = key_store(served["settings"].paths.home).path
    kept = path.read_bytes()
    try:
        path.write_text('{"keys": [')
        response = _post(served, "/v1/churn/score", {"customer_ids": served["customers"][:1]}, "marketing")
        assert response.status_code == 503 and "key store cannot be read" in response.text
        assert str(path) not in response.text and "api_keys" not in response.text
    finally:
        path.write_bytes(kept)
    assert _post(served, "/v1/churn/score", {"customer_ids": served["customers"][:1]}, "marketing").status_code == 200


@pytest.mark.parametrize("path", ["/v1/churn/score", "/v1/segments/lookup", "/v1/offers/assign"])
def test_a_shop_id_where_a_pseudonym_belongs_is_refused_saying_so(served, path):
    """Before, the shop's own id was looked up as it came and answered "found: false", as if the customer
    were unknown."""
    response = _post(served, path, {"customer_ids": [served["customers"][0], "C0000987"]}, "marketing")
    assert response.status_code == 400, response.text
    (problem,) = response.json()["detail"]
    assert problem["loc"][-2:] == ["customer_ids", 1] and "not a pseudonymous id (c_...)" in problem["msg"]
    assert "C0000987" not in served["log"].read_text()


def test_the_recall_list_pages_through_the_published_list_with_filters(served):
    published = pd.read_parquet(served["settings"].paths.published / RECALL_LIST)
    segment = published["segment"].mode().iloc[0]
    expected = published[published["segment"] == segment].sort_values(
        "expected_saved_margin", ascending=False, kind="stable"
    )["customer_id"]
    top_k = min(25, len(expected))
    seen, offset, pinned = [], 0, {}
    while offset is not None:
        body = {"top_k": top_k, "limit": 10, "offset": offset, "segment": segment} | pinned
        page = _post(served, "/v1/recall/list", body, "marketing")
        assert page.status_code == 200, page.text
        page = page.json()
        pinned = {"published_at": page["published_at"]}  # later pages: from the same publication only
        assert page["total"] == top_k and page["version"] == served["first"].version
        assert all(c["segment"] == segment for c in page["customers"])
        seen += [c["customer_id"] for c in page["customers"]]
        offset = page["next_offset"]
    assert seen == expected.head(top_k).tolist()
    # A page asked of a publication since replaced: refused, not a page of another list
    stale = {"offset": 10, "published_at": "2001-01-01T00:00:00+00:00"}
    refused = _post(served, "/v1/recall/list", stale, "marketing")
    assert refused.status_code == 409 and refused.json()["error"].startswith("published_at: the recall list was")
    assert "page it again from offset 0" in refused.text
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
    assert body["customers"][3]["found"] is False and body["customers"][3]["cluster_name"] is None
    names = json.loads((served["settings"].paths.published / "manifest.json").read_text())["cluster_names"]
    assert [c["cluster_name"] for c in body["customers"][:3]] == [names[str(k)] for k in published["cluster"]]
    assert all(name for name in names.values())  # every cluster is named from its profile
    assert set(body["profiles"]["segment"]) == set(published["segment"])
    assert all(p["customers"] > 0 for p in body["profiles"]["segment"].values())


def test_offers_answer_from_the_published_assignment(served):
    published = pd.read_parquet(served["settings"].paths.published / "offers.parquet")
    given = published[published["offer"] != "none"].head(2)
    ids = [*given["customer_id"], "c_unknown"]
    response = _post(served, "/v1/offers/assign", {"customer_ids": ids}, "marketing")
    assert response.status_code == 200, response.text
    body = response.json()
    assert [c["offer"] for c in body["customers"][:2]] == given["offer"].tolist()
    assert [c["expected_net"] for c in body["customers"][:2]] == pytest.approx(given["expected_net"].tolist())
    assert body["customers"][2] == {
        "customer_id": "c_unknown",
        "found": False,
        "offer": None,
        "expected_margin": None,
        "expected_cost": None,
        "expected_net": None,
        "reason": None,
    }
    assert body["budget"] == 500.0 and body["model"].startswith("offers v")
    # the same question asked again gets the same answer (a lookup, nothing drawn per call)
    assert _post(served, "/v1/offers/assign", {"customer_ids": ids}, "marketing").json() == body


@pytest.mark.parametrize(
    ("path", "role", "status", "reason"),
    [
        ("/v1/churn/score", None, 401, "missing API key"),
        ("/v1/offers/assign", "pricing-engine", 403, "may not call offers"),
        ("/v1/offers/assign", "supply-chain", 403, "may not call offers"),
        ("/v1/churn/score", "pricing-engine", 403, "may not call churn"),
        ("/v1/recall/list", "pricing-engine", 403, "may not call recall"),
        ("/v1/segments/lookup", "pricing-engine", 403, "may not call segments"),
        ("/v1/fraud/score", "marketing", 403, "may not call fraud"),
        ("/v1/fraud/score-batch", "marketing", 403, "may not call fraud"),
        ("/v1/admin/reload", "marketing", 403, "may not call admin"),
        ("/v1/demand/forecast", "marketing", 403, "may not call demand /v1/demand/forecast"),
        ("/v1/replenishment/suggest", "pricing-engine", 403, "may not call demand endpoints"),
        ("/v1/fraud/score", "supply-chain", 403, "may not call fraud"),
        ("/v1/price/quote", "marketing", 403, "may not call pricing"),
        ("/v1/price/quote", "supply-chain", 403, "may not call pricing"),
        ("/v1/nothing", "data-scientist", 404, "no such endpoint"),
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
        "order_id": f"web-{uuid.uuid4().hex[:12]}",  # a new payment unless a test repeats one on purpose
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


def test_a_score_answered_by_the_direct_route_carries_bentomls_headers(served):
    # The one-payment score is answered by Spend's middleware (serving/direct.py), the batch by BentoML.
    one = _post(served, "/v1/fraud/score", {"transaction": _payment(served, order_id="hdr-1")}, "pricing-engine")
    batch = _post(
        served, "/v1/fraud/score-batch", {"transactions": [_payment(served, order_id="hdr-2")]}, "pricing-engine"
    )
    assert one.status_code == batch.status_code == 200, (one.text, batch.text)
    names = {k for k, _ in one.headers.multi_items()}
    assert names == {k for k, _ in batch.headers.multi_items()}  # none missing, none added
    assert one.headers.get_list("server") == batch.headers.get_list("server") == ["BentoML Service/spend"]
    assert one.headers["content-type"] == batch.headers["content-type"]


def test_a_payment_dated_days_back_does_not_count_in_the_cards_next_score_pending_or_written(served):
    """Its windows are as of its own time, past the online store's time to live: written, they read as
    expired; while pending they counted, so the next score depended on the background write's timing."""
    role = "pricing-engine"
    old = pd.Timestamp(time.time() - 3 * 86_400, unit="s", tz="UTC").isoformat()
    back = _post(served, "/v1/fraud/score", {"transaction": _payment(served, card_id="CARD-BACK", ts=old)}, role)
    assert back.status_code == 200, back.text
    fresh = _post(served, "/v1/fraud/score", {"transaction": _payment(served, card_id="CARD-FIRST")}, role).json()
    at_once = _post(served, "/v1/fraud/score", {"transaction": _payment(served, card_id="CARD-BACK")}, role).json()
    assert at_once["features_at"]["customer_spending"] is None  # still pending: read as the store would
    assert at_once["fraud_score"] == pytest.approx(fresh["fraud_score"])


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


def test_a_retried_payment_gets_the_same_answer_and_is_counted_once(served):
    """The same order id sent again (single or in a batch) is answered as the first time and does not add
    to the card's windows: the card's next payment scores as it does on a card that paid once."""
    score = lambda body: _post(served, "/v1/fraud/score", {"transaction": body}, "pricing-engine")  # noqa: E731
    paid = _payment(served, card_id="CARD-RETRY", amount=180.0)
    answers = [score(paid).json() for _ in range(6)]
    batch = _post(served, "/v1/fraud/score-batch", {"transactions": [paid, paid]}, "pricing-engine").json()
    assert all(a == answers[0] for a in answers) and answers[0]["pushed"]
    assert all(s == answers[0] for s in batch["scores"])
    once = _payment(served, card_id="CARD-ONCE", amount=180.0, ts=paid["ts"])
    assert score(once).json()["fraud_score"] == answers[0]["fraud_score"]
    later = pd.Timestamp(paid["ts"]) + pd.Timedelta(seconds=30)
    nxt = {"amount": 35.0, "ts": later.isoformat()}
    after_retries = score(_payment(served, card_id="CARD-RETRY", **nxt)).json()
    after_once = score(_payment(served, card_id="CARD-ONCE", **nxt)).json()
    assert after_retries["fraud_score"] == after_once["fraud_score"]


def test_an_order_id_reused_for_another_payment_is_refused(served):
    paid = _payment(served, card_id="CARD-REUSE")
    assert _post(served, "/v1/fraud/score", {"transaction": paid}, "pricing-engine").status_code == 200
    other = paid | {"amount": paid["amount"] + 1}
    response = _post(served, "/v1/fraud/score", {"transaction": other}, "pricing-engine")
    assert response.status_code == 409 and "new order_id" in response.json()["error"]
    fresh = _payment(served, card_id="CARD-REUSE-2")
    batch = {"transactions": [fresh, fresh | {"terminal_id": "T-OTHER"}]}
    assert _post(served, "/v1/fraud/score-batch", batch, "pricing-engine").status_code == 409


def test_a_back_dated_payment_does_not_wind_the_cards_windows_back(served):
    """A payment two days old joins windows that already hold a newer one: they stay as of the newer time
    (before, they were pushed as of the old payment's time and the card's next payment saw that)."""
    now = pd.Timestamp(time.time() - 30, unit="s", tz="UTC")
    score = lambda **c: _post(  # noqa: E731
        served, "/v1/fraud/score", {"transaction": _payment(served, card_id="CARD-LATE", **c)}, "pricing-engine"
    ).json()
    score(ts=now.isoformat())
    score(ts=(now - pd.Timedelta(days=2)).isoformat())
    third = score(ts=(now + pd.Timedelta(seconds=5)).isoformat())
    assert third["features_at"]["customer_spending"] == pytest.approx(now.timestamp())


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
        ({"amount": "12.5"}, "amount", "valid number"),  # strict: a string is not guessed at
        ({"basket_size": True}, "basket_size", "valid integer"),
        ({"ts": 1_700_000_000}, "ts", "ISO 8601 text"),  # seconds or milliseconds? pydantic guessed by size
        ({"ts": "1700000000"}, "ts", "ISO 8601 text"),
    ],
)
def test_bad_payments_are_400_naming_the_field(served, change, field, text):
    response = _post(served, "/v1/fraud/score", {"transaction": _payment(served, **change)}, "pricing-engine")
    assert response.status_code == 400 and field in response.text and text in response.text, response.text
    assert response.json()["error"].startswith(f"transaction.{field}: "), response.text  # the line read first
    batch = {"transactions": [_payment(served), _payment(served, **change)]}
    response = _post(served, "/v1/fraud/score-batch", batch, "pricing-engine")
    located = [e["loc"] for e in response.json()["detail"]]
    assert response.status_code == 400 and any(loc[:2] == ["transactions", 1] for loc in located), located


@pytest.mark.parametrize("body", [{"top_k": True}, {"limit": "10"}, {"offset": 1.0}])
def test_recall_list_parameters_are_strict(served, body):
    response = _post(served, "/v1/recall/list", body, "marketing")
    assert response.status_code == 400 and next(iter(body)) in response.text, response.text


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
        health = _post(served, "/v1/health", {})
        assert "missing" in health.json()["online_store"]
        home = str(served["settings"].home)
        assert home not in fraud.text and home not in churn.text and home not in health.text  # what, not where
        recall = _post(served, "/v1/recall/list", {"limit": 1}, "marketing")  # published: unaffected
        assert recall.status_code == 200
    finally:
        aside.rename(online)
    assert _post(served, "/v1/churn/score", {"customer_ids": served["customers"][:5]}, "marketing").status_code == 200
    metrics = _metrics(served)
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
    metrics = _metrics(served)
    assert f'spend_model_version{{model="churn"}} {float(second.version)}' in metrics


def test_metrics_need_a_key_and_carry_route_names_only(served):
    url = served["url"]
    assert httpx.get(f"{url}/metrics", timeout=10).status_code == 401
    marketing = {"X-API-Key": served["keys"]["marketing"]}
    assert httpx.get(f"{url}/metrics", headers=marketing, timeout=10).status_code == 403
    for n in range(40):  # made-up paths, inside /v1 and out, with what looks like personal data
        httpx.post(f"{url}/C{n}/customer{n}@example.com", json={}, timeout=10)
        httpx.post(f"{url}/v1/C{n}/customer{n}@example.com", json={}, headers=marketing, timeout=10)
    text = _metrics(served)
    assert "example.com" not in text and "/C1" not in text
    assert 'spend_requests_total{endpoint="other",status="404"}' in text


def test_probes_answer_get_and_readiness_is_per_model(served):
    url = served["url"]
    assert httpx.get(f"{url}/v1/health", timeout=10).status_code == 200
    ready = httpx.get(f"{url}/v1/ready", timeout=10)
    assert ready.status_code == 200 and ready.json()["status"] == "ok" and ready.json()["missing"] == []
    assert httpx.get(f"{url}/v1/ready", params={"model": "churn"}, timeout=10).status_code == 200
    unknown = httpx.get(f"{url}/v1/ready", params={"model": "nope"}, timeout=10)
    assert unknown.status_code == 400 and "unknown 'nope'" in unknown.json()["error"]
    assert httpx.get(f"{url}/readyz", timeout=10).status_code == 200
    assert httpx.get(f"{url}/v1/churn/score", timeout=10).status_code == 405


def test_a_body_over_the_limit_is_413_with_or_without_a_length(served):
    big = b'{"customer_ids": ["' + b"x" * (5 * 1024 * 1024) + b'"]}'
    headers = {"X-API-Key": served["keys"]["marketing"], "content-type": "application/json"}
    sized = httpx.post(f"{served['url']}/v1/churn/score", content=big, headers=headers, timeout=30)
    assert sized.status_code == 413 and "SPEND_SERVING_MAX_BODY_BYTES" in sized.json()["error"]

    def chunks():
        for start in range(0, len(big), 64 * 1024):
            yield big[start : start + 64 * 1024]

    chunked = httpx.post(f"{served['url']}/v1/churn/score", content=chunks(), headers=headers, timeout=30)
    assert chunked.status_code == 413
    small = _post(served, "/v1/churn/score", {"customer_ids": served["customers"][:2]}, "marketing")
    assert small.status_code == 200  # the server is fine after refusing them


def test_two_api_key_headers_are_refused(served):
    keys = [("X-API-Key", served["keys"]["pricing-engine"]), ("X-API-Key", served["keys"]["marketing"])]
    response = httpx.post(f"{served['url']}/v1/churn/score", json={"customer_ids": ["c_1"]}, headers=keys, timeout=10)
    assert response.status_code == 400 and "one X-API-Key" in response.json()["error"]
    assert response.json()["detail"][0]["loc"] == ["header", "X-API-Key"]


def test_a_body_giving_a_key_twice_is_refused_naming_it(served):
    headers = {"X-API-Key": served["keys"]["marketing"], "content-type": "application/json"}
    ids = json.dumps(served["customers"][:1])
    top = f'{{"customer_ids": {ids}, "reasons": true, "reasons": false}}'
    response = httpx.post(f"{served['url']}/v1/churn/score", content=top, headers=headers, timeout=10)
    assert response.status_code == 400 and "'reasons' twice" in response.json()["error"]
    payment = json.dumps(_payment(served))[:-1] + ', "amount": 0.01}'  # a second amount inside the payment
    headers["X-API-Key"] = served["keys"]["pricing-engine"]
    nested = httpx.post(
        f"{served['url']}/v1/fraud/score", content=f'{{"transaction": {payment}}}', headers=headers, timeout=10
    )
    assert nested.status_code == 400 and "'amount' twice" in nested.json()["error"]
    # shaped as the schema's 400s: `detail` names the field (it had only `error`)
    assert nested.json()["detail"] == [
        {"loc": ["body", "amount"], "msg": nested.json()["error"], "type": "given_twice"}
    ]
    once = f'{{"customer_ids": {ids}, "reasons": false}}'
    headers["X-API-Key"] = served["keys"]["marketing"]
    assert httpx.post(f"{served['url']}/v1/churn/score", content=once, headers=headers, timeout=10).status_code == 200


def test_a_body_with_a_byte_order_mark_is_read_and_one_in_another_encoding_is_refused_saying_why(served):
    """A Windows client's UTF-8 byte order mark, a UTF-16 body and a gzipped one were each refused as
    "Invalid JSON: expected value at line 1 column 1", which says nothing of why."""
    headers = {"X-API-Key": served["keys"]["marketing"], "content-type": "application/json"}
    body = json.dumps({"customer_ids": served["customers"][:1]})
    url = f"{served['url']}/v1/churn/score"
    marked = httpx.post(url, content=b"\xef\xbb\xbf" + body.encode(), headers=headers, timeout=10)
    assert marked.status_code == 200, marked.text
    wide = httpx.post(url, content=body.encode("utf-16"), headers=headers, timeout=10)
    assert wide.status_code == 400 and "not UTF-8" in wide.json()["error"]
    assert [e["loc"] for e in wide.json()["detail"]] == [["body"]] and _names_the_field(wide.json()["detail"][0])
    zipped = httpx.post(url, content=gzip.compress(body.encode()), headers=headers | {"Content-Encoding": "gzip"})
    assert zipped.status_code == 415 and "send the JSON uncompressed" in zipped.json()["error"]
    whole = httpx.post(url, content=b"[]", headers=headers, timeout=10)
    assert whole.status_code == 400 and whole.json()["error"].startswith("body: Input should be")


def test_a_misspelt_field_is_refused_not_ignored(served):
    """`{"segmnet": "x"}` was answered with the whole recall list, as if no filter had been asked for."""
    misspelt = _post(served, "/v1/recall/list", {"top_k": 5, "segmnet": "champions"}, "marketing")
    assert misspelt.status_code == 400 and "segmnet: Extra inputs are not permitted" in misspelt.json()["error"]
    nested = {"transaction": _payment(served, basketsize=3)}
    refused = _post(served, "/v1/fraud/score", nested, "pricing-engine")
    assert refused.status_code == 400 and "transaction.basketsize" in refused.json()["error"]
    assert _post(served, "/v1/recall/list", {"top_k": 5, "limit": 2}, "marketing").status_code == 200
    lower = _post(served, "/v1/recall/list", {"segment": "champions"}, "marketing")  # was an empty list
    assert lower.status_code == 400 and "'Champions'" in lower.json()["error"]


def test_a_probe_that_names_its_model_twice_is_refused(served):
    """`?model=fraud&model=churn` said ready when churn was loaded, whatever fraud's state."""
    twice = httpx.get(f"{served['url']}/v1/ready?model=fraud&model=churn", timeout=10)
    assert twice.status_code == 400 and "'model' twice" in twice.json()["error"]
    assert httpx.get(f"{served['url']}/v1/ready?model=churn", timeout=10).status_code == 200


def test_a_rejected_body_is_logged_without_its_values(served):
    bad = _payment(served, card_id="CARD-SECRET-77", amount="12.5")
    assert _post(served, "/v1/fraud/score", {"transaction": bad}, "pricing-engine").status_code == 400
    bad_ids = {"customer_ids": ["c_secret_customer_42"], "reasons": "yes"}
    assert _post(served, "/v1/churn/score", bad_ids, "marketing").status_code == 400
    time.sleep(0.5)
    log = served["log"].read_text()
    assert "request body rejected" in log
    assert "CARD-SECRET-77" not in log and "c_secret_customer_42" not in log


def test_calls_are_audited_and_logged_as_json_without_ids(served):
    _post(served, "/v1/churn/score", {"customer_ids": served["customers"][:3]}, "marketing")
    lines = (served["settings"].paths.home / "audit" / "serving.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert any(r.get("caller") == "marketing" and r.get("customers") == 3 for r in records)
    assert any(r.get("status") == 403 for r in records) and any(r.get("status") == 503 for r in records)
    logged = [json.loads(line) for line in served["log"].read_text().splitlines() if line.startswith("{")]
    churn = [r for r in logged if r.get("endpoint") == "/v1/churn/score" and r["status"] == 200]
    assert churn and all(r["model"] == "churn" and r["ms"] > 0 and r["role"] for r in churn)
    assert any(r["role"] == "marketing" and r["customers"] == 3 for r in churn)
    text = "\n".join(lines) + served["log"].read_text()
    assert not any(c in text for c in served["customers"])  # never the ids
    assert "CARD-NEW-1" not in text


def _products(served) -> list[str]:
    inventory = OfflineStore(served["settings"].paths).read("inventory", ["product_id", "store_id"])
    return sorted(inventory["product_id"].astype(str).unique())


def test_demand_forecasts_answer_ordered_quantiles_per_product_store_and_day(served):
    product = _products(served)[0]
    body = {"products": [product], "stores": ["S000", "WEB"], "horizon": 7}
    response = _post(served, "/v1/demand/forecast", body, "supply-chain")
    assert response.status_code == 200, response.text
    answer = response.json()
    rows = answer["forecasts"]
    assert answer["model"] == "demand" and answer["days"] == 7 and len(rows) == 2 * 7
    assert {(r["product_id"], r["store_id"]) for r in rows} == {(product, "S000"), (product, "WEB")}
    assert all(r["p10"] <= r["p50"] <= r["p90"] and r["mean"] >= 0 for r in rows)
    assert all(0 <= r["promo_chance"] <= 1 and "promo_lift" in r for r in rows)  # the promotion outlook
    assert min(r["date"] for r in rows) == answer["start"]
    again = _post(served, "/v1/demand/forecast", body, "pricing-engine")  # the pricing engine may ask too
    assert again.status_code == 200 and again.json()["forecasts"] == rows  # a retry gets the same answer


def test_a_planned_price_cut_raises_the_forecast_over_http(served):
    sold = OfflineStore(served["settings"].paths).read("transactions", ["product_id", "quantity", "unit_price"])
    product = str(sold.groupby("product_id", observed=True)["quantity"].sum().idxmax())  # a fast mover
    base = _post(served, "/v1/demand/forecast", {"products": [product], "horizon": 14}, "supply-chain").json()
    days = sorted({r["date"] for r in base["forecasts"]})
    shelf = float(sold.loc[sold["product_id"].astype(str) == product, "unit_price"].median())
    prices = [{"product_id": product, "date": d, "price": round(shelf * 0.5, 2)} for d in days]
    cut = _post(served, "/v1/demand/forecast", {"products": [product], "horizon": 14, "prices": prices}, "supply-chain")
    assert cut.status_code == 200, cut.text
    assert sum(r["p50"] for r in cut.json()["forecasts"]) > sum(r["p50"] for r in base["forecasts"])
    # "do not move" is said only when a planned price moves nothing (a crowned baseline); half the shelf
    # price may lie below any the history shows, which is said too
    assert "do not move" not in cut.json().get("skipped", "")


_SOON = (date.today() + timedelta(days=2)).isoformat()  # inside any horizon after the sample's history


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"products": ["NO-SUCH-PRODUCT"]}, 404, "unknown product NO-SUCH-PRODUCT"),
        ({"products": ["P00000"], "stores": ["NOWHERE"]}, 404, "unknown store NOWHERE"),
        ({"products": ["P00000"], "horizon": 0}, 400, "horizon"),
        ({"products": ["P00000"], "horizon": 92}, 400, "horizon: 92 must be between 1 and 91"),
        (
            {"products": ["P00000"], "prices": [{"product_id": "P00000", "date": "2001-01-01", "price": 1}]},
            400,
            "not after",
        ),
        (
            {"products": ["P00000"], "prices": [{"product_id": "P00000", "date": "2999-01-01", "price": -1}]},
            400,
            "greater than or equal to 0.01",  # the schema refuses it before the plan is read
        ),
        (
            {"products": ["P00000"], "prices": [{"product_id": "P00000", "date": "2999-01-01", "price": 0}]},
            400,
            "greater than or equal to 0.01",  # the schema said 0 was allowed, and the plan's check then refused it
        ),
        (
            {"products": ["P00000"], "prices": [{"product_id": "P00000", "date": "2999-01-01", "price": 1}]},
            400,
            "after the forecast's last day",
        ),
        (
            {"products": ["P00000"], "prices": [{"product_id": "P00000", "date": f"{_SOON}T09:00", "price": 1}]},
            400,
            "ISO 8601 text like 2026-01-31",  # a day with a time: the time would be dropped
        ),
        (
            {"products": ["P00000"], "prices": [{"product_id": "P00000", "date": _SOON, "price": "1.5"}]},
            400,
            "valid number",
        ),
        (
            {
                "products": ["P00000"],
                "prices": [{"product_id": "P00000", "date": _SOON, "price": p, "store_id": "S001"} for p in (1, 2)],
            },
            400,
            "a second row for the same product, store and day",
        ),
    ],
)
def test_bad_forecast_requests_are_refused_and_say_why(served, body, status, words):
    response = _post(served, "/v1/demand/forecast", body, "supply-chain")
    assert response.status_code == status, response.text
    assert words in response.text


def test_a_promotion_calendar_reaches_replenishment_over_http(served):
    """`prices` with `promo` plans the cover period's promotions; without a plan the answer says the
    forecast holds no promotion (the simulated shop promotes)."""
    plain = _post(served, "/v1/replenishment/suggest", {"stores": ["S001"]}, "supply-chain").json()
    assert "no promotion calendar" in plain["skipped"]
    largest = max(plain["suggestions"], key=lambda s: s["cover_p50"])
    product = largest["product_id"]
    days = [d.date().isoformat() for d in pd.date_range(plain["as_of"], periods=21, freq="D")]
    sold = OfflineStore(served["settings"].paths).read("transactions", ["product_id", "unit_price"])
    shelf = round(float(sold.loc[sold["product_id"].astype(str) == product, "unit_price"].median()), 2)
    targets = {}
    for promo in (False, True):
        prices = [{"product_id": product, "date": d, "price": shelf, "promo": promo} for d in days]
        body = {"stores": ["S001"], "products": [product], "prices": prices}
        response = _post(served, "/v1/replenishment/suggest", body, "supply-chain")
        assert response.status_code == 200, response.text
        assert "no promotion calendar" not in (response.json().get("skipped") or "")
        targets[promo] = sum(s["target_stock"] for s in response.json()["suggestions"])
    assert targets[True] > targets[False]
    calendar = [{"product_id": product, "date": d, "promo": True} for d in days]  # no prices: the last ones
    body = {"stores": ["S001"], "products": [product], "prices": calendar}
    promoted = _post(served, "/v1/replenishment/suggest", body, "supply-chain")
    assert promoted.status_code == 200, promoted.text
    assert sum(s["target_stock"] for s in promoted.json()["suggestions"]) > largest["target_stock"]
    empty = {"stores": ["S001"], "prices": [{"product_id": product, "date": days[0]}]}
    refused = _post(served, "/v1/replenishment/suggest", empty, "supply-chain")
    assert refused.status_code == 400 and "sets a price, a promo, or both" in refused.text
    past = [{"product_id": product, "date": "2001-01-01", "price": shelf}]
    refused = _post(served, "/v1/replenishment/suggest", {"stores": ["S001"], "prices": past}, "supply-chain")
    assert refused.status_code == 400 and "not after the history's last day" in refused.text


def test_replenishment_suggests_orders_for_a_store_and_refuses_what_it_cannot(served):
    response = _post(served, "/v1/replenishment/suggest", {"stores": ["S001"], "service_level": 0.9}, "supply-chain")
    assert response.status_code == 200, response.text
    suggestions = response.json()["suggestions"]
    assert suggestions and {s["store_id"] for s in suggestions} == {"S001"}
    for s in suggestions:
        assert s["suggested_order"] == max(0.0, s["target_stock"] - s["on_hand"] - s["on_order"])
        assert 0 <= s["expected_fill_rate"] <= 1 and s["reason"]
    unknown = _post(served, "/v1/replenishment/suggest", {"stores": ["NOWHERE"]}, "supply-chain")
    assert unknown.status_code == 404 and "unknown store NOWHERE" in unknown.text
    stale = _post(served, "/v1/replenishment/suggest", {"stores": ["S001"], "as_of": "2999-01-01"}, "supply-chain")
    assert stale.status_code == 400 and "older than 7 days" in stale.text
    now = {"stores": ["S001"], "service_level": 0.9, "lead_time_days": 0}  # replaces the counts' lead times
    quicker = _post(served, "/v1/replenishment/suggest", now, "supply-chain").json()["suggestions"]
    assert [s["cover_days"] for s in quicker] == [7] * len(suggestions)
    assert sum(s["target_stock"] for s in quicker) < sum(s["target_stock"] for s in suggestions)
    for wrong in ("3", -1, True):  # strict: a number of days, not text or a flag
        refused = _post(served, "/v1/replenishment/suggest", now | {"lead_time_days": wrong}, "supply-chain")
        assert refused.status_code == 400 and "lead_time_days" in refused.text
    epoch = _post(served, "/v1/replenishment/suggest", now | {"as_of": 0}, "supply-chain")  # was 1970-01-01
    assert epoch.status_code == 400 and "as_of" in epoch.text and "ISO 8601" in epoch.text, epoch.text


def test_without_inventory_replenishment_gives_targets_for_the_lead_time_asked_or_says_what_it_needs(served):
    """The endpoint's work with no stock counts ingested (a transactions-only history): in process, on the
    demand champion the service loaded."""
    from types import SimpleNamespace

    from spend.core.model_store import ModelStore
    from spend.serving import demand
    from spend.serving.models import Loaded

    model = ModelStore(served["settings"]).load("demand")[0]
    service = SimpleNamespace(
        slots={"demand": SimpleNamespace(current=Loaded(model, "demand", 1, "demand_v1", 0.0))},
        stock_counts=SimpleNamespace(current=lambda: pd.DataFrame()),
        _served=lambda ctx, loaded, **counts: None,
        settings=served["settings"],
    )

    def ask(lead_time_days):
        ctx = SimpleNamespace(request=SimpleNamespace(state=SimpleNamespace()), response=SimpleNamespace())
        request = demand.Replenishment(["S001"], None, 0.9, 7, None, lead_time_days, None)
        answer = demand.suggest(service, ctx, request)
        return answer.status_code, json.loads(answer.body)

    status, body = ask(None)
    assert status == 400 and body["detail"][0]["loc"] == ["lead_time_days"] and "no inventory" in body["error"]
    from spend.core.errors import SpendError

    def damaged():
        raise SpendError("a stored file of inventory cannot be read (/home/x/offline/inventory/...)")

    service.stock_counts = SimpleNamespace(current=damaged)
    status, body = ask(2.0)
    assert status == 503 and body == {"error": "the stock counts cannot be read: a stored file is damaged"}
    service.stock_counts = SimpleNamespace(current=lambda: pd.DataFrame())
    status, body = ask(2.0)
    assert status == 200 and body["skipped"].startswith("no inventory ingested: target stock levels only")
    rows = body["suggestions"]
    assert rows and all(r["on_hand"] is None and r["cover_days"] == 9 and r["target_stock"] >= 0 for r in rows)
    assert all(r["suggested_order"] is None for r in rows if r["reason"].startswith("no stock count"))


def test_price_quotes_keep_the_rules_and_a_retry_gets_the_same_answer(served):
    products = [{"product_id": p, "price": 10.0, "cost": 6.0} for p in _products(served)[:4]]
    rules = {"margin_floor": 0.3, "max_change": 0.05, "endings": [0.49, 0.99], "max_volume_loss": 0.03}
    body = {"products": products, "objective": "margin", "constraints": rules}
    response = _post(served, "/v1/price/quote", body, "pricing-engine")
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["model"] == "pricing" and len(answer["quotes"]) == 4
    from spend.core.model_store import ModelStore

    shop = ModelStore(served["settings"]).load("pricing")[0].shop()  # the champion the service loaded
    assert answer["shop_elasticity"] == (None if shop is None else pytest.approx(min(shop.elasticity, 0.0), abs=1e-4))
    for quote in answer["quotes"]:
        assert (quote["price"] - 6.0) / quote["price"] >= 0.3 - 1e-9
        assert abs(quote["price"] / 10.0 - 1) <= 0.05 + 1e-9
        assert quote["units_low"] <= quote["expected_units"] <= quote["units_high"]
        assert quote["binding"]
    again = _post(served, "/v1/price/quote", body, "pricing-engine")
    assert again.status_code == 200 and again.json()["quotes"] == answer["quotes"]


def test_a_wide_price_quote_is_answered_off_the_event_loop_by_the_same_rules(served):
    from spend.models.price_quotes import Shop
    from spend.serving.pricing import is_small
    from spend.serving.schemas import QuoteProduct, QuoteRules

    products = [{"product_id": p, "price": 400.0, "cost": 100.0} for p in _products(served)[:3]]
    rules = {"max_change": 0.5, "endings": []}  # every cent from 200 to 600: 40,000 candidates each
    assert not is_small([QuoteProduct(**p) for p in products], QuoteRules(**rules))
    one = [QuoteProduct(**products[0])]  # 40,000 candidates: small alone, not when weighed twice in a shop
    assert is_small(one, QuoteRules(**rules)) and not is_small(
        one, QuoteRules(**rules), Shop(units=1.0, elasticity=0.0)
    )
    response = _post(served, "/v1/price/quote", {"products": products, "constraints": rules}, "pricing-engine")
    assert response.status_code == 200, response.text
    for quote in response.json()["quotes"]:
        assert 200.0 - 1e-9 <= quote["price"] <= 600.0 + 1e-9 and quote["binding"]
    crossed = [products[0] | {"floor": 500.0, "cap": 450.0}]
    refused = _post(served, "/v1/price/quote", {"products": crossed, "constraints": rules}, "pricing-engine")
    assert refused.status_code == 400 and "above cap" in refused.json()["error"], refused.text


@pytest.mark.parametrize(
    ("change", "status", "words"),
    [
        ({"product_id": "NO-SUCH-SKU"}, 404, "unknown product(s) NO-SUCH-SKU"),
        ({"floor": 12.0, "cap": 11.0}, 400, "above cap"),
        ({"price": 1e300, "cost": 1.0}, 400, "more than 200,000; narrow max_change"),  # was a 500
        ({"price": "10.0"}, 400, "products[0].price: Input should be a valid number"),  # text is not guessed at
        ({"cost": True}, 400, "products[0].cost: Input should be a valid number"),
    ],
)
def test_a_bad_price_quote_request_is_refused_by_name(served, change, status, words):
    product = {"product_id": _products(served)[0], "price": 10.0, "cost": 6.0} | change
    response = _post(served, "/v1/price/quote", {"products": [product]}, "pricing-engine")
    assert response.status_code == status and words in response.json()["error"], response.text


def test_a_product_priced_below_cost_keeps_its_price_and_the_others_are_quoted(served):
    # A catalogue with one product below cost was refused whole (400): the pricing engine got no quote.
    first, second = _products(served)[:2]
    asked = [{"product_id": first, "price": 5.0, "cost": 6.0}, {"product_id": second, "price": 10.0, "cost": 6.0}]
    response = _post(served, "/v1/price/quote", {"products": asked}, "pricing-engine")
    assert response.status_code == 200, response.text
    body = response.json()
    quotes = {q["product_id"]: q for q in body["quotes"]}
    assert body["not_quoted"] == 1 and quotes[first]["price"] == 5.0
    assert quotes[first]["binding"] == "not quoted: price 5.00 is below its cost 6.00"
    assert not quotes[second]["binding"].startswith("not quoted")


def test_a_product_id_in_another_unicode_spelling_is_the_stored_product(served):
    # ingestion stores ids in NFKC; a pricing engine keeping the export's full-width spelling got a 404
    stored = _products(served)[0]
    wide = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in stored)
    body = {"products": [{"product_id": wide, "price": 10.0, "cost": 6.0}]}
    response = _post(served, "/v1/price/quote", body, "pricing-engine")
    assert response.status_code == 200 and response.json()["quotes"][0]["product_id"] == stored, response.text


def test_endings_that_are_not_whole_cents_are_refused(served):
    # the ladder rounds to the cent: an ending of 0.999 was quoted as a price ending in .00
    product = {"product_id": _products(served)[0], "price": 10.0, "cost": 6.0}
    body = {"products": [product], "constraints": {"endings": [0.999]}}
    response = _post(served, "/v1/price/quote", body, "pricing-engine")
    assert response.status_code == 400 and "must be whole cents" in response.json()["error"], response.text


def test_a_product_asked_for_twice_is_named(served):
    first, second = _products(served)[:2]
    products = [{"product_id": p, "price": 10.0, "cost": 6.0} for p in (second, first, second, first)]
    response = _post(served, "/v1/price/quote", {"products": products}, "pricing-engine")
    assert response.status_code == 400, response.text
    assert (
        response.json()["error"]
        == f"products: asked for twice (one entry per product): {', '.join(sorted([first, second]))}"
    )


@pytest.mark.parametrize(
    ("path", "role", "body", "words"),
    [
        (
            "/v1/price/quote",
            "pricing-engine",
            '{"products": [{"product_id": "%s", "price": 10.0, "cost": 6.0, "cap": Infinity}]}',
            "products[0].cap: Input should be a finite number",
        ),
        (
            "/v1/price/quote",
            "pricing-engine",
            '{"products": [{"product_id": "%s", "price": 10.0, "cost": 6.0}], '
            '"constraints": {"max_interval_width": Infinity}}',
            "constraints.max_interval_width: Input should be a finite",
        ),
        (
            "/v1/demand/forecast",
            "supply-chain",
            '{"products": ["%s"], "horizon": 7, "prices": [{"product_id": '
            '"%s", "date": "2099-01-01", "price": Infinity}]}',
            "prices[0].price: Input should be a finite number",
        ),
        ("/v1/recall/list", "marketing", '{"min_expected_saved_margin": NaN}', "min_expected_saved_margin"),
    ],
)
def test_an_infinite_or_nan_number_is_refused_by_name(served, path, role, body, words):
    """Python's JSON reads Infinity and NaN: an infinite cap or interval width passed every bound and was
    quoted against, and a NaN threshold emptied the recall list."""
    import httpx

    text = body.replace("%s", _products(served)[0])
    headers = {"X-API-Key": served["keys"][role], "content-type": "application/json"}
    response = httpx.post(f"{served['url']}{path}", content=text, headers=headers, timeout=30)
    assert response.status_code == 400 and words in response.json()["error"], response.text


def _doc_blocks(language: str) -> list[str]:
    import re

    text = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


@pytest.mark.parametrize("block", range(len(_doc_blocks("bash"))))
def test_every_curl_example_in_docs_api_answers(served, block):
    """docs/api.md's examples, run as written with SPEND_URL and the key of the role each names."""
    import subprocess

    script = _doc_blocks("bash")[block]
    role = script.split("# role: ")[1].split()[0]
    env = {**os.environ, "SPEND_URL": served["url"], "SPEND_KEY": served["keys"].get(role, "")}
    run = subprocess.run(["bash", "-e", "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, f"{script}\n{run.stdout[:500]}\n{run.stderr[:500]}"
    if not script.rstrip().endswith('/metrics" -H "X-API-Key: $SPEND_KEY"'):
        assert "error" not in json.loads(run.stdout), run.stdout[:500]


def test_the_python_client_in_docs_api_quotes_a_price(served, monkeypatch, capsys):
    (code,) = _doc_blocks("python")
    monkeypatch.setenv("SPEND_URL", served["url"])
    monkeypatch.setenv("SPEND_KEY", served["keys"]["pricing-engine"])
    exec(compile(code, "docs/api.md", "exec"), {"__name__": "docs_api"})  # noqa: S102 - our own documentation
    assert capsys.readouterr().out.startswith("P00000 9.99 -> ")


def test_a_monitoring_breach_is_flagged_in_health_and_metrics(served, tmp_path, monkeypatch):
    """`spend monitor` with tighter limits than the shipped ones (a breach on clean data), then a reload."""
    from spend.training.monitoring import monitor

    shipped = (Path(__file__).resolve().parents[2] / "experiments" / "churn.yaml").read_text()
    (tmp_path / "churn.yaml").write_text(shipped + "monitor:\n  psi: 0.0001\n  natural_multiplier: 1.0\n")
    monkeypatch.setenv("SPEND_EXPERIMENTS", str(tmp_path))
    result = monitor(served["settings"], ["churn"])
    assert result["models"]["churn"]["status"] == "breach", result["models"]["churn"]
    assert _post(served, "/v1/admin/reload", {}, "data-scientist").status_code == 200
    flag = _post(served, "/v1/health", {}).json()["monitoring"]["churn"]
    assert flag.startswith("breach: drift: ") and "PSI" in flag
    assert 'spend_monitor_breach{model="churn"} 1.0' in _metrics(served)


def test_the_report_renders_every_chart_in_chromium_without_console_errors(served, tmp_path, monkeypatch):
    """On the served home (every model, a publication, a monitoring result): `spend report`, then the page
    in headless Chromium."""
    from typer.testing import CliRunner

    from spend.cli import app
    from spend.training.monitoring import monitor
    from tests.support.browser import rendered

    settings = served["settings"]
    monkeypatch.setenv("SPEND_HOME", str(settings.paths.home))
    monkeypatch.setenv("SPEND_PSEUDONYM_KEY", TEST_KEY)
    monitor(settings)
    page = tmp_path / "report.html"
    made = CliRunner().invoke(app, ["report", "--out", str(page), "--json"])
    assert made.exit_code == 0, made.output
    sections = json.loads(made.stdout)["sections"]
    assert set(sections) == {"Data quality", "Segments", "Churn", "Recall list", "Fraud", "Demand", "Prices", "Drift"}
    assert not [t for t, reading in sections.items() if "not available" in reading or "yet" in reading], sections
    expected = json.loads(made.stdout)["charts"]
    dom, console = rendered(page)
    assert expected >= 10 and dom.count('class="plot-container plotly"') == expected, expected
    assert dom.count('class="reading"') == len(sections)
    assert console == [], console
    assert "<script src=" not in page.read_text()  # self-contained: plotly.js is in the page


def test_an_erasure_by_the_command_reaches_the_running_service_at_its_next_refresh(served):
    """`spend erase` in another process (here: its function in the test's): once the service has refreshed,
    a payment on the erased card is scored from the payment alone and nothing of it is kept online."""
    from spend.core.privacy.vault import IdentityVault
    from spend.features.governance.erasure import erase_customers
    from tests.support.traces import file_traces

    settings = served["settings"]
    recall = pd.read_parquet(settings.paths.published / RECALL_LIST)["customer_id"]
    target = [c for c in recall if c not in served["customers"]][-1]  # not the next test's customer
    raw = IdentityVault(settings.paths.vault, TEST_KEY.encode()).reidentify([target])[target]
    pay = lambda: _post(  # noqa: E731
        served, "/v1/fraud/score", {"transaction": _payment(served, card_id=raw)}, "pricing-engine"
    ).json()
    assert pay()["pushed"]
    erase_customers(settings, [raw], "a request by post", "dpo-by-post")
    assert _post(served, "/v1/admin/reload", {}, "data-scientist").status_code == 200  # a refresh, now
    after = pay()
    assert after["pushed"] is False and "erased" in after["degraded_reason"], after
    time.sleep(3 * settings.serving_push_seconds)
    assert file_traces(settings.paths.home / "feast", [target, raw]) == []


def test_a_publication_without_customers_answers_segments_with_why(served):
    """A history of daily totals publishes the supply chain's part alone: looking up a segment then ended
    in a 500 (KeyError on the profiles the manifest does not have)."""
    folder = served["settings"].paths.published
    manifest, segments = (folder / "manifest.json").read_text(), (folder / SEGMENTS).read_bytes()
    why = "no purchase names a customer (anonymous sales or daily totals)"
    changed = json.loads(manifest) | {"segments_skipped": why, "profiles": {}, "cluster_names": {}}
    try:
        pd.DataFrame({"customer_id": [], "segment": [], "cluster": []}).to_parquet(folder / SEGMENTS)
        (folder / "manifest.json").write_text(json.dumps(changed))
        assert _post(served, "/v1/admin/reload", {}, "data-scientist").status_code == 200
        looked_up = _post(served, "/v1/segments/lookup", {"customer_ids": ["c_0123456789abcdef"]}, "marketing")
        assert looked_up.status_code == 503 and looked_up.json()["error"] == f"no segments published: {why}"
    finally:
        (folder / SEGMENTS).write_bytes(segments)
        (folder / "manifest.json").write_text(manifest)
        assert _post(served, "/v1/admin/reload", {}, "data-scientist").status_code == 200
    back = _post(served, "/v1/segments/lookup", {"customer_ids": ["c_0123456789abcdef"]}, "marketing")
    assert back.status_code == 200


def test_an_erasure_that_outlasts_its_wait_is_answered_202_and_finishes(served):
    """An erasure waits for the ledger lock a running ingest holds: BentoML cut the call off at 10 s with a
    504 while the erasure went on, and the admin could not tell it had happened."""
    from spend.core.privacy.vault import IdentityVault
    from spend.features.ingest.lock import ledger_lock
    from spend.serving.auth import key_store

    settings, url = served["settings"], served["url"]
    recall = pd.read_parquet(settings.paths.published / RECALL_LIST)["customer_id"]
    target = [c for c in recall if c not in served["customers"]][-1]  # not the next test's customer
    raw = IdentityVault(settings.paths.vault, TEST_KEY.encode()).reidentify([target])[target]
    dpo = key_store(settings.paths.home).add("dpo-busy", "admin")
    assert _answers_for(served, target) == {"churn": True, "segments": True, "recall": True}
    with ledger_lock(settings.paths.home):  # an ingest is committing
        started = time.monotonic()
        answer = post(url, "/v1/admin/erase", {"customer_ids": [raw]}, dpo)
        waited = time.monotonic() - started
        # Still in every store, but no longer an answer: before, churn, segments and the recall list
        # answered for the customer until the ingest let go.
        assert _answers_for(served, target) == {"churn": False, "segments": False, "recall": False}
    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "erasing" and "repeat the request" in answer.json()["detail"]
    assert settings.serving_erase_wait_seconds <= waited < 10
    for _ in range(50):  # the erasure goes on once the lock is free; the same call then gets the receipt
        again = post(url, "/v1/admin/erase", {"customer_ids": [raw]}, dpo)
        if again.status_code == 200 and again.json()["already_erased"] == 1:
            break
        time.sleep(0.2)
    assert (again.status_code, again.json()["found"], again.json()["already_erased"]) == (200, 0, 1)
    looked_up = post(url, "/v1/segments/lookup", {"customer_ids": [target]}, served["keys"]["marketing"]).json()
    assert looked_up["customers"][0]["found"] is False  # the publication was read again without them


def _answers_for(served, customer: str) -> dict[str, bool]:
    """Whether churn, segments and the whole recall list answer for this customer."""
    asked = {"customer_ids": [customer]}
    churn = _post(served, "/v1/churn/score", asked, "marketing").json()["scores"][0]["found"]
    segments = _post(served, "/v1/segments/lookup", asked, "marketing").json()["customers"][0]["found"]
    listed = _post(served, "/v1/recall/list", {"top_k": 100_000, "limit": 1_000}, "marketing").json()
    pages = [listed]
    while pages[-1]["next_offset"] is not None:
        page = {"top_k": 100_000, "limit": 1_000, "offset": pages[-1]["next_offset"]}
        pages.append(
            _post(served, "/v1/recall/list", page | {"published_at": listed["published_at"]}, "marketing").json()
        )
    recall = any(c["customer_id"] == customer for p in pages for c in p["customers"])
    return {"churn": churn, "segments": segments, "recall": recall}


def test_an_erased_customer_leaves_every_store_and_is_refused_when_back(served):
    """Last in this module: it removes a customer (not one the other tests use) from the served home."""
    from spend.core.privacy.vault import IdentityVault
    from spend.core.registry import spec
    from spend.features.ingest.pipeline import IngestOptions, ingest
    from spend.serving.auth import key_store
    from spend.training.config import load_config
    from spend.training.datasets import customer_cohorts
    from tests.support.traces import file_traces

    settings, url = served["settings"], served["url"]
    segments = pd.read_parquet(settings.paths.published / SEGMENTS)["customer_id"]
    recall = pd.read_parquet(settings.paths.published / RECALL_LIST)["customer_id"]
    target = next(c for c in recall if c not in served["customers"] and c in set(segments))
    vault = IdentityVault(settings.paths.vault, TEST_KEY.encode())
    raw = vault.reidentify([target])[target]
    export = settings.paths.home / "exports" / "winback.xlsx"  # a user's own --out file under SPEND_HOME
    export.parent.mkdir()
    exported = pd.DataFrame({"customer_id": [target, "c_other"], "original_customer_id": [raw, "X1"]})
    exported.to_excel(export, index=False)
    assert file_traces(settings.paths.home, [target]), "the customer is stored before the erasure"
    marketing, dpo = served["keys"]["marketing"], key_store(settings.paths.home).add("dpo", "admin")

    refused = post(url, "/v1/admin/erase", {"customer_ids": [raw]}, served["keys"]["data-scientist"])
    assert refused.status_code == 403 and "admin" in refused.json()["error"]
    paid = _post(served, "/v1/fraud/score", {"transaction": _payment(served, card_id=raw)}, "pricing-engine")
    assert paid.json()["pushed"]  # the card's windows are pending, on their way online, as the erasure comes
    answer = post(url, "/v1/admin/erase", {"customer_ids": [raw, "NEVER-SEEN"], "reason": f"request from {raw}"}, dpo)
    assert answer.status_code == 200, answer.text
    receipt = answer.json()
    assert (receipt["found"], receipt["unknown"], receipt["unknown_ids"]) == (1, 1, ["NEVER-SEEN"])
    stores = " ".join(receipt["removed"])
    for store in (
        "offline store (transactions)",
        "feature snapshots",
        "published decisions (segments)",
        "published decisions (offers)",
        "online",
    ):
        assert store in stores, receipt["removed"]
    assert receipt["removed"]["vault identities"] == 1 and receipt["removed"]["files under SPEND_HOME"] == 1

    time.sleep(3 * settings.serving_push_seconds)  # a write of the windows pending before would be done
    assert file_traces(settings.paths.home, [target, raw]) == []
    assert pd.read_excel(export)["original_customer_id"].tolist() == ["X1"]  # the rest of the file is kept
    for path in ("/v1/fraud/score", "/v1/fraud/score-batch"):  # the holder pays again: nothing of it kept
        later = _payment(served, card_id=raw)
        body = {"transaction": later} if path.endswith("score") else {"transactions": [later, _payment(served)]}
        scored = _post(served, path, body, "pricing-engine").json()
        scored = scored if path.endswith("score") else scored["scores"][0]
        assert scored["pushed"] is False and scored["degraded"] and "erased" in scored["degraded_reason"], scored
        assert _post(served, path, body, "pricing-engine").json() == _post(served, path, body, "pricing-engine").json()
    time.sleep(3 * settings.serving_push_seconds)
    assert file_traces(settings.paths.home, [target, raw]) == []
    scores = post(url, "/v1/churn/score", {"customer_ids": [target]}, marketing).json()
    assert scores["scores"][0]["found"] is False
    looked_up = post(url, "/v1/segments/lookup", {"customer_ids": [target]}, marketing).json()
    assert looked_up["customers"][0]["found"] is False
    offered = post(url, "/v1/offers/assign", {"customer_ids": [target]}, marketing).json()
    assert offered["customers"][0]["found"] is False
    listed, offset = set(), 0
    while offset is not None:
        page = post(url, "/v1/recall/list", {"limit": 1000, "offset": offset}, marketing).json()
        listed |= {c["customer_id"] for c in page["customers"]}
        offset = page["next_offset"]
    assert target not in listed and len(listed) >= 1

    trail = [json.loads(line) for line in (settings.paths.home / "audit" / "audit.jsonl").read_text().splitlines()]
    (record,) = [r for r in trail if r.get("action") == "erase" and r.get("user") == "dpo"]
    assert record["user"] == "dpo" and record["reason"] == "request from [id]" and record["found"] == 1
    again = post(url, "/v1/admin/erase", {"customer_ids": [raw]}, dpo).json()
    assert (again["found"], again["already_erased"], again["unknown"]) == (0, 1, 0)

    sim = settings.paths.home.parent / "sim" / "transactions.csv"
    back = pd.read_csv(sim, dtype=str)
    back = back[back["customer_id"] == raw]
    report = ingest(_write(back, settings.paths.home.parent / "back.csv"), IngestOptions("transactions"), settings)
    assert (report.accepted, report.quarantined) == (0, len(back))
    assert report.quarantined_by_reason == {"customer_id:erased": len(back)}
    assert file_traces(settings.paths.home, [target, raw]) == []  # refused rows keep no trace either

    model = spec("churn")
    data = customer_cohorts.prepare(settings, model, load_config(model), served["as_of"])
    assert target not in set(data.train["customer_id"]) | set(data.holdout["customer_id"])


def _write(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path


def test_a_served_baseline_scores_explains_and_keeps_its_threshold(served):
    """The gate may serve one of the Handbook's baselines: the service answers with it as with the booster
    (one payment, a batch, reasons for alerts). Runs last: it leaves the forest as the fraud champion."""
    from spend.features.compute.payments import FEATURES
    from spend.models.fraud_baselines import FraudBaseline
    from tests.support.sample_home import register_quick_fraud_model

    version = register_quick_fraud_model(served["settings"], FraudBaseline("random_forest"))
    assert _reloaded(served)["models"]["fraud"] == version
    one = _post(served, "/v1/fraud/score", {"transaction": _payment(served, amount=900.0)}, "pricing-engine")
    assert one.status_code == 200, one.text
    body = one.json()
    assert body["version"] == version and 0 <= body["fraud_score"] <= 1
    assert body == FraudScore.model_validate(body).model_dump(mode="json")
    assert body["alert"] == (body["fraud_score"] >= body["threshold"]) and body["threshold"] > 0
    batch = [_payment(served, amount=float(a)) for a in (5, 900, 3000)]
    many = _post(served, "/v1/fraud/score-batch", {"transactions": batch}, "pricing-engine").json()
    alerts = [s for s in many["scores"] if s["alert"]]
    assert many["version"] == version and len(many["scores"]) == 3
    assert alerts and all(s["reasons"] and set(s["reasons"]) <= set(FEATURES) for s in alerts)
