"""The cards' spending windows that fraud scoring updates: kept in this process at once and written to the
online store behind the response.

A payment's updated windows are needed by the card's next payment, which may come milliseconds later, but
writing them inside the request was most of a fraud score's time. They go into a table of pending windows
that the next read of the same card consults first, and a background thread writes them to the online
store every SPEND_SERVING_PUSH_SECONDS (0.2), in parts of WRITE_PART cards; other service processes and
the batch jobs see them once written. A failed write keeps them pending (up to MAX_PENDING cards) and says
why in `last_error`, which health reports; on shutdown the service writes what is pending.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime

import numpy as np

MAX_PENDING = 100_000
# Cards per write. A write's Python (encoding, the statement's arguments) holds the GIL, and the event loop
# waits until it is done or the switch interval forces a turn; its SQLite or Redis call lets go. In parts,
# each hold is short, so a request arriving during a flush waits a part's Python, not a whole flush's.
WRITE_PART = 64


class PendingWindows:
    def __init__(
        self,
        write: Callable,
        interval: float,
        refused: Callable[[str], bool] = lambda card: False,
        guard: Callable[[], AbstractContextManager] = nullcontext,
        part: int = WRITE_PART,
    ) -> None:
        # write(keys, seconds, windows): {"customer_id": cards}, epoch seconds, an array per window
        # (OnlinePush.push_columns). No pandas frame: the flush runs beside requests and holds the GIL
        # while in Python, and a frame's construction was most of that time.
        self._write = write
        self._refused = refused  # cards never kept (erased holders), checked under the same lock as forget
        self._writing = threading.Lock()  # held through a flush: forget waits for a write in progress
        # Held through each write: no erasure in another process is between its online deletion and its
        # deny list meanwhile, and the deny list was followed first (spend/core/privacy/erasing.py).
        self._guard = guard
        self.last_error: str | None = None  # why the last write failed; None once one succeeds
        self._pending: dict[str, tuple[dict, datetime]] = {}
        self._lock = threading.Lock()
        self.dropped = 0
        self._part = part
        threading.Thread(target=self._run, args=(interval,), daemon=True).start()

    def get(self, card: str) -> tuple[dict, datetime] | None:
        return self._pending.get(card)

    def put(self, windows_by_card: dict[str, dict], at: dict[str, datetime]) -> bool:
        """Keep each card's windows as of `at[card]`; False if the table is full (the write is failing)."""
        with self._lock:
            if len(self._pending) + len(windows_by_card) > MAX_PENDING:
                self.dropped += len(windows_by_card)
                return False
            for card, windows in windows_by_card.items():
                if self._refused(card):
                    continue
                # Whole seconds, as the online store keeps them: the card's next payment must see the same
                # windows whether they are still pending or already written (features age with the time
                # since them, and a fraction of a second moved a score across a split).
                self._pending[card] = (windows, at[card].replace(microsecond=0))
        return True

    def forget(self, cards: list[str]) -> int:
        """Drop these cards' pending windows, after any write in progress (which could hold them) ended:
        once this returns, no write of this process puts them online. Returns how many were pending."""
        with self._writing, self._lock:
            return sum(self._pending.pop(card, None) is not None for card in cards)

    def cards(self) -> list[str]:
        with self._lock:
            return list(self._pending)

    def flush(self) -> int:
        """Write what is pending, part by part; entries replaced meanwhile, and the parts after a failed one,
        stay for the next flush. Returns rows written."""
        with self._writing, self._guard():
            return self._flush()

    def _flush(self) -> int:
        with self._lock:
            batch = dict(self._pending)
        # Every write checks its cards again (outside the lock: a keyed hash each once anyone is erased):
        # a card erased since its put, by another process, is dropped here, not written back online.
        refused = {card for card in batch if self._refused(card)}
        if refused:
            with self._lock:
                for card in refused:
                    if self._pending.get(card) is batch[card]:
                        del self._pending[card]
            batch = {card: entry for card, entry in batch.items() if card not in refused}
        cards = list(batch)
        written = 0
        for lo in range(0, len(cards), self._part):
            part = {card: batch[card] for card in cards[lo : lo + self._part]}
            if not self._write_part(part):
                break
            written += len(part)
        return written

    def _write_part(self, part: dict[str, tuple[dict, datetime]]) -> bool:
        """Write these cards and forget the entries written; False if the write failed (all kept)."""
        entries = list(part.values())
        seconds = np.array([int(at.timestamp()) for _, at in entries], dtype=np.int64)
        windows = {name: np.array([w[name] for w, _ in entries], dtype=np.float64) for name in entries[0][0]}
        try:
            self._write({"customer_id": list(part)}, seconds, windows)
        except Exception as error:  # noqa: BLE001 - kept pending; health says why
            self._failed(error)
            return False
        with self._lock:
            for card, entry in part.items():
                if self._pending.get(card) is entry:
                    del self._pending[card]
        self.last_error = None
        return True

    def __len__(self) -> int:
        return len(self._pending)

    def _run(self, interval: float) -> None:
        while True:
            time.sleep(interval)
            try:
                self.flush()
            except OSError as error:  # the guard's lock file; the thread must outlive it
                self._failed(error)

    def _failed(self, error: Exception) -> None:
        logging.getLogger("spend.serving.online").warning("pending windows not written: %s", error)
        self.last_error = f"cards' updated windows not written ({type(error).__name__}); kept to retry"
