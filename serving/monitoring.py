"""What `spend monitor` last found, for /v1/health and the metrics: re-read when its file changes (checked
with the model aliases). The service does not compute drift itself: that needs the training data's
profile and a scorecard of the offline store, a batch job's work."""

from __future__ import annotations

import json
from pathlib import Path

from spend.core.names import MONITORING


class MonitoringState:
    def __init__(self, home: Path) -> None:
        self.path = Path(home) / "monitoring" / MONITORING
        self.stamp: float | None = None
        self.result: dict | None = None

    def refresh(self) -> bool:
        """Re-read the result if the file changed; True when it did. An unreadable file keeps the last."""
        try:
            stamp = self.path.stat().st_mtime
        except FileNotFoundError:
            return False
        if stamp == self.stamp:
            return False
        try:
            self.result = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        self.stamp = stamp
        return True

    def flags(self) -> dict[str, str]:
        """Model -> "ok", or "breach: " and the first reason (more are in `spend monitor`)."""
        models = (self.result or {}).get("models", {})
        return {
            name: "ok" if not checked.get("breaches") else f"breach: {checked['breaches'][0]}"
            for name, checked in models.items()
        }

    def live_values(self) -> dict[str, float]:
        models = (self.result or {}).get("models", {})
        return {name: c["live"]["value"] for name, c in models.items() if "value" in c.get("live", {})}
