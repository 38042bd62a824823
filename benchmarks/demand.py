"""Demand forecasting against statsforecast's baselines, on the same rolling-origin windows.

One run, every row side by side (training/demand_backtest.py: 3 windows of 28 days, the last ending on
the history's last day; each scorer fitted on the year before its origin):

  (a) simulated: 200 products x 22 stores (20 shops, web, app), 2 years, 60,000 customers; scored
      against the simulator's true demand (sales are capped on stock-out days, demand is not)
  (b) UCI Online Retail II: daily units of its 500 best-selling products, country as store (pairs
      that sold on at least 30 days), sales as truth (no stock data)

Rows: Spend (experiments/demand.yaml's settings), and the other interval method, stock-out handling and
price effect as variants on (a); SeasonalNaive (weekly), AutoETS (weekly) and CrostonOptimized.
Figures: WAPE, MASE, bias, scaled pinball loss, P10-P90 coverage, fit and predict seconds. On (a), the
forecast's response to a planned 10% price cut against the simulator's own-price elasticities (goal: a
cut raises the expected units of at least 90% of products, every simulated product being elastic).

Goals: Spend's WAPE at least 20% below the best baseline's on (a) and 10% below on (b); P10-P90
coverage between 0.75 and 0.85 on both; Spend's train plus backtest of the 4,400 simulated series
under 5 minutes on this machine. Then the replenishment replay on (a) (benchmarks/replay.py): Spend's
order-up-to policy, given the shop's price and promotion calendar as its plan (and, reported beside,
without one), against a mean-forecast policy with the same 95% target, over the last 8 weeks
against true demand; goal: a fill rate within 1 point of the target with at least 15% less average
stock, or a higher fill rate at no more stock.

    python benchmarks/demand.py [--customers 60000] [--json]
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from benchmarks.replay import replay  # noqa: E402
from benchmarks.report import benchmark_parser, figure, quiet_libraries, show_figures  # noqa: E402
from spend.core.experiments import read_config  # noqa: E402
from spend.core.registry import spec  # noqa: E402
from spend.models.demand import DemandForecaster  # noqa: E402
from spend.training.demand_backtest import run_backtest  # noqa: E402

HORIZON, WINDOWS, HISTORY_DAYS = 28, 3, 365
MIN_SELLING_DAYS = 30


def log(message: str) -> None:
    print(f"  {time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def simulated_history(customers: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, object]:
    """(forecaster input from the simulated tables, true demand, the daily stock counts, the simulator's
    demand at any prices)."""
    from spend.simulate.config import SimulationConfig
    from spend.simulate.demand_truth import DemandTruth
    from spend.simulate.run import simulate

    config = SimulationConfig(customers=customers, days=730, seed=3)
    sim = simulate(config)
    return (*history_from(sim), DemandTruth.from_truth(sim.truth, config.promo_lift))


def history_from(sim) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(product x store x day history as the forecaster reads it, true demand, daily stock counts)."""
    lines = sim.tables["transactions"]
    lines = lines[lines["kind"] == "purchase"].assign(date=_day(lines["ts"]))
    net = lines["quantity"] * lines["unit_price"] - lines["discount"]
    daily = (
        lines.assign(net=net, promo=(lines["discount"] > 0).astype(float))
        .groupby(["product_id", "store_id", "date"])
        .agg(units=("quantity", "sum"))
        .reset_index()
    )
    price = _product_prices(lines.assign(net=net, promo=(lines["discount"] > 0).astype(float)))
    inventory = sim.tables["inventory"].assign(date=lambda f: _day(f["ts"]))
    grid = inventory[["product_id", "store_id", "date", "on_hand"]]
    history = grid.merge(daily, how="left").merge(price, how="left", on=["product_id", "date"])
    history = _fill_prices(history.assign(units=history["units"].fillna(0.0)))
    history["stockout"] = (history["on_hand"] <= 0).astype(float)
    truth = sim.truth["demand"][["product_id", "store_id", "date", "demand"]]
    counts = inventory[["product_id", "store_id", "date", "on_hand", "on_order", "lead_time_days"]]
    return history.drop(columns="on_hand"), truth, counts


