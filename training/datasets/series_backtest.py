"""Product x store daily series from the demand snapshots, judged by a rolling-origin backtest beside
statsforecast's baselines (training/demand_backtest.py). The truth is sales on in-stock days: a day that
closed with an empty shelf sold less than was wanted, so it is not scored.

The history: one row per product x store x day (the shop's days, SPEND_TIMEZONE) from
`product_store_snapshots.parquet` (dense: zero-sale days included; `stockout_1d` where inventory was
ingested). The day's price is the product's mean net price over every store that day, and, on a day
nobody bought it, its last price before.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import clone

from spend.core.errors import SpendError
from spend.core.experiments import DemandConfig
from spend.core.registry import ModelSpec
from spend.core.settings import SpendSettings
from spend.features.compute.catalogue import Catalogue
from spend.features.compute.days import ShopClock, StoreClocks
from spend.features.compute.products import ONE_SHOP
from spend.features.ingest.store import OfflineStore
from spend.features.store.definitions import SNAPSHOT_FILES
from spend.features.store.manifest import read_manifest
from spend.models.replenishment import cover_correlation
from spend.training.datasets import Evaluation
from spend.training.demand_backtest import origins, run_backtest
from spend.training.plots import forecast_figure

STEPS = ("series", "backtest", "register")


@dataclass
class Series:
    history: pd.DataFrame  # product_id, store_id, date, units, price, promo, stockout (category: catalogued)
    skipped: str | None  # what this history could not give the forecaster, in one line
    catalogue: Catalogue = field(default_factory=lambda: Catalogue.of(pd.DataFrame()))
    launches: pd.DataFrame | None = None  # catalogued products without a sale: product_id, category, ds
    zones: dict[str, str] = field(default_factory=dict)  # stores on another clock than the shop's


def read_history(settings: SpendSettings, as_of: pd.Timestamp | None = None) -> Series:
    path = settings.paths.feature_snapshots / SNAPSHOT_FILES["product_store"]
    if not path.exists():
        raise SpendError("no demand snapshots; run `spend features build` first")
    snap = pd.read_parquet(path)
    if snap.empty:
        raise SpendError("no product demand in the feature snapshots: no purchase was ingested (see `spend ingest`)")
    clock, zones = ShopClock(settings.timezone), _store_zones(settings)
    date = StoreClocks.of(clock, zones).days_ended(snap["event_timestamp"], snap["store_id"])  # each store's day
    if as_of is not None:  # the days before the as-of day, on the shop's calendar
        before = date < pd.Timestamp(as_of.date())
        snap, date = snap[before.to_numpy()], date[before]
    history = pd.DataFrame(
        {
            "product_id": snap["product_id"].astype(str).to_numpy(),
            "store_id": snap["store_id"].astype(str).to_numpy(),
            "date": date.to_numpy(),
            "units": snap["units_1d"].to_numpy(dtype=float),
            "revenue": snap["revenue_1d"].to_numpy(dtype=float),
            "priced_units": _priced_units(snap),
            "promo_units": (snap["promo_share_1d"] * snap["units_1d"]).to_numpy(dtype=float),
            "stockout": snap["stockout_1d"].to_numpy(dtype=float),
        }
    )
    history = _with_prices(history)
    shelf = Catalogue.read(OfflineStore(settings.paths))
    if shelf.categories is not None:
        history["category"] = history["product_id"].map(shelf.categories)
    notes = []
    if set(history["store_id"]) == {ONE_SHOP}:
        notes.append(f"no store_id: one series per product for the whole shop (store {ONE_SHOP!r})")
    if not history["stockout"].notna().any():
        notes.append("no inventory: stock-out days are not known, all are scored")
    launches = shelf.launches(history["product_id"].unique(), clock.zone)
    return Series(history, "; ".join(notes) or None, shelf, launches, zones)


def _store_zones(settings: SpendSettings) -> dict[str, str]:
    """The stores the feature build cut on their own clocks (its manifest; none before 2026-12-07)."""
    return dict(read_manifest(settings).get("store_zones", {}))


def _priced_units(snap: pd.DataFrame) -> np.ndarray:
    """The units of each day sold at a known price: revenue over the day's price where it has one (a
    day of daily totals of units alone mixed with priced lines has fewer than all its units), else all
    the day's units where its revenue is known, else none."""
    units = snap["units_1d"].to_numpy(dtype=float)
    revenue, price = snap["revenue_1d"].to_numpy(dtype=float), snap["avg_unit_price_1d"].to_numpy(dtype=float)
    known = np.where(np.isnan(revenue), 0.0, units)
    return np.divide(revenue, price, out=known, where=price > 0)


