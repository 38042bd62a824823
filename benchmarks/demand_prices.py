"""What the prices of the forecast window are worth to the demand forecaster, and where its price effect
comes from.

benchmarks/demand.py scores every window with its realised prices given as the planned prices. A day's
price there is what its sales paid (revenue / units), so on a wholesaler's history it falls on the days of
large orders: a forecaster that reads the price as an input can read the day's demand off it. A forecast
made without a plan holds the last price over the window instead. This runs Spend with each price effect
(experiments/demand.yaml's `price_effect`: "elasticity", the product's own-price elasticity from the
pricing model's estimator; "learned", the price as a tree input) both ways, on the same 3 rolling
windows of 28 days as benchmarks/demand.py:

  (a) simulated: 200 products x 22 stores, 2 years, 60,000 customers, scored against true demand
  (b) UCI Online Retail II: the 500 best-selling products, country as store, scored against sales

Goal: with the last price held (how a forecast without a plan is made), Spend's WAPE is at most the
learned price's on both.

    python benchmarks/demand_prices.py [--customers 60000] [--json]
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]

from benchmarks.demand import (  # noqa: E402
    HISTORY_DAYS,
    HORIZON,
    WINDOWS,
    log,
    online_retail_history,
    scorers,
    simulated_history,
)
from benchmarks.report import benchmark_parser, figure, quiet_libraries, show_tables  # noqa: E402
from spend.training.demand_backtest import run_backtest  # noqa: E402

EFFECTS = ("elasticity", "learned")
COLUMNS = ["wape", "mase", "bias", "coverage_80"]


class LastPriceHeld:
    """A forecaster asked without the window's prices: every day keeps the last price seen."""

    def __init__(self, make) -> None:
        self.make = make

    def fit(self, history):
        self.model = self.make().fit(history)
        return self

    def predict(self, horizon, plan=None, series=None):
        return self.model.predict(horizon, series=series)


def contenders() -> dict:
    out = {}
    for effect in EFFECTS:
        make = scorers(False, price_effect=effect)["spend"]
        out[f"{effect}, realised prices"] = make
        out[f"{effect}, last price held"] = lambda make=make: LastPriceHeld(make)
    return out


def run(customers: int) -> dict:
    warnings.filterwarnings("ignore")
    log(f"(a) simulating {customers:,} customers over 2 years")
    history, truth, _, _ = simulated_history(customers)
    simulated = run_backtest(history, contenders(), HORIZON, WINDOWS, HISTORY_DAYS, truth=truth, progress=log)
    log("(b) UCI Online Retail II")
    retail = run_backtest(online_retail_history(), contenders(), HORIZON, WINDOWS, HISTORY_DAYS, progress=log)
    return {"simulated": simulated.table[COLUMNS].astype(float), "online_retail": retail.table[COLUMNS].astype(float)}


def figures(r: dict) -> list[dict]:
    rows = []
    for data in ("simulated", "online_retail"):
        spend = float(r[data].loc["elasticity, last price held", "wape"])
        learned = float(r[data].loc["learned, last price held", "wape"])
        rows.append(
            figure(
                f"{data}_wape_last_price_held",
                spend,
                f"price learned by the trees {learned:.4f}",
                "at most the learned price's",
                spend <= learned,
            )
        )
    return rows


def main() -> None:
    quiet_libraries()
    parser = benchmark_parser(__doc__, customers=60_000)
    args = parser.parse_args()
    result = run(args.customers)
    show_tables("demand_prices", result, figures(result), args.json)


if __name__ == "__main__":
    main()
