"""What a daily report's promotion flag (`on_promotion`: Favorita's onpromotion) is worth to the demand
forecaster when the report carries units alone.

On the demand benchmark's simulated shop (200 products x 22 stores, 2 years, 60,000 customers; the shop
promotes slow movers and off-season products with discounts that lift their units), as a report of units
alone would give it: no prices. Spend (experiments/demand.yaml's settings) with each day's promoted share
of units, as the flag gives it (the backtest's plan carries the window's promotions, as a shop's
promotion calendar does), and the same forecaster with no promotion anywhere, as such a report was read
before the flag was stored. The same 3 rolling windows of 28 days as benchmarks/demand.py, scored against
the simulator's true demand.

Goal: with the flag, WAPE below the forecaster's without it.

    python benchmarks/promotion_flag.py [--customers 60000] [--json]
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]

from benchmarks.demand import HISTORY_DAYS, HORIZON, WINDOWS, log, scorers  # noqa: E402
from benchmarks.new_products import simulated  # noqa: E402
from benchmarks.report import benchmark_parser, figure, quiet_libraries, show_tables  # noqa: E402
from spend.training.demand_backtest import run_backtest  # noqa: E402

COLUMNS = ["wape", "mase", "bias", "coverage_80", "fit_s"]
WITH, WITHOUT = "units and the promotion flag", "units alone"


class Unflagged:
    """The forecaster as it read a report without its flag: no promotion in the history or the plan."""

    def __init__(self, make) -> None:
        self.model = make()

    def fit(self, history, y=None, **kwargs):
        self.model.fit(history.assign(promo=0.0), **kwargs)
        return self

    def predict(self, horizon=None, plan=None, series=None):
        plan = None if plan is None else plan.assign(promo=0.0)
        return self.model.predict(horizon, plan=plan, series=series)


def run(customers: int) -> dict:
    warnings.filterwarnings("ignore")
    log(f"simulating {customers:,} customers over 2 years")
    history, truth, _ = simulated(customers)
    units_only = history.assign(price=np.nan)
    promoted = float((units_only["promo"] > 0).mean())
    log(f"{promoted:.1%} of product x store days with a promotion")
    spend = scorers(False)["spend"]
    contenders = {WITH: spend, WITHOUT: lambda: Unflagged(spend)}
    result = run_backtest(units_only, contenders, HORIZON, WINDOWS, HISTORY_DAYS, truth=truth, progress=log)
    return {"simulated": result.table[COLUMNS].astype(float), "promoted_share": promoted}


def figures(r: dict) -> list[dict]:
    table = r["simulated"]
    spend, without = float(table.loc[WITH, "wape"]), float(table.loc[WITHOUT, "wape"])
    return [figure("simulated_wape_with_the_flag", spend, f"without {without:.4f}", "below without", spend < without)]


def main() -> None:
    quiet_libraries()
    args = benchmark_parser(__doc__, customers=60_000).parse_args()
    result = run(args.customers)
    share = round(result["promoted_share"], 4)
    print(f"simulated, units alone, 3 windows of 28 days, true demand ({share:.1%} promoted days)")
    show_tables("promotion_flag", {"simulated": result["simulated"]}, figures(result), args.json, promoted_share=share)


if __name__ == "__main__":
    main()
