"""One JSON line per call: who (key name and role), what (endpoint, status), when, how many customers and
how large the answer was. Never ids or personal data."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import orjson


class AuditLog:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._handle = None

    def write(self, **event) -> None:
        """Append and flush one line; the file stays open rather than being opened on every request."""
        record = {"at": datetime.now(UTC)} | event
        line = orjson.dumps(record, option=orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE, default=str)
        with self._lock:
            if self._handle is None or self._handle.closed:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._handle = open(self.path, "ab")  # noqa: SIM115 - kept for the process
            self._handle.write(line)
            self._handle.flush()
