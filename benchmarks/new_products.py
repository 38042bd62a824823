"""Forecasts of products too new to learn: the fallback, with and without categories and the product's own days.

A product launched two weeks ago has too little history for the forecaster (experiments/demand.yaml's
`min_history_days`), so it is forecast from related series (models/demand.py, "category-level fallback").
With the catalogue's categories it gets the median forecast of its category's products in the store;
without (every shop before the `products` table), the median of all the store's products.

On the demand benchmark's simulated shop (200 products x 22 stores, 2 years, 60,000 customers), every
fifth product (40, every category) is made new: its history is cut to its last LAUNCH_DAYS days before
the origin, 28 days before the history's end. The forecaster (experiments/demand.yaml's settings) is fitted
on the history up to the origin, with and without the simulated catalogue's categories, and the new
products' forecasts over the 28 days after it are scored against the simulator's true demand. Rows: Spend
(its category's median in the store, scaled toward the product's own mean over its days: models/demand.py
`OWN_PRIOR_DAYS`), the same without a catalogue (the store's median, scaled), the fallback before
2026-12-06 (the store's median, unscaled), and for reference the same products forecast by the model
that learned their whole history.

Goal: Spend's WAPE below the fallback before.

    python benchmarks/new_products.py [--customers 60000] [--json]
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]

import pandas as pd  # noqa: E402

from benchmarks.demand import HORIZON, history_from, log, scorers  # noqa: E402
from benchmarks.report import benchmark_parser, figure, quiet_libraries, show_figures  # noqa: E402

LAUNCH_DAYS = 14
EVERY = 5  # every fifth product is new: 40 of 200, each category's share


def simulated(customers: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """(history as the forecaster reads it, true demand, category by product)."""
    from spend.features.compute.catalogue import Catalogue
    from spend.simulate.config import SimulationConfig
    from spend.simulate.run import simulate

    sim = simulate(SimulationConfig(customers=customers, days=730, seed=3))
    history, truth, _ = history_from(sim)
    return history, truth, Catalogue.of(sim.tables["products"]).categories


def launched(history: pd.DataFrame, new: list[str], origin: pd.Timestamp) -> pd.DataFrame:
    """The history up to `origin`, the `new` products' cut to their last LAUNCH_DAYS days."""
    before = history[history["date"] <= origin]
    recent = before["date"] > origin - pd.Timedelta(days=LAUNCH_DAYS)
    return before[~before["product_id"].isin(new) | recent].reset_index(drop=True)


def scored(forecast: pd.DataFrame, truth: pd.DataFrame) -> dict:
    joined = forecast.merge(truth, on=["product_id", "store_id", "date"])
    error = joined["p50"] - joined["demand"]
    total = joined["demand"].sum()
    return {
        "wape": float(error.abs().sum() / total),
        "wape_mean": float((joined["mean"] - joined["demand"]).abs().sum() / total),
        "bias": float(error.sum() / total),
        "points": int(len(joined)),
        "methods": sorted(set(forecast["method"])),
    }


def run(customers: int) -> dict:
    warnings.filterwarnings("ignore")
    log(f"simulating {customers:,} customers over 2 years")
    history, truth, categories = simulated(customers)
    history["date"] = pd.to_datetime(history["date"])
    truth = truth.assign(date=pd.to_datetime(truth["date"]))
    origin = history["date"].max() - pd.Timedelta(days=HORIZON)
    products = sorted(history["product_id"].unique())
    new = products[::EVERY]
    cut = launched(history, new, origin)
    series = cut[cut["product_id"].isin(new)][["product_id", "store_id"]].drop_duplicates()
    held = truth[(truth["date"] > origin) & truth["product_id"].isin(new)]
    make = scorers(False)["spend"]
    out = {"new_products": len(new), "series": int(len(series)), "origin": origin.date().isoformat(), "seconds": {}}
    for name, frame in (
        (SPEND, cut.assign(category=cut["product_id"].map(categories))),
        (NO_CATALOGUE, cut),
        (REFERENCE, history[history["date"] <= origin]),
    ):
        log(name)
        started = time.perf_counter()
        model = make().fit(frame)
        forecast = model.predict(HORIZON, series=series)
        out["seconds"][name] = time.perf_counter() - started
        out[name] = scored(forecast.assign(date=pd.to_datetime(forecast["date"])), held)
        if name == SPEND:
            out["prior_days"] = prior_sweep(model, series, held)
        if name == NO_CATALOGUE:  # the same model without the series' own days: the fallback before 2026-12-06
            model.unlearned_ = model.unlearned_[["product_id", "store_id"]]
            forecast = model.predict(HORIZON, series=series)
            out["seconds"][BEFORE] = out["seconds"][name]
            out[BEFORE] = scored(forecast.assign(date=pd.to_datetime(forecast["date"])), held)
    return out


