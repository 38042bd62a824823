"""Cards whose holders were erased, as the service knows them: erased through this service (at once), or
by `spend erase` in another process (read from the vault's deny list at every registry refresh).

A fraud score for such a card is computed from the payment alone and nothing of it is kept: its windows
are not pushed online, the answer is not kept for retries (docs/privacy.md). Membership is tested on the
deny list's keyed hashes, so the service holds no list of erased pseudonyms beyond its own erasures.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path

ERASED_CARD = "the card's holder was erased: scored from the payment alone, nothing of it kept"


class ErasedCards:
    def __init__(self, vault: Path, key: bytes) -> None:
        from spend.core.privacy.vault import IdentityVault

        self._vault = IdentityVault(vault, key)
        self._here: set[str] = set()  # erased through this process
        self._tombstones: frozenset[str] = frozenset()
        self._lock = threading.Lock()

    def add(self, cards: Iterable[str]) -> None:
        with self._lock:
            self._here |= set(cards)

    def refresh(self) -> bool:
        """Read the vault's deny list again; True if it names customers it did not before."""
        if not self._vault.path.exists():  # no vault, nobody erased; never created here
            return False
        tombstones = frozenset(self._vault.tombstones())
        grew = not tombstones <= self._tombstones
        self._tombstones = tombstones
        return grew

    def __contains__(self, card: str) -> bool:
        if card in self._here:
            return True
        return bool(self._tombstones) and self._vault.tombstone(card) in self._tombstones
