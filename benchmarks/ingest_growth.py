"""A day's export into a home that has grown: does ingesting stay as quick as on the first day?

Every ingest compares its rows with what the home holds (a row stored before is a duplicate, a row
quarantined before may go in now that its reason was met), so its time can grow with the history. Three
homes, each given the same 10,000-line exports in turn (interleaved, medians reported):
  - empty (the baseline; a new one for each export);
  - a million stored lines (a few years of a small shop's sales);
  - a million quarantined rows (the quarantine's 90 days of a shop whose exports hold bad lines).
Goal: each grown home within 1.5x of the empty one.

    python benchmarks/ingest_growth.py [--history 1000000] [--lines 10000] [--repeats 15] [--json]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from benchmarks.report import figure, quiet_libraries, show_tables  # noqa: E402
from spend.core.settings import SpendSettings  # noqa: E402
from spend.features.ingest.pipeline import IngestOptions, ingest  # noqa: E402

GOAL = 1.5
KEY = "growth-benchmark-key-0123456789abcdef"


def export(path: Path, lines: int, prefix: str, seed: int, bad: bool = False) -> Path:
    """`lines` order lines, three to an order, of 5,000 customers and 300 products; `bad`: every quantity
    0, so every line is quarantined (`quantity:non_zero_quantity`)."""
    rng = np.random.default_rng(seed)
    orders = np.arange(lines) // 3
    frame = pd.DataFrame(
        {
            "order_id": [f"{prefix}{o}" for o in orders],
            "customer_id": [f"c{o % 5000}" for o in orders],
            "ts": "2026-01-02 10:00:00",
            "product_id": [f"P{i % 300}" for i in range(lines)],
            "quantity": 0 if bad else rng.integers(1, 5, lines),
            "unit_price": np.round(rng.uniform(1, 50, lines), 2),
        }
    )
    frame.to_csv(path, index=False)
    return path


def settings(home: Path) -> SpendSettings:
    return SpendSettings(home=home, pseudonym_key=KEY)


def seconds(path: Path, home: Path) -> float:
    began = time.perf_counter()
    ingest(path, IngestOptions("transactions"), settings(home))
    return time.perf_counter() - began


def run(history: int, lines: int, repeats: int, work: Path) -> pd.DataFrame:
    homes = {"empty": work / "empty0", "stored": work / "stored", "quarantined": work / "quarantined"}
    print(f"  building a home of {history:,} stored lines and one of {history:,} quarantined", file=sys.stderr)
    ingest(export(work / "history.csv", history, "h", 1), IngestOptions("transactions"), settings(homes["stored"]))
    ingest(
        export(work / "bad.csv", history, "b", 2, bad=True),
        IngestOptions("transactions"),
        settings(homes["quarantined"]),
    )
    times: dict[str, list[float]] = {name: [] for name in homes}
    for i in range(repeats):  # each day's export into each home in turn: the machine's drift hits all three
        day = export(work / f"day{i}.csv", lines, f"d{i}-", 100 + i)
        homes["empty"] = work / f"empty{i}"  # a new one each time: the baseline holds nothing
        for name, home in homes.items():
            times[name].append(seconds(day, home))
    base = statistics.median(times["empty"])
    rows = {
        name: {"median_s": statistics.median(t), "ratio_to_empty": statistics.median(t) / base, "runs": len(t)}
        for name, t in times.items()
    }
    return pd.DataFrame.from_dict(rows, orient="index")


def figures(table: pd.DataFrame, history: int, lines: int) -> list[dict]:
    empty = float(table.loc["empty", "median_s"])
    return [
        figure(
            f"ingest_{lines}_lines_into_{name}_{history}_ratio",
            float(table.loc[name, "ratio_to_empty"]),
            round(empty, 4),
            f"<= {GOAL}x the same ingest into an empty home",
            float(table.loc[name, "ratio_to_empty"]) <= GOAL,
            median_s=round(float(table.loc[name, "median_s"]), 4),
        )
        for name in ("stored", "quarantined")
    ]


def main() -> None:
    quiet_libraries()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--history", type=int, default=1_000_000)
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--json", action="store_true", help="Print one JSON object last.")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    work = Path(tempfile.mkdtemp(prefix="spend-growth-"))
    try:
        table = run(args.history, args.lines, args.repeats, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    title = f"{args.lines:,}-line ingests into homes of {args.history:,} lines (median of {args.repeats})"
    show_tables("ingest_growth", {title: table}, figures(table, args.history, args.lines), args.json)


if __name__ == "__main__":
    main()
