"""The feature build at scale: simulated years of 100k, 300k and 1M customers, built locally (one Python
process) and on Spark in local mode (SPEND_ENV=cluster, SPEND_SPARK_MASTER, default local[2]).

Measured in one run, per size and engine: build time, peak memory of the whole process tree (Spark's JVM and
its Python workers included), and the snapshots' bytes (all four groups) per customer-year. Each build runs
in a child process of its own, so one build's heap never counts against another.

The smallest size is simulated and ingested; each larger size is that history copied (k copies of every
customer, order and event, under new ids, into a new data home with its own ledger entries), because a
simulated million customers takes half an hour before anything is measured. The copies shop in the same
products, stores and terminals, as a bigger customer base would (so the stock counts are copied once).
Goals (issue 23): 1M customers x 1 year builds on this machine in under 15 minutes with peak memory under
8 GB; time grows at most linearly (1M / 100k at most 11x); snapshot bytes per customer-year at least 3x
below the dense daily snapshots' (DENSE_BYTES below, measured by this script: docs/scale.md).

    python benchmarks/scale.py [--sizes 100000,300000,1000000] [--engines local,spark] [--json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]

import psutil  # noqa: E402

from benchmarks.report import quiet_libraries  # noqa: E402
from benchmarks.simulated import simulate_history  # noqa: E402

UNTIL = "2025-12-31"
GB = 1024**3
# Customer snapshot bytes per customer-year of the dense daily snapshots (every customer, every day), measured
# by this script at 100k simulated customers, 2026-12-03 at 54c0f83 (docs/scale.md).
DENSE_BYTES = 4_414
ENGINES = {"local": "local", "spark": "cluster"}
# The shop's own tables (stock counts per product x store and day): a bigger customer base shops in the same
# stores, so they are copied once, not once per copy of the customers.
SHOP_TABLES = ("inventory", "products")

INGEST = """
import sys
from pathlib import Path
from spend.core.settings import SpendSettings
from spend.features.ingest.pipeline import IngestOptions, ingest
from spend.simulate.writer import TABLE_ORDER
sim, home = Path(sys.argv[1]), Path(sys.argv[2])
settings = SpendSettings(home=home, pseudonym_key="benchmark-key")
for table in TABLE_ORDER:
    ingest(sim / f"{table}.csv", IngestOptions(table), settings)
"""
BUILD = """
import sys, time
from pathlib import Path
from spend.core.settings import SpendSettings
from spend.features.store.build import build_snapshots
settings = SpendSettings(home=Path(sys.argv[1]), pseudonym_key="benchmark-key", env=sys.argv[2])
build_snapshots(settings, sys.argv[3], lambda step: print(f"stage {time.time()} {step}", file=sys.stderr, flush=True))
"""


def log(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def run_measured(code: str, *args: str) -> tuple[float, float, dict[str, tuple[float, int]]]:
    """Seconds, peak resident bytes of the child's whole process tree (sampled every 0.2 s), and that peak
    by kind of process (the build's own Python, a JVM, Spark's Python workers), with how many there were
    and when the peak came (kind "at_s") and in which of the build's steps (kind "stage"): where the memory
    is."""
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", code, *args], stderr=subprocess.PIPE, text=True)
    peak, peak_wall, parts, done = 0, 0.0, {}, threading.Event()

    def sample() -> None:
        nonlocal peak, peak_wall, parts
        parent = psutil.Process(child.pid)
        while not done.is_set():
            try:
                now: dict[str, list] = {}
                for p in [parent, *parent.children(recursive=True)]:
                    try:  # one process gone or a zombie must not cost the whole sample
                        if p.is_running() and not _forking(p):
                            rss = p.memory_info().rss
                            kind = now.setdefault(_kind(p, parent), [0, 0])
                            kind[0] += rss
                            kind[1] += 1
                    except psutil.Error:
                        continue
                total = sum(rss for rss, _ in now.values())
                if total > peak:
                    peak, peak_wall = total, time.time()
                    parts = {k: (rss, n) for k, (rss, n) in now.items()} | {"at_s": (time.perf_counter() - start, 0)}
            except psutil.Error:
                pass
            done.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = child.communicate()
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    if child.returncode:
        raise SystemExit(f"build failed:\n{err[-3000:]}")
    stages = [line.split(" ", 2)[1:] for line in err.splitlines() if line.startswith("stage ")]
    running = [step for at, step in stages if float(at) <= peak_wall]
    parts["stage"] = (running[-1] if running else "start", 0)
    return seconds, peak, parts


def _forking(process: psutil.Process) -> bool:
    """A child the JVM has forked but not yet turned into a Python worker: it still has its parent's command
    line and pages (named after the forking thread), and its resident memory, summed, would count the
    JVM's heap twice."""
    parent = process.parent()
    return parent is not None and parent.name().startswith("java") and process.cmdline() == parent.cmdline()


