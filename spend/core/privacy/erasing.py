"""The lock between an erasure's last steps and a running service's writes of card windows.

`spend erase` may run in another process than the service. The service keeps cards' updated windows in
memory and writes them online a moment later; a write that began before the erasure deleted the card
online, and ended after, would put the card back. The erasure holds this lock exclusively from its
deletion in the online store to its deny list; each of the service's writes holds it shared and reads
the deny list first. A write then ends before the deletion (which removes what it wrote) or begins after
the deny list (which it honours). Both sides open SPEND_HOME/.erasure.lock, so they share a host or a
file system with working locks, as they already share the vault.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path

from spend.core.files import exclusive, shared

LOCK_FILE = ".erasure.lock"


def erasing(home: Path) -> AbstractContextManager[None]:
    """Held by an erasure from the online store's deletion to the deny list."""
    return exclusive(Path(home) / LOCK_FILE)


def not_erasing(home: Path) -> AbstractContextManager[None]:
    """Held by a write of card windows: no erasure is between its deletion and its deny list meanwhile."""
    return shared(Path(home) / LOCK_FILE)
