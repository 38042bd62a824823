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
        self._here: set[str] = set()  # erased through this process
        self._tombstones: frozenset[str] = frozenset()
        self._lock = threading.Lock()
        self._read_at: tuple[int, int] | None = None  # the vault file's (mtime, size) when last read

    def add(self, cards: Iterable[str]) -> None:
        with self._lock:
            self._here |= set(cards)

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
