"""Which `--ts-format` an export's timestamps are written in, read from the values themselves.

Used two ways. Where timestamps did not parse, the formats exports commonly write are tried on them, and
the ones that read every value are suggested (never applied: 03/04/2011 is in March or in April, and only a
day above 12 somewhere in the file tells which). And where a given `--ts-format` reads some values and
not others while another format reads them all, the file is refused: the values it did read are misread
(a month-first file read day first stores 04/03 as the 4th of March), and storing them would leave wrong
dates behind once the file is ingested again with the right format.
"""

from __future__ import annotations

import re

import pandas as pd

from spend.core.errors import SpendError
from spend.features.ingest.parse import blank

_DAYS = ("%m/%d/%Y", "%d/%m/%Y", "%m/%d/%y", "%d/%m/%y", "%d.%m.%Y", "%d.%m.%y", "%d-%m-%Y", "%m-%d-%Y")
_YEAR_FIRST = ("%Y/%m/%d", "%Y.%m.%d", "%Y%m%d")
_NAMED = ("%d %b %Y", "%d-%b-%Y", "%d %B %Y", "%b %d %Y", "%B %d %Y", "%b %d, %Y", "%B %d, %Y")
# " %I:%M%p": SQL Server's text of a datetime (Sep  1 2026 10:00AM; a space in a format reads any number).
_TIMES = ("", " %H:%M", " %H:%M:%S", " %I:%M %p", " %I:%M:%S %p", " %I:%M%p", " %H.%M")
# RFC 2822, as e-mail, HTTP and PHP's date('r') write it: an offset, or GMT in a word.
_RFC_2822 = ("%a, %d %b %Y %H:%M:%S %z", "%a, %d %b %Y %H:%M:%S %Z")
CANDIDATES = tuple(day + time for day in (*_DAYS, *_YEAR_FIRST, *_NAMED) for time in _TIMES)
CANDIDATES += ("%Y%m%d%H%M%S", *_RFC_2822)

_SAMPLE = 200  # failed values every candidate is tried on first; the few that read them all then meet every value
_DIGITS = re.compile(r"^\d+$")
# A spreadsheet's serial day from 1968 (25000) to 2100 (73051), with or without its time as a fraction.
_SERIAL_DAY = re.compile(r"^(?:2[5-9]\d{3}|[3-6]\d{4}|7[0-2]\d{3}|730[0-4]\d|7305[01])(?:\.\d+)?$")


def readable_formats(values: pd.Series) -> list[str]:
    """Formats (CANDIDATES, `unix` / `unix_ms` for counts since 1970, `excel` for a spreadsheet's serial
    days) that read every non-blank text in `values`, most specific first; empty when none does."""
    text = values.dropna().astype("string").str.strip()
    distinct = pd.Series(text[text != ""].unique(), dtype="string")
    if distinct.empty:
        return []
    epoch = _epoch_unit(distinct)
    if epoch:
        return [epoch]
    if distinct.str.fullmatch(_SERIAL_DAY).all():
        return ["excel"]
    sample = distinct.iloc[:_SAMPLE]
    survivors = [f for f in CANDIDATES if _reads_all(sample, f)]
    return [f for f in survivors if _reads_all(distinct, f)]


def _reads_all(text: pd.Series, ts_format: str) -> bool:
    parsed = pd.to_datetime(text, format=ts_format, errors="coerce", utc=True)  # offsets may differ (%z)
    return bool(parsed.notna().all())


def _epoch_unit(distinct: pd.Series) -> str | None:
    """`unix` for 9-10 digit counts (seconds: 1973-2286), `unix_ms` for 12-13 digit ones."""
    if not distinct.str.fullmatch(_DIGITS).all():
        return None
    lengths = set(distinct.str.len())
    if lengths <= {9, 10}:
        return "unix"
    if lengths <= {12, 13}:
        return "unix_ms"
    return None


def format_hint(formats: list[str]) -> str:
    """One line for the user: the flag to give, or the choice to make when the values cannot settle it."""
    if not formats:
        return ""
    flags = [f"--ts-format {f!r}" for f in formats[:2]]
    if len(formats) == 1:
        return f"the values read as {flags[0]}"
    return (
        f"the values read as {flags[0]} or as {flags[1]}: none of them settles which (a day above 12 "
        "would); give the one the export is written in"
    )


def suggested_formats(raw: pd.DataFrame, fields: list[str], failures: pd.DataFrame, given: str | None) -> list[str]:
    """Formats that read every value of each timestamp field in `fields` with unparsable values (the ones
    --ts-format would apply to); raises where `given` read some of a field's values and another format reads
    them all."""
    common: list[str] | None = None
    for name in fields:
        failed = int((failures["reason"] == f"{name}:unparsable_timestamp").sum())
        if not failed or name not in raw:
            continue
        formats = [f for f in readable_formats(raw[name]) if f != given]
        read = int((~blank(raw[name])).sum()) - failed
        if given is not None and formats and read > 0:
            raise SpendError(
                f"{name}: --ts-format {given!r} read {read:,} values and not {failed:,} others, and "
                f"{format_hint(formats)}; the values it read would be stored misread (a month-first date read "
                "day first, say), so nothing was stored"
            )
        common = formats if common is None else [f for f in common if f in formats]
    return common or []
