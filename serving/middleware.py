"""In front of every /v1 endpoint: the API-key check (health and readiness are open), then, for every
/v1 request, one structured log line and Spend's metrics (latency, refusals and errors by status, degraded
answers), whatever the outcome.

Also here, before BentoML sees a request:
- a body larger than SPEND_SERVING_MAX_BODY_BYTES is refused with 413, by its Content-Length or, without
  one, as soon as the bytes received pass the limit (nothing larger is ever held);
- two X-API-Key headers are refused (400): which one counts is not for a proxy to decide;
- a JSON body that gives a key twice in one object is refused (400, naming the key): parsers disagree on
  which one counts (the first, the last, an error), so a proxy or a client library that checked one
  value could see another served;
- GET /v1/health and GET /v1/ready (the probes Kubernetes sends) are answered as their POST (a query
  that gives a name twice is 400, as a body that gives a key twice);
- GET /metrics: Prometheus's text, labelled with route names only (BentoML's own request metrics, which
  label by raw path, are off: 2,000 made-up paths grew them to megabytes), for the roles that may
  read metrics.

A route made direct (serving/direct.py: the one-payment fraud score) is then answered here by calling
its endpoint as BentoML's app would; any other route, and a body its model refuses, goes to BentoML.

BentoML reserves 401 and 403 for its own errors, so refusals are answered here, before the request
reaches an endpoint, with a JSON body that says why. The caller is put in the request state for the
endpoint's audit record, and the endpoint puts what it served (model, version, degraded) there for the
log; refusals are audited here.
"""

from __future__ import annotations

import json
import logging
import time
from functools import lru_cache

from spend.core.audit import AuditLog
from spend.core.json_keys import duplicate_key_of, strict_json
from spend.serving.auth import AuthError, KeyFileError, KeyStore, key_store
from spend.serving.direct import ROUTES
from spend.serving.logs import log_request
from spend.serving.metrics import metrics
from spend.serving.openapi import DOCS_PATH, describe

OPEN = {"/v1/health", "/v1/ready"}
BATCH_ROUTES = {
    "/v1/recall/list": "recall",
    "/v1/segments/lookup": "segments",
    "/v1/admin/reload": "admin",
    "/v1/admin/erase": "erase",
}
METRICS = "/metrics"


@lru_cache(maxsize=1)
def route_permissions() -> dict[str, str]:
    """Route -> the permission it needs: the batch decisions' and admin's, and each served model's
    routes (its spec's), which need the model's name."""
    from spend.core.registry import permission, served

    models = {route: permission(spec, route) for spec in served().values() for route in spec.serving.routes}
    return BATCH_ROUTES | models


