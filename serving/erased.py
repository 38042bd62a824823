"""Cards whose holders were erased, as the service knows them: erased through this service (at once), or
by `spend erase` in another process (read from the vault's deny list at every registry refresh, and
before each write of card windows whenever the vault's file changed: spend/core/privacy/erasing.py).

A fraud score for such a card is computed from the payment alone and nothing of it is kept: its windows
are not pushed online, the answer is not kept for retries (docs/privacy.md). Membership is tested on the
deny list's keyed hashes, so the service holds no list of erased pseudonyms beyond its own erasures.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from spend.core.privacy.erasing import not_erasing

ERASED_CARD = "the card's holder was erased: scored from the payment alone, nothing of it kept"


class ErasedCards:
    def __init__(self, vault: Path, key: bytes) -> None:
        from spend.core.privacy.vault import IdentityVault

        self._vault = IdentityVault(vault, key)
        self._here: frozenset[str] = frozenset()  # erased through this process; replaced, never changed
        self._tombstones: frozenset[str] = frozenset()
        self._lock = threading.Lock()
        self._read_at: tuple[int, int] | None = None  # the vault file's (mtime, size) when last read

    def add(self, cards: Iterable[str]) -> None:
        with self._lock:
            self._here = self._here | set(cards)  # a reader iterating the old set is not disturbed

    def follow(self) -> bool:
        """`refresh`, if the vault's file changed since it was last read (a stat, not a query: this runs
        before every write of card windows)."""
        try:
            stat = self._vault.path.stat()
        except FileNotFoundError:
            return False
        if (stat.st_mtime_ns, stat.st_size) == self._read_at:
            return False
        return self.refresh()

    def refresh(self) -> bool:
        """Read the vault's deny list again; True if it names customers it did not before. A vault that
        cannot be read (locked by a writer) keeps the list read before."""
        if not self._vault.path.exists():  # no vault, nobody erased; never created here
            return False
        stat = self._vault.path.stat()
        try:
            tombstones = frozenset(self._vault.tombstones())
        except sqlite3.Error as error:
            logging.getLogger("spend.serving.privacy").warning("deny list not read: %s", type(error).__name__)
            return False
        self._read_at = (stat.st_mtime_ns, stat.st_size)  # taken before the read: a change meanwhile is seen
        grew = not tombstones <= self._tombstones
        self._tombstones = tombstones
        return grew

    @property
    def here(self) -> frozenset[str]:
        """The customers erased through this process (see `among`)."""
        return self._here

    def among(self, customer_ids: list[str]) -> list[int]:
        """Positions of the customers erased through this process: answered as unknown from the request on,
        while the erasure may still wait for an ingest to let go of the stores that hold them. (An erasure
        by `spend erase` takes them out of the publication and the online store before its deny list.)"""
        here = self._here
        return [i for i, c in enumerate(customer_ids) if c in here] if here else []

    def __contains__(self, card: str) -> bool:
        if card in self._here:
            return True
        return bool(self._tombstones) and self._vault.tombstone(card) in self._tombstones


@contextmanager
def erasures_held_off(home: Path, erased: ErasedCards, forget: Callable[[], None]) -> Iterator[None]:
    """Around a write of card windows: no erasure is between its online deletion and its deny list while it
    runs, and the deny list is followed first (`forget` drops what else the process kept of newly erased
    cards)."""
    with not_erasing(home):
        if erased.follow():
            forget()
        yield


def not_found(columns: dict, positions: list[int]) -> dict:
    """The online values with these entities read as absent (every view's `__found` false)."""
    import numpy as np

    out = dict(columns)
    for name in (k for k in columns if k.endswith("__found")):
        found = np.array(columns[name], dtype=bool)
        found[positions] = False
        out[name] = found
    return out
