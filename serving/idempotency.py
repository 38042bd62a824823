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

import asyncio
import contextlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator

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

    def forget(self, erased: Callable[[str], bool]) -> int:
        """Drop the answers kept for the payments of cards that are `erased`; returns how many. The test runs
        outside the lock, once per card: with a deny list it is a keyed hash, and scoring waits on the lock."""
        with self._lock:
            kept = [(order_id, details[0]) for order_id, (details, _) in self._answers.items()]
        verdict = {card: erased(card) for card in {card for _, card in kept}}
        with self._lock:
            return sum(self._answers.pop(order_id, None) is not None for order_id, card in kept if verdict[card])

    def __len__(self) -> int:
        return len(self._answers)


class InFlight:
    """Order ids being scored now, by the one-payment endpoint (on the event loop) or the batch endpoint (in
    BentoML's thread). A request for an order id that is being scored waits for that scoring to finish and
    is then answered as a retry: scored concurrently, it would read the card's windows with or without the
    first's payment in them, and count it twice. A batch claims all its order ids at once or waits, so
    two claims never wait for each other. A claim makes its event only when a request waits on it (rare:
    a copy in flight), not for every payment."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scoring: dict[str, _Claim] = {}

    def _claim(self, order_ids: set[str]) -> tuple[list[threading.Event], _Claim | None]:
        """(what to wait for, None), or ([], this claim) once every id is claimed."""
        with self._lock:
            busy = [self._scoring[i] for i in order_ids if i in self._scoring]
            if busy:
                return [claim.waited() for claim in busy], None
            claim = _Claim()
            self._scoring.update(dict.fromkeys(order_ids, claim))
            return [], claim

    def _release(self, order_ids: set[str], claim: _Claim) -> None:
        with self._lock:
            for i in order_ids:
                del self._scoring[i]
        if claim.event is not None:  # made under the lock, before the ids were released
            claim.event.set()

    def only_one(self, order_id: str) -> _OnlyOne:
        """For the event loop: waiting (rare: a copy in flight) goes to a thread, the loop runs on."""
        return _OnlyOne(self, order_id)

    @contextlib.contextmanager
    def only_these(self, order_ids: Iterable[str]) -> Iterator[None]:
        """For a thread: every id of a batch claimed together."""
        ids = set(order_ids)
        while (claim := self._claim(ids))[1] is None:
            for event in claim[0]:
                event.wait()
        try:
            yield
        finally:
            self._release(ids, claim[1])

    def __len__(self) -> int:
        return len(self._scoring)


class _Claim:
    __slots__ = ("event",)

    def __init__(self) -> None:
        self.event: threading.Event | None = None

    def waited(self) -> threading.Event:
        """The event a waiter waits on, made by the first (under InFlight's lock)."""
        if self.event is None:
            self.event = threading.Event()
        return self.event


class _OnlyOne:
    """InFlight.only_one as a plain async context manager: a generator-based one cost a payment more than
    the claim itself."""

    __slots__ = ("flight", "ids", "claim")

    def __init__(self, flight: InFlight, order_id: str) -> None:
        self.flight, self.ids, self.claim = flight, {order_id}, None

    async def __aenter__(self) -> None:
        while (claim := self.flight._claim(self.ids))[1] is None:
            await asyncio.to_thread(claim[0][0].wait)
        self.claim = claim[1]

    async def __aexit__(self, *exc) -> None:
        self.flight._release(self.ids, self.claim)


def payment_details(card: str, transaction) -> tuple:
    """What makes two payments with one order id the same payment (the card already pseudonymised)."""
    t = transaction
    return (card, t.terminal_id, t.ts.timestamp(), float(t.amount), t.currency, int(t.basket_size))
