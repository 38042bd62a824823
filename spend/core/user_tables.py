"""Tables users hand to Spend and take from it: CSV, Parquet or Excel, chosen by the file's suffix.

Files for people (CSV and Excel) carry numbers rounded to 4 decimals (money to the cent, probabilities
to a hundredth of a percent): a CSV of 17-digit floats is unreadable and no more exact in practice.
Parquet is for programs and keeps every digit. Excel has no time zones, so times are written in UTC
without one; a table over Excel's row limit is an error naming the limit, not a cut file.

A text cell of a CSV or Excel file that a spreadsheet would run as a formula (it starts with =, +, -, @,
a tab or a carriage return, and is not a number) is written with a leading apostrophe, as OWASP advises
against CSV injection: product names, store ids and quarantined values come from exports anyone could
have typed into, and the files go to marketing and buyers who open them in a spreadsheet.
"""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from spend.core.errors import SpendError
from spend.core.files import writable

if TYPE_CHECKING:
    import pandas as pd

SUFFIXES = (".csv", ".parquet", ".xlsx")
DECIMALS = 4
EXCEL_ROWS = 1_048_575  # Excel's row limit, less the header


MAX_MAGNITUDE = 1e15  # larger than any amount a shop records, in any currency


def numeric_column(frame: pd.DataFrame, column: str, where: str, blank_ok: bool = False) -> pd.Series:
    """A user table's numeric column as floats; text and infinities are refused naming the column and how
    many, and so are blanks unless `blank_ok` (then a blank is NaN: a gap the caller handles)."""
    import numpy as np
    import pandas as pd

    values = pd.to_numeric(frame[column], errors="coerce")
    unreadable = values.isna() & frame[column].notna() if blank_ok else values.isna()
    if count := int(unreadable.sum()):
        what = (
            "non-numeric value(s); give numbers, blank where unknown" if blank_ok else "empty or non-numeric value(s)"
        )
        raise SpendError(f"{where}: column {column} has {count} {what}")
    if count := int(np.isinf(values.to_numpy(dtype=float)).sum()):
        raise SpendError(f"{where}: column {column} has {count} infinite value(s)")
    if count := int((values.abs() > MAX_MAGNITUDE).sum()):
        # their squares overflow in a variance, and no shop's margin or ticket comes near
        raise SpendError(
            f"{where}: column {column} has {count} value(s) beyond {MAX_MAGNITUDE:.0e} in size "
            f"(the largest {values.abs().max():.3g}); is the column in the right unit?"
        )
    return values


def check_out(out: Path) -> None:
    """Before any work (and before any audit record of an export that would then fail)."""
    if out.suffix.lower() not in SUFFIXES:
        raise SpendError(f"--out: {out.name} must end in {', '.join(SUFFIXES)}")
    writable(out, "--out")


def write_table(frame: pd.DataFrame, out: Path) -> None:
    """CSV, Parquet or Excel by suffix."""
    suffix = out.suffix.lower()
    check_out(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".parquet":
        frame.to_parquet(out, index=False)
        return
    readable = for_people(frame)
    if suffix == ".csv":
        readable.to_csv(out, index=False)
        return
    if len(readable) > EXCEL_ROWS:
        raise SpendError(f"--out: {len(readable):,} rows do not fit in Excel ({EXCEL_ROWS:,} at most); use .parquet")
    readable.to_excel(out, index=False, sheet_name=sheet_name(out.stem), engine="openpyxl")


def sheet_name(stem: str) -> str:
    """The file's name as an Excel sheet's: at most 31 characters, without the ones Excel refuses there
    ([ ] : * ? / \\, an apostrophe at either end: `orders[1].xlsx` ended in "Invalid character [ found in
    sheet title"), and not Excel's reserved "History"."""
    name = re.sub(r"[\[\]:*?/\\]", "_", stem)[:31].strip("'")
    return "spend" if not name or name.lower() == "history" else name


def for_people(frame: pd.DataFrame) -> pd.DataFrame:
    """Floats rounded, times in UTC without a zone, text that would run as a formula made inert."""
    import pandas as pd

    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if pd.api.types.is_float_dtype(values):
            out[column] = values.round(DECIMALS)
        elif isinstance(values.dtype, pd.DatetimeTZDtype):
            out[column] = values.dt.tz_convert("UTC").dt.tz_localize(None)
        elif pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values):
            # the few cells that start like a formula, found at once: a million-row export stays quick
            starts = values.astype("string").str.match(FORMULA_PATTERN, na=False).to_numpy(dtype=bool)
            if starts.any():
                out.loc[starts, column] = values[starts].map(inert)
    return out


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
FORMULA_PATTERN = "[" + re.escape("".join(FORMULA_STARTS)) + "]"  # the same starts, for a vectorised match


def inert(cell):
    """A text cell a spreadsheet would run as a formula, behind an apostrophe; anything else as it is."""
    if not isinstance(cell, str) or not cell.startswith(FORMULA_STARTS):
        return cell
    try:
        float(cell)
    except ValueError:
        return "'" + cell
    return cell  # "-5" or "+1.5" is a number, which no spreadsheet runs


