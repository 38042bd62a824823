"""Spend's Prometheus metrics, beside BentoML's own (request totals and latency per endpoint and status,
in-progress gauges) on the same /metrics endpoint.

bentoml.metrics builds its metrics lazily and in multiprocess mode (prometheus_client must not be used
directly in a BentoML service); `metrics()` builds them once per process, never at import.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Metrics:
    latency: object
    degraded: object
    errors: object
    model_version: object
    published_at: object
    record_fallbacks: object


@lru_cache(maxsize=1)
def metrics() -> Metrics:
    import bentoml

    return Metrics(
        latency=bentoml.metrics.Histogram(
            name="spend_endpoint_seconds",
            documentation="Time inside a Spend endpoint (reads, scoring, push), by endpoint",
            labelnames=["endpoint"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
        ),
        degraded=bentoml.metrics.Counter(
            name="spend_degraded_answers",
            documentation="Answers given from defaults because a dependency failed, by endpoint",
            labelnames=["endpoint"],
        ),
        errors=bentoml.metrics.Counter(
            name="spend_errors",
            documentation="Requests refused with a 4xx or 503 by Spend, by endpoint and status",
            labelnames=["endpoint", "status"],
        ),
        model_version=bentoml.metrics.Gauge(
            name="spend_model_version",
            documentation="Registered version of the model in use (0: none loaded)",
            labelnames=["model"],
            multiprocess_mode="mostrecent",
        ),
        published_at=bentoml.metrics.Gauge(
            name="spend_published_timestamp_seconds",
            documentation="When the served recall list and segments were published (epoch seconds)",
            multiprocess_mode="mostrecent",
        ),
        record_fallbacks=bentoml.metrics.Counter(
            name="spend_online_record_fallbacks",
            documentation=(
                "Entities of a batch read from Feast's own layout: unknown, or without a packed record as new "
                "as Feast's row (written through Feast's API, or materialised before records existed)"
            ),
        ),
    )