def prior_sweep(model, series: pd.DataFrame, held: pd.DataFrame) -> dict[str, float]:
    """WAPE of the same fitted model's new-product forecasts by the weight of the fallback's prior in days
    (models/demand.py `OWN_PRIOR_DAYS`): how the shipped weight was chosen."""
    from spend.models import demand

    shipped, out = demand.OWN_PRIOR_DAYS, {}
    try:
        for days in PRIOR_DAYS:
            demand.OWN_PRIOR_DAYS = days
            forecast = model.predict(HORIZON, series=series)
            out[str(days)] = scored(forecast.assign(date=pd.to_datetime(forecast["date"])), held)["wape"]
    finally:
        demand.OWN_PRIOR_DAYS = shipped
    return out


PRIOR_DAYS = (0, 3, 7, 14, 28, 1e12)  # 1e12: in effect unscaled
SPEND = "category fallback, scaled by its own days"
NO_CATALOGUE = "store fallback, scaled by its own days"
BEFORE = "store fallback, unscaled (before 2026-12-06)"
REFERENCE = "whole history learned (reference)"
ROWS = (SPEND, NO_CATALOGUE, BEFORE, REFERENCE)


def figures(r: dict) -> list[dict]:
    spend, before, store = r[SPEND]["wape"], r[BEFORE]["wape"], r[NO_CATALOGUE]["wape"]
    return [
        figure(
            "simulated_new_products_wape",
            spend,
            f"the store's median, unscaled (before) {before:.4f}",
            "below the fallback before",
            spend < before,
        ),
        figure(
            "simulated_new_products_wape_without_catalogue",
            store,
            f"with categories {spend:.4f}",
            "reported (a shop without a products table)",
            True,
        ),
        figure(
            "simulated_new_products_wape_whole_history",
            r[REFERENCE]["wape"],
            None,
            "reported (the same products had they a history)",
            True,
        ),
    ]


def show(r: dict) -> None:
    print(
        f"\n{r['new_products']} products launched {LAUNCH_DAYS} days before {r['origin']} ({r['series']} series), "
        f"their next {HORIZON} days against true demand"
    )
    print(f"  {'forecast':46s} {'WAPE':>7s} {'WAPE(mean)':>11s} {'bias':>7s} {'seconds':>8s}  methods")
    for name in ROWS:
        row = r[name]
        print(
            f"  {name:46s} {row['wape']:7.3f} {row['wape_mean']:11.3f} {row['bias']:7.3f} "
            f"{r['seconds'][name]:8.1f}  {', '.join(row['methods'])}"
        )
    sweep = ", ".join(f"{'unscaled' if float(k) > 1e6 else k + ' days'} {v:.3f}" for k, v in r["prior_days"].items())
    print(f"  Spend's WAPE by the prior's weight: {sweep}")
    print()
    show_figures(figures(r))


def main() -> None:
    quiet_libraries()
    args = benchmark_parser(__doc__, customers=60_000).parse_args()
    result = run(args.customers)
    show(result)
    if args.json:
        tables = {name: result[name] for name in ROWS} | {"prior_days": result["prior_days"]}
        print(json.dumps({"benchmark": "new_products", "tables": tables, "figures": figures(result)}, default=str))


if __name__ == "__main__":
    main()
