"""Rows of an export that hold no record, each with its own reason: unreadable rows (a CSV row whose
fields do not match the header, a JSON line that is not an object), blank rows, the header repeated,
and the export's own totals lines. Their fields are empty or are sums, so no field's rule is what is
wrong with them."""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pandas as pd

from spend.features.ingest.json_rows import NOT_JSON
from spend.features.ingest.parse import blank
from spend.features.ingest.readers import MALFORMED, header_texts
from spend.features.schema.fields import TEXT

FIELD_COUNT = "row:field_count"  # a CSV row with more or fewer fields than its header: nothing can be read of it
NOT_JSON_OBJECT = "row:not_json_object"  # a JSON Lines line that is not one object with each key once
BLANK = "row:blank"  # every field empty (a spreadsheet's trailing rows): no record, said as such
HEADER = "row:repeated_header"  # the header again (exports joined one after another): no record
TOTALS = "row:totals_line"  # the export's sum of the lines above (`Total`, `Grand total`): not a sale

REASONS = (FIELD_COUNT, NOT_JSON_OBJECT, BLANK, HEADER, TOTALS)


def no_record_rows(raw: pd.DataFrame, mapping: dict[str, str], required: list[str]) -> pd.DataFrame:
    """Failures (row, reason) of every row that holds no record, a reason per row."""
    found = [malformed_rows(raw), blank_rows(raw), header_rows(raw, mapping), totals_rows(raw, required)]
    return pd.concat(found).drop_duplicates("row")


def malformed_rows(raw: pd.DataFrame) -> pd.DataFrame:
    """Failures (row, reason) of the rows nothing could be read of (readers.MALFORMED): CSV rows whose fields
    did not match the header, JSON Lines lines that are not an object."""
    if MALFORMED not in raw:
        return pd.DataFrame({"row": [], "reason": []})
    texts = raw.loc[raw[MALFORMED].notna(), MALFORMED]
    reasons = np.where(texts.str.startswith(NOT_JSON).to_numpy(dtype=bool), NOT_JSON_OBJECT, FIELD_COUNT)
    return pd.DataFrame({"row": texts.index, "reason": reasons})


def header_rows(raw: pd.DataFrame, mapping: dict[str, str]) -> pd.DataFrame:
    """Failures (row, reason) of the rows that repeat the file's header in every column."""
    texts = header_texts([c for c in raw.columns if c != MALFORMED], mapping)

    def named(name: str, values: pd.Series) -> np.ndarray:
        return (values.astype(TEXT).str.strip() == texts[name]).fillna(False).to_numpy(dtype=bool)

    return pd.DataFrame({"row": raw.index[_in_every_column(raw, named)], "reason": HEADER})


def blank_rows(raw: pd.DataFrame) -> pd.DataFrame:
    """Failures (row, reason) of the rows whose every field is empty."""
    empty = _in_every_column(raw, lambda name, values: blank(values).to_numpy(dtype=bool))
    if MALFORMED in raw:  # an unsplit row has its own reason
        empty &= raw[MALFORMED].isna().to_numpy()
    return pd.DataFrame({"row": raw.index[empty], "reason": BLANK})


def _in_every_column(raw: pd.DataFrame, holds: Callable[[str, pd.Series], np.ndarray]) -> np.ndarray:
    """Which rows `holds(column, values)` is true for in every column of the file; a column at a time,
    over the rows it still holds for (few: most rows fail in their first column)."""
    names = [c for c in raw.columns if c != MALFORMED]
    every = np.full(len(raw), bool(names))
    for name in names:
        rows = np.flatnonzero(every)
        if not len(rows):
            break
        every[rows] = holds(name, raw[name].iloc[rows])
    return every


# A cell that names the row a sum: "Total", "TOTAL:", "Grand total", "Totals", "Subtotal", "Sum".
_TOTAL_WORD = re.compile(r"^\s*(grand\s+|sub\s*)?totals?\s*:?\s*$|^\s*sum\s*:?\s*$", re.IGNORECASE)


def totals_rows(raw: pd.DataFrame, required: list[str]) -> pd.DataFrame:
    """Failures (row, reason) of the export's totals lines: a cell that says Total (or Grand total,
    Subtotal, Sum) on a row that leaves blank a field that may not be (`required`). A product named
    "Total" on a complete line, an anonymous one included, is a sale like any other."""
    names = [c for c in raw.columns if c != MALFORMED]
    some_blank = np.zeros(len(raw), dtype=bool)
    for name in (c for c in required if c in raw.columns):
        some_blank |= blank(raw[name]).to_numpy(dtype=bool)
    rows = np.flatnonzero(some_blank)
    said = np.zeros(len(rows), dtype=bool)
    for name in names:
        values = raw[name].iloc[rows].astype(TEXT)
        said |= values.str.match(_TOTAL_WORD).fillna(False).to_numpy(dtype=bool)
    return pd.DataFrame({"row": raw.index[rows[said]], "reason": TOTALS})
