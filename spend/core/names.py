"""Names that training writes and serving reads, declared once: MLflow's registered model names and
aliases, and the files `spend publish` writes for the service."""

from __future__ import annotations

PREFIX = "spend-"
CHAMPION, CHALLENGER, PREVIOUS = "champion", "challenger", "previous-champion"

# Membership tiers, lowest first: ingestion accepts these, features name them, models rank them.
TIERS = ("basic", "silver", "gold", "platinum")

# What `spend publish` writes under SPEND_HOME/published/ and the service reads.
MANIFEST = "manifest.json"
RECALL_LIST = "recall_list.parquet"
SEGMENTS = "segments.parquet"
DEMAND_FORECAST = "demand_forecast.parquet"
REPLENISHMENT = "replenishment.parquet"
OFFERS = "offers.parquet"

# What `spend monitor` writes under SPEND_HOME/monitoring/ and the service reads for /v1/health.
MONITORING = "latest.json"


def registered_name(model: str) -> str:
    """MLflow's name for a Spend model: `churn` is registered as `spend-churn`. Either form is accepted."""
    return model if model.startswith(PREFIX) else f"{PREFIX}{model}"


def model_name(registered: str) -> str:
    """Spend's name for a registered model: `spend-churn` is `churn`. Either form is accepted."""
    return registered.removeprefix(PREFIX)


# The customer's pseudonymous id column, in every table and feature frame.
CUSTOMER_ID = "customer_id"
