"""Spend's Prometheus metrics, served at GET /metrics by serving/middleware.py: requests, latency,
refusals and errors per route (route names only, never raw paths), degraded answers, model versions.

prometheus_client directly (bentoml.metrics is deprecated), imported on first use: BentoML sets
PROMETHEUS_MULTIPROC_DIR in each worker after the service module is imported, and prometheus_client picks
its mode at import. `metrics()` builds them once per process, never at import; with the directory set,
the exposition merges every worker's.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Metrics:
    requests: object
    latency: object
    degraded: object
    errors: object
    model_version: object
    published_at: object
    record_fallbacks: object
    drift_breach: object
    live_quality: object


@lru_cache(maxsize=1)
def metrics() -> Metrics:
    import prometheus_client as prometheus

    return Metrics(
        requests=prometheus.Counter(
            name="spend_requests",
            documentation="Requests answered, by route and status",
            labelnames=["endpoint", "status"],
        ),
        latency=prometheus.Histogram(
            name="spend_endpoint_seconds",
            documentation="Time inside a Spend endpoint (reads, scoring, push), by endpoint",
            labelnames=["endpoint"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
        ),
        degraded=prometheus.Counter(
            name="spend_degraded_answers",
            documentation="Answers given from defaults because a dependency failed, by endpoint",
            labelnames=["endpoint"],
        ),
        errors=prometheus.Counter(
            name="spend_errors",
            documentation="Requests refused with a 4xx or 503 by Spend, by endpoint and status",
            labelnames=["endpoint", "status"],
        ),
        model_version=prometheus.Gauge(
            name="spend_model_version",
            documentation="Registered version of the model in use (0: none loaded)",
            labelnames=["model"],
            multiprocess_mode="mostrecent",
        ),
        published_at=prometheus.Gauge(
            name="spend_published_timestamp_seconds",
            documentation="When the served recall list and segments were published (epoch seconds)",
            multiprocess_mode="mostrecent",
        ),
        drift_breach=prometheus.Gauge(
            name="spend_monitor_breach",
            documentation="1 when `spend monitor` last found a breach for the model (drift, data or live quality)",
            labelnames=["model"],
            multiprocess_mode="mostrecent",
        ),
        live_quality=prometheus.Gauge(
            name="spend_live_quality",
            documentation="The champion's gate metric on cases whose labels arrived after its holdout",
            labelnames=["model"],
            multiprocess_mode="mostrecent",
        ),
        record_fallbacks=prometheus.Counter(
            name="spend_online_record_fallbacks",
            documentation=(
                "Entities of a batch read from Feast's own layout: unknown, or without a packed record as new "
                "as Feast's row (written through Feast's API, or materialised before records existed)"
            ),
        ),
    )


def exposition() -> tuple[bytes, str]:
    """The text Prometheus scrapes, and its content type: every worker's, merged, when BentoML runs them
    in multiprocess mode."""
    import os

    import prometheus_client as prometheus
    from prometheus_client import multiprocess

    metrics()  # registered before the first scrape, so a scrape lists every series
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = prometheus.CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = prometheus.REGISTRY
    return prometheus.generate_latest(registry), prometheus.CONTENT_TYPE_LATEST
