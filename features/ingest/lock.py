"""One ingest at a time per data home: an exclusive lock over deduplication, the writes and the ledger.

Two ingests of files sharing lines, run at once, each deduplicated against what was committed before
either began and both stored the shared lines. Under the lock the second sees the first's batch. The
lock is the operating system's (flock on SPEND_HOME/.ingest.lock): a killed process releases it.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path

from spend.core.files import exclusive


def ledger_lock(home: Path) -> AbstractContextManager[None]:
    return exclusive(Path(home) / ".ingest.lock")
