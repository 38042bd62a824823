"""The Spend BentoML service (first slice: health, readiness, churn scores, model reload).

    bentoml serve serving.service:Spend --port 3000      (or `spend serve`)

Models load from the registry by alias at start-up and follow it: a background thread checks every
SPEND_SERVING_REFRESH_SECONDS (30) and swaps in place; `POST /v1/admin/reload` does it at once. Online
features come from the feature store through Spend's batch reader. Every /v1 call except health and
readiness needs an X-API-Key with the right role (serving/auth.py) and is audited (who, what, when, how
many customers, result size; never the ids).
"""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Annotated

import bentoml
import numpy as np
import pandas as pd
from pydantic import BaseModel, Field, field_validator

from features.settings import SpendSettings
from models.churn import bands
from serving.audit import AuditLog
from serving.middleware import ApiKeyMiddleware
from serving.models import ModelSlot

CustomerIds = Annotated[
    list[str], Field(min_length=1, max_length=10_000, description="Pseudonymous customer ids (c_...)")
]


class ChurnScore(BaseModel):
    customer_id: str
    found: bool = Field(description="False: no online features for this customer (unknown or expired)")
    churn_probability: float | None = None
    churn_band: str | None = None
    reasons: list[str] = []
    features_at: float | None = Field(None, description="Epoch seconds of the feature values used")


class ChurnResponse(BaseModel):
    model: str
    version: int
    scores: list[ChurnScore]


class Transaction(BaseModel):
    order_id: str = Field(min_length=1, max_length=64)
    card_id: str = Field(min_length=1, max_length=64, description="The card (customer) id; pseudonymised here")
    terminal_id: str = Field(min_length=1, max_length=64)
    ts: datetime = Field(description="When the payment was made (ISO 8601 with offset)")
    amount: float = Field(gt=0, description="In `currency`; at most SPEND_MAX_LINE_AMOUNT")
    currency: str = Field("GBP", min_length=3, max_length=3)
    basket_size: int = Field(1, ge=1, le=10_000)

    @field_validator("ts")
    @classmethod
    def _not_in_the_future(cls, ts: datetime) -> datetime:
        if ts.tzinfo is None:
            raise ValueError("needs a UTC offset (e.g. 2026-01-31T12:00:00Z)")
        if ts > datetime.now(UTC) + timedelta(seconds=_settings().future_tolerance_seconds):
            raise ValueError("is in the future")
        return ts

    @field_validator("amount")
    @classmethod
    def _not_absurd(cls, amount: float) -> float:
        if amount > _settings().max_line_amount:
            raise ValueError(f"must be at most {_settings().max_line_amount:,.0f} (SPEND_MAX_LINE_AMOUNT)")
        return amount

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, currency: str) -> str:
        known = _settings().currencies
        if currency.upper() not in known:
            raise ValueError(f"unknown currency {currency!r}; known: {', '.join(known)}")
        return currency.upper()


class FraudScore(BaseModel):
    order_id: str
    fraud_score: float
    alert: bool = Field(description="fraud_score at or above the model's stored threshold")
    threshold: float
    reasons: list[str]
    model: str
    version: int
    features_at: dict[str, float | None] = Field(description="Epoch seconds of the online values used, per view")


class Health(BaseModel):
    status: str
    models: dict[str, int | None]
    registry_error: dict[str, str | None]


@lru_cache(maxsize=1)
def _settings() -> SpendSettings:
    """Read once per process: request validators must not parse the environment on every call."""
    return SpendSettings()


def _seconds(value) -> float | None:
    return None if value is None or np.isnan(value) else float(value)


