"""Fraud scores by order id: a payment sent again (a client's retry) gets the answer it got the first time
and is not counted in the card's windows again.

An answer is kept once the payment was counted (its card's updated windows pushed); a degraded answer,
which counted nothing, is not kept, so a retry after the online store recovers is scored and counted
once. The same order id with other payment details (card, terminal, time, amount, basket) is refused:
it is a client's bug, and answering either payment's score would be wrong for the other.

Kept in the service process, the newest MAX_ANSWERS, each as its JSON bytes (about 400 bytes; as dicts
they took several times that); a restart forgets them (docs/serving.md says what that means for
retries across replicas).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import orjson

MAX_ANSWERS = 200_000


class OrderConflict(Exception):
    """The order id was scored with other payment details."""


class ScoredPayments:
    def __init__(self, capacity: int = MAX_ANSWERS) -> None:
        self.capacity = capacity
        self._answers: OrderedDict[str, tuple[tuple, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, order_id: str, details: tuple) -> dict | None:
        """The answer given to this payment before, or None; OrderConflict if the id was another payment's."""
        with self._lock:
            kept = self._answers.get(order_id)
        if kept is None:
            return None
        if kept[0] != details:
            raise OrderConflict(order_id)
        return orjson.loads(kept[1])

    def put(self, order_id: str, details: tuple, answer: dict) -> None:
        encoded = orjson.dumps(answer)
        with self._lock:
            self._answers[order_id] = (details, encoded)
            self._answers.move_to_end(order_id)
            while len(self._answers) > self.capacity:
                self._answers.popitem(last=False)

    def __len__(self) -> int:
        return len(self._answers)


def payment_details(card: str, transaction) -> tuple:
    """What makes two payments with one order id the same payment (the card already pseudonymised)."""
    t = transaction
    return (card, t.terminal_id, t.ts.timestamp(), float(t.amount), t.currency, int(t.basket_size))
