"""`spend forecast`: the demand champion's quantile forecasts, for chosen products and stores, under an
optional price plan. Every input is checked before anything is forecast, so a bad request gives one
error naming the field and no partial output."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from spend.core.errors import SpendError
from spend.core.settings import SpendSettings

PLAN_COLUMNS = ("product_id", "date", "price")


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
    from spend.training.loop import load_config

    declared = spec("demand")
    config = load_config(declared)
    horizon = config.horizon_days if horizon is None else horizon
    if not 1 <= horizon <= config.max_horizon_days:
        raise SpendError(f"--horizon: {horizon} must be between 1 and {config.max_horizon_days} days")
    model, version = ModelStore(settings).load(declared.name, feature_service=declared.feature_service)
    horizon = min(horizon, model.horizon)
    series = _series(model.static_, products, stores)
    checked = None if plan is None else check_plan(plan, model.last_date_, set(model.static_["product_id"]))
    frame = model.predict(horizon, plan=checked, series=series)
    summary = {
        "model": f"{declared.name} v{version.version}",
        "from": frame["date"].min().date().isoformat(),
        "days": horizon,
        "series": len(series),
        "fallback_series": int(
            frame.loc[frame["method"] != "model", ["product_id", "store_id"]].drop_duplicates().shape[0]
        ),
    }
    return frame, summary


def _series(learned: pd.DataFrame, products: list[str] | None, stores: list[str] | None) -> pd.DataFrame:
    """The product x store pairs asked for: every learned pair of the given products and stores; a
    product or store never seen is an error (a new pair of known ones gets the fallback)."""
    known_products, known_stores = set(learned["product_id"]), set(learned["store_id"])
    for field, asked, known in (("--product", products, known_products), ("--store", stores, known_stores)):
        unknown = sorted(set(asked or ()) - known)
        if unknown:
            raise SpendError(f"{field}: unknown {field[2:]} {', '.join(unknown[:5])} (not in the demand history)")
    pairs = learned[["product_id", "store_id"]].drop_duplicates()
    if products:
        pairs = pairs[pairs["product_id"].isin(products)]
    if stores:
        pairs = pairs[pairs["store_id"].isin(stores)]
    if products and stores:  # the pairs asked for, learned or not
        pairs = pd.MultiIndex.from_product([products, stores], names=["product_id", "store_id"]).to_frame(index=False)
    return pairs.reset_index(drop=True)


def read_plan(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise SpendError(f"--price-plan: {path} is not a file")
    try:
        return (
            pd.read_parquet(path)
            if path.suffix.lower() == ".parquet"
            else pd.read_csv(path, dtype={"product_id": str, "store_id": str})
        )
    except Exception as error:  # noqa: BLE001 - any unreadable file is the same user error
        raise SpendError(f"--price-plan: {path.name} cannot be read: {error}") from error


def check_plan(plan: pd.DataFrame, last_date: pd.Timestamp, products: set[str]) -> pd.DataFrame:
    """The plan with parsed dates and prices; an error names the first problem (column, row, value)."""
    missing = [c for c in PLAN_COLUMNS if c not in plan.columns]
    if missing:
        raise SpendError(
            f"price plan: missing column(s) {', '.join(missing)} (needs product_id, date, price; store_id optional)"
        )
    plan = plan.copy()
    plan["product_id"] = plan["product_id"].astype(str)
    dates = pd.to_datetime(plan["date"], errors="coerce", utc=True)
    prices = pd.to_numeric(plan["price"], errors="coerce")
    for problem, bad in (
        ("date: not a date", dates.isna()),
        ("price: not a number", prices.isna()),
        ("price: negative", prices < 0),
        (
            f"date: not after the history's last day {last_date.date()}",
            dates.dt.tz_localize(None).dt.normalize() <= last_date,
        ),
        ("product_id: unknown product", ~plan["product_id"].isin(products)),
    ):
        if bad.any():
            row = int(bad.to_numpy().nonzero()[0][0])
            raise SpendError(f"price plan row {row + 1}: {problem} ({plan.iloc[row].to_dict()})")
    return plan.assign(date=dates.dt.tz_localize(None).dt.normalize(), price=prices)