def _kind(process: psutil.Process, root: psutil.Process) -> str:
    if process.pid == root.pid:
        return "build"
    name = process.name()
    return "jvm" if name.startswith("java") else "python workers" if name.startswith("python") else name


def snapshot_bytes(home: Path, group: str = "") -> int:
    """Bytes of every snapshot file, or of one group's (customer_snapshots.parquet, ...)."""
    folder = home / "features" / group
    return sum(p.stat().st_size for p in ([folder] if folder.is_file() else folder.rglob("*.parquet")))


def simulated_home(work: Path, customers: int) -> Path:
    sim, home = work / f"sim{customers}", work / f"home{customers}"
    if not (home / "catalog.sqlite").exists():
        log(f"{customers:,} customers: simulating a year ...")
        simulate_history(sim, customers, seed=23)
        log("ingesting ...")
        subprocess.run([sys.executable, "-c", INGEST, str(sim), str(home)], check=True, capture_output=True)
    return home


def copied_home(work: Path, base: Path, copies: int, customers: int) -> Path:
    """`copies` copies of the base home's offline store, ids prefixed per copy (so a copy's customers sit in
    other parts than the original's, and compression does not see them twice), each batch in the ledger."""
    import dataclasses

    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from spend.features.ingest.catalog import BatchCatalog

    home = work / f"home{customers}"
    if (home / "catalog.sqlite").exists():
        return home
    log(f"{customers:,} customers: {copies} copies of the base history ...")
    ledger, records = BatchCatalog(home / "catalog.sqlite"), BatchCatalog(base / "catalog.sqlite").batches()
    for k in range(copies):
        for path in sorted((base / "offline").rglob("*.parquet")):
            if k and path.relative_to(base / "offline").parts[0] in SHOP_TABLES:
                continue
            table = pq.read_table(path)
            for column in ("customer_id", "order_id", "event_id"):
                if column in table.column_names:
                    at = table.column_names.index(column)
                    kind = table.schema[at].type
                    suffixed = pc.binary_join_element_wise(
                        pa.scalar(f"r{k}~", kind), table.column(at), pa.scalar("", kind)
                    )
                    table = table.set_column(at, table.schema[at], suffixed)
            target = home / path.relative_to(base).parent / f"{path.stem}-r{k}.parquet"
            target.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, target, compression="zstd")
        for record in records:
            if not (k and record.table_name in SHOP_TABLES):
                ledger.commit(dataclasses.replace(record, batch_id=f"{record.batch_id}-r{k}"))
    return home


def measure(home: Path, customers: int, engines: list[str]) -> dict:
    out = {}
    for engine in engines:
        log(f"building ({engine}) ...")
        seconds, peak, parts = run_measured(BUILD, str(home), ENGINES[engine], UNTIL)
        size, everything = snapshot_bytes(home, "customer_snapshots.parquet"), snapshot_bytes(home)
        out[engine] = {
            "build_s": seconds,
            "peak_gb": peak / GB,
            "peak_at_s": round(parts.pop("at_s", (0.0, 0))[0], 1),
            "peak_stage": parts.pop("stage", ("", 0))[0],
            "peak_by_process_gb": {kind: round(rss / GB, 2) for kind, (rss, _) in sorted(parts.items())},
            "processes_at_peak": {kind: n for kind, (_, n) in sorted(parts.items())},
            "bytes_per_customer_year": size / customers,  # the customer group: the one that grows with customers
            "all_groups_bytes": everything,
        }
        by_kind = ", ".join(f"{n} {kind} {rss / GB:.2f}" for kind, (rss, n) in sorted(parts.items()))
        by_kind += f"; at {out[engine]['peak_at_s']:.0f} s, in {out[engine]['peak_stage']}"
        per_year = size / customers
        log(f"{engine}: {seconds:.0f} s, peak {peak / GB:.2f} GB ({by_kind}), {per_year:,.0f} bytes per customer-year")
    return out


