"""`spend forecast`: the demand champion's quantile forecasts for chosen products and stores, under an
optional price plan (the checks are models/demand_requests.py's, shared with the service)."""

from __future__ import annotations

import pandas as pd

from spend.core.settings import SpendSettings


def forecast(
    settings: SpendSettings,
    products: list[str] | None = None,
    stores: list[str] | None = None,
    horizon: int | None = None,
    plan: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, dict]:
    """(one row per product, store and day: p10, p50, p90 and how it was made; what was forecast)."""
    from spend.core.model_store import ModelStore
    from spend.core.registry import spec
    from spend.models import demand_requests
    from spend.training.config import load_config

    declared = spec("demand")
    config = load_config(declared)
    horizon = demand_requests.check_horizon(
        config.horizon_days if horizon is None else horizon, config.max_horizon_days
    )
    model, version = ModelStore(settings).load(declared.name, feature_service=declared.feature_service)
    frame = demand_requests.forecast(model, products, stores, horizon, plan)
    series = frame[["product_id", "store_id"]].drop_duplicates()
    scorer = version.tags.get("scorer", "spend")
    own = {"model", getattr(model, "method", "model")}  # a crowned baseline's rows name its method
    summary = {
        "model": f"{declared.name} v{version.version}" + ("" if scorer == "spend" else f" ({scorer})"),
        "from": frame["date"].min().date().isoformat(),
        "days": horizon,
        "series": len(series),
        "fallback_series": int(
            frame.loc[~frame["method"].isin(own), ["product_id", "store_id"]].drop_duplicates().shape[0]
        ),
    }
    launches = getattr(model, "launches_", None)  # catalogued products not sold yet, forecast by category
    if launches is not None and len(launches):
        summary["launches"] = sorted(set(launches["product_id"]) & set(series["product_id"]))
    skipped = demand_requests.said(
        demand_requests.plan_skipped(model, plan), demand_requests.unplanned_promotions(model, plan)
    )
    if skipped:
        summary["skipped"] = skipped
    return frame, summary
