"""A direct route answers an async endpoint the way BentoML's app calls it (its input model, its caller's
defaults, the context's status) and hands a body its model refuses back to BentoML."""

from __future__ import annotations

import asyncio
import json
import logging

import bentoml
from pydantic import BaseModel, ConfigDict
from starlette.responses import JSONResponse

from spend.serving.answers import json_response
from spend.serving.direct import DirectRoutes
from spend.serving.service import DIRECT_ENDPOINTS, Spend


class Payment(BaseModel):
    model_config = ConfigDict(strict=True)
    order_id: str
    amount: float


class Toy:
    def __init__(self) -> None:
        self.calls = 0

    @bentoml.api(route="/v1/toy/score")
    async def score(self, payment: Payment, ctx: bentoml.Context, scale: float = 2.0):
        self.calls += 1
        ctx.request.state.served = {"amount": payment.amount}
        if payment.amount < 0:
            ctx.response.status_code = 409
            return JSONResponse({"error": "a negative amount"}, status_code=409)
        if payment.amount == 13:
            raise RuntimeError("unlucky")
        return json_response({"order_id": payment.order_id, "score": payment.amount * scale})

    @bentoml.api(route="/v1/toy/shout")
    def shout(self, text: str) -> str:
        return text.upper()

    @bentoml.api(route="/v1/toy/other")
    async def other(self, text: str) -> str:
        return text


def _routes(toy: Toy, names=("score", "shout")) -> DirectRoutes:
    routes = DirectRoutes()
    routes.add(toy, names, "toy")
    return routes


def _call(routes: DirectRoutes, path: str, body: bytes, headers: list | None = None) -> tuple[bool, dict, list]:
    scope, sent = {"type": "http", "path": path, "method": "POST", "headers": headers or []}, []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.disconnect"}

    answered = asyncio.run(routes.get(path).answer(scope, body, receive, send))
    return answered, scope, sent


def _status_body_headers(sent: list) -> tuple[int, dict, dict]:
    headers = {k.decode(): v.decode() for k, v in sent[0]["headers"]}
    return sent[0]["status"], json.loads(b"".join(m.get("body", b"") for m in sent[1:])), headers


def test_an_async_endpoint_is_answered_with_its_model_its_defaults_and_its_context():
    answered, scope, sent = _call(_routes(Toy()), "/v1/toy/score", b'{"payment": {"order_id": "o1", "amount": 2.5}}')
    status, body, headers = _status_body_headers(sent)
    assert answered and status == 200 and body == {"order_id": "o1", "score": 5.0}  # scale's default filled
    assert headers["server"] == "BentoML Service/toy" and headers["content-type"] == "application/json"
    assert scope["state"]["served"] == {"amount": 2.5}  # what the middleware logs and audits


def test_the_status_the_endpoint_sets_on_its_context_is_the_answers():
    _, _, sent = _call(_routes(Toy()), "/v1/toy/score", b'{"payment": {"order_id": "o1", "amount": -1.0}}')
    assert _status_body_headers(sent)[:2] == (409, {"error": "a negative amount"})


def test_a_body_its_model_refuses_is_left_to_bentoml_untouched():
    toy = Toy()
    routes = _routes(toy)
    for body in (b'{"payment": {"order_id": "o1", "amount": "2.5"}}', b"{", b"", b'{"payment": {"order_id": 1}}'):
        answered, _, sent = _call(routes, "/v1/toy/score", body)
        assert not answered and not sent  # BentoML answers it, in its own 400 shape
    assert toy.calls == 0


def test_a_body_sent_as_anything_but_json_is_left_to_bentoml():
    toy, body = Toy(), b'{"payment": {"order_id": "o1", "amount": 2.5}}'
    for kind in (b"multipart/form-data; boundary=x", b"application/x-www-form-urlencoded", b"text/plain"):
        answered, _, sent = _call(_routes(toy), "/v1/toy/score", body, [(b"content-type", kind)])
        assert not answered and not sent  # BentoML reads it by its Content-Type, or refuses it
    answered, _, _ = _call(_routes(toy), "/v1/toy/score", body, [(b"Content-Type", b"Application/JSON; charset=utf-8")])
    assert answered and toy.calls == 1


def test_an_endpoint_that_raises_is_a_500_with_bentomls_message_and_the_traceback_in_the_log(caplog):
    with caplog.at_level(logging.ERROR, logger="bentoml"):
        answered, _, sent = _call(_routes(Toy()), "/v1/toy/score", b'{"payment": {"order_id": "o1", "amount": 13}}')
    status, body, headers = _status_body_headers(sent)
    assert answered and status == 500 and "unexpected error" in body["error"] and "unlucky" not in body["error"]
    assert headers["server"] == "BentoML Service/toy"
    assert any(r.exc_info and "unlucky" in str(r.exc_info[1]) for r in caplog.records)


def test_an_answer_that_is_not_a_response_is_written_by_bentomls_output_model():
    routes = _routes(Toy(), names=("other",))
    answered, _, sent = _call(routes, "/v1/toy/other", b'{"text": "hello"}')
    assert answered and sent[0]["status"] == 200 and b"".join(m.get("body", b"") for m in sent[1:]) == b"hello"


def test_only_the_named_async_endpoints_are_made_direct():
    routes = _routes(Toy(), names=("score", "shout"))
    assert routes.get("/v1/toy/score") is not None
    assert routes.get("/v1/toy/shout") is None  # sync: BentoML runs it in its thread
    assert routes.get("/v1/toy/other") is None  # not named


class LouderToy(Toy):
    @bentoml.api(route="/v1/toy/score")
    async def score(self, payment: Payment, ctx: bentoml.Context, scale: float = 10.0):
        return json_response({"order_id": payment.order_id.upper(), "score": payment.amount * scale})


def test_a_subclass_override_and_the_latest_instance_are_the_ones_answering():
    routes, first, second = DirectRoutes(), Toy(), LouderToy()
    routes.add(first, ("score",), "toy")
    routes.add(second, ("score",), "toy")  # a service started again in the same process
    scope, sent = {"type": "http", "path": "/v1/toy/score", "method": "POST", "headers": []}, []

    async def send(message):
        sent.append(message)

    body = b'{"payment": {"order_id": "o1", "amount": 2.0}}'
    assert asyncio.run(routes.get("/v1/toy/score").answer(scope, body, None, send))
    assert _status_body_headers(sent)[1] == {"order_id": "O1", "score": 20.0} and first.calls == 0


def test_the_service_answers_its_one_payment_fraud_score_directly():
    routes = DirectRoutes()
    routes.add(object.__new__(Spend.inner), DIRECT_ENDPOINTS, "spend")
    route = routes.get(Spend.apis["fraud_score"].route)
    assert route is not None and route.name == "fraud_score" and route.ctx_param == "ctx"
    assert route.input_spec is Spend.apis["fraud_score"].input_spec  # the strict model BentoML validates with
