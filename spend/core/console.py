"""Terminal helpers shared by every `spend` command: step progress bars, JSON output, one-line errors."""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import click
import typer
from pydantic import ValidationError
from pydantic_settings import SettingsError
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from spend.core.errors import DAMAGED_STORE, SpendError, SpendWarning, first_line

# The --json option every counting command takes: one JSON object on stdout, nothing else there.
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout instead of tables.")]

# Results (tables, summaries, decisions) on stdout, so `spend quality > q.txt` keeps them; progress bars,
# warnings and errors on stderr. Under --json a command prints its one JSON object instead of results.
# Markup off: what Spend prints carries the user's own words (file and column names, ids, values), and
# rich read a column named "Price [/incl. VAT]" as a closing tag and ended the command in a traceback.
# Styled words are marked with `styled` instead.
console = Console(markup=False)
errors = Console(stderr=True, markup=False)


def styled(head: str, style: str, rest: str = "") -> Text:
    """`head` in `style`, then `rest` exactly as given."""
    return Text.assemble((head, style), rest)


@contextmanager
def step_progress(title: str, steps: Sequence[str], enabled: bool = True) -> Iterator[Callable[[str], None]]:
    """Yield a callback `step(name)`; the bar advances as each named step starts. Each step's seconds go
    to the log (SPEND_HOME/logs), so a slow run says which step was slow."""
    timer = _StepTimer(title)
    if not enabled:
        yield timer.start
        timer.start(None)
        return
    with _bar() as progress:
        task = progress.add_task(title, total=len(steps))

        def step(name: str) -> None:
            if timer.name is not None:  # the step before ends here
                progress.advance(task)
            timer.start(name)
            progress.update(task, description=f"{title}: {name}")

        yield step
        timer.start(None)
        progress.update(task, completed=len(steps), description=f"{title}: done")


class _StepTimer:
    def __init__(self, title: str) -> None:
        self.title, self.name, self.began = title, None, 0.0

    def start(self, name: str | None) -> None:
        now = time.perf_counter()
        if self.name is not None:
            logging.getLogger("spend.steps").info("%s: %s took %.1f s", self.title, self.name, now - self.began)
        self.name, self.began = name, now


@contextmanager
def count_progress(title: str, enabled: bool = True) -> Iterator[Callable[[int, int], None]]:
    """Yield a callback `done(count, total)` for work counted in items (products, series)."""
    if not enabled:
        yield lambda count, total: None
        return
    with _bar() as progress:
        task = progress.add_task(title, total=None)
        try:
            yield lambda count, total: progress.update(task, completed=count, total=total)
        finally:  # nothing counted (a model read, not fitted, or an error first): no "0/None" left
            if progress.tasks[0].total is None:
                progress.remove_task(task)


def _bar() -> Progress:
    return Progress(
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=errors,
        transient=False,
    )


def print_json(payload: dict) -> None:
    """One strict JSON object on stdout: NaN and infinities are null, numpy and pandas scalars plain."""
    sys.stdout.write(json.dumps(plain(payload), indent=2, allow_nan=False, default=str) + "\n")


def print_summary(summary: dict) -> None:
    """A command's summary for people, on one line: the pairs `--json` prints, as words."""
    console.print("; ".join(f"{k.replace('_', ' ')}: {_shown(v)}" for k, v in plain(summary).items()), highlight=False)


def _shown(value) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {_shown(v)}" for k, v in value.items()) or "none"
    if isinstance(value, list):
        return ", ".join(_shown(v) for v in value) or "none"
    if isinstance(value, bool) or value is None:
        return {True: "yes", False: "no", None: "-"}[value]
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.4f}".rstrip("0").rstrip(".")
    return str(value)


def plain(value):
    """`value` with only JSON's types: NaN and infinities become None (JSON has no NaN)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes) and getattr(value, "ndim", 0) == 0:
        value = value.item()  # numpy and pandas scalars
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "isoformat"):
        return None if value != value else value.isoformat()  # NaT is not equal to itself
    return value


def fail(message: str, as_json: bool = False) -> None:
    """One `error:` line on stderr (and, under --json, `{"error": ...}` on stdout), exit code 2."""
    errors.print(styled("error:", "bold red", f" {message}"), highlight=False, soft_wrap=True)
    if as_json:
        sys.stdout.write(json.dumps({"error": message}) + "\n")
    raise typer.Exit(code=2)


class _LogFile(logging.FileHandler):
    """A log file made (with its folder) on the first record, so a command that logs nothing leaves none."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, delay=True, encoding="utf-8")

    def _open(self):
        Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
        return super()._open()

    def emit(self, record: logging.LogRecord) -> None:
        # A home that cannot hold a log (not creatable, read-only, full) drops the record: raising here
        # turned the command's own one-line error into a traceback.
        try:
            super().emit(record)
        except OSError:
            pass


def log_path() -> Path:
    return Path(os.environ.get("SPEND_HOME", ".spend")) / "logs" / "spend.log"


