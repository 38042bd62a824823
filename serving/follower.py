"""Following the registry off the request path: one thread refreshes the models and the publication every
SPEND_SERVING_REFRESH_SECONDS, or at once when asked (start-up, `POST /v1/admin/reload`); callers wait for
a refresh at most a deadline and go on with what is loaded.

A registry that accepts connections and never answers holds this thread, never a request: health then
says how long the current refresh has been running, and the next one starts when it ends.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Follower:
    def __init__(self, refresh: Callable[[], None], interval: float) -> None:
        self._refresh = refresh
        self._interval = interval
        self._wake = threading.Event()
        self._done = threading.Condition()
        self._cycles = 0  # refreshes completed
        self.running_since: float | None = None  # monotonic start of the refresh under way
        threading.Thread(target=self._run, daemon=True, name="spend-registry-follower").start()

    def refresh_now(self, deadline: float) -> bool:
        """Ask for a refresh that starts after this call and wait for it at most `deadline` seconds;
        True if it finished in time."""
        with self._done:
            target = self._cycles + (2 if self.running_since is not None else 1)  # not the one under way
            self._wake.set()
            return self._done.wait_for(lambda: self._cycles >= target, timeout=deadline)

    def stalled_for(self) -> float | None:
        """Seconds the refresh under way has been running, or None when none is."""
        since = self.running_since
        return None if since is None else time.monotonic() - since

    def _run(self) -> None:
        while True:
            self._wake.wait(timeout=self._interval)
            self._wake.clear()
            self.running_since = time.monotonic()
            try:
                self._refresh()
            except Exception:  # noqa: BLE001 - the refresh says why in health; the thread must go on
                pass
            finally:
                with self._done:
                    self.running_since = None
                    self._cycles += 1
                    self._done.notify_all()
