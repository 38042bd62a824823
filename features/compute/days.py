"""The shop's days: daily snapshots count days from the shop's local midnight (SPEND_TIMEZONE), not
from midnight UTC, so a store eight hours behind UTC keeps its evening sales in the day they were made.
A store whose lines name another zone (`time_zone`, as Square exports it) has its product x store days
cut at its own midnight (`StoreClocks`); chain-wide figures (a product's price) keep the shop's.

Daily windows are computed on wall-clock seconds (an instant plus its zone's offset then), where every
local day is 86,400 seconds and midnight is a multiple of them, so the window arithmetic of
features/compute/windows.py is unchanged; each cut-off is then turned back into the instant its local
midnight was. In UTC both conversions are the identity.
"""

from __future__ import annotations

from collections.abc import Mapping
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


@dataclass(frozen=True)
class StoreClocks:
    """The shop's clock, and the stores that keep another one: (store_id, zone) pairs."""

    shop: ShopClock = UTC
    stores: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, shop: ShopClock, zones: Mapping[str, str]) -> StoreClocks:
        return cls(shop, tuple(sorted((str(k), v) for k, v in zones.items() if v != shop.zone)))

    @property
    def zones(self) -> dict[str, str]:
        return dict(self.stores)

    def zone_of(self, store_ids) -> np.ndarray:
        """Each store's zone (the shop's where its lines name none)."""
        ids = pd.Series(np.asarray(store_ids, dtype=object)).astype(str)
        return ids.map(self.zones).fillna(self.shop.zone).to_numpy(dtype=object)

    def local(self, stamps: pd.Series, store_ids) -> pd.Series:
        """Each instant as its store's clock showed it, without a zone (in the instants' own time unit: a
        day centuries ahead still compares)."""
        if not self.stores:
            return stamps.dt.tz_convert(self.shop.zone).dt.tz_localize(None)
        zones = self.zone_of(store_ids)
        out = pd.Series(pd.NaT, index=stamps.index, dtype=f"datetime64[{stamps.dt.unit}]")
        for name in pd.unique(zones):
            mine = zones == name
            out[mine] = stamps[mine].dt.tz_convert(name).dt.tz_localize(None).to_numpy()
        return out

    def days_ended(self, cutoffs: pd.Series, store_ids) -> pd.Series:
        """The calendar day that ended at each cut-off (a product x store snapshot's event_timestamp), on
        its store's clock."""
        return self.local(cutoffs, store_ids).dt.normalize() - pd.Timedelta(days=1)


def store_zones(lines: pd.DataFrame) -> dict[str, str]:
    """Each store's zone: the one most of its lines name (`time_zone`; ties to the first in order). A store
    whose lines name none keeps the shop's clock, and so does every store of a history without zones."""
    if "time_zone" not in lines.columns or "store_id" not in lines.columns:
        return {}
    named = lines[["store_id", "time_zone"]].dropna()
    if named.empty:
        return {}
    counts = named.astype(str).value_counts().reset_index(name="n")
    counts = counts.sort_values(["store_id", "n", "time_zone"], ascending=[True, False, True], kind="stable")
    first = counts.drop_duplicates("store_id")
    return dict(zip(first["store_id"], first["time_zone"], strict=True))
