"""Price elasticities: double machine learning against naive and controlled OLS, one run, side by side.

  (a) simulated: 200 products, 2 years, 60,000 customers. The simulated shop prices the way shops do, in
      reaction to demand (dearer in season, promotions off season and on slow movers), so a regression
      of units on price is confounded. Each product's true elasticity is the simulator's own-price
      elasticity of expected units (spend/simulate/demand_truth.py), averaged over the history's weeks.
      Figures per method: MAE against the truth, 90%-interval coverage, mean bias.
      The gate (gate_check): each method fitted before the last 13 weeks and judged on them as `spend
      train pricing` judges, by the gate's response_rmse and by response_rloss, beside its true MAE;
      goal: the gate's metric picks the method with the lowest true MAE.
  (b) UCI Online Retail II: the 200 of its 500 best-selling products whose daily price varies most
      (the demand benchmark's history: pairs that sold on at least 30 days, country as store);
      elasticities with 90% intervals, and the share negative and significant.

Goals: DML's MAE at most 0.15 with coverage between 85% and 95% on (a); naive OLS visibly biased on (a)
(its mean bias at least 0.3 toward zero: confounding exists). The profit of price quotes against the
oracle's (at least 97%, every rule kept): quotes on the first of the last 28 days from elasticities
fitted before it, held, replayed through the simulator's true expected demand (profit_replay).

    python benchmarks/pricing.py [--customers 60000] [--json]
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

from benchmarks.report import benchmark_parser, figure, must_be_zero, quiet_libraries, show_figures  # noqa: E402
from spend.models.price_quotes import Constraints  # noqa: E402
from spend.models.price_response import response_rloss, response_rmse  # noqa: E402
from spend.models.pricing import METHODS, ElasticityEstimator, product_days, weekly_panel  # noqa: E402

MOST_VARIED = 200
HOLDOUT_WEEKS = 13  # experiments/pricing.yaml holdout_weeks
RULES = Constraints(margin_floor=0.1, max_change=0.1, endings=(0.99,))  # the profit replay's rules


CATEGORIES = "dml+categories"  # the simulated catalogue's categories, as `spend train pricing` reads them


def log(message: str) -> None:
    print(f"  {time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def simulated(customers: int) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame, object, object]:
    """(daily product history as Spend reads it, true elasticity per product, substitute pairs, the true
    demand, the simulated catalogue as Spend reads it). The product x store days are the demand
    benchmark's (benchmarks/demand.py), stock-outs included."""
    from benchmarks.demand import history_from
    from spend.features.compute.catalogue import Catalogue
    from spend.simulate.config import SimulationConfig
    from spend.simulate.demand_truth import DemandTruth
    from spend.simulate.run import simulate

    config = SimulationConfig(customers=customers, days=730, seed=3)
    sim = simulate(config)
    history, _, _ = history_from(sim)
    truth = DemandTruth.from_truth(sim.truth, config.promo_lift)
    weeks = truth.lines.index[::7]
    true = np.mean([truth.elasticity(day) for day in weeks], axis=0)
    true = pd.Series(true, index=truth.products["product_id"])
    return product_days(history), true, sim.truth["substitutes"], truth, Catalogue.of(sim.tables["products"])


def online_retail() -> pd.DataFrame:
    """The demand benchmark's Online Retail II history (product x country days), per product and day,
    for the products whose price varies most."""
    from benchmarks.demand import online_retail_history

    daily = product_days(online_retail_history())
    spread = daily.groupby("product_id")["price"].apply(lambda p: np.log(p).std())
    return daily[daily["product_id"].isin(spread.nlargest(MOST_VARIED).index)]


