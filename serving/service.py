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
import logging
from datetime import UTC, datetime
from typing import Annotated, Literal

import bentoml
from pydantic import Field

from spend.core.errors import OnlineStoreUnavailable
from spend.core.registry import served as served_models
from spend.models.segmentation import SEGMENTS
from spend.serving import demand, pricing
from spend.serving.answers import json_response as _json
from spend.serving.answers import no_model, served_fields
from spend.serving.answers import refused as _refused
from spend.serving.answers import seconds as _seconds
from spend.serving.answers import unavailable as _unavailable
from spend.serving.collector import settle as settle_collector
from spend.serving.demand import StockCounts
from spend.serving.direct import ROUTES, api_methods
from spend.serving.erased import ERASED_CARD, ErasedCards, erasures_held_off
from spend.serving.erased import not_found as _not_found
from spend.serving.follower import Follower
from spend.serving.idempotency import InFlight, OrderConflict, ScoredPayments, payment_details
from spend.serving.middleware import ApiKeyMiddleware
from spend.serving.models import ModelSlot
from spend.serving.monitoring import MonitoringState
from spend.serving.payments import Payments
from spend.serving.routes import with_model_routes, with_strict_inputs
from spend.serving.schemas import (
    ChurnResponse,
    CustomerIds,
    Day,
    DemandForecastResponse,
    ErasureReceipt,
    FraudBatchResponse,
    FraudScore,
    Health,
    ItemIds,
    OfferOf,
    OffersResponse,
    PlannedPrice,
    PriceQuoteResponse,
    QuoteProduct,
    QuoteRules,
    RawCustomerIds,
    RecallResponse,
    ReplenishmentResponse,
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
# BentoML's request metrics are off: they label every raw path (made-up paths grew /metrics to megabytes);
# Spend's middleware counts requests by route name and serves GET /metrics (serving/middleware.py).
SERVER = {
    "metrics": {"enabled": False},
    "traffic": {"timeout": 10},
    "logging": {"access": {"enabled": False}},
    "tracing": {"excluded_urls": ["/v1/"]},
}
# Answered by Spend's middleware with the endpoint's own input model and caller (serving/direct.py): the
# pricing engine's one-payment score, where BentoML's per-request machinery cost more than the score.
DIRECT_ENDPOINTS = ("fraud_score",)


def bind_endpoints(instance) -> None:
    """Each endpoint's caller, made once and kept on the instance, where attribute lookup finds it before
    the class's descriptor. BentoML's `APIMethod.__get__` makes it again on every request, reading the
    method's signature each time (about a twentieth of the worker under fraud load, docs/serving.md); what
    it makes does not change, since the endpoints are called as `.local` (a server-side proxy of the
    service itself is never used for them). If BentoML moved `APIMethod`, requests keep BentoML's lookup."""
    for name, member in api_methods(type(instance)).items():
        if name not in instance.__dict__:
            instance.__dict__[name] = member.__get__(instance, type(instance))


class Spend:
    def __init__(self) -> None:
        # skops (the models' format) indexes scikit-learn's types at import by searching every loaded
        # module for the ones without a __module__: imported first, before Feast and MLflow have loaded
        # thousands of modules, its import is markedly faster (docs/serving.md, start-up).
        import skops.io  # noqa: F401

        from spend.features.store.config import bound_online_latency, feature_store
        from spend.serving.logs import install_error_filter
        from spend.serving.metrics import metrics
        from spend.serving.published import PublishedDecisions

        install_error_filter()  # before any request: BentoML's error log must not carry ids
        self.settings = settings()
        self.metrics = metrics()
        # Slots start empty; the follower loads them (a missing model makes its endpoints 503, not the
        # service), and start-up waits for that first refresh at most STARTUP_WAIT_SECONDS.
        self.slots = {name: ModelSlot(self.settings, name, s.feature_service) for name, s in served_models().items()}
        self.published = PublishedDecisions(self.settings.paths.published)
        self.monitoring = MonitoringState(self.settings.paths.home)
        self.stock_counts = StockCounts(self.settings)
        self.store = feature_store(self.settings)
        bound_online_latency(self.store, self.settings.serving_online_timeout_seconds)
        self.key = self.settings.pseudonym_key.get_secret_value().encode("utf-8")
        self.erased = ErasedCards(self.settings.paths.vault, self.key)
        self.erasures: set[asyncio.Future] = set()  # erasures still running after their request was answered
        self.readers, self.reader, self.fraud_reader, self.pending = {}, None, None, None
        self.feature_error: str | None = None
        self._connect_features()
        self.scored, self.in_flight = ScoredPayments(), InFlight()
        # A few awaited Redis reads at a time, the others waiting their turn in arrival order (asyncio's
        # semaphore is first come, first served). Unbounded, every waiting request resumed behind whatever
        # the loop had picked up meanwhile, which stretched the tail (docs/serving.md has the runs).
        self.awaited_reads = asyncio.Semaphore(self.settings.serving_awaited_reads)
        self.online_error: str | None = None
        self.follower = Follower(self._refresh, self.settings.serving_refresh_seconds)
        self.follower.refresh_now(STARTUP_WAIT_SECONDS)
        bind_endpoints(self)
        ROUTES.add(self, DIRECT_ENDPOINTS, "spend")
        # What was loaded lives as long as the process: frozen; full collections rarer (serving/collector.py).
        settle_collector()

    @bentoml.on_shutdown
    def _write_pending(self) -> None:
        if self.pending is not None:
            self.pending.flush()

    def _connect_features(self) -> None:
        """The online readers and the card-window writer, once the feature store's definitions exist. On a
        home where `spend features apply` has not run yet the service starts anyway: the endpoints that
        need features answer 503 and say so, and every registry refresh tries again."""
        if self.readers:
            return
        from spend.features.store.push import OnlinePush
        from spend.features.store.reader import BatchReader
        from spend.serving.spending import PendingWindows

        try:
            services = {m.feature_service for m in served_models().values()}
            readers = {s: BatchReader(self.store, service=s) for s in services}
            push = OnlinePush(self.store, "customer_spending_push")
        except Exception as error:  # noqa: BLE001 - Feast's not-found errors and Spend's alike
            logging.getLogger("spend.serving.features").warning("feature store not usable: %s", error)
            self.feature_error = "the feature store has no definitions yet; run `spend features apply`"
            return
        self.pending = PendingWindows(
            push.push_columns,
            self.settings.serving_push_seconds,
            self.erased.__contains__,
            lambda: erasures_held_off(self.settings.paths.home, self.erased, self._forget_answers),
        )
        self.reader, self.fraud_reader = readers["churn_v1"], readers["fraud_v1"]
        self.readers, self.feature_error = readers, None

    def _refresh(self) -> None:
        self._connect_features()
        for slot in self.slots.values():
            slot.refresh()
        self.published.refresh()
        self.monitoring.refresh()
        self._export_versions()
        self._follow_erasures()

    def _follow_erasures(self) -> None:
        """Erased by `spend erase` since the last refresh: drop what this process holds of them. Last in the
        refresh; a vault that cannot be read (locked by a writer) keeps the list read before."""
        if self.erased.refresh():
            self._forget(self.pending.cards() if self.pending is not None else [])

    def _forget(self, cards: list[str]) -> None:
        """Drop the erased cards' pending windows (after a write in progress) and every kept answer of an
        erased card. Called once the cards are in `self.erased`, so nothing of them is kept again."""
        if self.pending is not None:
            self.pending.forget([c for c in cards if c in self.erased])
        self._forget_answers()

    def _forget_answers(self) -> None:
        self.scored.forget(self.erased.__contains__)

    def _export_versions(self) -> None:
        for name, slot in self.slots.items():
            self.metrics.model_version.labels(model=name).set(slot.current.version if slot.current else 0)
        if self.published.current is not None:
            self.metrics.published_at.set(self.published.current.stamp)
        for name, flag in self.monitoring.flags().items():
            self.metrics.drift_breach.labels(model=name).set(int(flag != "ok"))
        for name, value in self.monitoring.live_values().items():
            self.metrics.live_quality.labels(model=name).set(value)

    def _health(self) -> Health:
        # Not an API method: calling a decorated endpoint from another one goes through BentoML's
        # dispatcher and waits for a worker (it timed out).
        publication = self.published.current
        models = {k: (s.current.version if s.current else None) for k, s in self.slots.items()}
        errors = {k: s.last_error for k, s in self.slots.items()} | {"published": self.published.last_error}
        stalled = self.follower.stalled_for()
        if stalled is not None and stalled > self.settings.serving_registry_timeout_seconds:
            errors["registry"] = f"the registry has not answered for {stalled:.0f} s; the loaded models serve"
        missing = [k for k, v in models.items() if v is None] + ([] if publication else ["published"])
        # not ready: every model and the publication missing; partial: some of them
        return Health(
            status="ok" if not missing else "not ready" if len(missing) == len(models) + 1 else "partial",
            models=models,
            missing=missing,
            registry_error=errors,
            published_at=publication.manifest["published_at"] if publication else None,
            online_store=self.feature_error or self.online_error or (self.pending and self.pending.last_error) or "ok",
            pending_windows=len(self.pending) if self.pending is not None else 0,
            monitoring=self.monitoring.flags(),
        )

    def __is_ready__(self) -> bool:
        """BentoML's /readyz: the same answer as /v1/ready without a model."""
        return self._health().status != "not ready"

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
            self.online_error = error.public
            return None, error.public
        self.online_error = None
        if reader.fallbacks > before:  # entities without a usable packed record: read the slow way
            self.metrics.record_fallbacks.inc(reader.fallbacks - before)
        if gone := self.erased.among(entities.get("customer_id", [])):
            columns = _not_found(columns, gone)
        return columns, None

    @bentoml.api(route="/v1/health")
    def health(self) -> Health:
        """Liveness, model versions in use, publication time, last registry and online-store errors (open)."""
        return self._health()

    @bentoml.api(route="/v1/ready")
    def ready(
        self,
        ctx: bentoml.Context,
        model: Annotated[str | None, Field(max_length=64, description="Ready for this model only")] = None,
    ) -> Health:
        """200 when the service can answer something (some model or the publication loaded; status
        "partial" lists what is missing), 503 when nothing is loaded; with `model`, 200 only when that
        model is loaded. Open; also GET, with ?model= (Kubernetes probes)."""
        health = self._health()
        if model is not None:
            if model not in health.models:
                return _refused(ctx, 400, f"unknown {model!r}; served: {', '.join(health.models)}", "model")
            if health.models[model] is None:
                ctx.response.status_code = 503
                health.status = "not ready"
            return health
        if health.status == "not ready":
            ctx.response.status_code = 503
        return health

    def churn_score(
        self,
        customer_ids: CustomerIds,
        ctx: bentoml.Context,
        reasons: Annotated[bool, Field(strict=True, description="Top reasons per customer (path attributions)")] = True,
    ) -> ChurnResponse:
        """Churn probability, band and top reasons for each customer (role: marketing or data-scientist).
        503 when the online store cannot be read: a churn score needs the customer's features."""
        import numpy as np
        import pandas as pd

        from spend.models.churn import bands

        loaded = self.slots["churn"].current
        if loaded is None:
            return _unavailable(ctx, no_model("churn"))
        if self.feature_error:
            return _unavailable(ctx, self.feature_error)
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
        served = served_fields(loaded)
        return _json(served | {"scores": scores})

    @bentoml.api(route="/v1/recall/list")
    def recall_list(
        self,
        ctx: bentoml.Context,
        top_k: Annotated[
            int, Field(ge=1, le=100_000, strict=True, description="Only the best K customers (after filters)")
        ] = 500,
        offset: Annotated[int, Field(ge=0, strict=True, description="Page start within the top K")] = 0,
        limit: Annotated[int, Field(ge=1, le=1_000, strict=True, description="Page size")] = 100,
        segment: Annotated[Literal[SEGMENTS] | None, Field(description="Only this RFM segment ('At risk')")] = None,
        churn_band: Annotated[Literal["low", "medium", "high"] | None, Field(description="Only this band")] = None,
        min_expected_saved_margin: Annotated[
            float | None, Field(strict=True, allow_inf_nan=False, description="Only customers worth this")
        ] = None,
        published_at: Annotated[
            str | None,
            Field(
                max_length=64,
                description="The first page's published_at: a later page is refused (409) if the list was "
                "published again since, instead of mixing two lists",
            ),
        ] = None,
    ) -> RecallResponse:
        """Whom to win back, best first by expected saved margin = P(churn) x CLV x save rate, from the last
        `spend publish` (role: marketing or data-scientist). Paging a long list, send each later page the
        first page's `published_at`."""
        from spend.serving.published import recall_entry, select

        publication = self.published.current
        if publication is None:
            return _unavailable(ctx, self.published.last_error or "no recall list published; run `spend publish`")
        recall, manifest = publication.recall, publication.manifest
        if recall is None:
            return _unavailable(ctx, f"no recall list published: {manifest['recall_list_skipped']}")
        if published_at is not None and published_at != manifest["published_at"]:
            reason = (
                f"published_at: the recall list was published again ({manifest['published_at']}); "
                "page it again from offset 0"
            )
            return _refused(ctx, 409, reason, "published_at", logged="published_at: republished")
        rows = select(recall, segment, churn_band, min_expected_saved_margin, self.erased.here)[:top_k]
        page = recall.iloc[rows[offset : offset + limit]]
        nxt = offset + limit if offset + limit < len(rows) else None
        customers = [recall_entry(row) for row in page.itertuples(index=False)]
        version = manifest["churn_model_version"]
        self._served(ctx, None, customers=len(customers), result_size=len(customers))
        return RecallResponse(
            model="churn",
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
        if "segments_skipped" in publication.manifest:  # published without customers (daily totals)
            return _unavailable(ctx, f"no segments published: {publication.manifest['segments_skipped']}")
        gone = set(self.erased.among(customer_ids))
        found = [None if i in gone else publication.segment_of.get(c) for i, c in enumerate(customer_ids)]
        names = publication.manifest.get("cluster_names", {})
        customers = [
            SegmentOf(
                customer_id=c,
                found=f is not None,
                segment=f[0] if f else None,
                cluster=f[1] if f else None,
                cluster_name=names.get(str(f[1])) if f else None,
            )
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

    def offers_assign(self, customer_ids: CustomerIds, ctx: bentoml.Context) -> OffersResponse:
        """Each member's offer from the last published assignment (`spend offers assign --publish`): the
        offer or none, expected margin, cost and net, and why (role: marketing or data-scientist)."""
        publication = self.published.current
        if publication is None or publication.offers is None:
            problem = "no offer assignment published; run `spend offers assign --budget B --out F --publish`"
            return _unavailable(ctx, self.published.last_error or problem)
        table, entry = publication.offers, publication.manifest["offers"]
        gone = set(self.erased.among(customer_ids))
        rows = table.reindex([None if i in gone else c for i, c in enumerate(customer_ids)])
        customers = [
            OfferOf(customer_id=c, found=False)
            if row.offer != row.offer  # NaN: not a member of the assignment
            else OfferOf(
                customer_id=c,
                found=True,
                offer=str(row.offer),
                expected_margin=float(row.expected_margin),
                expected_cost=float(row.expected_cost),
                expected_net=float(row.expected_net),
                reason=str(row.reason),
            )
            for c, row in zip(customer_ids, rows.itertuples(index=False), strict=True)
        ]
        self._served(ctx, None, customers=len(customer_ids), result_size=sum(c.found for c in customers))
        return OffersResponse(
            published_at=entry["published_at"],
            as_of=entry["as_of"],
            model=entry["model"],
            budget=float(entry["budget"]),
            customers=customers,
        )

    async def fraud_score(self, transaction: Transaction, ctx: bentoml.Context) -> FraudScore:
        """Score one card payment with fresh windows, then push the card's updated windows online
        (role: pricing-engine, data-scientist or admin). Degraded (from the payment alone) when the online
        store cannot be read."""
        # async: a sub-millisecond score runs on the event loop; BentoML's thread hop for a sync method
        # (one thread by default) cost more than the work. The Redis read is awaited (other requests run
        # meanwhile); every online read is bounded by the store's timeout.
        loaded = self.slots["fraud"].current
        if loaded is None or self.feature_error:
            return _unavailable(ctx, self.feature_error or no_model("fraud"))
        async with self.in_flight.only_one(transaction.order_id):  # a concurrent retry waits, then is a retry
            return await self._score_one(loaded, transaction, ctx)

    async def _score_one(self, loaded, transaction: Transaction, ctx: bentoml.Context):
        payments = Payments([transaction], self.key)
        try:
            known, _, details = self._known_payments(payments)
        except OrderConflict:
            return _refused(ctx, 409, ORDER_CONFLICT)
        if known:  # a retry: the first answer, not counted again
            kept = known[0]
            self._served(ctx, loaded, None, customers=1, result_size=1, alerts=int(kept["alert"]), retries=1)
            return _json(kept)
        if payments.cards[0] in self.erased:
            columns, problem = None, ERASED_CARD
        else:
            try:
                async with self.awaited_reads:
                    columns, problem = await self.fraud_reader.read_async(payments.entities), None
            except OnlineStoreUnavailable as error:
                columns, problem = None, error.public
            self.online_error = problem  # for health, as _online keeps it
        served, answers = self._score_payments(loaded, payments, columns, problem, ctx)
        body = served | answers[0]
        if body["pushed"]:
            self.scored.put(transaction.order_id, details[0], body)
        return _json(body)

    def fraud_score_batch(
        self,
        ctx: bentoml.Context,
        transactions: Annotated[list[Transaction], Field(min_length=1, max_length=1_000)],
    ) -> FraudBatchResponse:
        """Score up to 1,000 payments in one call, each card's payments in time order seeing the ones before;
        answers in the order given (role: pricing-engine, data-scientist or admin). A payment scored
        before (same order id and details) gets its first answer and is not counted again."""
        loaded = self.slots["fraud"].current
        if loaded is None or self.feature_error:
            return _unavailable(ctx, self.feature_error or no_model("fraud"))
        with self.in_flight.only_these(t.order_id for t in transactions):  # copies in flight wait, as for one
            return self._score_batch(loaded, transactions, ctx)

    def _score_batch(self, loaded, transactions: list[Transaction], ctx: bentoml.Context):
        payments = Payments(transactions, self.key)
        try:
            known, fresh, details = self._known_payments(payments)
        except OrderConflict:
            return _refused(ctx, 409, ORDER_CONFLICT)
        served = served_fields(loaded)
        if fresh:
            erased = [j for j in fresh if payments.cards[j] in self.erased]  # scored from the payment alone
            counted = [j for j in fresh if payments.cards[j] not in self.erased] if erased else fresh
            for group in (erased, counted):  # the counted group last: its call is what the log says
                if not group:
                    continue
                subset = Payments([payments.ordered[j] for j in group], self.key)  # time order kept
                columns, problem = (
                    self._online(self.fraud_reader, subset.entities) if group is counted else (None, ERASED_CARD)
                )
                served, answers = self._score_payments(loaded, subset, columns, problem, ctx)
                for j, answer in zip(group, answers, strict=True):
                    known[j] = served | answer
                    if answer["pushed"]:
                        self.scored.put(payments.ordered[j].order_id, details[j], known[j])
        else:
            alerts = sum(bool(a["alert"]) for a in known.values())
            self._served(ctx, loaded, None, customers=len(set(payments.cards)), result_size=len(known), alerts=alerts)
        first = {}
        for j, t in enumerate(payments.ordered):  # repeats within the batch: the first one's answer
            j0 = first.setdefault(t.order_id, j)
            known[j] = known.get(j) or known[j0]
        given = [None] * len(transactions)
        for j, i in enumerate(payments.order):
            given[i] = known[j]
        return _json(served | {"scores": given})

    def _known_payments(self, payments: Payments) -> tuple[dict[int, dict], list[int], list[tuple]]:
        """(answers kept for payments scored before, by position in time order; the positions to score now,
        an order id's first occurrence only; each payment's details). OrderConflict when an order id comes
        with other details than before or than elsewhere in the batch."""
        details = [payment_details(c, t) for c, t in zip(payments.cards, payments.ordered, strict=True)]
        known, fresh, seen = {}, [], {}
        for j, t in enumerate(payments.ordered):
            kept = self.scored.get(t.order_id, details[j])
            if kept is not None:
                known[j] = kept
            elif t.order_id in seen:
                if details[seen[t.order_id]] != details[j]:
                    raise OrderConflict(t.order_id)
            else:
                seen[t.order_id] = j
                fresh.append(j)
        return known, fresh, details

    def _score_payments(self, loaded, payments: Payments, columns: dict | None, problem: str | None, ctx) -> tuple:
        """(what was served, one answer per payment in the order given) from the online values read for
        `payments` (None when they could not be read: degraded). The answers are FraudScore's fields
        written directly: building and serialising the pydantic models was a measurable part of a
        one-payment call (tests validate the bodies against FraudScore)."""
        import numpy as np

        from spend.serving.fraud import model_inputs, payment_rows, with_pending

        order, ordered, cards = payments.order, payments.ordered, payments.cards
        if columns is not None:
            columns = with_pending(columns, cards, self.pending, datetime.now(UTC))
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
        last_ts = _windows_times(cards, ordered, columns)
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

    def demand_forecast(
        self,
        ctx: bentoml.Context,
        products: ItemIds,
        stores: Annotated[ItemIds | None, Field(description="Default: every store the products sell in")] = None,
        horizon: Annotated[int | None, Field(strict=True, ge=1, le=366, description="Days ahead")] = None,
        prices: Annotated[list[PlannedPrice] | None, Field(max_length=100_000)] = None,
    ) -> DemandForecastResponse:
        """P10, P50 and P90 units per product, store and day for the days after the model's history, under
        planned prices if given (role: supply-chain or pricing-engine). 404 for an unknown product or
        store; 400 for a horizon beyond the model's or a plan that cannot apply (past day, negative price)."""
        return demand.forecast(self, ctx, products, stores, horizon, prices)

    def replenishment_suggest(
        self,
        ctx: bentoml.Context,
        stores: ItemIds,
        products: Annotated[ItemIds | None, Field(description="Default: every product of these stores")] = None,
        service_level: Annotated[float, Field(ge=0.5, le=0.999, strict=True)] = 0.95,
        review_days: Annotated[int, Field(ge=1, le=91, strict=True)] = 7,
        as_of: Annotated[Day | None, Field(description="Default: the day after the last stock count")] = None,
        lead_time_days: Annotated[
            float | None,
            Field(
                ge=0,
                le=365,
                strict=True,
                description="Days from order to delivery for every series, in place of the counts' own; required "
                "without inventory (then target stock levels only)",
            ),
        ] = None,
        prices: Annotated[
            list[PlannedPrice] | None,
            Field(max_length=100_000, description="Planned prices and promotions over the cover period"),
        ] = None,
    ) -> ReplenishmentResponse:
        """Order-up-to suggestions per product x store from the demand model's quantiles and the latest
        stock counts (role: supply-chain); without inventory, target stock levels for `lead_time_days`.
        400 when a pair has no current count, lead_time_days is missing without inventory, or the cover
        period runs past the model's horizon."""
        request = demand.Replenishment(stores, products, service_level, review_days, as_of, lead_time_days, prices)
        return demand.suggest(self, ctx, request)

    async def price_quote(
        self,
        ctx: bentoml.Context,
        products: Annotated[list[QuoteProduct], Field(min_length=1, max_length=1_000)],
        constraints: Annotated[QuoteRules, Field(default_factory=QuoteRules)],
        objective: Literal["margin", "revenue"] = "margin",
        stores: Annotated[ItemIds | None, Field(description="Echoed: prices are per product")] = None,
    ) -> PriceQuoteResponse:
        """Prices that maximise expected margin or revenue within the rules, per product, with expected
        units and margin under the elasticity's interval and the binding rule (role: pricing-engine). 404
        for an unknown product; 400 for a price below cost or rules that cannot all hold."""
        # A usual quote is under a millisecond of arrays, less than BentoML's thread hop for a sync
        # method: it runs on the event loop, as fraud does. Wide ladders go to a thread so they do not
        # hold up other requests.
        if pricing.is_small(products, constraints, pricing.served_shop(self)):
            return pricing.quote(self, ctx, products, objective, constraints, stores)
        return await asyncio.to_thread(pricing.quote, self, ctx, products, objective, constraints, stores)

    @bentoml.api(route="/v1/admin/reload")
    async def reload(self, ctx: bentoml.Context) -> Health:
        """Follow every alias and the publication now instead of at the next check (role: data-scientist
        or admin). Waits for the refresh at most SPEND_SERVING_REGISTRY_TIMEOUT_SECONDS: 202 when it is
        still running (it finishes in the background), 200 with what is loaded once done."""
        deadline = self.settings.serving_registry_timeout_seconds
        done = await asyncio.to_thread(self.follower.refresh_now, deadline)  # never on BentoML's request thread
        self._served(ctx, None)
        health = self._health()
        if not done:
            ctx.response.status_code = 202
            health.status = "reload still running"
        return health

    @bentoml.api(route="/v1/admin/erase")
    async def erase(
        self,
        customer_ids: RawCustomerIds,
        ctx: bentoml.Context,
        reason: Annotated[str, Field(max_length=500, description="Kept in the audit trail, ids blanked")] = "",
    ) -> ErasureReceipt:
        """Erase customers (the shop's own ids) from every store, the online store and the vault, refuse
        them from now on, and stop serving them at once; the receipt says what each store removed (role:
        admin only). 503 when the online store cannot be reached: the request can be repeated. 202 when it
        runs longer than SPEND_SERVING_ERASE_WAIT_SECONDS (an ingest holds the data home, or the list is long):
        it finishes in the background, and the same request then gets the receipt."""
        from spend.core.errors import SpendError
        from spend.core.privacy.pseudonym import pseudonym, written_pseudonym
        from spend.features.governance.erasure import ErasureIncomplete, erase_customers

        who = ctx.request.state.caller["name"] if hasattr(ctx.request.state, "caller") else ""
        # This process first: no more windows kept or pushed for them, none pending, no answer kept; then
        # the stores (a write in progress has ended, so none puts them back online afterwards).
        cards = [pseudonym(r.strip(), self.key) for r in customer_ids if r.strip()]
        # As spelled before ids were spelled one way too (erase_customers looks for both): answered as
        # unknown from now on, while the stores may still wait for an ingest.
        self.erased.add(cards + [written_pseudonym(r.strip(), self.key) for r in customer_ids if r.strip()])
        await asyncio.to_thread(self._forget, cards)
        erasure = asyncio.ensure_future(asyncio.to_thread(erase_customers, self.settings, customer_ids, reason, who))
        try:
            # Answered before BentoML's own timeout cuts the call off with a 504 while the erasure goes on.
            receipt = await asyncio.wait_for(asyncio.shield(erasure), self.settings.serving_erase_wait_seconds)
        except TimeoutError:  # 202, as reload's: it finishes in the background, and the same request then
            self.erasures.add(erasure)  # gets the receipt
            erasure.add_done_callback(self._erased_later)
            return self._still_erasing(ctx, len(cards))
        except ErasureIncomplete as error:
            return _unavailable(ctx, str(error))
        except SpendError as error:
            return _refused(ctx, 400, str(error), "customer_ids")
        await asyncio.to_thread(self.published.refresh)  # the recall list and segments without them, now
        self._served(ctx, None, customers=receipt.customers)
        return ErasureReceipt(**receipt.as_dict())

    def _still_erasing(self, ctx: bentoml.Context, customers: int):
        from starlette.responses import JSONResponse

        self._served(ctx, None, customers=customers, erasing=True)
        ctx.response.status_code = 202
        return JSONResponse({"status": "erasing", "customers": customers, "detail": ERASING}, status_code=202)

    def _erased_later(self, erasure: asyncio.Future) -> None:
        """An erasure that outlasted its request: the publication read again without its customers, or one
        log line saying it did not finish (never the ids: the same request finishes it)."""
        self.erasures.discard(erasure)
        if erasure.cancelled() or erasure.exception() is not None:
            failure = "cancelled" if erasure.cancelled() else type(erasure.exception()).__name__
            logging.getLogger(__name__).warning("an erasure answered 202 did not finish (%s)", failure)
            return
        refresh = asyncio.ensure_future(asyncio.to_thread(self.published.refresh))
        self.erasures.add(refresh)
        refresh.add_done_callback(self.erasures.discard)


ERASING = (
    "the erasure is still running (an ingest or a feature build held the data home, or the list is long); fraud "
    "scoring keeps and pushes nothing of these customers already, and every other answer treats them as unknown: "
    "repeat the request for the receipt"
)
STARTUP_WAIT_SECONDS = 120  # loading every model takes seconds; a registry that hangs fails by connect_timeout


ORDER_CONFLICT = (
    "order_id was already scored with other payment details (card, terminal, time, amount, currency or "
    "basket); a new payment needs a new order_id"
)


def _windows_times(cards, ordered, columns: dict | None) -> dict:
    """When each card's updated windows are as of: its last payment's time, or the stored windows' time
    if newer (a back-dated payment adds to windows that already hold later payments: labelled with the
    payment's time, the push would be older than what it replaces)."""
    stored = None if columns is None else columns["customer_spending__event_seconds"]
    out = {}
    for j, (card, t) in enumerate(zip(cards, ordered, strict=True)):  # time order: the last wins
        at = t.ts
        if stored is not None and stored[j] == stored[j] and stored[j] > at.timestamp():  # NaN: none stored
            at = datetime.fromtimestamp(float(stored[j]), UTC)
        out[card] = max(at, out.get(card, at))
    return out


Spend = with_strict_inputs(bentoml.service(name="spend", **SERVER)(with_model_routes(Spend)))
Spend.add_asgi_middleware(ApiKeyMiddleware)
