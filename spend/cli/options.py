"""Options and helpers shared by the model and decision commands: the as-of date, input tables and output
files."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from spend.core.errors import SpendError
from spend.core.settings import SpendSettings

if TYPE_CHECKING:
    import pandas as pd

AsOf = Annotated[str | None, typer.Option(help="As of this date (default: the day after the last purchase).")]
OutFile = Annotated[Path, typer.Option(help="CSV or Parquet file to write.")]
Reidentify = Annotated[bool, typer.Option(help="Add original customer ids from the vault (audited).")]


def check_out(out: Path) -> None:
    # Before any work, and before any audit record of an export that would then fail.
    if out.suffix.lower() not in (".csv", ".parquet"):
        raise SpendError(f"--out: {out.name} must end in .csv or .parquet")


def read_table(path: Path, option: str) -> pd.DataFrame:
    """A CSV or Parquet file a user hands to `option` (ids kept as text); any failure is one error naming
    the option and the file."""
    import pandas as pd

    if not path.is_file():
        raise SpendError(f"{option}: {path} is not a file")
    try:
        if path.suffix.lower() == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, dtype={"product_id": str, "store_id": str})
    except Exception as error:  # noqa: BLE001 - any unreadable file is the same user error
        raise SpendError(f"{option}: {path.name} cannot be read: {error}") from error


def default_as_of(settings: SpendSettings) -> pd.Timestamp:
    """The day after the last purchase: every label that can be complete, is."""
    import pandas as pd

    from spend.features.ingest.store import OfflineStore
    from spend.training.dataset import purchase_times

    return purchase_times(OfflineStore(settings.paths))["ts"].max().normalize() + pd.Timedelta(days=1)


def as_of_date(text: str | None, settings: SpendSettings) -> pd.Timestamp:
    """--as-of as a UTC timestamp; none given: the day after the last purchase."""
    import pandas as pd

    if text is None:
        return default_as_of(settings)
    try:
        stamp = pd.Timestamp(text)
    except ValueError as error:
        raise SpendError(f"--as-of: {text!r} is not a date") from error
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
