"""Answers every endpoint shares: JSON written by orjson, a 503 that says why, and NaN as None."""

from __future__ import annotations

import bentoml


def seconds(value) -> float | None:
    return None if value is None or value != value else float(value)  # NaN != NaN


def served_fields(loaded) -> dict:
    """The Served fields of an answer given by `loaded` (a slot's model) with nothing degraded."""
    return {"model": loaded.name, "version": loaded.version, "degraded": False, "degraded_reason": None}


def json_response(body: dict):
    """A JSON response written by orjson: json.dumps of a thousand churn scores was a noticeable share of
    the endpoint's budget (docs/serving.md), and orjson writes NaN as null, which is valid JSON."""
    import orjson
    from starlette.responses import Response

    return Response(orjson.dumps(body), media_type="application/json")


def no_model(name: str) -> str:
    """A 503's reason when `name` has no model loaded: how to get one, and what its training needs."""
    from spend.core.registry import train_hint

    return f"no {name} model loaded; {train_hint(name)}"


def unavailable(ctx: bentoml.Context, reason: str):
    """A 503 whose body says why. Returned, not raised: BentoML replaces the message of any exception
    of 500 or above with a generic one (and logs a traceback for an expected condition)."""
    from starlette.responses import JSONResponse

    ctx.request.state.served = {"unavailable": reason}
    ctx.response.status_code = 503  # BentoML applies the context's status to a returned response
    return JSONResponse({"error": reason}, status_code=503, headers={"Retry-After": "5"})


def refused(ctx: bentoml.Context, status: int, reason: str, field: str | None = None, logged: str | None = None):
    """A 4xx whose body says why (returned, as `unavailable` is, so BentoML logs no traceback); with
    `field`, in the shape of a validation error too (`detail`: where and what). `logged`: what the log
    line and audit record say instead of `reason`, when the reason quotes the request's values."""
    from starlette.responses import JSONResponse

    ctx.request.state.served = {"refused": logged or reason}
    ctx.response.status_code = status
    body = {"error": reason}
    if field is not None:
        body["detail"] = [{"loc": [field], "msg": reason, "type": "value_error"}]
    return JSONResponse(body, status_code=status)
