"""The JSON figure every benchmark prints last (`--json`): the value, its baseline, its goal, met or not."""

from __future__ import annotations

import argparse
import json
import logging
import os

LIBRARY_LOGGERS = ("mlflow", "alembic", "sqlalchemy")


def figure(name: str, value, baseline, goal: str, met, **extra) -> dict:
    """One figure; a number is rounded to 4 places, anything else (a method's name) kept as it is."""
    shown = round(value, 4) if isinstance(value, int | float) else value
    return {"figure": name, "value": shown, "baseline": baseline, "goal": goal, "met": bool(met)} | extra


def must_be_zero(name: str, count: int) -> dict:
    """A count of failures (tracebacks, lost rows, unanswered requests...) whose goal is none."""
    return figure(name, count, 0, "0", count == 0)


def show_figures(rows: list[dict]) -> None:
    """Each figure on one line: value, goal, met or not."""
    for row in rows:
        print(f"{row['figure']}: {row['value']} (goal {row['goal']}): {'met' if row['met'] else 'NOT met'}")


def show_tables(benchmark: str, tables: dict, rows: list[dict], as_json: bool, **extra) -> None:
    """Each table (pandas frames by title) rounded to 4 places, the figures, and with `as_json` one JSON
    object last: the benchmark's name, its tables by title, its figures and `extra`."""
    for title, table in tables.items():
        print(f"\n{title}")
        print(table.round(4).to_string())
    print()
    show_figures(rows)
    if as_json:
        shown = {title: table.round(4).to_dict(orient="index") for title, table in tables.items()}
        print(json.dumps({"benchmark": benchmark, "tables": shown, "figures": rows} | extra))


def benchmark_parser(doc: str | None, customers: int, customers_help: str | None = None) -> argparse.ArgumentParser:
    """Every benchmark's command line: its docstring as help, the simulated shop's size, and --json; a
    benchmark adds its own options."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=customers, help=customers_help)
    parser.add_argument("--json", action="store_true", help="Print one JSON object last.")
    return parser


def quiet_libraries() -> None:
    """Libraries' INFO lines (MLflow creating its tables, Alembic's migrations) off the benchmark's stderr,
    where its own progress lines go; their warnings still show. Called first in every benchmark's main:
    MLflow configures its logger when imported unless MLFLOW_CONFIGURE_LOGGING says not to, and a level
    set on the logger holds if it was imported before."""
    os.environ.setdefault("MLFLOW_CONFIGURE_LOGGING", "false")
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