def online_retail_history() -> pd.DataFrame:
    from spend.features.examples.online_retail import NON_PRODUCT_CODES, data_path

    raw = pd.read_csv(
        data_path(), dtype=str, usecols=["Invoice", "StockCode", "Quantity", "InvoiceDate", "Price", "Country"]
    )
    raw = raw[~raw["Invoice"].str.startswith("C") & ~raw["StockCode"].str.contains(NON_PRODUCT_CODES, regex=True)]
    lines = pd.DataFrame(
        {
            "product_id": raw["StockCode"].str.strip(),
            "store_id": raw["Country"].str.strip(),
            "date": pd.to_datetime(raw["InvoiceDate"], format="%m/%d/%Y %H:%M").dt.normalize(),
            "quantity": pd.to_numeric(raw["Quantity"]),
            "unit_price": pd.to_numeric(raw["Price"]),
        }
    )
    lines = lines[(lines["quantity"] > 0) & (lines["unit_price"] > 0)]
    top = lines.groupby("product_id")["quantity"].sum().nlargest(500).index
    lines = lines[lines["product_id"].isin(top)].assign(net=lambda f: f["quantity"] * f["unit_price"], promo=0.0)
    daily = lines.groupby(["product_id", "store_id", "date"]).agg(units=("quantity", "sum")).reset_index()
    days = daily.groupby(["product_id", "store_id"]).size()
    pairs = days[days >= MIN_SELLING_DAYS].reset_index()[["product_id", "store_id"]]
    first = daily.merge(pairs).groupby(["product_id", "store_id"])["date"].min().rename("first").reset_index()
    dates = pd.DataFrame({"date": pd.date_range(daily["date"].min(), daily["date"].max(), freq="D")})
    grid = first.merge(dates, how="cross")
    grid = grid[grid["date"] >= grid["first"]].drop(columns="first")
    history = grid.merge(daily, how="left").merge(_product_prices(lines), how="left", on=["product_id", "date"])
    return _fill_prices(history.assign(units=history["units"].fillna(0.0), stockout=np.nan))


def _day(ts: pd.Series) -> pd.Series:
    return pd.to_datetime(ts, utc=True).dt.tz_localize(None).dt.normalize()


def _product_prices(lines: pd.DataFrame) -> pd.DataFrame:
    """Per product and day: the mean price paid over every store (units-weighted) and the promo share."""
    by_day = lines.groupby(["product_id", "date"]).agg(
        net=("net", "sum"), units=("quantity", "sum"), promo=("promo", "mean")
    )
    return pd.DataFrame({"price": by_day["net"] / by_day["units"], "promo": by_day["promo"]}).reset_index()


def _fill_prices(history: pd.DataFrame) -> pd.DataFrame:
    """A day without a sale keeps the product's last price (the shelf did not change because nobody bought)."""
    history = history.sort_values(["product_id", "store_id", "date"]).reset_index(drop=True)
    for column in ("price", "promo"):
        history[column] = history.groupby("product_id")[column].transform(lambda s: s.ffill().bfill())
    history["promo"] = history["promo"].fillna(0.0)
    return history


def scorers(baselines: bool = True, **overrides) -> dict:
    """Spend with experiments/demand.yaml's settings (and `overrides`), and the YAML's baselines."""
    declared = spec("demand")
    config = read_config("demand", declared.config)
    params = dict(config.params) | {"intervals": config.intervals, "stockouts": config.stockouts} | overrides
    out = {"spend": lambda: DemandForecaster(horizon=HORIZON, **params)}
    if baselines:
        out |= {name: (lambda f=declared.baselines[name]: f(config)) for name in config.baselines}
    return out


def run(customers: int) -> dict:
    warnings.filterwarnings("ignore")
    out = {}
    log(f"(a) simulating {customers:,} customers over 2 years")
    history, truth, counts, demand_truth = simulated_history(customers)
    out["simulated_series"] = int(history[["product_id", "store_id"]].drop_duplicates().shape[0])
    started = time.perf_counter()
    main = run_backtest(history, scorers(), HORIZON, WINDOWS, HISTORY_DAYS, truth=truth, progress=log)
    out["simulated"] = main.table
    out["simulated_spend_train_and_backtest_s"] = float(
        main.table.loc["spend", "fit_s"] + main.table.loc["spend", "predict_s"]
    )
    out["simulated_wall_s"] = time.perf_counter() - started
    config = read_config("demand", spec("demand").config)
    variants = {
        "intervals": "conformal" if config.intervals == "quantile" else "quantile",
        "stockouts": "exclude" if config.stockouts == "impute" else "impute",
        "price_effect": "learned" if config.params.get("price_effect", "elasticity") == "elasticity" else "elasticity",
    }
    for key, value in variants.items():
        log(f"(a) variant {key}={value}")
        alt = run_backtest(history, scorers(False, **{key: value}), HORIZON, WINDOWS, HISTORY_DAYS, truth=truth)
        out["simulated"].loc[f"spend ({key}={value})"] = alt.table.loc["spend"]
    log("(a) the forecast's response to a planned price against the simulator's")
    out["price_response"] = {
        effect: price_response(history, demand_truth, price_effect=effect) for effect in ("elasticity", "learned")
    }
    log("(a) replenishment replay over the last 8 weeks")
    config = read_config("demand", spec("demand").config)
    params = dict(config.params) | {"intervals": config.intervals, "stockouts": config.stockouts}
    out["replay"] = replay(history, truth, counts, lambda horizon: DemandForecaster(horizon=horizon, **params))
    log("(b) UCI Online Retail II")
    retail = online_retail_history()
    out["online_retail_series"] = int(retail[["product_id", "store_id"]].drop_duplicates().shape[0])
    out["online_retail"] = run_backtest(retail, scorers(), HORIZON, WINDOWS, HISTORY_DAYS, progress=log).table
    return out


