"""`spend monitor`: drift, data quality and live quality of every champion (training/monitoring.py)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from spend.core.console import JsonFlag, console, print_json, step_progress, styled, user_errors
from spend.core.errors import SpendError
from spend.core.settings import SpendSettings


@user_errors
def monitor_command(
    model: Annotated[list[str] | None, typer.Option("--model", help="Only this model (repeatable).")] = None,
    json_output: JsonFlag = False,
) -> None:
    """Compare today's inputs with each champion's training inputs (PSI, missing share, range), score the
    data quality, and check realised quality once labels arrive; exit code 1 on a breach."""
    from spend.core.registry import spec
    from spend.training.monitoring import monitor

    settings = SpendSettings()
    names = None if not model else [spec(m.removeprefix("spend-")).name for m in model]
    with step_progress("monitor", ("check",), enabled=not json_output):
        result = monitor(settings, names)
    if not result["models"]:
        raise SpendError("no champion to monitor; train one first (`spend train churn` or `spend demo`)")
    breached = any(m.get("status") == "breach" for m in result["models"].values())
    if json_output:
        print_json(result)
    else:
        _show(result)
    if breached:
        raise typer.Exit(1)


def _show(result: dict) -> None:
    summary = Table(
        "model", "version", "status", "drifted features", "live quality", title=f"as of {result['as_of'][:10]}"
    )
    for name, checked in result["models"].items():
        features = checked.get("features", [])
        drifted = sum(1 for f in features if f["breach"])
        live = checked.get("live", {})
        shown = f"{live['value']:.3f} (holdout {live['holdout']:.3f})" if "value" in live else live.get("status", "")
        summary.add_row(
            name, str(checked.get("version", "")), checked["status"], f"{drifted} of {len(features)}", shown
        )
    console.print(summary)
    for name, checked in result["models"].items():
        for breach in checked.get("breaches", []):
            console.print(styled(name, "red", f": {breach}"), highlight=False)
        for note in checked.get("notes", []):
            console.print(f"{name}: {note}", highlight=False)
