"""The routes of the declared models (spend.core.registry): each served spec's routes are either a tuned
method of the service that the spec names (churn's, fraud's) or the generic customer endpoint, made here."""

from __future__ import annotations

import bentoml

from spend.core.registry import ModelSpec
from spend.core.registry import served as served_models
from spend.serving.answers import json_response, no_model, served_fields, unavailable
from spend.serving.schemas import CustomerIds, CustomerScoresResponse


def customer_scores(service, model: ModelSpec, customer_ids: list[str], ctx: bentoml.Context):
    """The generic endpoint of a declared customer model: its score on each customer's online features."""
    import numpy as np
    import pandas as pd

    name = model.name
    loaded = service.slots[name].current
    if loaded is None:
        return unavailable(ctx, no_model(name))
    if service.feature_error:
        return unavailable(ctx, service.feature_error)
    columns, problem = service._online(service.readers[loaded.feature_service], {"customer_id": customer_ids})
    if columns is None:
        return unavailable(ctx, f"{name} scores need the online store, which cannot be read: {problem}")
    views = [k.removesuffix("__found") for k in columns if k.endswith("__found")]
    found = np.logical_or.reduce([np.asarray(columns[f"{v}__found"], dtype=bool) for v in views])
    seen = np.nanmax([np.asarray(columns[f"{v}__event_seconds"], dtype=float) for v in views], axis=0)
    scores = [{"customer_id": c, "found": False, "score": None, "features_at": None} for c in customer_ids]
    if found.any():
        wanted = getattr(loaded.model, "features_", [k for k in columns if "__" not in k])
        frame = pd.DataFrame({k: columns[k] for k in wanted})[found]
        values = model.predict(loaded.model, frame)
        for i, value, at in zip(np.flatnonzero(found).tolist(), values.tolist(), seen[found].tolist(), strict=True):
            scores[i] |= {"found": True, "score": value, "features_at": at}
    service._served(ctx, loaded, customers=len(customer_ids), result_size=int(found.sum()))
    served = served_fields(loaded)
    return json_response(served | {"scores": scores})


def customer_endpoint(model: ModelSpec):
    """A generic route's method for a declared customer model (a method per model: BentoML names an API
    after its function)."""

    def endpoint(self, customer_ids: CustomerIds, ctx: bentoml.Context) -> CustomerScoresResponse:
        return customer_scores(self, model, customer_ids, ctx)

    endpoint.__name__ = endpoint.__qualname__ = f"{model.name}_score"
    endpoint.__doc__ = f"{model.summary} (role: {', '.join(model.serving.roles)}, data-scientist or admin)."
    return endpoint


def with_strict_inputs(service):
    """Every endpoint refuses a field it does not take (400 naming it), as its nested request models do:
    BentoML's input models ignore one, so a misspelt filter (`"segmnet"`) was answered as if not asked."""
    for api in service.apis.values():
        api.input_spec.model_config["extra"] = "forbid"
        api.input_spec.model_rebuild(force=True)
    return service


def with_model_routes(service: type) -> type:
    """Each served model's routes, from its spec: the tuned method it names, or the generic endpoint."""
    for model in served_models().values():
        for route, method in model.serving.routes.items():
            if method:
                function = getattr(service, method)
            else:
                function = customer_endpoint(model)
            setattr(service, function.__name__, bentoml.api(route=route)(function))
    return service