def _with_prices(history: pd.DataFrame) -> pd.DataFrame:
    """Each product's price per day over its stores (revenue over the units sold at a known price; a day
    or a product whose sales have none has no price), carried to the days it did not sell."""
    by_day = history.groupby(["product_id", "date"])[["revenue", "units", "priced_units", "promo_units"]].sum()
    sold = by_day["units"] > 0
    daily = pd.DataFrame(
        {
            "price": (by_day["revenue"] / by_day["priced_units"]).where(by_day["priced_units"] > 0),
            "promo": (by_day["promo_units"] / by_day["units"]).where(sold),
        }
    ).reset_index()
    daily = daily.sort_values(["product_id", "date"])
    for column in ("price", "promo"):
        daily[column] = daily.groupby("product_id")[column].transform(lambda s: s.ffill().bfill())
    merged = history.drop(columns=["revenue", "priced_units", "promo_units"]).merge(
        daily, on=["product_id", "date"], how="left"
    )
    return merged.sort_values(["product_id", "store_id", "date"]).reset_index(drop=True)


def prepare(settings: SpendSettings, spec: ModelSpec, config: DemandConfig, as_of=None) -> Series:
    series = read_history(settings, as_of)
    if series.catalogue.categories is None:
        note = "no products table: a product new to the shop is forecast from its store's median, not its category's"
        series.skipped = "; ".join(n for n in (series.skipped, note) if n)
    return series


def _scorers(spec: ModelSpec, config: DemandConfig, params: dict) -> dict:
    out = {"spend": lambda: build(spec, config, params)}
    return out | {name: (lambda f=spec.baselines[name]: f(config)) for name in config.baselines}


def build(spec: ModelSpec, config: DemandConfig, params: dict):
    fixed = {"horizon": config.max_horizon_days, "intervals": config.intervals, "stockouts": config.stockouts}
    return spec.estimator(**(fixed | params))


def _backtest(config: DemandConfig, data: Series, scorers: dict):
    return run_backtest(
        data.history,
        scorers,
        config.horizon_days,
        config.backtest.windows,
        config.history_days,
        config.season_length,
        step=config.backtest.step_days,
    )


def evaluate(spec: ModelSpec, config: DemandConfig, data: Series, params: dict) -> Evaluation:
    result = _backtest(config, data, _scorers(spec, config, params))
    table = result.table[list(spec.metric_names)].astype(float)
    train = _recent(data.history, config.history_days)
    scorers = _scorers(spec, config, params)
    contenders = {name: make().fit(train, launches=data.launches) for name, make in scorers.items()}
    for name, model in contenders.items():  # replenishment widens cover periods by each one's own
        model.cover_correlation_ = cover_correlation(result.forecasts[result.forecasts["scorer"] == name])
        model.store_zones_ = data.zones  # replenishment reads each store's counts on its clock
    priced = getattr(contenders["spend"], "price_note_", None)  # no elasticity could be estimated
    details = {
        "windows": result.windows,
        "series": int(data.history[["product_id", "store_id"]].drop_duplicates().shape[0]),
        "scored_points": int(result.table.loc["spend", "points"]),
        "fit_s": result.table["fit_s"].to_dict(),
        "cover_correlation": {name: round(m.cover_correlation_, 4) for name, m in contenders.items()},
        "skipped": "; ".join(note for note in (data.skipped, priced) if note) or None,
    }
    tags = {"windows": ",".join(result.windows)}
    series = data.history[["product_id", "store_id"]].drop_duplicates().head(5).reset_index(drop=True)
    return Evaluation(
        table,
        dict(params),
        tags,
        {},
        details,
        contenders,
        example=series,
        figures={"forecast.png": lambda: forecast_figure(result.forecasts)},
    )


def _recent(history: pd.DataFrame, days: int) -> pd.DataFrame:
    return history[history["date"] > history["date"].max() - pd.Timedelta(days=days)]


def champion_metrics(spec: ModelSpec, config: DemandConfig, data: Series, model) -> dict[str, float]:
    """The champion's settings refitted on each window (a forecaster is judged on what it does with the
    same history, not on forecasts made from an older one)."""
    result = _backtest(config, data, {"champion": lambda: clone(model)})
    return result.table.loc["champion", list(spec.metric_names)].astype(float).to_dict()


def objective(spec: ModelSpec, config: DemandConfig, data: Series):
    """WAPE on the window before the backtest's first (never a backtest window)."""
    first = origins(
        data.history["date"].max(), config.horizon_days, config.backtest.windows, config.backtest.step_days
    )[0]
    earlier = data.history[data.history["date"] <= first]

    def score(trial) -> float:
        params = spec.search_space(trial, config.search_space)
        result = run_backtest(
            earlier,
            {"spend": lambda: build(spec, config, params)},
            config.horizon_days,
            1,
            config.history_days,
            config.season_length,
        )
        return float(result.table.loc["spend", config.gate.metric])

    return score


def score(settings: SpendSettings, spec: ModelSpec, as_of=None, **_) -> tuple[pd.DataFrame, dict]:
    """The champion's forecast of every series for the configured horizon after the history's last day
    (`spend forecast` without filters)."""
    from spend.training.forecasting import forecast

    return forecast(settings)
