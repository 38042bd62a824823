"""The served OpenAPI document as integrators need it: BentoML writes its own title, "None" for a version
and its team as the contact, and knows nothing of Spend's key check. This fills in what Spend is, its
version, the X-API-Key security scheme, and the refusals the middleware answers before an endpoint runs
(401, 403, 413, 415), the 503 of an endpoint whose model or publication is not loaded, and each endpoint's own
(409, 404)."""

from __future__ import annotations

from functools import lru_cache

DOCS_PATH = "/docs.json"
OPEN = {"/v1/health", "/v1/ready"}
DESCRIPTION = (
    "Spend turns a business's consumption history into decisions: churn scores and recall lists, "
    "segments, demand forecasts and replenishment, price quotes and fraud scores. Every /v1 endpoint "
    "but /v1/health and /v1/ready needs an API key in the X-API-Key header (`spend keys add NAME --role "
    'ROLE`); each role may call its own endpoints (docs/serving.md). Errors are JSON: {"error": "..."}.'
)
ERROR_SCHEMA = {
    "type": "object",
    "properties": {"error": {"type": "string", "description": "What was refused, and why"}},
    "required": ["error"],
}
REFUSALS = {
    "401": "No X-API-Key header, or a key that is unknown or revoked",
    "403": "The key's role may not call this endpoint",
    "413": "The body is larger than SPEND_SERVING_MAX_BODY_BYTES",
    "415": "The body is compressed (Content-Encoding): send the JSON uncompressed",
    "503": "The model or publication this endpoint answers from is not loaded yet, or its store cannot be read",
}
# Refusals of one endpoint's own, beside the 400 its schema gives
_UNKNOWN = "A product or store it does not know (the error names it)"
_ORDER = "An order_id already scored with other payment details: a new payment needs a new order_id"
ROUTE_REFUSALS = {
    "/v1/recall/list": {"409": "published_at names a publication since replaced: page again from offset 0"},
    "/v1/fraud/score": {"409": _ORDER},
    "/v1/fraud/score-batch": {"409": _ORDER},
    "/v1/demand/forecast": {"404": _UNKNOWN},
    "/v1/replenishment/suggest": {"404": _UNKNOWN},
    "/v1/price/quote": {"404": _UNKNOWN},
}


@lru_cache(maxsize=1)
def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("spend")
    except PackageNotFoundError:
        return "unknown"


def describe(spec: dict) -> dict:
    """The document with Spend's title, version, description, security scheme and refusals."""
    spec["info"] = {"title": "Spend", "version": _version(), "description": DESCRIPTION}
    components = spec.setdefault("components", {})
    components.setdefault("securitySchemes", {})["ApiKey"] = {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    components.setdefault("schemas", {})["SpendError"] = ERROR_SCHEMA
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/SpendError"}}}
    for path, item in spec.get("paths", {}).items():
        if not path.startswith("/v1/"):
            continue
        for operation in item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            refusals = {"503": REFUSALS["503"]} if path in OPEN else REFUSALS | ROUTE_REFUSALS.get(path, {})
            for code, description in refusals.items():
                operation["responses"].setdefault(code, {"description": description, "content": error})
            if path not in OPEN:
                operation["security"] = [{"ApiKey": []}]
    return spec