ID_COLUMNS = ("product_id", "store_id", "customer_id")


def read_table(path: Path, option: str, as_text: bool = False, names: tuple[str, ...] = ()) -> pd.DataFrame:
    """A CSV, Parquet or Excel file a user hands to `option` (ids kept as text; with `as_text`, every cell
    of a CSV or Excel file: its id column may have any name); any failure is one error naming the option
    and the file. Given `names` (the columns a command reads by name), a column that is one of them or of
    the ids written as a spreadsheet writes it ("Product ID", "Price") takes its name, read as text where
    it is an id ("00123" stays "00123"), and a column that looks like a misspelling of one of them is
    refused; without, a file's names are kept (a column the user names)."""
    import pandas as pd

    if not path.is_file():
        raise SpendError(f"{option}: {path} is not a file")
    try:
        suffix = path.suffix.lower()
        if suffix == ".parquet":
            frame = pd.read_parquet(path)
            frame = frame.rename(columns=plain_renames(frame.columns, (*names, *ID_COLUMNS) if names else ()))
        else:
            plain = suffix in (".csv", ".tsv", ".txt")  # a compressed CSV is read as pandas reads it: commas
            sep = None if suffix == ".xlsx" else delimiter_of(_header_line(path)) if plain else ","
            read = partial(pd.read_csv, sep=sep) if sep else partial(pd.read_excel, engine="openpyxl")
            renames = plain_renames(read(path, nrows=0).columns, (*names, *ID_COLUMNS) if names else ())
            ids = {c: str for c in ID_COLUMNS} | {c: str for c, n in renames.items() if n in ID_COLUMNS}
            commas = sep == ";" and not as_text
            frame = read(path, dtype=str if as_text or commas else ids).rename(columns=renames)
            if commas:
                frame = _numbers_of(frame, set(ID_COLUMNS))
    except Exception as error:  # noqa: BLE001 - any unreadable file is the same user error
        raise SpendError(f"{option}: {path.name} cannot be read: {error}") from error
    if names:
        _no_misspelt(frame.columns, names, option, path)
    return frame


DELIMITERS = (",", ";", "\t", "|")
# A number as a spreadsheet with a decimal comma writes it: 12,50 or 1.234,50 (points group thousands).
DECIMAL_COMMA = r"[+-]?(?:\d{1,3}(?:\.\d{3})+|\d+)(?:,\d+)?"


def delimiter_of(header: str) -> str:
    """`,` unless the header line holds no comma and does hold semicolons, tabs or pipes: Excel saves CSV
    with `;` where the decimal mark is a comma (so data rows hold commas), and text exports use tabs."""
    return next((d for d in DELIMITERS if d in header), ",")


def _header_line(path: Path) -> str:
    with path.open(encoding="utf-8-sig", errors="replace") as lines:
        return lines.readline()


def _numbers_of(frame: pd.DataFrame, ids: set[str]) -> pd.DataFrame:
    """A semicolon CSV's columns as a comma-CSV's are read (numbers where every value is one), its numbers
    written with a decimal comma (`12,50`, `1.234,50`: Excel's CSV where the comma is the decimal mark)
    read as such; ids stay text. A column mixing the two marks (`1.5` beside `12,50`) stays text, so the
    command reading it names it rather than take 1.5 for 15."""
    import pandas as pd

    for column in frame.columns:
        if column in ids:
            continue
        text = frame[column].str.strip()
        given = text.dropna()
        if given.str.contains(",", regex=False).any() and given.str.fullmatch(DECIMAL_COMMA).all():
            text = text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
        try:
            frame[column] = pd.to_numeric(text)
        except (ValueError, TypeError):
            continue  # text, as read_csv would leave it
    return frame


def _no_misspelt(columns, names: tuple[str, ...], option: str, path: Path) -> None:
    """Refuses a column that looks like a misspelling of a name the command reads, where the file lacks
    that name: a product file's `flor` or `cpa` was ignored, so the quote went past the floor or cap the
    user meant. Other columns (a product's name, an old price) are left alone."""
    from difflib import SequenceMatcher

    given = {_plain(c) for c in columns}
    absent = {_plain(n): n for n in names if _plain(n) not in given}
    for column in columns:
        plain = _plain(column)
        for wanted, name in absent.items():
            if sorted(plain) == sorted(wanted) or SequenceMatcher(None, plain, wanted).ratio() >= 0.75:
                raise SpendError(
                    f"{option}: {path.name} has a column {str(column)!r} that Spend does not read; did you mean "
                    f"{name!r}? Rename it (the columns read: {', '.join(names)})"
                )


def plain_renames(columns, names: tuple[str, ...]) -> dict:
    """{column: name} for each column that is one of `names` written another way (case, spaces, hyphens,
    underscores), where the file holds neither the name itself nor a second way of writing it."""
    wanted = {_plain(name): name for name in names}
    meant = {c: wanted.get(_plain(c)) for c in columns}
    targets = [t for t in meant.values() if t is not None]
    return {c: t for c, t in meant.items() if t is not None and c != t and targets.count(t) == 1}


def _plain(name) -> str:
    return "".join(ch for ch in str(name).lower() if ch not in " _-\t")
