"""The Spend BentoML service: the declared models' endpoints (churn scores, fraud scores for one payment
or a batch, and the generic customer endpoint of any other served model), the published recall list and
segments, health, readiness and reload.

    bentoml serve spend.serving.service:Spend --port 3000      (or `spend serve`)

Model slots, model routes and who may call them come from the model registry (spend.core.registry):
each served spec gets a slot, and each of its routes is either a tuned method of this class that the
spec names (churn's, fraud's) or the generic customer endpoint (serving/routes.py).

Models load from the registry by alias at start-up and follow it: a background thread checks every
SPEND_SERVING_REFRESH_SECONDS (30) and swaps in place; `POST /v1/admin/reload` does it at once. The recall
list and segments are what `spend publish` last wrote, reloaded the same way. Online features come from
the feature store through Spend's batch reader, with reads bounded by SPEND_SERVING_ONLINE_TIMEOUT_SECONDS.

Degradation (docs/architecture.md): when the online store cannot be read, a fraud score is still given from
the payment alone (empty windows, as for a new card) and flagged `degraded`; churn scores cannot be given
without the customer's features and fail fast with 503 and the reason. A missing model or publication is
503 for its endpoints only. If the registry cannot be reached, the loaded models keep serving.

Every /v1 call except health and readiness needs an X-API-Key with the right role (serving/auth.py), is
audited (who, what, when, how many, result size; never ids) and logged as one JSON line (serving/logs.py).
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Annotated, Literal

import bentoml
from pydantic import Field

from spend.core.errors import OnlineStoreUnavailable
from spend.core.names import registered_name
from spend.core.registry import served as served_models
from spend.serving.answers import json_response as _json
from spend.serving.answers import seconds as _seconds
from spend.serving.answers import unavailable as _unavailable
from spend.serving.collector import settle as settle_collector
from spend.serving.middleware import ApiKeyMiddleware
from spend.serving.models import ModelSlot
from spend.serving.payments import Payments
from spend.serving.routes import with_model_routes
from spend.serving.schemas import (
    ChurnResponse,
    CustomerIds,
    FraudBatchResponse,
    FraudScore,
    Health,
    RecallResponse,
    SegmentOf,
    SegmentResponse,
    Transaction,
    settings,
)

# numpy, pandas and the model code are imported inside the methods: `bentoml serve` imports this module
# in its supervisor process too, only to read the service's configuration (seconds of start-up saved).


# BentoML's access log is off: the middleware writes one JSON line per request with the same facts
# (endpoint, status, latency) and what was served; writing both doubled that cost per fraud score.
# OpenTelemetry spans are off for the /v1 endpoints: with no exporter configured (BentoML's default) they
# are never sent, yet building them cost CPU on every call. docs/serving.md has the profile and says how
# to trace.
SERVER = {
    "traffic": {"timeout": 10},
    "logging": {"access": {"enabled": False}},
    "tracing": {"excluded_urls": ["/v1/"]},
}


class Spend:
    def __init__(self) -> None:
        # skops (the models' format) indexes scikit-learn's types at import by searching every loaded
        # module for the ones without a __module__: imported first, before Feast and MLflow have loaded
        # thousands of modules, its import is markedly faster (docs/serving.md, start-up).
        import skops.io  # noqa: F401

        from spend.features.store.config import bound_online_latency, feature_store
        from spend.features.store.push import OnlinePush
        from spend.features.store.reader import BatchReader
        from spend.serving.metrics import metrics
        from spend.serving.published import PublishedDecisions
        from spend.serving.spending import PendingWindows

        self.settings = settings()
        self.metrics = metrics()
        self.slots = {name: ModelSlot(self.settings, name, s.feature_service) for name, s in served_models().items()}
        for slot in self.slots.values():
            try:
                slot.load()
            except Exception as error:  # noqa: BLE001 - a missing model makes its endpoints 503, not the service
                slot.last_error = str(error)
        self.published = PublishedDecisions(self.settings.paths.published)
        self.published.refresh()
        self._export_versions()
        self.store = feature_store(self.settings)
        bound_online_latency(self.store, self.settings.serving_online_timeout_seconds)
        self.readers = {
            s: BatchReader(self.store, service=s) for s in {m.feature_service for m in served_models().values()}
        }
        self.reader, self.fraud_reader = self.readers["churn_v1"], self.readers["fraud_v1"]
        push = OnlinePush(self.store, "customer_spending_push")
        self.pending = PendingWindows(push.push_columns, self.settings.serving_push_seconds)
        self.key = self.settings.pseudonym_key.get_secret_value().encode("utf-8")
        # A few awaited Redis reads at a time, the others waiting their turn in arrival order (asyncio's
        # semaphore is first come, first served). Unbounded, every waiting request resumed behind whatever
        # the loop had picked up meanwhile, which stretched the tail (docs/serving.md has the runs).
        self.awaited_reads = asyncio.Semaphore(self.settings.serving_awaited_reads)
        self.online_error: str | None = None
        interval = self.settings.serving_refresh_seconds
        threading.Thread(target=self._follow_registry, args=(interval,), daemon=True).start()
        # What was loaded lives as long as the process: frozen; full collections rarer (serving/collector.py).
        settle_collector()

    @bentoml.on_shutdown
    def _write_pending(self) -> None:
        self.pending.flush()

    def _follow_registry(self, interval: float) -> None:
        while True:
            time.sleep(interval)
            self._refresh()

    def _refresh(self) -> None:
        for slot in self.slots.values():
            slot.refresh()
        self.published.refresh()
        self._export_versions()

    def _export_versions(self) -> None:
        for name, slot in self.slots.items():
            self.metrics.model_version.labels(model=name).set(slot.current.version if slot.current else 0)
        if self.published.current is not None:
            self.metrics.published_at.set(self.published.current.stamp)

    def _health(self) -> Health:
        # Not an API method: calling a decorated endpoint from another one goes through BentoML's
        # dispatcher and waits for a worker (it timed out).
        publication = self.published.current
        return Health(
            status="ok",
            models={k: (s.current.version if s.current else None) for k, s in self.slots.items()},
            registry_error={k: s.last_error for k, s in self.slots.items()} | {"published": self.published.last_error},
            published_at=publication.manifest["published_at"] if publication else None,
            online_store=self.online_error or self.pending.last_error or "ok",
            pending_windows=len(self.pending),
        )

    @staticmethod
    def _served(ctx: bentoml.Context, loaded, degraded: str | None = None, **counts) -> None:
        """What this call served, for the middleware's log line, metrics and audit record."""
        ctx.request.state.served = {
            "model": loaded.name if loaded else None,
            "version": loaded.version if loaded else None,
            "degraded": degraded is not None,
            **({"degraded_reason": degraded} if degraded else {}),
            **counts,
        }

    def _online(self, reader, entities: dict) -> tuple[dict | None, str | None]:
        """The online values, or None and why when the store cannot be read (remembered for health)."""
        before = reader.fallbacks
        try:
            columns = reader.read(entities)
        except OnlineStoreUnavailable as error:
            self.online_error = str(error)
            return None, str(error)
        self.online_error = None
        if reader.fallbacks > before:  # entities without a usable packed record: read the slow way
            self.metrics.record_fallbacks.inc(reader.fallbacks - before)
        return columns, None

    @bentoml.api(route="/v1/health")
    def health(self) -> Health:
        """Liveness, model versions in use, publication time, last registry and online-store errors (open)."""
        return self._health()

    @bentoml.api(route="/v1/ready")
    def ready(self, ctx: bentoml.Context) -> Health:
        """503 until every model is loaded (open)."""
        health = self._health()
        if any(v is None for v in health.models.values()):
            ctx.response.status_code = 503
            health.status = "not ready"
        return health

    def churn_score(
        self,
        customer_ids: CustomerIds,
        ctx: bentoml.Context,
        reasons: Annotated[bool, Field(description="Top reasons per customer (path attributions)")] = True,
    ) -> ChurnResponse:
        """Churn probability, band and top reasons for each customer (role: marketing or data-scientist).
        503 when the online store cannot be read: a churn score needs the customer's features."""
        import numpy as np
        import pandas as pd

        from spend.models.churn import bands

        loaded = self.slots["churn"].current
        if loaded is None:
            return _unavailable(ctx, "no churn model loaded; train one with `spend train churn`")
        columns, problem = self._online(self.reader, {"customer_id": customer_ids})
        if columns is None:
            return _unavailable(ctx, f"churn scores need the online store, which cannot be read: {problem}")
        found = np.asarray(columns["customer_activity__found"], dtype=bool)
        unknown = {"found": False, "churn_probability": None, "churn_band": None, "reasons": [], "features_at": None}
        scores = [{"customer_id": c} | unknown for c in customer_ids]
        if found.any():
            frame = pd.DataFrame({name: columns[name] for name in loaded.model.features_})[found]
            probability, why = loaded.model.score(frame, reasons=reasons)
            rows = zip(
                np.flatnonzero(found).tolist(),
                probability.tolist(),
                bands(probability).tolist(),
                why,
                np.asarray(columns["customer_activity__event_seconds"], dtype=float)[found].tolist(),
                strict=True,
            )
            for i, p, band, r, t in rows:
                scores[i] |= {"found": True, "churn_probability": p, "churn_band": band, "reasons": r, "features_at": t}
        self._served(ctx, loaded, customers=len(customer_ids), result_size=int(found.sum()))
        # ChurnResponse's fields, written directly: building and serialising a thousand pydantic models was a
        # fifth of the call (tests validate the body against ChurnResponse).
        served = {"model": loaded.name, "version": loaded.version, "degraded": False, "degraded_reason": None}
        return _json(served | {"scores": scores})

    @bentoml.api(route="/v1/recall/list")
    def recall_list(
        self,
        ctx: bentoml.Context,
        top_k: Annotated[int, Field(ge=1, le=100_000, description="Only the best K customers (after filters)")] = 500,
        offset: Annotated[int, Field(ge=0, description="Page start within the top K")] = 0,
        limit: Annotated[int, Field(ge=1, le=1_000, description="Page size")] = 100,
        segment: Annotated[str | None, Field(max_length=64, description="Only this RFM segment ('At risk')")] = None,
        churn_band: Annotated[Literal["low", "medium", "high"] | None, Field(description="Only this band")] = None,
        min_expected_saved_margin: Annotated[float | None, Field(description="Only customers worth this")] = None,
    ) -> RecallResponse:
        """Whom to win back, best first by expected saved margin = P(churn) x CLV x save rate, from the last
        `spend publish` (role: marketing or data-scientist)."""
        from spend.serving.published import recall_entry, select

        publication = self.published.current
        if publication is None:
            return _unavailable(ctx, self.published.last_error or "no recall list published; run `spend publish`")
        recall, manifest = publication.recall, publication.manifest
        rows = select(recall, segment, churn_band, min_expected_saved_margin)[:top_k]
        page = recall.iloc[rows[offset : offset + limit]]
        nxt = offset + limit if offset + limit < len(rows) else None
        customers = [recall_entry(row) for row in page.itertuples(index=False)]
        version = manifest["churn_model_version"]
        self._served(ctx, None, customers=len(customers), result_size=len(customers))
        return RecallResponse(
            model=registered_name("churn"),
            version=int(version) if version is not None else 0,
            published_at=manifest["published_at"],
            as_of=manifest["as_of"],
            clv_source=manifest["clv_source"],
            uplift_source=manifest["uplift_source"],
            total=len(rows),
            offset=offset,
            next_offset=nxt,
            customers=customers,
        )

    @bentoml.api(route="/v1/segments/lookup")
    def segments_lookup(self, customer_ids: CustomerIds, ctx: bentoml.Context) -> SegmentResponse:
        """Each customer's RFM segment and behaviour cluster, and the profiles of those groups, from the last
        `spend publish` (role: marketing or data-scientist)."""
        publication = self.published.current
        if publication is None:
            return _unavailable(ctx, self.published.last_error or "no segments published; run `spend publish`")
        found = [publication.segment_of.get(c) for c in customer_ids]
        customers = [
            SegmentOf(customer_id=c, found=f is not None, segment=f[0] if f else None, cluster=f[1] if f else None)
            for c, f in zip(customer_ids, found, strict=True)
        ]
        profiles = publication.manifest["profiles"]
        wanted = {"segment": {c.segment for c in customers}, "cluster": {str(c.cluster) for c in customers}}
        self._served(ctx, None, customers=len(customer_ids), result_size=sum(f is not None for f in found))
        return SegmentResponse(
            published_at=publication.manifest["published_at"],
            as_of=publication.manifest["as_of"],
            customers=customers,
            profiles={kind: {k: v for k, v in profiles[kind].items() if k in wanted[kind]} for kind in wanted},
        )

    async def fraud_score(self, transaction: Transaction, ctx: bentoml.Context) -> FraudScore:
        """Score one card payment with fresh windows, then push the card's updated windows online
        (role: pricing-engine, data-scientist or admin). Degraded (from the payment alone) when the online
        store cannot be read."""
        # async: a sub-millisecond score runs on the event loop; BentoML's thread hop for a sync method
        # (one thread by default) cost more than the work. The Redis read is awaited (other requests run
        # meanwhile); every online read is bounded by the store's timeout.
        loaded = self.slots["fraud"].current
        if loaded is None:
            return _unavailable(ctx, NO_FRAUD_MODEL)
        payments = Payments([transaction], self.key)
        try:
            async with self.awaited_reads:
                columns, problem = await self.fraud_reader.read_async(payments.entities), None
        except OnlineStoreUnavailable as error:
            columns, problem = None, str(error)
        self.online_error = problem  # for health, as _online keeps it
        served, answers = self._score_payments(loaded, payments, columns, problem, ctx)
        return _json(served | answers[0])

    def fraud_score_batch(
        self,
        ctx: bentoml.Context,
        transactions: Annotated[list[Transaction], Field(min_length=1, max_length=1_000)],
    ) -> FraudBatchResponse:
        """Score up to 1,000 payments in one call, each card's payments in time order seeing the ones before;
        answers in the order given (role: pricing-engine, data-scientist or admin)."""
        loaded = self.slots["fraud"].current
        if loaded is None:
            return _unavailable(ctx, NO_FRAUD_MODEL)
        payments = Payments(transactions, self.key)
        columns, problem = self._online(self.fraud_reader, payments.entities)
        served, answers = self._score_payments(loaded, payments, columns, problem, ctx)
        return _json(served | {"scores": [served | a for a in answers]})

    def _score_payments(self, loaded, payments: Payments, columns: dict | None, problem: str | None, ctx) -> tuple:
        """(what was served, one answer per payment in the order given) from the online values read for
        `payments` (None when they could not be read: degraded). The answers are FraudScore's fields
        written directly: building and serialising the pydantic models was a measurable part of a
        one-payment call (tests validate the bodies against FraudScore)."""
        import numpy as np

        from spend.serving.fraud import model_inputs, payment_rows, with_pending

        order, ordered, cards = payments.order, payments.ordered, payments.cards
        if columns is not None:
            columns = with_pending(columns, cards, self.pending)
        values, latest = payment_rows(
            columns,
            cards,
            [t.amount for t in ordered],
            [int(t.ts.timestamp()) for t in ordered],
            [t.basket_size for t in ordered],
        )
        rows = model_inputs(values, loaded.model.features_)
        scores = loaded.model.predict_values(rows)
        threshold = float(loaded.model.threshold_)
        alerts = np.flatnonzero(scores >= threshold)
        reasons = dict(zip(alerts, loaded.model.explain_values(rows[alerts]), strict=True)) if len(alerts) else {}
        last_ts = {card: t.ts for card, t in zip(cards, ordered, strict=True)}  # time order: the last wins
        pushed = problem is None and self.pending.put(latest, last_ts)
        degraded = problem or (None if pushed else "the cards' updated windows could not be kept: writes are failing")
        at = {
            view: (
                np.full(len(ordered), np.nan)
                if columns is None
                else np.asarray(columns[f"{view}__event_seconds"], dtype=float)
            )
            for view in ("customer_spending", "terminal_risk")
        }
        answers = [None] * len(ordered)
        for j, i in enumerate(order):
            answers[i] = {
                "order_id": ordered[j].order_id,
                "fraud_score": float(scores[j]),
                "alert": bool(scores[j] >= threshold),
                "threshold": threshold,
                "reasons": reasons.get(j, []),
                "features_at": {view: _seconds(values[j]) for view, values in at.items()},
                "pushed": pushed,
            }
        self._served(ctx, loaded, degraded, customers=len(set(cards)), result_size=len(answers), alerts=len(alerts))
        served = {"model": loaded.name, "version": loaded.version, "degraded": degraded is not None}
        return served | {"degraded_reason": degraded}, answers

    @bentoml.api(route="/v1/admin/reload")
    def reload(self, ctx: bentoml.Context) -> Health:
        """Follow every alias and the publication now instead of at the next check (role: data-scientist
        or admin)."""
        self._refresh()
        self._served(ctx, None)
        return self._health()


NO_FRAUD_MODEL = "no fraud model loaded; train one with `spend train fraud`"


Spend = bentoml.service(name="spend", **SERVER)(with_model_routes(Spend))
Spend.add_asgi_middleware(ApiKeyMiddleware)
