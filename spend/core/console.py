"""Terminal helpers shared by every `spend` command: step progress bars, JSON output, one-line errors."""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import click
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from spend.core.errors import SpendError, SpendWarning

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
    with _bar() as progress:
        task = progress.add_task(title, total=len(steps))
        seen: list[str] = []

        def step(name: str) -> None:
            if seen:
                progress.advance(task)
            seen.append(name)
            progress.update(task, description=f"{title}: {name}")

        yield step
        progress.update(task, completed=len(steps), description=f"{title}: done")


@contextmanager
def count_progress(title: str, enabled: bool = True) -> Iterator[Callable[[int, int], None]]:
    """Yield a callback `done(count, total)` for work counted in items (products, series)."""
    if not enabled:
        yield lambda count, total: None
        return
    with _bar() as progress:
        task = progress.add_task(title, total=None)
        yield lambda count, total: progress.update(task, completed=count, total=total)


def _bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def print_json(payload: dict) -> None:
    sys.stdout.write(json.dumps(payload, indent=2, sort_keys=False, default=str) + "\n")


def fail(message: str) -> None:
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=2)


class _LogFile(logging.FileHandler):
    """A log file made (with its folder) on the first record, so a command that logs nothing leaves none."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, delay=True, encoding="utf-8")

    def _open(self):
        Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
        return super()._open()


def log_path() -> Path:
    return Path(os.environ.get("SPEND_HOME", ".spend")) / "logs" / "spend.log"


def configure_output(verbose: bool = False) -> None:
    """Keep the terminal for Spend's own words: libraries' log lines and warnings (MLflow's, SQLAlchemy's,
    Alembic's, Feast's) go to SPEND_HOME/logs/spend.log, and to the terminal too with --verbose. Spend's
    own warnings are printed once each as one bold line."""
    os.environ.setdefault("MLFLOW_CONFIGURE_LOGGING", "false")  # MLflow's records reach the root logger
    os.environ["SPEND_VERBOSE"] = "1" if verbose else "0"
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    for handler in [h for h in root.handlers if getattr(h, "spend", False)]:  # a second run in one process
        root.removeHandler(handler)
        handler.close()
    file = _LogFile(log_path())
    file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handlers = [file, logging.StreamHandler(sys.stderr)] if verbose else [file]
    for handler in handlers:
        handler.spend = True
        root.addHandler(handler)
    shown: set[str] = set()

    def show(message, category, filename, lineno, file=None, line=None):
        if not (verbose or issubclass(category, SpendWarning)):
            logging.getLogger("py.warnings").warning("%s:%s: %s: %s", filename, lineno, category.__name__, message)
            return
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
        except (typer.Exit, click.exceptions.ClickException, click.exceptions.Abort):
            raise
        except Exception as error:  # noqa: BLE001 - a user never sees a traceback; the log keeps it
            logging.getLogger("spend").exception("unexpected error in %s", command.__name__)
            fail(f"unexpected {type(error).__name__}: {error} (the details are in {log_path()})")

    return wrapper