CUT = 0.9  # the planned price: every product 10% below its last price, over the whole horizon


def price_response(history: pd.DataFrame, truth, **overrides) -> dict:
    """Spend fitted on the year before the last horizon, then asked for a forecast with every product's
    price cut by 10% on every day: each product's implied own-price elasticity, log(units at the cut /
    units at its last price) / log(0.9), against the simulator's own-price elasticity over those days.
    The forecaster has no cross-price input, so cutting every price at once gives each product's own
    response."""
    origin = history["date"].max() - pd.Timedelta(days=HORIZON)
    train = history[(history["date"] <= origin) & (history["date"] > origin - pd.Timedelta(days=HISTORY_DAYS))]
    model = scorers(False, **overrides)["spend"]().fit(train)
    days = pd.date_range(origin + pd.Timedelta(days=1), periods=HORIZON, freq="D")
    plan = model.last_price_.rename("price").reset_index().merge(pd.DataFrame({"date": days}), how="cross")
    base = model.predict(HORIZON).groupby("product_id")["mean"].sum()
    cut = model.predict(HORIZON, plan=plan.assign(price=plan["price"] * CUT)).groupby("product_id")["mean"].sum()
    implied = np.log(cut / base) / np.log(CUT)
    true = pd.Series(np.mean([truth.elasticity(d) for d in days], axis=0), index=truth.products["product_id"])
    both = pd.concat([implied.rename("implied"), true.rename("true")], axis=1).dropna()
    return {
        "products": len(both),
        "mae": float((both["implied"] - both["true"]).abs().mean()),
        "right_sign": float((np.sign(both["implied"]) == np.sign(both["true"])).mean()),
        "mean_implied": float(both["implied"].mean()),
        "mean_true": float(both["true"].mean()),
    }


def figures(r: dict) -> list[dict]:
    rows = []
    for data, goal in (("simulated", 0.8), ("online_retail", 0.9)):
        table = r[data]
        baselines = table.loc[[i for i in table.index if not str(i).startswith("spend")]]
        best = baselines["wape"].astype(float).idxmin()
        ratio = float(table.loc["spend", "wape"]) / float(baselines.loc[best, "wape"])
        rows.append(
            figure(
                f"{data}_wape_ratio_to_best_baseline",
                ratio,
                f"{best} {float(baselines.loc[best, 'wape']):.4f}",
                f"<= {goal}",
                ratio <= goal,
            )
        )
        cover = float(table.loc["spend", "coverage_80"])
        rows.append(figure(f"{data}_p10_p90_coverage", cover, 0.8, "0.75 to 0.85", 0.75 <= cover <= 0.85))
        # Why coverage sits where it does on counts: each tail's misses, and the days that sold nothing.
        for tail, nominal in (("below_p10", 0.1), ("above_p90", 0.1), ("zero_share", None)):
            rows.append(figure(f"{data}_{tail}", float(table.loc["spend", tail]), nominal, "reported", True))
    seconds = r["simulated_spend_train_and_backtest_s"]
    rows.append(
        figure(
            "simulated_train_and_backtest_s",
            seconds,
            None,
            f"< 300 s for {r['simulated_series']:,} series",
            seconds < 300,
        )
    )
    rows += response_figures(r["price_response"])
    rows += replay_figures(r["replay"])
    return rows


def response_figures(r: dict) -> list[dict]:
    spend, learned = r["elasticity"], r["learned"]
    return [
        figure(
            "simulated_price_cut_raises_units_share",
            spend["right_sign"],
            f"price learned by the trees {learned['right_sign']:.4f}",
            ">= 0.9 of products (every simulated product is elastic)",
            spend["right_sign"] >= 0.9,
        ),
        figure(
            "simulated_price_response_mae",
            spend["mae"],
            f"price learned by the trees {learned['mae']:.4f}",
            "below the learned price's",
            spend["mae"] < learned["mae"],
        ),
    ]


