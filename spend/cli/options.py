"""Options and helpers shared by the model and decision commands: the as-of date, input tables and output
files."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from spend.core.errors import SpendError
from spend.core.settings import SpendSettings

if TYPE_CHECKING:
    import pandas as pd

AsOf = Annotated[
    str | None,
    typer.Option(help="As of this date (default: the day after the last purchase, or today's start)."),
]
OutFile = Annotated[Path, typer.Option(help="CSV, Parquet or Excel (.xlsx) file to write.")]
Reidentify = Annotated[bool, typer.Option(help="Add original customer ids from the vault (audited).")]


def default_as_of(settings: SpendSettings) -> pd.Timestamp:
    """The day after the last purchase (today's start if there were purchases today): every label that can be
    complete, is."""
    from spend.training.dataset import latest_day

    return latest_day(settings)


def as_of_date(text: str | None, settings: SpendSettings) -> pd.Timestamp:
    """--as-of as a UTC timestamp; none given: the day after the last purchase (or today: latest_day)."""

    return default_as_of(settings) if text is None else parse_time(text, "--as-of")


def parse_time(text: str, option: str, what: str = "a date") -> pd.Timestamp:
    """A date or time a user typed, as a UTC timestamp (one without a zone is taken as UTC); an error
    names the option."""
    import pandas as pd

    try:
        stamp = pd.Timestamp(text)
    except ValueError as error:
        raise SpendError(f"{option}: {text!r} is not {what}") from error
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


@contextmanager
def named_as_options(options: dict[str, str]) -> Iterator[None]:
    """A check shared with the service names the request's field (`service_level: 1.5 must be ...`); on the
    command line the same message names the option instead (`--service-level: 1.5 must be ...`).
    `options`: the field's name as the message starts with it (or the check's field) -> the option."""
    from spend.models.demand_requests import BadRequest

    try:
        yield
    except BadRequest as error:
        head, sep, rest = str(error).partition(": ")
        if sep and head in options:
            raise SpendError(f"{options[head]}: {rest}") from error
        if error.field in options:
            raise SpendError(f"{options[error.field]}: {error}") from error
        raise
