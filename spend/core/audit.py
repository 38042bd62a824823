"""The audit trail, one JSON line per event: who (a key name and role, or the user), what (an endpoint
and status, or a command), when, how many customers and how large the answer was. Never ids or
personal data. The service writes SPEND_HOME/audit/serving.jsonl, commands SPEND_HOME/audit/audit.jsonl;
both are readable by their owner only."""

from __future__ import annotations

import os
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
                descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                self._handle = os.fdopen(descriptor, "ab")  # kept open for the process
            self._handle.write(line)
            self._handle.flush()


def command_audit(home: Path) -> AuditLog:
    """The audit trail of commands (exports with original ids, erasures)."""
    return AuditLog(Path(home) / "audit" / "audit.jsonl")
