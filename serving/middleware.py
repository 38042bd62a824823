"""In front of every /v1 endpoint: the API-key check (health and readiness are open), then, for every
/v1 request, one structured log line and Spend's metrics (latency, refusals and errors by status, degraded
answers), whatever the outcome.

BentoML reserves 401 and 403 for its own errors, so refusals are answered here, before the request
reaches an endpoint, with a JSON body that says why. The caller is put in the request state for the
endpoint's audit record, and the endpoint puts what it served (model, version, degraded) there for the
log; refusals are audited here.
"""

from __future__ import annotations

import json
import time
from functools import lru_cache

from spend.core.audit import AuditLog
from spend.serving.auth import AuthError, KeyStore, key_store
from spend.serving.logs import log_request
from spend.serving.metrics import metrics

OPEN = {"/v1/health", "/v1/ready"}
BATCH_ROUTES = {"/v1/recall/list": "recall", "/v1/segments/lookup": "segments", "/v1/admin/reload": "admin"}


@lru_cache(maxsize=1)
def route_permissions() -> dict[str, str]:
    """Route -> the permission it needs: the batch decisions' and admin's, and each served model's
    routes (its spec's), which need the model's name."""
    from spend.core.registry import served

    models = {route: name for name, spec in served().items() for route in spec.serving.routes}
    return BATCH_ROUTES | models


class ApiKeyMiddleware:
    def __init__(self, app) -> None:
        self.app = app
        self._keys: KeyStore | None = None
        self._audit: AuditLog | None = None
        self.permission = route_permissions()

    def _state(self) -> tuple[KeyStore, AuditLog]:
        if self._keys is None:  # built on the first request: importing the service has no side effects
            from spend.core.settings import SpendSettings

            home = SpendSettings().paths.home
            self._keys = key_store(home)
            self._audit = AuditLog(home / "audit" / "serving.jsonl")
        return self._keys, self._audit

    async def __call__(self, scope, receive, send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state = scope.setdefault("state", {})
        endpoint = path if path in OPEN or path in self.permission else "other"  # bounded label values
        recorded = []

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
            await send(message)

        try:
            if path in OPEN or await self._authorized(scope, path, recording_send):
                await self.app(scope, receive, recording_send)
        finally:
            if not recorded:  # no answer started (an exception): recorded as the 500 the server sends
                record(500)

    def _audit_call(self, endpoint: str, status: int, state: dict) -> None:
        _, audit = self._state()
        served = state.get("served", {})
        counts = {k: served[k] for k in ("customers", "result_size", "alerts") if k in served}
        caller = state["caller"]
        audit.write(endpoint=endpoint, status=status, caller=caller["name"], role=caller["role"], **counts)

    async def _authorized(self, scope, path: str, send) -> bool:
        keys, audit = self._state()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        try:
            permission = self.permission.get(path)
            if permission is None:
                raise AuthError(404, f"no endpoint {path}")
            caller = keys.authorize(headers.get("x-api-key"), permission)
        except AuthError as error:
            audit.write(endpoint=path, status=error.status, refused=error.reason)  # a key name, never an id
            await _json(send, error.status, {"error": error.reason})
            return False
        scope["state"]["caller"] = {"name": caller.name, "role": caller.role}
        return True


@lru_cache(maxsize=64)  # endpoints are a bounded set; the label lookup showed in a fraud score's profile
def _latency(endpoint: str):
    return metrics().latency.labels(endpoint=endpoint)


def _observe(endpoint: str, status: int, seconds: float, state: dict) -> None:
    served = state.get("served", {})
    m = metrics()
    _latency(endpoint).observe(seconds)
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


async def _json(send, status: int, body: dict) -> None:
    payload = json.dumps(body).encode("utf-8")
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
