"""`spend replenish`: order-up-to suggestions per product x store from the demand champion's quantiles
and the latest stock counts (models/replenishment.py has the arithmetic). Every input is checked before
anything is computed: a missing or stale count, a missing lead time or a cover period beyond the model's
horizon is one error naming what is missing, and no file is written."""

from __future__ import annotations

import pandas as pd

from spend.core.errors import SpendError
from spend.core.settings import SpendSettings

MAX_COUNT_AGE_DAYS = 7  # a stock count older than this before --as-of is stale: the position is unknown
COLUMNS = (
    "product_id",
    "store_id",
    "on_hand",
    "on_order",
    "lead_time_days",
    "cover_days",
    "cover_p50",
    "cover_p90",
    "target_stock",
    "suggested_order",
    "expected_fill_rate",
    "reason",
)


def suggest(
    settings: SpendSettings,
    as_of: pd.Timestamp | None = None,
    service_level: float = 0.95,
    review_days: int = 7,
) -> tuple[pd.DataFrame, dict]:
    from spend.core.model_store import ModelStore
    from spend.core.registry import spec
    from spend.features.ingest.store import OfflineStore
    from spend.models.replenishment import cover_demand, order_up_to

    if not 0.5 <= service_level < 1:
        raise SpendError(f"--service-level: {service_level} must be at least 0.5 and below 1")
    if not 1 <= review_days <= 91:
        raise SpendError(f"--review-days: {review_days} must be between 1 and 91")
    counts = OfflineStore(settings.paths).read("inventory")
    if counts.empty:
        raise SpendError(
            "no inventory ingested: replenishment needs stock counts (`spend ingest FILE --table inventory`)"
        )
    declared = spec("demand")
    model, version = ModelStore(settings).load(declared.name, feature_service=declared.feature_service)
    first_day = model.last_date_ + pd.Timedelta(days=1)
    as_of = _day(counts["ts"].max()) + pd.Timedelta(days=1) if as_of is None else _day(as_of)
    stock = latest_counts(counts, as_of)
    pairs = model.static_[["product_id", "store_id"]]
    _check_counts(stock, pairs, as_of)
    stock["cover_days"] = (stock["lead_time_days"].round() + review_days).astype(int)
    offset = (as_of - first_day).days
    if offset < 0:
        raise SpendError(
            f"--as-of {as_of.date()} is before the demand model's first forecast day {first_day.date()}; "
            "pass a later date"
        )
    needed = offset + int(stock["cover_days"].max())
    if needed > model.horizon:
        raise SpendError(
            f"the cover period reaches {needed} days past the model's history (lead time + --review-days, "
            f"from {first_day.date()}); the demand model forecasts {model.horizon}: retrain it on recent data "
            "or raise max_horizon_days in demand.yaml"
        )
    forecast = model.predict(needed, series=stock[["product_id", "store_id"]])
    forecast = forecast[forecast["date"] >= as_of]
    cover = stock.set_index(["product_id", "store_id"])["cover_days"]
    frame = order_up_to(stock, cover_demand(forecast, cover), service_level)[list(COLUMNS)]
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


def _day(ts) -> pd.Timestamp:
    stamp = pd.Timestamp(ts)
    stamp = stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo is not None else stamp
    return stamp.normalize()


def latest_counts(counts: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Each product x store's last count before `as_of`, with its age in days."""
    ts = pd.to_datetime(counts["ts"], utc=True).dt.tz_localize(None)
    before = counts.assign(ts=ts)[ts < as_of].sort_values("ts", kind="stable")
    last = before.drop_duplicates(["product_id", "store_id"], keep="last").copy()
    last["product_id"], last["store_id"] = last["product_id"].astype(str), last["store_id"].astype(str)
    last["count_age_days"] = (as_of - last["ts"].dt.normalize()).dt.days - 1
    keep = ["product_id", "store_id", "on_hand", "on_order", "lead_time_days", "count_age_days"]
    return last[keep].reset_index(drop=True)


def _check_counts(stock: pd.DataFrame, pairs: pd.DataFrame, as_of: pd.Timestamp) -> None:
    merged = pairs.merge(stock, on=["product_id", "store_id"], how="left")
    for problem, bad in (
        ("no stock count before --as-of", merged["on_hand"].isna()),
        (f"a stock count older than {MAX_COUNT_AGE_DAYS} days", merged["count_age_days"] > MAX_COUNT_AGE_DAYS),
        ("no lead_time_days on the last stock count", merged["on_hand"].notna() & merged["lead_time_days"].isna()),
    ):
        if bad.any():
            shown = ", ".join(
                f"{p} @ {s}" for p, s in merged.loc[bad, ["product_id", "store_id"]].head(5).itertuples(index=False)
            )
            raise SpendError(
                f"inventory: {int(bad.sum())} forecast product x store pair(s) have {problem} "
                f"({as_of.date()}): {shown}; ingest a current inventory snapshot"
            )