def profit_replay(daily: pd.DataFrame, truth, days: int = 28) -> dict:
    """Quotes for every product on the first of the history's last `days` days, from elasticities fitted
    on the days before, each price held over those days; true expected profit over every 7th of them
    (own and cross effects), against today's list prices held and against the oracle: prices chosen on
    the true demand under the same rules (coordinate ascent over each product's ladder, three sweeps).
    Spend's quotes share units out by the shop's estimated response (models/price_quotes.py `Shop`); the
    same quotes with each product alone (every lost unit leaves the shop) are replayed beside them."""
    from spend.models.price_quotes import quote

    window = truth.lines.index[-days:]
    start, scored_days = window[0], window[::7]
    fitted = ElasticityEstimator().fit(daily[daily["date"] < start])
    today = truth.prices.xs(start, level="date").reindex(truth.products["product_id"])["list_price"]
    cost = truth.products.set_index("product_id")["unit_cost"]
    products = pd.DataFrame({"product_id": today.index, "price": today.to_numpy(), "cost": cost.to_numpy()})
    products = products.merge(fitted.quote_inputs(), on="product_id")
    if len(products) != len(truth.products):  # the arrays below are in the truth's product order
        raise RuntimeError("a simulated product has no history before the replay")
    # The simulated shop lets some list prices drift below cost, or where no ladder price within one step
    # keeps the margin floor; Spend does not quote those (each keeps today's price, `not quoted: ` and why),
    # so they keep today's price in all three.
    quotable = products.apply(_quotable, axis=1)

    def prices_quoted(shop) -> np.ndarray:
        quoted = quote(products[quotable], RULES, shop=shop).set_index("product_id")["price"]
        return quoted.reindex(truth.products["product_id"]).fillna(products.set_index("product_id")["price"]).to_numpy()

    def profit(prices: np.ndarray) -> float:
        margin = prices - cost.to_numpy()
        return float(sum((margin * truth.expected_units(day, prices)).sum() for day in scored_days))

    now, spend, alone = today.to_numpy(), prices_quoted(fitted.shop()), prices_quoted(None)
    oracle = _oracle(products, quotable.to_numpy(), profit, now)
    violations = _violations(products[quotable], spend[quotable.to_numpy()])
    return {
        "start": str(start.date()),
        "current": profit(now),
        "spend": profit(spend),
        "spend_each_product_alone": profit(alone),
        "oracle": profit(oracle),
        # The simulated shop's total is fixed by its shoppers' basket lines: prices only move units between
        # products, so the true response of the total to all prices is 0.
        "shop_response": fitted.shop_response_,
        "shop_elasticity_used": None if fitted.shop() is None else fitted.shop().elasticity,
        "changed": int((np.abs(spend - now) > 1e-9).sum()),
        "not_quoted": int((~quotable).sum()),
        "violations": violations,
        "rules": {k: v for k, v in vars(RULES).items()},
    }


def _quotable(product: pd.Series) -> bool:
    from spend.models.price_quotes import QuoteError, ladder

    try:
        ladder(product.to_frame().T[["product_id", "price", "cost"]].infer_objects(), RULES)
    except QuoteError:
        return False
    return True


def _oracle(products: pd.DataFrame, quotable: np.ndarray, profit, start: np.ndarray) -> np.ndarray:
    from spend.models.price_quotes import ladder

    grids = ladder(products.loc[quotable, ["product_id", "price", "cost"]], RULES)
    prices = start.copy()
    for _ in range(3):
        for j, grid in zip(np.flatnonzero(quotable), grids, strict=True):
            values = []
            for candidate in grid:
                prices[j] = candidate
                values.append(profit(prices))
            prices[j] = grid[int(np.argmax(values))]
    return prices


def _violations(products: pd.DataFrame, prices: np.ndarray) -> int:
    """Quotes that break a rule (each checked directly, not through the quote's own code)."""
    price, cost, now = prices, products["cost"].to_numpy(), products["price"].to_numpy()
    kept = np.isclose(price, now)
    cents = np.round(np.round(price * 100) % 100 / 100, 2)
    bad = (price - cost) / price < RULES.margin_floor - 1e-9
    bad |= np.abs(price / now - 1) > RULES.max_change + 1e-9
    bad |= ~kept & ~np.isin(cents, np.round(RULES.endings, 2))
    return int(bad.sum())


def scored(table: pd.DataFrame, truth: pd.Series) -> dict:
    table = table.set_index("product_id")
    true = truth.reindex(table.index)
    error = table["elasticity"] - true
    return {
        "mae": float(error.abs().mean()),
        "bias": float(error.mean()),
        "coverage_90": float(((table["ci_low"] <= true) & (true <= table["ci_high"])).mean()),
        "products": int(len(table)),
        "category_prior": int((table["method"] == "category prior").sum()),
        "noise_floor_mae": noise_floor(table["raw_se"], truth),
    }


def gate_check(daily: pd.DataFrame, truth: pd.Series) -> dict:
    """Per method, fitted on the days before the last HOLDOUT_WEEKS weeks: its true MAE and the two
    holdout metrics (price_panel's judge), so a gate metric can be seen to pick the truly best method."""
    dates = pd.to_datetime(daily["date"])
    cut = dates.max() - pd.Timedelta(weeks=HOLDOUT_WEEKS)
    panel = weekly_panel(daily)
    held = panel["start"] > cut
    before, holdout = panel.loc[~held, "period"].unique(), panel.loc[held, "period"].unique()
    out = {}
    for method in METHODS:
        table = ElasticityEstimator(method=method).fit(daily[dates <= cut]).elasticities()
        out[method] = {
            "true_mae": scored(table, truth)["mae"],
            "response_rloss": response_rloss(table, panel, before, holdout),
            "response_rmse": response_rmse(table, panel, holdout),
        }
    return out


