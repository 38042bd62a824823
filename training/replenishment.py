"""`spend replenish`: order-up-to suggestions per product x store from the demand champion's quantiles
and the latest stock counts, or target stock levels alone where no inventory was ingested (the checks and
the arithmetic are models/demand_requests.py's and models/replenishment.py's, shared with the service). A
bad request writes nothing."""

from __future__ import annotations

import pandas as pd

from spend.core.errors import SpendError
from spend.core.settings import SpendSettings


def suggest(
    settings: SpendSettings,
    as_of: pd.Timestamp | None = None,
    service_level: float = 0.95,
    review_days: int = 7,
    lead_time_days: float | None = None,
    products: list[str] | None = None,
    stores: list[str] | None = None,
    plan: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, dict]:
    """The suggestions for every series the demand champion learned, or those of `products` and `stores`
    (a stock report that covers some stores only: its stores alone)."""
    from spend.core.model_store import ModelStore
    from spend.core.registry import spec
    from spend.features.ingest.store import OfflineStore
    from spend.models.demand_requests import (
        TARGETS_ONLY,
        forecastable,
        replenish,
        requested_series,
        said,
        unplanned_promotions,
    )

    counts = OfflineStore(settings.paths).read("inventory")
    if counts.empty and lead_time_days is None:
        raise SpendError(
            "no inventory ingested: give --lead-time-days for target stock levels only, or ingest stock "
            "counts for orders (`spend ingest FILE --table inventory`)"
        )
    declared = spec("demand")
    model, version = ModelStore(settings).load(declared.name, feature_service=declared.feature_service)
    pairs = requested_series(forecastable(model, counts), products, stores) if products or stores else None
    frame, as_of = replenish(
        model, counts, as_of, service_level, review_days, pairs, lead_time_days, zone=settings.timezone, plan=plan
    )
    summary = {
        "model": f"{declared.name} v{version.version}",
        "as_of": as_of.date().isoformat(),
        "service_level": service_level,
        "review_days": review_days,
        "series": len(frame),
        "orders": int((frame["suggested_order"] > 0).sum()),
        "units": float(frame["suggested_order"].sum()),
        "by_reason": frame["reason"].value_counts().to_dict(),
    }
    skipped = said(TARGETS_ONLY if counts.empty else None, unplanned_promotions(model, plan))
    if skipped:
        summary["skipped"] = skipped
    return frame, summary
