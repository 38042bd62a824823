"""Endpoints answered by Spend's middleware itself, inside the BentoML server, for the calls whose cost is
mostly BentoML's own per-request work (docs/serving.md, Decisions: "The one-payment fraud score is
answered by Spend's middleware").

A direct route is an async BentoML endpoint called the way BentoML's app calls it: the body validated by
the endpoint's own input model (`input_spec.model_validate_json`, as BentoML's JSON serde does), its
fields passed as keyword arguments to the endpoint's own caller (`.local`, which fills `Field` defaults),
a context whose request state is the request's and whose response status BentoML would apply, and the
returned response sent with BentoML's `Server` header. What is skipped is the machinery around it that
such a call does not use: Starlette's router, a `Request` object, BentoML's context variables and its
response wrapper.

A body the input model refuses is handed to BentoML unchanged, so every 400 keeps BentoML's shape and the
middleware's naming of the fields; an endpoint that raises is a 500 with BentoML's generic message and the
traceback in the log, as BentoML does.
"""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import State
from starlette.responses import Response

UNEXPECTED = b'{"error":"An unexpected error has occurred, please check the server log."}'


@dataclass
class _Response:
    status_code: int = 200
    metadata: dict = field(default_factory=dict)


class DirectContext:
    """What an endpoint reads and sets of `bentoml.Context`: the request's state, the response's status
    and headers. An endpoint needing more (cookies, the request itself) is not made direct."""

    def __init__(self, scope: dict) -> None:
        self.request = _Request(State(scope.setdefault("state", {})))
        self.response = _Response()


@dataclass
class _Request:
    state: State


@dataclass(frozen=True)
class DirectRoute:
    name: str
    input_spec: Any
    output_spec: Any
    caller: Any
    ctx_param: str | None
    server: str

    async def answer(self, scope: dict, body: bytes, receive, send) -> bool:
        """Answer the request and say True, or say False for BentoML to: a body the input model refuses, or
        one sent as something other than JSON (BentoML picks its reader by the Content-Type)."""
        if not _json_body(scope):
            return False
        try:
            given = self.input_spec.model_validate_json(body or b"{}")
        except ValidationError:
            return False
        try:
            response = await self._called(scope, given)
        except Exception:
            logging.getLogger("bentoml").error("Exception on %s [POST]", scope.get("path"), exc_info=True)
            await _send(send, 500, UNEXPECTED, [(b"content-type", b"application/json")], self.server)
            return True
        response.headers["server"] = self.server
        await response(scope, receive, send)
        return True

    async def _called(self, scope: dict, given):
        """The endpoint's response, as BentoML's app makes it (`api_endpoint`)."""
        ctx = DirectContext(scope)
        kwargs = {k: getattr(given, k) for k in type(given).model_fields}
        if self.ctx_param is not None:
            kwargs[self.ctx_param] = ctx
        output = await self.caller(**kwargs)
        if not isinstance(output, Response):
            from _bentoml_impl.serde import JSONSerde

            output = await self.output_spec.to_http_response(output, JSONSerde())
        if self.ctx_param is not None:
            output.status_code = ctx.response.status_code
            output.headers.update(ctx.response.metadata)
        return output


def _json_body(scope: dict) -> bool:
    """Whether BentoML would read the body as JSON: no Content-Type, or application/json."""
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-type":
            return value.split(b";")[0].strip().lower() == b"application/json"
    return True


async def _send(send, status: int, body: bytes, headers: list, server: str) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode()), (b"server", server.encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class DirectRoutes:
    """Route path -> DirectRoute, filled by the service when it starts (nothing at import)."""

    def __init__(self) -> None:
        self.routes: dict[str, DirectRoute] = {}

    def get(self, path: str) -> DirectRoute | None:
        return self.routes.get(path)

    def add(self, instance, names: tuple[str, ...], service_name: str) -> None:
        """Make `names` (async endpoints of `instance`) direct, replacing an earlier instance's (the service
        that started last answers); one BentoML does not describe is skipped."""
        server = f"BentoML Service/{service_name}"
        for name, member in api_methods(type(instance)).items():
            if name in names and inspect.iscoroutinefunction(member.func):  # a sync one runs in BentoML's thread
                caller = getattr(instance, name).local
                self.routes[member.route] = DirectRoute(
                    name, member.input_spec, member.output_spec, caller, member.ctx_param, server
                )


def api_methods(klass: type) -> dict:
    """Name -> BentoML's `APIMethod` for each endpoint of `klass`, a subclass's override over its base's;
    empty if a BentoML release moved the private class (callers then leave BentoML to answer)."""
    try:
        from _bentoml_sdk.method import APIMethod
    except ImportError:
        return {}
    methods: dict = {}
    for base in klass.__mro__:  # the most derived first
        for name, member in vars(base).items():
            if isinstance(member, APIMethod):
                methods.setdefault(name, member)
    return methods


ROUTES = DirectRoutes()
