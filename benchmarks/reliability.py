"""Ingestion under bad inputs, crashes and concurrency, as a user's shell would run it, in one run.

1. Bad inputs: `spend ingest` on files and options that are wrong in the ways real exports and typos
   are (bad encodings and formats, truncated archives, binary junk, empty files, missing columns, NUL
   bytes, absurd values, unknown tables, JSON lines cut short, damaged workbooks, report layouts...).
   Counted: runs that end in a traceback instead of one `error:` line (or a report with the bad lines
   quarantined), and runs whose one line is an `unexpected` error (one Spend did not foresee).
2. Crash points: a simulated export ingested by a `spend ingest` process killed with SIGKILL at
   --crashes points spread over its writing (from its first data file to its end, as timed on a clean
   run), each followed by the same ingest run to the end (as a user would retry). Counted against one
   clean ingest of the same file: rows lost, rows duplicated, and files left in the offline folders
   outside the ledger (what DuckDB or Spark would read) after the retry.
3. Concurrent ingests: two `spend ingest` processes started together on files sharing a third of their
   lines. Counted: stored lines minus distinct lines (duplicates).
Goals: zero tracebacks, zero unexpected errors, zero rows lost or duplicated, zero orphan files, zero duplicates.

    python benchmarks/reliability.py [--crashes 8] [--json]
"""

from __future__ import annotations

import argparse
import bz2
import gzip
import json
import lzma
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]

import pandas as pd  # noqa: E402

from benchmarks.report import must_be_zero, quiet_libraries  # noqa: E402
from benchmarks.simulated import simulate_history  # noqa: E402
from spend.core.settings import SpendSettings  # noqa: E402
from spend.features.ingest.store import OfflineStore  # noqa: E402

KEY = "benchmark-key-0123456789abcdef0123"
SPEND = str(Path(sys.executable).with_name("spend"))
GOOD = (
    "event_id,order_id,customer_id,ts,kind,product_id,quantity,unit_price,currency,channel\n"
    "e1,o1,C1,2025-03-01T10:00:00Z,purchase,P1,2,9.99,GBP,pos\n"
)