def _picked(gate: dict, metric: str) -> str:
    return min(gate, key=lambda method: gate[method][metric])


def noise_floor(se: pd.Series, truth: pd.Series) -> float:
    """The MAE the best shrinkage of these per-product estimates could reach if they had no bias: each
    product's estimate pulled toward the true mean with the true spread of the elasticities (a normal
    prior the data cannot know), whose error is normal with variance 1 / (1 / spread^2 + 1 / se^2). What
    the method's standard errors allow on this history, whatever is done with its estimates."""
    spread, se = float(truth.std()), se.dropna().to_numpy(float)
    posterior_sd = 1 / np.sqrt(1 / spread**2 + 1 / se**2)
    return float(np.mean(np.sqrt(2 / np.pi) * posterior_sd))


def run(customers: int) -> dict:
    warnings.filterwarnings("ignore")
    out: dict = {"simulated": {}, "seconds": {}}
    log(f"(a) simulating {customers:,} customers over 2 years")
    daily, truth, substitutes, demand_truth, shelf = simulated(customers)
    for method in METHODS:
        log(f"(a) {method}")
        started = time.perf_counter()
        fitted = ElasticityEstimator(method=method).fit(daily, substitutes=substitutes)
        out["seconds"][method] = time.perf_counter() - started
        out["simulated"][method] = scored(fitted.elasticities(), truth)
        if method == "dml":
            true = substitutes.rename(columns={"cross_elasticity": "true"})
            cross = fitted.cross_.merge(true, on=["product_id", "substitute_id"])
            inside = (cross["ci_low"] <= cross["true"]) & (cross["true"] <= cross["ci_high"])
            out["cross"] = {
                "pairs": int(len(cross)),
                "mae": float((cross["cross_elasticity"] - cross["true"]).abs().mean()),
                "coverage_90": float(inside.mean()),
            }
    log("(a) dml pooled by the catalogue's categories")
    started = time.perf_counter()
    pooled = ElasticityEstimator(method="dml").fit(daily, categories=shelf.categories, substitutes=substitutes)
    out["seconds"][CATEGORIES] = time.perf_counter() - started
    out["simulated"][CATEGORIES] = scored(pooled.elasticities(), truth)
    log("(a) the gate: each method judged on the last 13 weeks")
    out["gate"] = gate_check(daily, truth)
    log("(a) price quotes replayed through the true demand")
    out["profit"] = profit_replay(daily, demand_truth)
    log("(b) UCI Online Retail II")
    retail = online_retail()
    fitted = ElasticityEstimator().fit(retail)
    table = fitted.elasticities()
    significant = table["ci_high"] < 0
    out["online_retail"] = {
        "products": int(len(table)),
        "negative_and_significant": float(significant.mean()),
        "median_elasticity": float(table["elasticity"].median()),
        "category_prior": int((table["method"] == "category prior").sum()),
        "shop_response": fitted.shop_response_,  # of these 200 products' total
        "shop_elasticity_used": None if fitted.shop() is None else fitted.shop().elasticity,
    }
    return out


