"""API-key check in front of every /v1 endpoint (health and readiness are open).

BentoML reserves 401 and 403 for its own errors, so refusals are answered here, before the request
reaches an endpoint, with a JSON body that says why. The caller is put in the request state for the
endpoint's audit record; refusals are audited here.
"""

from __future__ import annotations

import json

from serving.audit import AuditLog
from serving.auth import AuthError, KeyStore, key_store

OPEN = {"/v1/health", "/v1/ready"}
PERMISSION = {"/v1/churn/score": "churn", "/v1/fraud/score": "fraud", "/v1/admin/reload": "admin"}


class ApiKeyMiddleware:
    def __init__(self, app) -> None:
        self.app = app
        self._keys: KeyStore | None = None
        self._audit: AuditLog | None = None

    def _state(self) -> tuple[KeyStore, AuditLog]:
        if self._keys is None:  # built on the first request: importing the service has no side effects
            from features.settings import SpendSettings

            home = SpendSettings().paths.home
            self._keys = key_store(home)
            self._audit = AuditLog(home / "audit" / "serving.jsonl")
        return self._keys, self._audit

    async def __call__(self, scope, receive, send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/v1/") or path in OPEN:
            await self.app(scope, receive, send)
            return
        keys, audit = self._state()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        try:
            permission = PERMISSION.get(path)
            if permission is None:
                raise AuthError(404, f"no endpoint {path}")
            caller = keys.authorize(headers.get("x-api-key"), permission)
        except AuthError as error:
            audit.write(endpoint=path, status=error.status, refused=error.reason)
            await _json(send, error.status, {"error": error.reason})
            return
        scope.setdefault("state", {})["caller"] = {"name": caller.name, "role": caller.role}
        await self.app(scope, receive, send)


async def _json(send, status: int, body: dict) -> None:
    payload = json.dumps(body).encode("utf-8")
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
