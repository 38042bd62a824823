"""`spend replenish`: order-up-to suggestions per product x store from the demand champion's quantiles
and the latest stock counts (the checks and the arithmetic are models/demand_requests.py's and
models/replenishment.py's, shared with the service). A bad request writes nothing."""

from __future__ import annotations

import pandas as pd

from spend.core.errors import SpendError
from spend.core.settings import SpendSettings


def suggest(
    settings: SpendSettings,
    as_of: pd.Timestamp | None = None,
    service_level: float = 0.95,
    review_days: int = 7,
) -> tuple[pd.DataFrame, dict]:
    from spend.core.model_store import ModelStore
    from spend.core.registry import spec
    from spend.features.ingest.store import OfflineStore
    from spend.models.demand_requests import replenish

    counts = OfflineStore(settings.paths).read("inventory")
    if counts.empty:
        raise SpendError(
            "no inventory ingested: replenishment needs stock counts (`spend ingest FILE --table inventory`)"
        )
    declared = spec("demand")
    model, version = ModelStore(settings).load(declared.name, feature_service=declared.feature_service)
    frame, as_of = replenish(model, counts, as_of, service_level, review_days)
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
    return frame, summary
