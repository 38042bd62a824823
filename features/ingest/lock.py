"""One ingest at a time per data home: an exclusive lock over deduplication, the writes and the ledger.

Two ingests of files sharing lines, run at once, each deduplicated against what was committed before
either began and both stored the shared lines. Under the lock the second sees the first's batch. The
lock is the operating system's (flock on SPEND_HOME/.ingest.lock): a killed process releases it.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def ledger_lock(home: Path) -> Iterator[None]:
    path = Path(home) / ".ingest.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