def configure_output(verbose: bool = False) -> None:
    """Keep the terminal for Spend's own words: libraries' log lines and warnings (MLflow's, SQLAlchemy's,
    Alembic's, Feast's) go to SPEND_HOME/logs/spend.log, and to the terminal too with --verbose. Spend's
    own warnings are printed once each as one bold line."""
    os.environ.setdefault("MLFLOW_CONFIGURE_LOGGING", "false")  # MLflow's records reach the root logger
    os.environ["SPEND_VERBOSE"] = "1" if verbose else "0"
    for stream in (console, errors):
        if not stream.is_terminal:  # a file or a pipe: no terminal to fit, and cut columns lose results
            stream.width, stream.soft_wrap = 200, True  # tables up to 200 columns, sentences never wrapped
    if not console.is_terminal and "TERMINAL_WIDTH" not in os.environ:
        import typer.rich_utils

        # Typer's own knob (TERMINAL_WIDTH, read when typer is imported): `--help` piped to a file or a
        # pager was cut at 80 columns, option names included.
        typer.rich_utils.MAX_WIDTH = 120
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
        errors.print(styled("warning:", "bold yellow", f" {message}"), highlight=False, soft_wrap=True)

    warnings.showwarning = show


def _unparsed_setting(error: SettingsError) -> str:
    """pydantic-settings' message names the field in quotes and the source; the cause says what failed."""
    import re

    field = re.search(r'field "(\w+)"', str(error))
    name = f"SPEND_{field.group(1).upper()}" if field else "a SPEND_ variable"
    cause = f" ({error.__cause__})" if error.__cause__ else ""
    example = JSON_EXAMPLES.get(name, JSON_EXAMPLES["SPEND_RETENTION_DAYS"])
    return f"setting {name}: not valid JSON{cause}; give it as JSON, e.g. {example}"


JSON_EXAMPLES = {  # the settings read as JSON, each with an example of its own kind
    "SPEND_RETENTION_DAYS": "SPEND_RETENTION_DAYS='{\"transactions\": 730}'",
    "SPEND_CURRENCIES": 'SPEND_CURRENCIES=\'["GBP", "EUR"]\'',
    "SPEND_TIERS": 'SPEND_TIERS=\'["bronze", "silver", "gold"]\'',
}


def _refused_path(error: OSError) -> str:
    """The file system's refusal in one line; inside the home, what the home must be."""
    home = Path(os.environ.get("SPEND_HOME", ".spend")).absolute()
    where = Path(os.fsdecode(error.filename)).absolute()
    inside = where == home or home in where.parents
    hint = f" (SPEND_HOME is {home}: it must be creatable and writable)" if inside else ""
    return f"{error.strerror}: {error.filename}{hint}"


# Where a damaged Parquet file under the home came from, and what writes it again.
DAMAGED_FILES = {
    "features": "a feature snapshot file cannot be read: `spend features build` writes the snapshots again",
    "offline": f"a stored file cannot be read: {DAMAGED_STORE}",
    "published": "a published file cannot be read: `spend publish` writes the publication again",
}


def _damaged_file(error: Exception) -> str | None:
    """Arrow's refusal to read a Parquet file under the home, in one line saying what writes it again."""
    if type(error).__name__ != "ArrowInvalid" or "Parquet" not in str(error):
        return None
    given = os.environ.get("SPEND_HOME", ".spend")
    for home in (str(Path(given).absolute()), given.rstrip(os.sep)):  # paths reach Arrow either way
        for folder, advice in DAMAGED_FILES.items():
            marker = f"{home}{os.sep}{folder}{os.sep}"
            if marker in str(error):
                name = str(error).split(marker, 1)[1].split("'", 1)[0]
                return f"{advice} ({folder}/{name})"
    return None


def _damaged_store(error: Exception) -> str | None:
    """A damaged SQLite database or Feast registry under the home, in one line saying what it is."""
    name, text = type(error).__name__, str(error)
    if name == "DecodeError" and "feast.core.Registry" in text:
        return (
            "the feature registry (SPEND_HOME/feast/registry.db) cannot be read: move it away, then "
            "`spend features apply` and `spend features materialize` write it again"
        )
    orig = getattr(error, "orig", None)  # SQLAlchemy wraps the driver's error: MLflow's store
    if (
        name == "DatabaseError"
        and type(orig).__name__ == "DatabaseError"
        and type(error).__module__.startswith("sqlalchemy")
    ):
        return (
            f"the model registry's database cannot be read ({orig}): restore SPEND_HOME/mlflow/mlflow.db (or the "
            "database SPEND_TRACKING_URL names) from a backup"
        )
    return None


def user_errors(command: Callable) -> Callable:
    """Turn SpendError and bad settings into one line on stderr and exit code 2, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        as_json = bool(kwargs.get("json_output"))
        try:
            return command(*args, **kwargs)
        except SpendError as error:
            fail(str(error), as_json)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or error.title
            fail(f"setting SPEND_{where.upper()}: {first['msg']}", as_json)
        except SettingsError as error:  # an environment value that is not JSON where the setting needs it
            fail(_unparsed_setting(error), as_json)
        except (typer.Exit, click.exceptions.ClickException, click.exceptions.Abort):
            raise
        except Exception as error:  # noqa: BLE001 - a user never sees a traceback; the log keeps it
            logging.getLogger("spend").exception("unexpected error in %s", command.__name__)
            if isinstance(error, OSError) and error.filename:  # the file system refused: say where
                fail(_refused_path(error), as_json)
            if damaged := _damaged_file(error) or _damaged_store(error):
                fail(damaged, as_json)
            first = first_line(error)  # one line: the log has the rest
            fail(f"unexpected {type(error).__name__}: {first} (the details are in {log_path()})", as_json)

    return wrapper