def log(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def _env(home: Path) -> dict:
    return os.environ | {"SPEND_HOME": str(home), "SPEND_PSEUDONYM_KEY": KEY}


def bad_inputs(folder: Path) -> list[tuple[str, Path, list[str]]]:
    """(what, file, extra options) for each bad input."""
    folder.mkdir(parents=True, exist_ok=True)

    def write(name: str, data: bytes) -> Path:
        path = folder / name
        path.write_bytes(data)
        return path

    good = GOOD.encode()
    big = GOOD + "".join(f"e{i},o{i},C{i},2025-03-01T10:00:00Z,purchase,P1,1,5.0,GBP,web\n" for i in range(2, 3000))
    cases = [
        ("unknown encoding", write("a.csv", good), ["--encoding", "klingon"]),
        ("bad strftime format", write("b.csv", good), ["--ts-format", "%Q%"]),
        ("format matching nothing", write("c.csv", good), ["--ts-format", "%d/%m/%Y"]),
        ("truncated .gz", write("d.csv.gz", gzip.compress(big.encode())[:200]), []),
        ("truncated .bz2", write("e.csv.bz2", bz2.compress(big.encode())[:200]), []),
        ("truncated .xz", write("f.csv.xz", lzma.compress(big.encode())[:200]), []),
        ("binary junk as .csv", write("g.csv", os.urandom(4096)), []),
        ("binary junk as .parquet", write("h.parquet", os.urandom(4096)), []),
        ("empty file", write("i.csv", b""), []),
        ("header only", write("j.csv", GOOD.splitlines()[0].encode() + b"\n"), []),
        ("missing required columns", write("k.csv", b"order_id,ts\no1,2025-03-01T10:00:00Z\n"), []),
        ("NUL bytes in a line", write("l.csv", good.replace(b"P1", b"P\x001")), []),
        ("latin-1 bytes read as utf-8", write("m.csv", good.replace(b"P1", "Pé".encode("latin-1"))), []),
        ("UTF-8 byte-order mark", write("n.csv", b"\xef\xbb\xbf" + good), []),
        ("semicolon delimiter", write("o.csv", good.replace(b",", b";")), []),
        ("ragged line", write("p.csv", good + b"e2,o2,C2\n"), []),
        ("absurd quantity", write("q.csv", good.replace(b",2,9.99,", b",1e308,9.99,")), []),
        ("year 9999", write("r.csv", good.replace(b"2025-03-01", b"9999-03-01")), []),
        (
            "mixed offsets and naive times",
            write("s.csv", good + GOOD.splitlines()[1].replace("e1", "e2").replace("Z", "").encode() + b"\n"),
            [],
        ),
        ("unknown table", write("t.csv", good), ["--table", "nope"]),
        ("bad --map", write("u.csv", good), ["--map", "a=b=c"]),
        ("a folder, not a file", folder, []),
        ("no such file", folder / "missing.csv", []),
        ("unknown kind and currency", write("v.csv", good.replace(b"purchase", b"gift").replace(b"GBP", b"XXX")), []),
        ("quotes never closed", write("w.csv", good + b'e3,"o3,C3,2025-03-01T10:00:00Z,purchase,P1,1,1,GBP,web\n'), []),
        ("UTF-16 (Excel's Unicode text)", write("x.csv", GOOD.encode("utf-16")), []),
        (
            "semicolons with decimal commas",
            write("y.csv", good.replace(b",", b";").replace(b";9.99;", b";9,99;")),
            [],
        ),
        ("column names in another case", write("z.csv", good.replace(b"order_id", b"Order ID")), []),
        ("one column mapped twice", write("aa.csv", good), ["--map", "ts=a", "--map", "ts=b"]),
        (
            "decimal commas read with --decimal ,",
            write("ab.csv", good.replace(b",", b";").replace(b";9.99;", b";9,99;")),
            ["--decimal", ","],
        ),
        ("a decimal mark that is none", write("ac.csv", good), ["--decimal", ";"]),
        (
            "a comma inside an unquoted field",
            write("ad.csv", good + GOOD.splitlines()[1].replace("P1", "Mug, red").encode() + b"\n"),
            [],
        ),
        (
            "empty unnamed columns (Excel's a,b,,)",
            write("ae.csv", b"\n".join(line + b",," for line in good.splitlines()) + b"\n"),
            [],
        ),
        (
            "an unnamed column holding values",
            write("af.csv", GOOD.splitlines()[0].encode() + b",\n" + GOOD.splitlines()[1].encode() + b",x\n"),
            [],
        ),
        ("a report's title above the header", write("ag.csv", b"Sales report,,,,,,,,,\n" + good), []),
        (
            "the header repeated mid-file (exports joined)",
            write("ah.csv", good + GOOD.splitlines()[0].encode() + b"\n"),
            [],
        ),
        ("a placeholder date (1900-01-01)", write("ai.csv", good.replace(b"2025-03-01", b"1900-01-01")), []),
        (
            "a spreadsheet's serial days, no format given",
            write("aj.csv", good.replace(b"2025-03-01T10:00:00Z", b"45717.4166")),
            [],
        ),
        (
            "a daily sales report, no flag",
            write("ak.csv", b"Date,Store,Item,Units Sold,Sales\n2025-03-01,S1,P1,3,7.5\n"),
            [],
        ),
        ("order lines given --daily-totals", write("al.csv", good), ["--daily-totals"]),
        ("--counted-at for transactions", write("am.csv", good), ["--counted-at", "2025-03-01 21:00"]),
        (
            "brackets in column names (a terminal's markup: [/foo])",
            write("an.csv", good.replace(b",channel\n", b",channel,[/foo]\n").replace(b",pos\n", b",pos,x\n")),
            [],
        ),
        *_cases_since_the_thirty_first_session(write, good),
        ("UTF-16 given --encoding latin-1", write("ao.csv", GOOD.encode("utf-16")), ["--encoding", "latin-1"]),
        (
            "a cancellation flag (yes/no) mapped to cancelled_at",
            write("ap.csv", good.replace(b",channel\n", b",channel,Cancelled\n").replace(b",pos\n", b",pos,No\n")),
            ["--map", "Cancelled=cancelled_at"],
        ),
        ("a cancellation time that is not a time", write("aq.csv", good), ["--map", "channel=cancelled_at"]),
    ]
    return cases


def _cases_since_the_thirty_first_session(write, good: bytes) -> list[tuple[str, Path, list[str]]]:
    """JSON exports, older and damaged workbooks, report layouts (a title without delimiters, a summary
    sheet first, a totals line) and damaged lines that differ only after a NUL."""
    import io
    import zipfile

    xls = (ROOT / "tests" / "data" / "orders.xls").read_bytes()  # written by tests/data/make_orders_xls.py
    line = GOOD.splitlines()[1]
    json_line = json.dumps(dict(zip(GOOD.splitlines()[0].split(","), line.split(","), strict=True)))
    empty_zip = io.BytesIO()
    with zipfile.ZipFile(empty_zip, "w") as archive:
        archive.writestr("hello.txt", "not a workbook")
    summary_first = io.BytesIO()
    with pd.ExcelWriter(summary_first) as book:
        pd.DataFrame({"Report": ["Sales"], "Total": ["9.99"]}).to_excel(book, sheet_name="Summary", index=False)
        pd.read_csv(io.StringIO(GOOD), dtype=str).to_excel(book, sheet_name="Orders", index=False)
    nul_lines = b"".join(f"\x00e{i},o{i},C1,2025-03-01T10:00:00Z,purchase,P1,1,1,GBP,pos\n".encode() for i in (7, 8))
    return [
        ("JSON Lines with a line cut short", write("ba.jsonl", f"{json_line}\n{json_line[:30]}\n".encode()), []),
        ("a JSON file that is one number", write("bb.json", b"12.5"), []),
        ("an Excel 97-2003 workbook cut short", write("bc.xls", xls[:3000]), []),
        ("an .xls saved as .xlsx", write("bd.xlsx", xls), []),
        ("a ZIP without a workbook, as .xlsx", write("be.xlsx", empty_zip.getvalue()), []),
        ("a workbook whose first sheet is a summary", write("bf.xlsx", summary_first.getvalue()), []),
        ("a title line without delimiters", write("bg.csv", b"Sales report\n\n" + good), []),
        ("a totals line at the end", write("bh.csv", good + b"Total,,,,,,,9.99,,\n"), []),
        ("damaged lines differing after a NUL", write("bi.csv", good + nul_lines), []),
        ("--sheet for a CSV", write("bj.csv", good), ["--sheet", "Orders"]),
    ]


def run_bad_inputs(root: Path) -> dict:
    home = root / "bad-home"
    rows = []
    for what, path, options in bad_inputs(root / "bad"):
        table = [] if "--table" in options else ["--table", "transactions"]
        command = [SPEND, "ingest", str(path), *table, *options, "--json"]
        result = subprocess.run(command, env=_env(home), capture_output=True, text=True, timeout=120)
        output = result.stdout + result.stderr
        rows.append(
            {
                "input": what,
                "exit": result.returncode,
                "traceback": "Traceback" in output,
                "unexpected": "unexpected " in output,  # an error Spend did not foresee, said in one line
                "said": _summary(result) if result.returncode == 0 else output.strip().splitlines()[-1][:160],
            }
        )
    return {
        "cases": rows,
        "tracebacks": sum(r["traceback"] for r in rows),
        "unexpected": sum(r["unexpected"] for r in rows),
    }


def _summary(result) -> str:
    report = json.loads(result.stdout)
    reasons = ", ".join(f"{k} {v}" for k, v in report["quarantined_by_reason"].items())
    return f"accepted {report['accepted']}, quarantined {report['quarantined']}" + (f" ({reasons})" if reasons else "")


def _stored(home: Path) -> pd.DataFrame:
    settings = SpendSettings(home=home, pseudonym_key=KEY)
    return OfflineStore(settings.paths).read("transactions", ["event_id"])


def _orphans(home: Path) -> int:
    settings = SpendSettings(home=home, pseudonym_key=KEY)
    return len(OfflineStore(settings.paths).orphans())


def run_crashes(root: Path, crashes: int) -> dict:
    export, _ = simulate_export(root)
    clean = root / "clean-home"
    # The clean run, watched: kills before the first data file is written would test nothing but
    # reading, so they are spread between that moment and the end.
    started = time.monotonic()
    process = subprocess.Popen(
        [SPEND, "ingest", str(export), "--table", "transactions", "--json"],
        env=_env(clean),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    writing = None
    while process.poll() is None:
        if writing is None and _data_files(clean):
            writing = time.monotonic() - started
        time.sleep(0.01)
    duration = time.monotonic() - started
    writing = duration if writing is None else writing
    expected = _stored(clean)["event_id"]
    rows = []
    for k in range(crashes):
        home = root / f"crash-{k}"
        delay = writing + (duration - writing) * (k + 0.5) / crashes
        process = subprocess.Popen(
            [SPEND, "ingest", str(export), "--table", "transactions", "--json"],
            env=_env(home),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        left = _data_files(home)
        retry = subprocess.run(
            [SPEND, "ingest", str(export), "--table", "transactions", "--json"],
            env=_env(home),
            capture_output=True,
            text=True,
            timeout=600,
        )
        stored = _stored(home)["event_id"]
        rows.append(
            {
                "killed_after_s": round(delay, 2),
                "data_files_at_kill": left,  # > 0: killed while writing
                "retry_exit": retry.returncode,
                "lost": int((~expected.isin(stored)).sum()),
                "duplicated": int(len(stored) - stored.nunique()),
                "extra": int((~stored.isin(expected)).sum()),
                "orphan_files": _orphans(home),
            }
        )
    return {"lines": len(expected), "clean_ingest_s": duration, "writing_from_s": writing, "runs": rows}


def _data_files(home: Path) -> int:
    return sum(1 for f in home.rglob("*") if f.is_file() and ("offline" in f.parts or "staging" in f.parts))


def simulate_export(root: Path) -> tuple[Path, int]:
    rows = simulate_history(root / "sim", 30_000, seed=7)
    return root / "sim" / "transactions.csv", rows["transactions"]


def run_concurrent(root: Path) -> dict:
    export = root / "sim" / "transactions.csv"
    frame = pd.read_csv(export, dtype=str)
    third = len(frame) // 3
    first, second = root / "first.csv", root / "second.csv"
    frame.iloc[: 2 * third].to_csv(first, index=False)
    frame.iloc[third:].to_csv(second, index=False)
    home = root / "concurrent-home"
    processes = [
        subprocess.Popen(
            [SPEND, "ingest", str(p), "--table", "transactions", "--json"],
            env=_env(home),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for p in (first, second)
    ]
    reports = [json.loads(p.communicate(timeout=600)[0]) for p in processes]
    stored = _stored(home)["event_id"]
    return {
        "lines_each": [2 * third, len(frame) - third],
        "shared_lines": third,
        "accepted": [r["accepted"] for r in reports],
        "stored": len(stored),
        "duplicates": int(len(stored) - stored.nunique()),
    }


def run(crashes: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        log("bad inputs")
        bad = run_bad_inputs(root)
        log(f"{crashes} crash points")
        crash = run_crashes(root, crashes)
        log("two ingests at once")
        concurrent = run_concurrent(root)
    return {"bad_inputs": bad, "crashes": crash, "concurrent": concurrent}


def figures(r: dict) -> list[dict]:
    runs = r["crashes"]["runs"]
    return [
        must_be_zero(f"tracebacks_of_{len(r['bad_inputs']['cases'])}_bad_inputs", r["bad_inputs"]["tracebacks"]),
        must_be_zero(f"unexpected_errors_of_{len(r['bad_inputs']['cases'])}_bad_inputs", r["bad_inputs"]["unexpected"]),
        must_be_zero(f"rows_lost_over_{len(runs)}_crash_points", sum(x["lost"] for x in runs)),
        must_be_zero(f"rows_duplicated_over_{len(runs)}_crash_points", sum(x["duplicated"] + x["extra"] for x in runs)),
        must_be_zero("orphan_files_after_retries", sum(x["orphan_files"] for x in runs)),
        must_be_zero("duplicates_of_two_concurrent_ingests", r["concurrent"]["duplicates"]),
    ]


def print_tables(r: dict) -> None:
    bad = r["bad_inputs"]
    print(f"1. bad inputs: {len(bad['cases'])}, tracebacks {bad['tracebacks']}, unexpected errors {bad['unexpected']}")
    for case in bad["cases"]:
        flags = ("TRACEBACK " if case["traceback"] else "") + ("UNEXPECTED " if case["unexpected"] else "")
        print(f"  {case['input']:<32} exit {case['exit']}  {flags}{case['said']}")
    c = r["crashes"]
    print(
        f"2. crash points: {c['lines']:,} lines, clean ingest {c['clean_ingest_s']:.1f} s "
        f"(first data file at {c['writing_from_s']:.1f} s; kills spread from there to the end)"
    )
    for run_ in c["runs"]:
        print(
            f"  killed after {run_['killed_after_s']:5.2f} s ({run_['data_files_at_kill']} data files): "
            f"retry exit {run_['retry_exit']}, lost {run_['lost']}, "
            f"duplicated {run_['duplicated']}, extra {run_['extra']}, orphan files {run_['orphan_files']}"
        )
    k = r["concurrent"]
    print(
        f"3. two ingests at once ({k['lines_each']} lines, {k['shared_lines']:,} shared): accepted {k['accepted']}, "
        f"stored {k['stored']:,}, duplicates {k['duplicates']}"
    )


def main() -> None:
    quiet_libraries()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--crashes", type=int, default=8)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args.crashes)
    print_tables(result)
    if args.json:
        print(json.dumps({"benchmark": "reliability", "results": result, "figures": figures(result)}, indent=2))


if __name__ == "__main__":
    main()