def replay_figures(r: dict) -> list[dict]:
    spend, mean, blind = r["spend"], r["mean_forecast"], r["spend_without_calendar"]
    target = r["service_level"]
    close = abs(spend["fill_rate"] - target) <= 0.01
    at_equal_fill, bound = r["mean_forecast_stock_at_spend_fill"], _beyond_mean_curve(r)
    stock_needed = at_equal_fill if at_equal_fill is not None else (bound or {}).get("average_stock")
    saved = None if stock_needed is None else 1 - spend["average_stock"] / stock_needed
    fill_at_equal_stock = r["spend_fill_at_mean_forecast_stock"]
    return [
        figure(
            "replay_fill_rate",
            spend["fill_rate"],
            f"mean-forecast policy {mean['fill_rate']:.4f} at the same target {target}",
            "within 1 point of the target",
            close,
        ),
        figure(
            "replay_fill_rate_without_calendar",
            blind["fill_rate"],
            f"average stock {blind['average_stock']:,.0f} against Spend's {spend['average_stock']:,.0f}",
            "reported (Spend's policy with no price plan: each day at its series' chance of a promotion)",
            True,
        ),
        {
            "figure": "replay_stock_saved_at_equal_fill",
            "value": None if saved is None else round(saved, 4),
            "baseline": None if stock_needed is None else round(stock_needed, 1),
            "goal": ">= 0.15 less average stock than the mean-forecast policy at Spend's fill rate",
            "met": bool(close and saved is not None and saved >= 0.15),
            "note": _saving_note(at_equal_fill, bound),
        },
        {
            "figure": "replay_fill_at_equal_stock",
            "value": None if fill_at_equal_stock is None else round(fill_at_equal_stock, 4),
            "baseline": round(mean["fill_rate"], 4),
            "goal": "higher fill rate than the mean-forecast policy at its stock (the goal's alternative)",
            "met": bool(fill_at_equal_stock is not None and fill_at_equal_stock > mean["fill_rate"]),
            "note": None if fill_at_equal_stock is not None else "that stock is outside Spend's curve",
        },
    ]


def _beyond_mean_curve(r: dict) -> dict | None:
    """The mean-forecast policy's fullest point, where Spend's fill rate is above every one it reached:
    its fill rate rises with its stock, so it needs more than that point's stock to fill as Spend did."""
    fullest = max(r["curves"]["mean_forecast"], key=lambda row: row["fill_rate"])
    return fullest if r["spend"]["fill_rate"] > fullest["fill_rate"] else None


def _saving_note(at_equal_fill, bound: dict | None) -> str | None:
    if at_equal_fill is not None:
        return None
    if bound is None:
        return "Spend's fill rate is below the mean policy's curve"
    return (
        f"the mean policy reaches Spend's fill rate at no service level tried (at {bound['service_level']} it "
        f"fills {bound['fill_rate']:.4f} with {bound['average_stock']:,.0f} units, and more stock is needed "
        "for more): the saving is at least this"
    )


def show(r: dict) -> None:
    columns = ["wape", "mase", "bias", "pinball", "coverage_80", "below_p10", "above_p90", "zero_share"]
    columns += ["fit_s", "predict_s"]
    for data in ("simulated", "online_retail"):
        print(f"\n{data} ({r[f'{data}_series']:,} series, {WINDOWS} windows of {HORIZON} days)")
        print(r[data][columns].astype(float).round(4).to_string())
    print("\nresponse to a planned 10% price cut, implied own-price elasticity against the simulator's")
    for name, row in r["price_response"].items():
        print(
            f"  {name:10s} MAE {row['mae']:.4f}, right sign {row['right_sign']:.4f}, mean {row['mean_implied']:+.4f} "
            f"(truth {row['mean_true']:+.4f}), {row['products']} products"
        )
    replayed = r["replay"]
    print(
        f"\nreplenishment replay ({replayed['series']:,} series, {replayed['days']} days, "
        f"target {replayed['service_level']})"
    )
    for name in ("spend", "spend_without_calendar", "mean_forecast"):
        for row in replayed["curves"][name]:
            print(
                f"  {name:14s} service level {row['service_level']:.3f}: fill rate {row['fill_rate']:.4f}, "
                f"average stock {row['average_stock']:,.0f} units"
            )
    print()
    show_figures(figures(r))


def main() -> None:
    quiet_libraries()
    parser = benchmark_parser(__doc__, customers=60_000)
    args = parser.parse_args()
    result = run(args.customers)
    show(result)
    if args.json:
        tables = {
            k: v.astype(float).round(4).to_dict(orient="index")
            for k, v in result.items()
            if isinstance(v, pd.DataFrame)
        }
        tables["replay"] = result["replay"]
        tables["price_response"] = result["price_response"]
        print(json.dumps({"benchmark": "demand", "tables": tables, "figures": figures(result)}))


if __name__ == "__main__":
    main()
