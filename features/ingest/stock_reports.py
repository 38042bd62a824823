"""Stock reports without a date (`spend ingest FILE --table inventory --counted-at TIME`): an ERP's or a
POS's "stock on hand" export lists each product and store's units now, with no column saying when. The
time given is every row's count time, read as any `ts` (SPEND_TIMEZONE, or the --ts-format given), so
the rules that hold for a dated report (not in the future, not before SPEND_EARLIEST_TS) hold for it.
"""

from __future__ import annotations

import pandas as pd

from spend.core.errors import SpendError


def with_count_time(raw: pd.DataFrame, table: str, counted_at: str) -> pd.DataFrame:
    """`raw` with `counted_at` as every row's ts, or one error naming why it cannot be."""
    if table != "inventory":
        raise SpendError(
            f"--counted-at: only stock counts (--table inventory) take one time for every row, not {table}"
        )
    if "ts" in raw.columns:
        raise SpendError("--counted-at: the file has a ts column of its own; leave --counted-at out")
    if not counted_at.strip():
        raise SpendError("--counted-at: give the time the stock was counted, e.g. '2026-12-05 21:00'")
    return raw.assign(ts=counted_at.strip())