def figures(r: dict) -> list[dict]:
    dml, naive = r["simulated"]["dml"], r["simulated"]["ols"]
    return [
        figure("simulated_dml_mae", dml["mae"], f"ols {naive['mae']:.4f}", "<= 0.15", dml["mae"] <= 0.15),
        figure(
            "simulated_dml_noise_floor_mae",
            dml["noise_floor_mae"],
            f"ols with controls {r['simulated']['ols_controls']['noise_floor_mae']:.4f}",
            "reported (the MAE its standard errors allow with no bias and the truth's spread known)",
            True,
        ),
        figure(
            "simulated_dml_categories_mae",
            r["simulated"][CATEGORIES]["mae"],
            f"dml {dml['mae']:.4f}",
            "reported (the simulator draws elasticities independently of the category)",
            True,
        ),
        figure(
            "simulated_dml_coverage_90",
            dml["coverage_90"],
            0.9,
            "0.85 to 0.95",
            0.85 <= dml["coverage_90"] <= 0.95,
        ),
        figure(
            "simulated_naive_ols_bias",
            naive["bias"],
            f"dml {dml['bias']:.4f}",
            ">= 0.3 toward zero (confounding exists)",
            naive["bias"] >= 0.3,
        ),
        figure(
            "simulated_gate_picks_lowest_true_mae",
            _picked(r["gate"], "response_rmse"),
            f"response_rloss picks {_picked(r['gate'], 'response_rloss')}",
            f"the method with the lowest true MAE ({_picked(r['gate'], 'true_mae')})",
            _picked(r["gate"], "response_rmse") == _picked(r["gate"], "true_mae"),
        ),
        figure(
            "online_retail_negative_and_significant",
            r["online_retail"]["negative_and_significant"],
            None,
            "reported",
            True,
        ),
        figure(
            "simulated_quote_profit_share_of_oracle",
            r["profit"]["spend"] / r["profit"]["oracle"],
            f"today's prices {r['profit']['current'] / r['profit']['oracle']:.4f} of the oracle's",
            ">= 0.97 with every constraint satisfied",
            r["profit"]["spend"] >= 0.97 * r["profit"]["oracle"] and r["profit"]["violations"] == 0,
        ),
        must_be_zero("simulated_quote_rule_violations", r["profit"]["violations"]),
        figure(
            "simulated_quote_profit_share_of_oracle_each_product_alone",
            r["profit"]["spend_each_product_alone"] / r["profit"]["oracle"],
            None,
            "reported (quotes without the shop's response)",
            True,
        ),
    ] + [
        figure(
            "simulated_shop_elasticity",
            shop["elasticity"],
            0.0,
            "reported (truth 0: the simulated shop's total does not move with prices)",
            True,
            ci=[shop["ci_low"], shop["ci_high"]],
        )
        for shop in [r["profit"]["shop_response"]]
        if shop["elasticity"] is not None
    ]


def show(r: dict) -> None:
    print("\n(a) simulated: elasticity against the truth (90% intervals)")
    print(f"  {'method':14s} {'MAE':>7s} {'bias':>7s} {'coverage':>9s} {'prior':>6s} {'seconds':>8s} {'floor':>7s}")
    for method, row in r["simulated"].items():
        print(
            f"  {method:14s} {row['mae']:7.3f} {row['bias']:7.3f} {row['coverage_90']:9.3f} "
            f"{row['category_prior']:6d} {r['seconds'][method]:8.1f} {row['noise_floor_mae']:7.3f}"
        )
    print("  floor: the MAE its standard errors allow, unbiased and shrunk toward the truth's own mean and spread")
    print(f"\n  the gate: fitted before the last {HOLDOUT_WEEKS} weeks, judged on them")
    print(f"  {'method':14s} {'true MAE':>9s} {'response RMSE':>14s} {'response loss':>14s}")
    for method, row in r["gate"].items():
        print(f"  {method:14s} {row['true_mae']:9.3f} {row['response_rmse']:14.4f} {row['response_rloss']:14.4f}")
    cross = r["cross"]
    print(
        f"  cross-price effects of {cross['pairs']} declared substitute pairs (dml): MAE {cross['mae']:.3f}, "
        f"coverage {cross['coverage_90']:.3f}"
    )
    profit = r["profit"]
    print(
        f"  quotes from {profit['start']} ({profit['changed']} prices changed, {profit['not_quoted']} below cost "
        f"or the margin floor's reach not quoted), true expected profit over "
        f"the next 4 weeks' sampled days: today's prices {profit['current']:,.0f}, Spend {profit['spend']:,.0f} "
        f"(each product alone {profit['spend_each_product_alone']:,.0f}), oracle {profit['oracle']:,.0f}; "
        f"rule violations {profit['violations']}"
    )
    print(
        f"  the shop's total against all its prices (truth 0): {_response(profit['shop_response'])}; "
        f"quotes used {_used(profit['shop_elasticity_used'])}"
    )
    retail = r["online_retail"]
    print(
        f"\n(b) Online Retail II, {retail['products']} products: {retail['negative_and_significant']:.1%} negative "
        f"and significant, median elasticity {retail['median_elasticity']:.2f}; their total against all their "
        f"prices {_response(retail['shop_response'])}; quotes would use {_used(retail['shop_elasticity_used'])}"
    )
    print()
    show_figures(figures(r))


def _used(elasticity: float | None) -> str:
    return "none (each product alone)" if elasticity is None else f"{elasticity:.3f}"


def _response(shop: dict) -> str:
    if shop["elasticity"] is None:
        return f"not estimated ({shop['note']})"
    return f"{shop['elasticity']:.3f} [{shop['ci_low']:.3f}, {shop['ci_high']:.3f}] over {shop['periods']} weeks"


def main() -> None:
    quiet_libraries()
    parser = benchmark_parser(__doc__, customers=60_000)
    args = parser.parse_args()
    result = run(args.customers)
    show(result)
    if args.json:
        print(json.dumps({"benchmark": "pricing", "tables": result, "figures": figures(result)}))


if __name__ == "__main__":
    main()
