"""Governance speed on a simulated year of 100,000 customers (local home: Parquet stores, SQLite online
store), goals from issue 21:

- erasing one customer: `erase_customers` in process (median of 5 customers) and the `spend erase`
  command as a user runs it (start-up included), under 5 s;
- erasing 10,000 customers in one call, under 60 s;
- `spend monitor` (drift and quality of the latest snapshots against the champion's training data),
  under 30 s.

The home holds what a working one holds: every table ingested, the feature snapshots, the online store,
a publication's segments and a re-identified export of every customer (CSV) under reports/. The
goals are absolute: there is no other erasure to compare with.

    python benchmarks/governance.py [--customers 100000] [--home DIR] [--json]

--home keeps the built home in DIR and reuses it on the next run (each run works on a copy).
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]

import pandas as pd  # noqa: E402

from benchmarks.report import benchmark_parser, figure, quiet_libraries, show_figures  # noqa: E402
from benchmarks.simulated import simulate_history  # noqa: E402
from spend.core.privacy.vault import IdentityVault  # noqa: E402
from spend.core.settings import SpendSettings  # noqa: E402

KEY = "benchmark-key"


def log(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def build(home: Path, customers: int) -> None:
    from spend.features.ingest.pipeline import IngestOptions, ingest
    from spend.features.store.build import build_snapshots
    from spend.features.store.config import feature_store
    from spend.features.store.definitions import build_repo
    from spend.features.store.materialize import materialize
    from spend.simulate.writer import TABLE_ORDER
    from spend.training.dataset import latest_day
    from spend.training.loop import train

    log(f"simulating, ingesting and building {customers:,} customers (once) ...")
    sim = home.parent / "sim"
    simulate_history(sim, customers, seed=21)
    settings = SpendSettings(home=home, pseudonym_key=KEY)
    for table in TABLE_ORDER:
        ingest(sim / f"{table}.csv", IngestOptions(table), settings)
    until = latest_day(settings) + pd.Timedelta(days=1)  # a snapshot on the day training and monitoring use
    build_snapshots(settings, until)
    feature_store(settings).apply(build_repo(settings.paths.feature_snapshots).objects)
    materialize(settings, until.to_pydatetime())
    log("training a churn champion (once) ...")
    train(settings, "churn", latest_day(settings))
    (home / "built").write_text("ok")  # a home whose build was interrupted is built again
    ids = _customers(settings)
    settings.paths.published.mkdir(parents=True, exist_ok=True)
    segments = pd.DataFrame({"customer_id": list(ids), "segment": "Loyal", "cluster": 0})
    segments.to_parquet(settings.paths.published / "segments.parquet", index=False)
    (settings.paths.published / "manifest.json").write_text("{}")
    settings.paths.reports.mkdir(parents=True, exist_ok=True)
    export = pd.DataFrame({"customer_id": list(ids), "original_customer_id": list(ids.values()), "score": 0.5})
    export.to_csv(settings.paths.reports / "winback-reidentified.csv", index=False)


def _customers(settings: SpendSettings) -> dict[str, str]:
    """Pseudonym -> raw id of every customer in the vault."""
    import sqlite3

    with sqlite3.connect(settings.paths.vault) as db:
        pseudonyms = [row[0] for row in db.execute("SELECT pseudonym FROM identities")]
    return IdentityVault(settings.paths.vault, KEY.encode()).reidentify(pseudonyms)


def run(source: Path, work: Path) -> dict:
    from spend.features.governance.erasure import erase_customers
    from spend.training.monitoring import monitor

    home = work / "home"
    log("copying the home ...")
    shutil.copytree(source, home)
    settings = SpendSettings(home=home, pseudonym_key=KEY)
    log("monitoring ...")
    watched = []
    for _ in range(3):
        started = time.perf_counter()
        checked = monitor(settings)
        watched.append(time.perf_counter() - started)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "from spend.cli import main; main()", "monitor", "--json"],
        capture_output=True,  # exit code 1 on a breach: the time is what is measured
        env=_environment(home),
    )
    monitor_command = time.perf_counter() - started
    log("erasing ...")
    raw = sorted(_customers(settings).values())
    erase_customers(settings, [raw[0]])  # imports and first opens, not measured
    one = []
    for i in range(1, 6):
        started = time.perf_counter()
        receipt = erase_customers(settings, [raw[i]])
        one.append(time.perf_counter() - started)
        assert receipt.found == 1, receipt
    command = []
    for i in range(6, 9):
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", "from spend.cli import main; main()", "erase", raw[i], "--json"],
            check=True,
            capture_output=True,
            env=_environment(home),
        )
        command.append(time.perf_counter() - started)
    batch = raw[100:10_100]
    started = time.perf_counter()
    receipt = erase_customers(settings, batch)
    many = time.perf_counter() - started
    return {
        "customers": len(raw),
        "monitor_s": statistics.median(watched),
        "monitor_command_s": monitor_command,
        "monitor_status": {name: m["status"] for name, m in checked["models"].items()},
        "erase_one_s": statistics.median(one),
        "erase_one_command_s": statistics.median(command),
        "erase_10000_s": many,
        "erase_10000_found": receipt.found,
        "removed_10000": receipt.removed,
    }


def _environment(home: Path) -> dict:
    return {"SPEND_HOME": str(home), "SPEND_PSEUDONYM_KEY": KEY, "PATH": "/usr/bin:/bin"}


def figures(result: dict) -> list[dict]:
    return [
        figure(
            "spend monitor (in process, median of 3)", result["monitor_s"], None, "< 30 s", result["monitor_s"] < 30
        ),
        figure(
            "spend monitor (the command)", result["monitor_command_s"], None, "< 30 s", result["monitor_command_s"] < 30
        ),
        figure(
            "erase one customer (in process, median of 5)",
            result["erase_one_s"],
            None,
            "< 5 s",
            result["erase_one_s"] < 5,
        ),
        figure(
            "erase one customer (`spend erase`, median of 3)",
            result["erase_one_command_s"],
            None,
            "< 5 s",
            result["erase_one_command_s"] < 5,
        ),
        figure(
            "erase 10,000 customers in one call", result["erase_10000_s"], None, "< 60 s", result["erase_10000_s"] < 60
        ),
    ]


def main() -> None:
    quiet_libraries()
    parser = benchmark_parser(__doc__, customers=100_000)
    parser.add_argument("--home", type=Path, help="Keep the built home here and reuse it.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="spend-governance-") as temporary:
        source = (args.home or Path(temporary) / "built") / "home"
        if not (source / "built").exists():
            shutil.rmtree(source, ignore_errors=True)
            build(source, args.customers)
        result = run(source, Path(temporary) / "run")
    print(f"home: {result['customers']:,} customers")
    print(f"{'measure':<40}{'seconds':>10}")
    for name in ("monitor_s", "monitor_command_s", "erase_one_s", "erase_one_command_s", "erase_10000_s"):
        print(f"{name:<40}{result[name]:>10.2f}")
    rows = figures(result)
    show_figures(rows)
    if args.json:
        print(json.dumps({"benchmark": "governance", "results": result, "figures": rows}, indent=2, default=float))


if __name__ == "__main__":
    main()
