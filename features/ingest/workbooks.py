"""Excel workbooks (.xlsx and .xlsm by openpyxl, Excel 97-2003's .xls by xlrd): the sheet to read
(`--sheet`, else the first), every cell as text, which other sheet holds the table when the first does
not (a summary sheet before the orders, as accounting and POS exports write them), and the sheets that
continue the first (a table longer than Excel's 1,048,576 rows a sheet, split by year as Online Retail
II's workbook is: read from its first sheet alone, half the history was left out without a word)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pandas as pd

from spend.core.errors import SpendError, first_line
from spend.features.schema.fields import TEXT


def read_sheet(path: Path, header_row: int = 1, sheet: str | None = None) -> pd.DataFrame:
    """The sheet as text, its blank-named columns named "" (as a CSV's). A workbook the library cannot
    read (cut short, damaged) is a ValueError saying what it found, whatever the library raised."""
    try:
        with _book(path) as book:
            names = book.sheet_names
            frame = (
                None
                if sheet is not None and sheet not in names
                else book.parse(sheet if sheet is not None else 0, dtype=str, header=header_row - 1)
            )
    except (zipfile.BadZipFile, ValueError):
        raise
    except Exception as error:  # noqa: BLE001 - xlrd's IndexError or openpyxl's KeyError on a damaged file
        raise ValueError(f"a damaged workbook: {type(error).__name__}: {first_line(error)}") from error
    if frame is None:
        raise SpendError(f"--sheet: {path.name} has no sheet {sheet!r}; its sheets: {', '.join(names)}")
    frame.columns = ["" if str(c).startswith("Unnamed: ") else str(c) for c in frame.columns]
    return frame.astype(TEXT)


def sheet_holding(path: Path, known: set[str], header_row: int = 1) -> tuple[str, str, list[str]] | None:
    """(first sheet, the sheet whose header names the most known columns, those names) when the first sheet
    names fewer than two and another names three or more; else None."""
    with _book(path) as book:
        headers = {name: book.parse(name, nrows=0, header=header_row - 1).columns for name in book.sheet_names}
    named = {name: sorted(known & {str(c).strip() for c in columns}) for name, columns in headers.items()}
    first = next(iter(named))
    best = max(named, key=lambda name: len(named[name]))
    if len(named[first]) >= 2 or len(named[best]) < 3:
        return None
    return first, best, named[best]


def sheets_continuing(path: Path, header_row: int = 1) -> list[str]:
    """The workbook's sheets whose column names are the first sheet's, in the workbook's order (the first
    among them); only the first when no other sheet has them; none for a workbook that cannot be read
    (reading its first sheet says why)."""
    try:
        with _book(path) as book:
            names = book.sheet_names
            headers = [[str(c).strip() for c in book.parse(n, nrows=0, header=header_row - 1).columns] for n in names]
    except Exception:  # noqa: BLE001 - any library's error on a damaged file: read_sheet turns it into words
        return []
    return [name for name, header in zip(names, headers, strict=True) if header and header == headers[0]] or names[:1]


def _book(path: Path) -> pd.ExcelFile:
    """The workbook; xlrd's notes on a damaged file go to a buffer, not to the sys.stdout it bound when
    first imported (the user's terminal, or a stream closed since: its notes then raised)."""
    if path.name.lower().endswith(".xls"):
        return pd.ExcelFile(path, engine="xlrd", engine_kwargs={"logfile": io.StringIO()})
    return pd.ExcelFile(path, engine="openpyxl")