@bentoml.service(name="spend", traffic={"timeout": 10})
class Spend:
    def __init__(self) -> None:
        from features.store.config import feature_store
        from features.store.reader import BatchReader

        self.settings = SpendSettings()
        self.slots = {
            "churn": ModelSlot(self.settings, "churn", "churn_v1"),
            "fraud": ModelSlot(self.settings, "fraud", "fraud_v1"),
        }
        for slot in self.slots.values():
            try:
                slot.load()
            except Exception as error:  # noqa: BLE001 - a missing model makes its endpoints 503, not the service
                slot.last_error = str(error)
        self.store = feature_store(self.settings)
        self.reader = BatchReader(self.store, service="churn_v1")
        self.fraud_reader = BatchReader(self.store, service="fraud_v1")
        self.key = self.settings.pseudonym_key.get_secret_value().encode("utf-8")
        self.audit = AuditLog(self.settings.paths.home / "audit" / "serving.jsonl")
        interval = float(os.environ.get("SPEND_SERVING_REFRESH_SECONDS", "30"))
        threading.Thread(target=self._follow_registry, args=(interval,), daemon=True).start()

    def _follow_registry(self, interval: float) -> None:
        while True:
            time.sleep(interval)
            for slot in self.slots.values():
                slot.refresh()

    def _health(self) -> Health:
        # Not an API method: calling a decorated endpoint from another one goes through BentoML's
        # dispatcher and waits for a worker (it timed out).
        return Health(
            status="ok",
            models={k: (s.current.version if s.current else None) for k, s in self.slots.items()},
            registry_error={k: s.last_error for k, s in self.slots.items()},
        )

    @bentoml.api(route="/v1/health")
    def health(self) -> Health:
        """Liveness, the model versions in use and the last registry error per model (no key needed)."""
        return self._health()

    @bentoml.api(route="/v1/ready")
    def ready(self, ctx: bentoml.Context) -> Health:
        """503 until every model is loaded (no key needed)."""
        health = self._health()
        if any(v is None for v in health.models.values()):
            ctx.response.status_code = 503
            health.status = "not ready"
        return health

    @bentoml.api(route="/v1/churn/score")
    def churn_score(self, customer_ids: CustomerIds, ctx: bentoml.Context) -> ChurnResponse:
        """Churn probability, band and top reasons for each customer (role: marketing or data-scientist)."""
        loaded = self.slots["churn"].current
        if loaded is None:
            ctx.response.status_code = 503
            raise bentoml.exceptions.ServiceUnavailable("no churn model loaded; train one with `spend train churn`")
        columns = self.reader.read({"customer_id": customer_ids})
        found = np.asarray(columns["customer_activity__found"], dtype=bool)
        scores = [ChurnScore(customer_id=c, found=bool(f)) for c, f in zip(customer_ids, found, strict=True)]
        if found.any():
            frame = pd.DataFrame({name: columns[name] for name in loaded.model.features_})[found]
            probability = loaded.model.predict_proba(frame)
            named = bands(probability)
            reasons = loaded.model.explain(frame)
            at = np.asarray(columns["customer_activity__event_seconds"], dtype=float)[found]
            for i, p, band, r, t in zip(np.flatnonzero(found), probability, named, reasons, at, strict=True):
                scores[i] = ChurnScore(
                    customer_id=scores[i].customer_id,
                    found=True,
                    churn_probability=float(p),
                    churn_band=str(band),
                    reasons=r,
                    features_at=float(t),
                )
        self._audit(ctx, "/v1/churn/score", customers=len(customer_ids), result_size=int(found.sum()))
        return ChurnResponse(model=loaded.name, version=loaded.version, scores=scores)

    def _audit(self, ctx: bentoml.Context, endpoint: str, **counts) -> None:
        caller = getattr(ctx.request.state, "caller", {})
        self.audit.write(endpoint=endpoint, status=200, caller=caller.get("name"), role=caller.get("role"), **counts)

    @bentoml.api(route="/v1/fraud/score")
    def fraud_score(self, transaction: Transaction, ctx: bentoml.Context) -> FraudScore:
        """Score one card payment with fresh windows, then push the card's updated windows online
        (role: pricing-engine, data-scientist or admin)."""
        from features.privacy.pseudonym import pseudonym
        from serving.fraud import payment_row

        loaded = self.slots["fraud"].current
        if loaded is None:
            raise bentoml.exceptions.ServiceUnavailable("no fraud model loaded; train one with `spend train fraud`")
        card = pseudonym(transaction.card_id, self.key)
        columns = self.fraud_reader.read({"customer_id": [card], "terminal_id": [transaction.terminal_id]})
        seconds = int(transaction.ts.timestamp())
        row, windows = payment_row(columns, transaction.amount, seconds, transaction.basket_size)
        score = float(loaded.model.predict_proba(row)[0])
        alert = score >= loaded.model.threshold_
        pushed = pd.DataFrame([{"customer_id": card, "event_timestamp": transaction.ts} | windows])
        self.store.push("customer_spending_push", pushed)
        self._audit(ctx, "/v1/fraud/score", customers=1, result_size=1)
        return FraudScore(
            order_id=transaction.order_id,
            fraud_score=score,
            alert=bool(alert),
            threshold=float(loaded.model.threshold_),
            reasons=loaded.model.explain(row)[0] if alert else [],
            model=loaded.name,
            version=loaded.version,
            features_at={
                view: _seconds(columns[f"{view}__event_seconds"][0]) for view in ("customer_spending", "terminal_risk")
            },
        )

    @bentoml.api(route="/v1/admin/reload")
    def reload(self, ctx: bentoml.Context) -> Health:
        """Follow every alias now instead of at the next check (role: data-scientist or admin)."""
        for slot in self.slots.values():
            slot.refresh()
        self._audit(ctx, "/v1/admin/reload")
        return self._health()


Spend.add_asgi_middleware(ApiKeyMiddleware)