def goals(results: dict[int, dict], engines: list[str]) -> dict:
    figures = {}
    sizes = sorted(results)
    big, small = sizes[-1], sizes[0]
    for engine in engines:
        at = results[big][engine]
        figures[f"{engine}_build_s_{big}"] = {
            "value": at["build_s"],
            "baseline": None,
            "goal": "< 900",
            "met": at["build_s"] < 900,
        }
        figures[f"{engine}_peak_gb_{big}"] = {
            "value": at["peak_gb"],
            "baseline": None,
            "goal": "< 8",
            "met": at["peak_gb"] < 8,
        }
        if big != small:
            ratio = at["build_s"] / results[small][engine]["build_s"]
            allowed = 1.1 * big / small
            figures[f"{engine}_time_ratio_{big}_{small}"] = {
                "value": ratio,
                "baseline": big / small,
                "goal": f"<= {allowed:.1f}",
                "met": ratio <= allowed,
            }
        per_year = at["bytes_per_customer_year"]
        baseline = DENSE_BYTES
        figures[f"{engine}_bytes_per_customer_year"] = {
            "value": per_year,
            "baseline": baseline,
            "goal": f"<= {baseline / 3:,.0f} (3x below dense)" if baseline else "3x below dense",
            "met": bool(baseline) and per_year <= baseline / 3,
        }
    return figures


def table(results: dict[int, dict], engines: list[str]) -> str:
    lines = [
        "| customers | engine | build (s) | peak memory (GB) | at the peak, by process (GB) "
        "| customer bytes per customer-year | all snapshots (MB) |",
        "|---|---|---|---|---|---|---|",
    ]
    for customers, by_engine in sorted(results.items()):
        for engine in engines:
            r = by_engine[engine]
            per_year = r["bytes_per_customer_year"]
            parts = ", ".join(f"{kind} {gb:.2f}" for kind, gb in r["peak_by_process_gb"].items())
            lines.append(
                f"| {customers:,} | {engine} | {r['build_s']:.0f} | {r['peak_gb']:.2f} | {parts} | {per_year:,.0f} "
                f"| {r['all_groups_bytes'] / 1e6:,.0f} |"
            )
    return "\n".join(lines)


def main() -> None:
    quiet_libraries()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,300000,1000000")
    parser.add_argument("--engines", default="local,spark")
    parser.add_argument("--work", type=Path, default=None, help="keep the homes here (default: a temporary folder)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    engines = [e for e in args.engines.split(",") if e]
    unknown = sorted(set(engines) - set(ENGINES))
    if unknown:
        parser.error(f"--engines: unknown {', '.join(unknown)} (choose from {', '.join(ENGINES)})")
    with tempfile.TemporaryDirectory(prefix="spend-scale-") as temporary:
        work = args.work or Path(temporary)
        work.mkdir(parents=True, exist_ok=True)
        base = simulated_home(work, sizes[0])
        results = {}
        for customers in sizes:
            copies = customers // sizes[0]
            home = base if copies == 1 else copied_home(work, base, copies, customers)
            results[customers] = measure(home, customers, engines)
    print(table(results, engines))
    if args.json:
        print(
            json.dumps(
                {
                    "benchmark": "scale",
                    "results": {str(k): v for k, v in results.items()},
                    "figures": goals(results, engines),
                }
            )
        )


if __name__ == "__main__":
    main()
