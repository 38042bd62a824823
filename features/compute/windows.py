"""Windowed sums over per-entity event streams, evaluated at many cut-off times at once.

Events are sorted by (entity, time) into one array with cumulative sums; the sum of an entity's
events in [cutoff - window, cutoff) is then two binary searches and a subtraction, vectorised over
millions of (entity, cutoff) pairs. Events at or after the cut-off never count: no future leakage.

The running sums restart at each entity, so an entity's windows are computed from its own events only:
they come out the same whichever other entities share the index (one process, or a Spark partition).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

_SHIFT = np.int64(1) << np.int64(36)  # seconds since 1970 fit in 36 bits until year 4147


@dataclass
class EventIndex:
    keys: np.ndarray  # sorted composite keys: entity code << 36 | seconds, and each entity's closing key
    running: dict[str, np.ndarray]  # per value column: the entity's own sum of the events before each key
    order: np.ndarray  # sorted position -> position in the arrays given to build (-1: a closing key)

    @classmethod
    def build(cls, codes: np.ndarray, seconds: np.ndarray, values: dict[str, np.ndarray]) -> EventIndex:
        """Each entity's events, then one closing key (its code, the largest time) that no cut-off reaches:
        a search never leaves an entity's own slots, and the running sum at its closing key is its total,
        so a window is one subtraction, with no test of where the entity starts."""
        codes = codes.astype(np.int64)
        closing = np.unique(codes)
        keys = np.concatenate([codes * _SHIFT + seconds.astype(np.int64), closing * _SHIFT + (_SHIFT - 1)])
        order = np.argsort(keys, kind="stable")
        keys = keys[order]
        order = np.where(order < len(codes), order, -1)
        entity = keys // _SHIFT
        first = np.r_[True, entity[1:] != entity[:-1]] if len(keys) else np.zeros(0, dtype=bool)
        segment = np.cumsum(first)
        running = {}
        for name, v in values.items():
            padded = np.concatenate([np.asarray(v, dtype=np.float64), np.zeros(len(closing))])[order]
            inclusive = pd.Series(padded).groupby(segment).cumsum().to_numpy()
            # The sum before each key: the previous key's inclusive sum within the entity, 0 at its first.
            running[name] = np.where(first, 0.0, np.r_[0.0, inclusive[:-1]])
        return cls(keys, running, order)

    def _between(self, name: str, start: np.ndarray, end: np.ndarray) -> np.ndarray:
        """Each entity's own sum of `name` over its sorted positions [start, end)."""
        running = self.running[name]
        if not len(running):
            return np.zeros(len(end))
        # Rounded: a difference of running sums carries float noise (94.53000000002794) that would
        # otherwise differ between two computations of the same window.
        return np.round(running[np.minimum(end, len(running) - 1)] - running[np.minimum(start, len(running) - 1)], 6)

    def position(self, codes: np.ndarray, seconds: np.ndarray) -> np.ndarray:
        """Sorted position of each (entity, time): the number of keys (events, and the closing keys of the
        entities sorted before) strictly before it."""
        # A window reaching before 1970 starts there: a negative time would land in the previous entity.
        query = codes.astype(np.int64) * _SHIFT + np.maximum(seconds.astype(np.int64), 0)
        if len(query) < 10_000 or not (query[1:] < query[:-1]).any():
            return np.searchsorted(self.keys, query, side="left")
        # Searching sorted queries walks the keys in order (cache-friendly): several times faster for
        # a million queries into millions of keys, even with the sort.
        order = np.argsort(query, kind="stable")
        out = np.empty(len(query), dtype=np.int64)
        out[order] = np.searchsorted(self.keys, query[order], side="left")
        return out

    def window_sums(
        self, names: tuple[str, ...], codes: np.ndarray, cutoff: np.ndarray, windows_s: tuple[int, ...]
    ) -> dict[tuple[str, int], np.ndarray]:
        """window_sum for several value columns and windows at once, sharing the binary searches."""
        end = self.position(codes, cutoff)
        out = {}
        for window in windows_s:
            start = self.position(codes, cutoff - window)
            for name in names:
                out[name, window] = self._between(name, start, end)
        return out

    def window_sum(
        self, name: str, codes: np.ndarray, cutoff: np.ndarray, window_s: int | None, memo: dict | None = None
    ) -> np.ndarray:
        """Sum of `name` over each entity's events in [cutoff - window, cutoff); None = all history.

        `memo`: a dict kept for one batch of (codes, cutoff), where the binary searches are kept for the
        next window over the same batch (a snapshot asks for dozens of sums over a few windows)."""
        memo = {} if memo is None else memo

        def at(window: int | None) -> np.ndarray:
            key = (id(self), window)
            if key not in memo:
                memo[key] = self.position(codes, np.zeros_like(cutoff) if window is None else cutoff - window)
            return memo[key]

        return self._between(name, at(window_s), at(0))

    def _last(self, codes: np.ndarray, cutoff: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sorted position of each entity's last event before the cut-off, and whether there is one."""
        if not len(self.keys):
            return np.zeros(len(codes), dtype=np.int64), np.zeros(len(codes), dtype=bool)
        end = self.position(codes, cutoff)
        previous = np.maximum(end - 1, 0)
        return previous, (end > 0) & (self.keys[previous] // _SHIFT == codes)

    def last_before(self, codes: np.ndarray, cutoff: np.ndarray) -> np.ndarray:
        """Seconds of each entity's last event before the cut-off, or -1 when it has none."""
        previous, has = self._last(codes, cutoff)
        return np.where(has, self.keys[previous] % _SHIFT if len(self.keys) else -1, -1)

    def first_before(self, codes: np.ndarray, cutoff: np.ndarray) -> np.ndarray:
        """Seconds of each entity's first event, where it is before the cut-off, or -1 when it has none."""
        if not len(self.keys):
            return np.full(len(codes), -1, dtype=np.int64)
        start, end = self.position(codes, np.zeros_like(cutoff)), self.position(codes, cutoff)
        return np.where(end > start, self.keys[np.minimum(start, len(self.keys) - 1)] % _SHIFT, -1)

    def latest(self, values: np.ndarray, codes: np.ndarray, cutoff: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`values` (one per event, in the order given to build) of each entity's last event before the
        cut-off, and whether there is one (where not, the value is meaningless)."""
        previous, has = self._last(codes, cutoff)
        if not len(self.keys):
            return np.empty(len(codes), dtype=np.asarray(values).dtype), has
        return np.asarray(values)[self.order[previous]], has


def seconds(ts: pd.Series) -> np.ndarray:
    return (
        ts.dt.tz_convert("UTC").astype("datetime64[s, UTC]").astype("int64").to_numpy()
        if isinstance(ts.dtype, pd.DatetimeTZDtype)
        else ts.astype("datetime64[s]").astype("int64").to_numpy()
    )


def daily_cutoffs(first: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For entity i, every midnight cut-off from first[i] to last[i] (seconds, both inclusive).

    Returns (entity index per row, cut-off seconds per row)."""
    days = ((last - first) // 86_400 + 1).clip(min=0)
    entity = np.repeat(np.arange(len(first)), days)
    offset = np.arange(days.sum()) - np.repeat(np.cumsum(days) - days, days)
    return entity, first[entity] + offset * 86_400
