"""Terminal helpers shared by every `spend` command: step progress bars, JSON output, one-line errors."""

from __future__ import annotations

import functools
import json
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from spend.core.errors import SpendError

# The --json option every counting command takes: one JSON object on stdout, nothing else there.
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout instead of tables.")]

console = Console(stderr=True)  # progress and tables on stderr, so `--json` stdout stays machine-readable
stdout = Console()


@contextmanager
def step_progress(title: str, steps: Sequence[str], enabled: bool = True) -> Iterator[Callable[[str], None]]:
    """Yield a callback `step(name)`; the bar advances as each named step starts."""
    if not enabled:
        yield lambda step: None
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task(title, total=len(steps))
        seen: list[str] = []

        def step(name: str) -> None:
            if seen:
                progress.advance(task)
            seen.append(name)
            progress.update(task, description=f"{title}: {name}")

        yield step
        progress.update(task, completed=len(steps), description=f"{title}: done")


def print_json(payload: dict) -> None:
    sys.stdout.write(json.dumps(payload, indent=2, sort_keys=False, default=str) + "\n")


def fail(message: str) -> None:
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=2)


def show_warnings_loudly() -> None:
    """Print warnings as one bold line each instead of Python's file:line format."""

    shown: set[str] = set()

    def show(message, category, filename, lineno, file=None, line=None):
        if str(message) in shown:  # one warning per run, not one per table ingested
            return
        shown.add(str(message))
        console.print(f"[bold yellow]warning:[/] {message}", highlight=False, soft_wrap=True)

    warnings.showwarning = show


def user_errors(command: Callable) -> Callable:
    """Turn SpendError and bad settings into one line on stderr and exit code 2, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except SpendError as error:
            fail(str(error))
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or error.title
            fail(f"setting SPEND_{where.upper()}: {first['msg']}")

    return wrapper
