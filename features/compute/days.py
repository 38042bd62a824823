"""The shop's days: daily snapshots count days from the shop's local midnight (SPEND_TIMEZONE), not
from midnight UTC, so a store eight hours behind UTC keeps its evening sales in the day they were made.

Daily windows are computed on wall-clock seconds (an instant plus its zone's offset then), where every
local day is 86,400 seconds and midnight is a multiple of them, so the window arithmetic of
features/compute/windows.py is unchanged; each cut-off is then turned back into the instant its local
midnight was. In UTC both conversions are the identity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

DAY = 86_400
_NS = 1_000_000_000


@dataclass(frozen=True)
class ShopClock:
    zone: str = "UTC"

    @property
    def is_utc(self) -> bool:
        return self.zone == "UTC"

    def wall(self, seconds: np.ndarray) -> np.ndarray:
        """Instants (seconds since 1970 UTC) as the shop's clock showed them, in seconds. The hour a
        daylight-saving night repeats shows twice: its events interleave, on the day they were made."""
        seconds = np.asarray(seconds, dtype=np.int64)
        if self.is_utc or not len(seconds):
            return seconds
        local = pd.DatetimeIndex(seconds * _NS, tz="UTC").tz_convert(self.zone).tz_localize(None)
        return local.asi8 // _NS

    def wall_at(self, stamp: pd.Timestamp) -> int:
        return int(self.wall(np.array([int(pd.Timestamp(stamp).timestamp())]))[0])

    def instant(self, midnights: np.ndarray) -> np.ndarray:
        """Local midnights (wall seconds) as the instants they were; a midnight a daylight-saving change
        skips is the first instant after it, and one it repeats is its first pass."""
        midnights = np.asarray(midnights, dtype=np.int64)
        if self.is_utc or not len(midnights):
            return midnights
        days, at = np.unique(midnights, return_inverse=True)
        local = pd.DatetimeIndex(days * _NS).tz_localize(
            self.zone, ambiguous=np.ones(len(days), dtype=bool), nonexistent="shift_forward"
        )
        return (local.asi8 // _NS)[at]

    def dates(self, stamps: pd.Series) -> pd.Series:
        """The shop's calendar day (naive midnight) of each instant."""
        return stamps.dt.tz_convert(self.zone).dt.tz_localize(None).dt.normalize()


UTC = ShopClock()