class ApiKeyMiddleware:
    def __init__(self, app) -> None:
        self.app = app
        self._keys: KeyStore | None = None
        self._audit: AuditLog | None = None
        self.permission = route_permissions()
        self.max_body: int | None = None

    def _state(self) -> tuple[KeyStore, AuditLog]:
        if self._keys is None:  # built on the first request: importing the service has no side effects
            from spend.core.settings import SpendSettings

            settings = SpendSettings()
            self._keys = key_store(settings.paths.home)
            self._audit = AuditLog(settings.paths.home / "audit" / "serving.jsonl")
            self.max_body = settings.serving_max_body_bytes
        return self._keys, self._audit

    async def __call__(self, scope, receive, send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and path == DOCS_PATH:
            await _described(self.app, scope, receive, send)
            return
        if scope["type"] != "http" or not (path.startswith("/v1/") or path == METRICS):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state = scope.setdefault("state", {})
        endpoint = self._endpoint(path)
        _, audit = self._state()
        keys, length = _headers(scope)
        recorded, held = [], []

        def record(status: int) -> None:
            recorded.append(status)
            _observe(endpoint, status, time.perf_counter() - started, state)
            if "caller" in state:  # refusals were audited where they were refused
                self._audit_call(endpoint, status, state)

        async def recording_send(message) -> None:
            # Logged and audited as the answer starts, before it leaves: a caller holding the answer
            # finds the call in the audit trail and the log.
            if message["type"] == "http.response.start":
                record(message["status"])
                if message["status"] == 400:  # its body may be BentoML's: held to name the fields
                    held.append(message)
                    return
            elif held:
                start, message = _naming_the_fields(held.pop(), message)
                await send(start)
            await send(message)

        try:
            refusal = self._refusal(scope, path, len(keys), length)
            if refusal is not None:
                audit.write(endpoint=endpoint, status=refusal[0], refused=refusal[1])
                await _json(recording_send, *refusal)
            elif path in OPEN or await self._authorized(scope, endpoint, keys[0] if keys else None, recording_send):
                if path == METRICS:
                    await _metrics(recording_send)
                else:
                    await self._forward(scope, receive, recording_send)
        finally:
            if not recorded:  # no answer started (an exception): recorded as the 500 the server sends
                record(500)

    def _endpoint(self, path: str) -> str:
        """The route's name for logs, metrics and the audit: a known route, or "other" (a bounded set)."""
        return path if path in OPEN or path in self.permission or path == METRICS else "other"

    def _refusal(self, scope, path: str, keys: int, length: int | None) -> tuple[int, dict] | None:
        """(status, body) for what is refused before authentication, or None."""
        if keys > 1:
            return 400, _refused("send one X-API-Key header, not several", ["header", "X-API-Key"], "given_twice")
        method = scope.get("method", "POST")
        allowed = ("GET",) if path == METRICS else ("GET", "POST") if path in OPEN else ("POST",)
        if method not in allowed and self._endpoint(path) != "other":  # an unknown path is a 404
            return 405, {"error": f"{path} answers {' and '.join(allowed)}"}
        if length is not None and length > self.max_body:
            return 413, {"error": f"the body is larger than {self.max_body:,} bytes (SPEND_SERVING_MAX_BODY_BYTES)"}
        return None

    async def _forward(self, scope, receive, send) -> None:
        if scope.get("method") == "GET":  # a probe: the POST of its query as a JSON body
            scope, body, twice = _as_post(scope)
            if twice is not None:
                await _json(send, 400, _refused(f"the query gives {twice!r} twice: give it once", ["query", twice]))
            else:
                await self.app(scope, _replay(body, receive), send)
            return
        # Read here, up to the limit (without a Content-Length, BentoML would turn an error raised
        # mid-read into a 500), so the keys can be checked before BentoML parses the body.
        body = await _read_at_most(receive, self.max_body)
        if body is None:
            await _json(send, 413, {"error": f"the body is larger than {self.max_body:,} bytes"})
            return
        if body.startswith(UTF8_BOM):  # Windows tools write one; JSON's RFC lets a reader ignore it
            body = body.removeprefix(UTF8_BOM)
            scope = scope | {"headers": _with_length(scope.get("headers", []), len(body))}
        unreadable = _unreadable(scope, body)
        twice = None if unreadable is not None else duplicate_key(body)
        if unreadable is not None:
            await _json(send, *unreadable)
        elif twice is not None:
            said = f"the body gives the key {twice!r} twice in one object: send it once"
            await _json(send, 400, _refused(said, ["body", twice]))
        elif (route := ROUTES.get(scope["path"])) is None or not await route.answer(scope, body, receive, send):
            await self.app(scope, _replay(body, receive), send)

    def _audit_call(self, endpoint: str, status: int, state: dict) -> None:
        _, audit = self._state()
        served = state.get("served", {})
        counts = {k: served[k] for k in ("customers", "result_size", "alerts") if k in served}
        caller = state["caller"]
        audit.write(endpoint=endpoint, status=status, caller=caller["name"], role=caller["role"], **counts)

    async def _authorized(self, scope, endpoint: str, key: str | None, send) -> bool:
        keys, audit = self._state()
        try:
            permission = "metrics" if endpoint == METRICS else self.permission.get(endpoint)
            if permission is None:
                raise AuthError(404, "no such endpoint")
            caller = keys.authorize(key, permission)
        except AuthError as error:
            audit.write(endpoint=endpoint, status=error.status, refused=error.reason)  # a key name, never an id
            await _json(send, error.status, {"error": error.reason})
            return False
        except KeyFileError:  # the answer says what failed, not where (the log has the path)
            logging.getLogger("spend.serving").error("the key file cannot be read: no call is authorised")
            audit.write(endpoint=endpoint, status=503, refused="key file unreadable")
            await _json(send, 503, {"error": "the service's key store cannot be read: no call can be authorised"})
            return False
        scope["state"]["caller"] = {"name": caller.name, "role": caller.role}
        return True


async def _described(app, scope, receive, send) -> None:
    """BentoML's OpenAPI document with Spend's title, version, security scheme and refusals."""
    start, parts = {}, []

    async def keep(message) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        else:
            parts.append(message.get("body", b""))

    await app(scope, receive, keep)
    body = b"".join(parts)
    if start.get("status") == 200:
        body = json.dumps(describe(json.loads(body))).encode()
    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
    await send(start | {"headers": [*headers, (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def _headers(scope) -> tuple[list[str], int | None]:
    """The request's X-API-Key values and its Content-Length (None: absent or not a number), in one pass
    over the headers: this runs on every request."""
    keys, length = [], None
    for name, value in scope.get("headers", ()):
        name = name.lower()
        if name == b"x-api-key":
            keys.append(value.decode("latin-1"))
        elif name == b"content-length" and length is None:
            length = int(value) if value.isdigit() else None
    return keys, length


def _as_post(scope) -> tuple[dict, bytes, str | None]:
    """The GET as a POST of its query as a JSON body, and the first name the query gives twice (None)."""
    from urllib.parse import parse_qsl

    pairs = parse_qsl(scope.get("query_string", b"").decode("latin-1"))
    query = dict(pairs)
    seen: set[str] = set()  # in one pass: a query of thousands of names must not cost their square
    twice = next((name for name, _ in pairs if name in seen or seen.add(name)), None)
    body = json.dumps(query).encode()
    headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() not in (b"content-length", b"content-type")]
    headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    return scope | {"method": "POST", "headers": headers, "query_string": b""}, body, twice


def _with_length(headers: list, length: int) -> list:
    return [(k, v) for k, v in headers if k.lower() != b"content-length"] + [(b"content-length", str(length).encode())]


def _replay(body: bytes, receive):
    """The body as one message, then the connection's own messages (a disconnect when the client goes:
    answering `http.disconnect` at once would tell the app the client had left)."""
    sent = False

    async def replayed():
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed


def duplicate_key(body: bytes) -> str | None:
    """The first key that an object of the JSON body gives twice, or None; a body that is not JSON is
    None too (BentoML then says what is wrong with it). jiter (pydantic's own parser) finds it in one
    pass of about a microsecond for a payment, which runs before every score."""
    try:
        strict_json(body)
    except ValueError as error:
        return duplicate_key_of(error)
    return None


async def _read_at_most(receive, limit: int) -> bytes | None:
    """The whole body, or None as soon as it passes `limit` bytes."""
    parts, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(parts)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        parts.append(chunk)
        if not message.get("more_body", False):
            return b"".join(parts)


async def _metrics(send) -> None:
    from spend.serving.metrics import exposition

    payload, content_type = exposition()
    headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


@lru_cache(maxsize=64)  # endpoints are a bounded set; the label lookup showed in a fraud score's profile
def _latency(endpoint: str):
    return metrics().latency.labels(endpoint=endpoint)


@lru_cache(maxsize=256)  # endpoints x statuses: bounded
def _requests(endpoint: str, status: int):
    return metrics().requests.labels(endpoint=endpoint, status=str(status))


def _observe(endpoint: str, status: int, seconds: float, state: dict) -> None:
    served = state.get("served", {})
    m = metrics()
    _latency(endpoint).observe(seconds)
    _requests(endpoint, status).inc()
    if status >= 400:
        m.errors.labels(endpoint=endpoint, status=str(status)).inc()
    if served.get("degraded"):
        m.degraded.labels(endpoint=endpoint).inc()
    log_request(
        endpoint=endpoint,
        status=status,
        ms=round(seconds * 1000, 3),
        role=state.get("caller", {}).get("role"),
        **served,
    )


def _naming_the_fields(start: dict, message: dict) -> tuple[dict, dict]:
    """BentoML answers a body its schema refuses with `"error": "1 validation error for Input"` and the
    fields in `detail`; the line a caller reads first should say which field is wrong and how, as Spend's
    own refusals do. Only a 400's start is held for this: every other answer passes straight through."""
    if message["type"] != "http.response.body" or message.get("more_body"):
        return start, message
    body = _fields_named(message.get("body", b""))
    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
    return start | {"headers": [*headers, (b"content-length", str(len(body)).encode())]}, message | {"body": body}


def _fields_named(body: bytes) -> bytes:
    try:
        answer = json.loads(body)
        problems = answer["detail"]
        if not str(answer.get("error", "")).endswith(" for Input") or not isinstance(problems, list):
            return body
        named = [f"{_where(p['loc'])}: {p['msg']}" for p in problems[:3]]
    except (ValueError, KeyError, TypeError):
        return body
    more = f" (and {len(problems) - 3} more in detail)" if len(problems) > 3 else ""
    return json.dumps(answer | {"error": "; ".join(named) + more}).encode()


def _where(loc) -> str:
    """["products", 0, "price"] -> products[0].price; [] (the body as a whole) -> body"""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "body"


UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_32_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")


def _unreadable(scope, body: bytes) -> tuple[int, dict] | None:
    """A body sent compressed, or in UTF-16 or UTF-32, as (status, answer): it was refused as "Invalid
    JSON: expected value at line 1 column 1", which says nothing of why."""
    encoding = dict(scope.get("headers", [])).get(b"content-encoding", b"identity").strip().lower()
    if encoding not in (b"", b"identity"):
        named = encoding.decode("latin-1")[:20]
        return 415, {"error": f"Content-Encoding {named}: bodies are read as sent; send the JSON uncompressed"}
    if body.startswith(_UTF16_32_BOMS) or (len(body) > 1 and 0 in body[:2]):
        said = "the body is not UTF-8 (it looks like UTF-16 or UTF-32): send the JSON in UTF-8"
        return 400, _refused(said, ["body"], "json_invalid")
    return None


def _refused(said: str, loc: list, kind: str = "given_twice") -> dict:
    """A 400 of the middleware's own, shaped as the schema's are: `error` to read, `detail` naming the
    field (a caller that reads `detail[].loc` for every 400 found none in these)."""
    return {"error": said, "detail": [{"loc": loc, "msg": said, "type": kind}]}


async def _json(send, status: int, body: dict) -> None:
    payload = json.dumps(body).encode("utf-8")
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
