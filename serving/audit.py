"""One JSON line per call: who (key name and role), what (endpoint, status), when, how many customers and
how large the answer was. Never ids or personal data."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path


class AuditLog:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def write(self, **event) -> None:
        record = {"at": datetime.now(UTC).isoformat()} | event
        line = json.dumps(record, sort_keys=True, default=str) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(line)
