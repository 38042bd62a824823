"""Lists of the shop's own customer ids a user hands a command (an erasure request, an offer exclusion
list): one id per line, or a CSV (comma, semicolon or tab), Excel or Parquet file's column of them.

A list is read whole or refused: a CSV row read as one id ("C1,anna@example.com") is an id nobody has,
so the customer it names would silently stay (not erased, not excluded).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from spend.core.errors import SpendError

# No customer id holds one of these (the id's pattern, docs/data-dictionary.md), so a line holding one is a
# CSV row.
DELIMITERS = (",", ";", "\t")


def read_id_list(path: Path, option: str, column: str, column_option: str, refused: str) -> list[str]:
    """The ids in `path`, handed to `option`; a table's ids are in `column` (named by `column_option`).
    `refused` says what did not happen when the list cannot be read whole ("nothing was erased")."""
    from spend.core.files import user_text

    where = _Where(option, path.name, column, column_option, refused)
    if path.suffix.lower() in (".xlsx", ".parquet"):
        return _ids_in_table(path, where)
    lines = [line for line in user_text(path, option).splitlines() if line.strip()]
    if not any(mark in line for line in lines for mark in DELIMITERS):
        ids = [line.strip() for line in lines]
        return ids[1:] if ids[:1] == [column] else ids  # a one-column CSV's header is no id
    return _ids_in_csv(lines, where)


@dataclass(frozen=True)
class _Where:
    """What the messages name: the option, the file, the ids' column and the option naming it, and what
    did not happen."""

    option: str
    name: str
    column: str
    column_option: str
    refused: str


def _ids_in_csv(lines: list[str], where: _Where) -> list[str]:
    import csv

    delimiter = next((mark for mark in DELIMITERS if mark in lines[0]), None)
    if delimiter is None:
        raise SpendError(
            f"{where.option}: {where.name} holds a ',', ';' or tab after its first line, which no customer id "
            f"holds: give one id per line, or a CSV whose first line names its columns ({where.column} among them)"
        )
    rows = list(csv.reader(lines, delimiter=delimiter))
    header = [cell.strip() for cell in rows[0]]
    at = _column_at(header, where)
    return _every_id([row[at] if at < len(row) else "" for row in rows[1:]], where)


def _ids_in_table(path: Path, where: _Where) -> list[str]:
    """The ids of an Excel sheet's or a Parquet file's column, as text (an id typed as a number is 12345,
    never 12345.0, which nobody has)."""
    from spend.core.user_tables import read_table

    frame = read_table(path, where.option, as_text=True)
    at = _column_at([str(c).strip() for c in frame.columns], where)
    return _every_id([_text(value) for value in frame.iloc[:, at]], where)


def _text(value) -> str:
    if value is None or value != value:  # empty, or NaN
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _column_at(header: list[str], where: _Where) -> int:
    if where.column not in header:
        raise SpendError(
            f"{where.option}: {where.name} has no column {where.column!r} (its columns: {', '.join(header)}); "
            f"name the one holding the customer ids with {where.column_option}"
        )
    return header.index(where.column)


def _every_id(values: list[str], where: _Where) -> list[str]:
    """Every row's id, or one error naming the lines (the header is line 1) without one."""
    blank = [n for n, value in enumerate(values, start=2) if not value.strip()]
    if blank:
        shown = ", ".join(map(str, blank[:10])) + (" ..." if len(blank) > 10 else "")
        raise SpendError(
            f"{where.option}: {where.name} line(s) {shown} have no {where.column}; {where.refused}: fix or remove them"
        )
    return [value.strip() for value in values]
