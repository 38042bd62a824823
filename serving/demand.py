"""The demand endpoints' work: forecasts under planned prices, and replenishment orders from the latest
stock counts. The checks and the arithmetic are the CLI's (models/demand_requests.py); a request for an
unknown product or store is 404, any other bad request 400, both naming the field."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import bentoml

from spend.core.errors import SpendError
from spend.serving.answers import json_response, no_model, refused, served_fields, unavailable


@dataclass(frozen=True)
class Replenishment:
    """A replenishment request's fields, as the endpoint took them."""

    stores: list
    products: list | None
    service_level: float
    review_days: int
    as_of: object
    lead_time_days: float | None
    prices: list | None


def _plan(prices):
    import pandas as pd

    return None if not prices else pd.DataFrame([p.model_dump() for p in prices])


def _skipped(*lines: str | None) -> dict:
    from spend.models.demand_requests import said

    line = said(*lines)
    return {"skipped": line} if line else {}


def forecast(service, ctx: bentoml.Context, products, stores, horizon, prices):
    import pandas as pd

    from spend.models.demand_requests import BadRequest, plan_skipped, unplanned_promotions
    from spend.models.demand_requests import forecast as checked_forecast

    loaded = service.slots["demand"].current
    if loaded is None:
        return unavailable(ctx, no_model("demand"))
    plan = _plan(prices)
    try:
        frame = checked_forecast(loaded.model, products, stores, horizon or loaded.model.horizon, plan)
    except BadRequest as error:
        return _refused(ctx, error)
    service._served(ctx, loaded, customers=0, result_size=len(frame))
    rows = frame.assign(date=frame["date"].dt.strftime("%Y-%m-%d")).round(4).to_dict("records")
    served = served_fields(loaded)
    start = (loaded.model.last_date_ + pd.Timedelta(days=1)).date().isoformat()
    body = served | {"start": start, "days": int(frame["date"].nunique()), "forecasts": rows}
    return json_response(body | _skipped(plan_skipped(loaded.model, plan), unplanned_promotions(loaded.model, plan)))


def suggest(service, ctx: bentoml.Context, request: Replenishment):
    """Orders from the latest stock counts; without inventory, target stock levels for the request's
    lead_time_days (400 naming it when it is missing), and `skipped` says so."""
    from spend.models.demand_requests import (
        TARGETS_ONLY,
        BadRequest,
        forecastable,
        replenish,
        requested_series,
        unplanned_promotions,
    )

    loaded = service.slots["demand"].current
    if loaded is None:
        return unavailable(ctx, no_model("demand"))
    try:
        counts = service.stock_counts.current()
    except SpendError:  # a damaged stored file: what failed, not where (the CLI's `spend doctor` names it)
        return unavailable(ctx, "the stock counts cannot be read: a stored file is damaged")
    plan = _plan(request.prices)
    try:
        pairs = requested_series(forecastable(loaded.model, counts), request.products, request.stores)
        frame, day = replenish(
            loaded.model,
            counts,
            request.as_of,
            request.service_level,
            request.review_days,
            pairs,
            request.lead_time_days,
            zone=service.settings.timezone,
            plan=plan,
        )
    except BadRequest as error:
        return _refused(ctx, error)
    service._served(ctx, loaded, customers=0, result_size=len(frame))
    served = served_fields(loaded)
    body = {"as_of": day.date().isoformat(), "service_level": request.service_level}
    body |= {"review_days": request.review_days}
    body |= _skipped(TARGETS_ONLY if counts.empty else None, unplanned_promotions(loaded.model, plan))
    return json_response(served | body | {"suggestions": frame.round(4).to_dict("records")})  # NaN: null


def _refused(ctx: bentoml.Context, error):
    """404 for something the model does not know, 400 otherwise; the log says which field, never the
    values the client sent (they may be anything, ids included)."""
    status = 404 if error.kind == "unknown" else 400
    return refused(ctx, status, str(error), error.field, logged=f"{error.field}: {error.kind}")


class StockCounts:
    """The ingested inventory, read again only when a new batch has been committed (a read of a year of
    daily counts takes seconds; the batch list is one small query)."""

    def __init__(self, settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._batches: frozenset[str] | None = None
        self._counts = None

    def current(self):
        from spend.features.ingest.store import OfflineStore

        store = OfflineStore(self.settings.paths)
        batches = frozenset(store.catalog.committed_ids("inventory"))
        with self._lock:
            if batches != self._batches:
                columns = ["product_id", "store_id", "ts", "on_hand", "on_order", "lead_time_days"]
                self._counts, self._batches = store.read("inventory", columns), batches
            return self._counts
