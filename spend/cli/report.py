"""`spend report --out report.html`: one page with every decision's charts (training/report.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from spend.core.console import JsonFlag, console, print_json, step_progress, user_errors
from spend.core.errors import SpendError
from spend.core.files import writable
from spend.core.settings import SpendSettings


@user_errors
def report_command(
    out: Annotated[Path, typer.Option(help="The HTML page to write (self-contained: open it anywhere).")] = Path(
        "report.html"
    ),
    json_output: JsonFlag = False,
) -> None:
    """Data quality, segments, churn bands and calibration, the recall list's value and Qini curves, fraud
    precision-recall and alerts a day, forecasts, price curves and drift, each with a one-line reading."""
    from spend.training.report import build_report
    from spend.training.report_sections import SECTIONS

    if out.suffix.lower() not in (".html", ".htm"):  # r.pdf held an HTML page that no PDF reader opens
        raise SpendError(f"--out: {out.name}: the report is an HTML page; name it .html")
    writable(out, "--out")
    steps = [make.__name__ for make in SECTIONS]
    with step_progress("report", steps, enabled=not json_output) as step:
        made = build_report(SpendSettings(), out, step)
    if json_output:
        print_json(made)
        return
    for title, reading in made["sections"].items():
        console.print(f"{title}: {reading}", highlight=False)
    console.print(f"{made['charts']} charts -> {made['out']}")
