"""What the catalogue's categories are worth to the demand forecaster as an input of its trees.

On the demand benchmark's simulated shop (200 products x 22 stores, 2 years, 60,000 customers) with the
simulated catalogue's 8 categories, Spend (experiments/demand.yaml's settings) with the category as a
static input (`use_categories`, the default) and without it, on the same 3 rolling windows of 28 days as
benchmarks/demand.py, scored against the simulator's true demand.

Goal: with the category, WAPE at most the forecaster's without it.

    python benchmarks/demand_categories.py [--customers 60000] [--json]
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]

from benchmarks.demand import HISTORY_DAYS, HORIZON, WINDOWS, log, scorers  # noqa: E402
from benchmarks.new_products import simulated  # noqa: E402
from benchmarks.report import benchmark_parser, figure, quiet_libraries, show_tables  # noqa: E402
from spend.training.demand_backtest import run_backtest  # noqa: E402

COLUMNS = ["wape", "mase", "bias", "coverage_80", "fit_s"]
WITH, WITHOUT = "category as an input", "without it"


def run(customers: int) -> dict:
    warnings.filterwarnings("ignore")
    log(f"simulating {customers:,} customers over 2 years")
    history, truth, categories = simulated(customers)
    history = history.assign(category=history["product_id"].map(categories))
    contenders = {WITH: scorers(False)["spend"], WITHOUT: scorers(False, use_categories=False)["spend"]}
    result = run_backtest(history, contenders, HORIZON, WINDOWS, HISTORY_DAYS, truth=truth, progress=log)
    return {"simulated": result.table[COLUMNS].astype(float)}


def figures(r: dict) -> list[dict]:
    table = r["simulated"]
    spend, without = float(table.loc[WITH, "wape"]), float(table.loc[WITHOUT, "wape"])
    return [
        figure("simulated_wape_with_categories", spend, f"without {without:.4f}", "at most without", spend <= without)
    ]


def main() -> None:
    quiet_libraries()
    args = benchmark_parser(__doc__, customers=60_000).parse_args()
    result = run(args.customers)
    print("simulated, 3 windows of 28 days, true demand")
    show_tables("demand_categories", result, figures(result), args.json)


if __name__ == "__main__":
    main()
