"""A simulated history that ends today on a calendar that does not move with the day the tests run.

Simulated seasons follow the calendar, so a history simulated to end today ends in another season each
month: a test that "a clean month passes monitoring" then held in December and failed in June, when the
month's purchases drift from the spring its training cohorts saw (seen with the clock at 2027-06-15). The
history is simulated from FIXED_START and every timestamp moved forward by whole days to end today: the
same purchases on any day, only their dates move.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pandas as pd

FIXED_START = date(2025, 12, 6)  # a year before the day these fixtures were first dated this way


def shift_to_today(folder: Path, days: int, columns: dict[str, list[str]]) -> None:
    """Move the timestamp `columns` of each table's CSV in `folder` (simulated from FIXED_START over `days`
    days) forward so that the history ends today."""
    shift = pd.Timedelta(days=(date.today() - (FIXED_START + timedelta(days=days))).days)
    for table, names in columns.items():
        path = folder / f"{table}.csv"
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        for name in names:
            times = pd.to_datetime(frame[name].where(frame[name] != ""), utc=True, format="ISO8601") + shift
            frame[name] = times.dt.strftime("%Y-%m-%dT%H:%M:%SZ").fillna("")
        frame.to_csv(path, index=False)
