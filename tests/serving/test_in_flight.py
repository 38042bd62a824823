"""serving/idempotency.InFlight: one request per order id at a time; other order ids never wait."""

from __future__ import annotations

import asyncio
import threading
import time

from spend.serving.idempotency import InFlight


async def _scoring(flight: InFlight, order_id: str, log: list, pause: float) -> None:
    async with flight.only_one(order_id):
        log.append(("in", order_id))
        await asyncio.sleep(pause)
        log.append(("out", order_id))


def test_a_second_request_for_an_order_id_waits_for_the_first_to_finish():
    flight, log = InFlight(), []

    async def main() -> None:
        await asyncio.gather(*(_scoring(flight, "o-1", log, 0.01) for _ in range(3)))

    asyncio.run(main())
    assert log == [("in", "o-1"), ("out", "o-1")] * 3  # never two inside at once
    assert len(flight) == 0


def test_other_order_ids_do_not_wait():
    flight, log = InFlight(), []

    async def main() -> None:
        await asyncio.gather(_scoring(flight, "o-1", log, 0.05), _scoring(flight, "o-2", log, 0.0))

    asyncio.run(main())
    assert log.index(("out", "o-2")) < log.index(("out", "o-1"))


def test_a_failed_first_request_lets_the_next_one_in():
    flight, log = InFlight(), []

    async def failing() -> None:
        async with flight.only_one("o-1"):
            await asyncio.sleep(0.01)
            raise RuntimeError("the first request failed")

    async def main() -> list:
        return await asyncio.gather(failing(), _scoring(flight, "o-1", log, 0.0), return_exceptions=True)

    outcome = asyncio.run(main())
    assert isinstance(outcome[0], RuntimeError) and log == [("in", "o-1"), ("out", "o-1")]
    assert len(flight) == 0


def test_a_payment_waits_for_a_batch_holding_its_order_id_and_the_loop_runs_meanwhile():
    flight, log, held = InFlight(), [], threading.Event()

    def batch() -> None:
        with flight.only_these(["o-1", "o-2", "o-2"]):
            log.append(("in", "batch"))
            held.set()
            time.sleep(0.05)
            log.append(("out", "batch"))

    async def main() -> None:
        thread = threading.Thread(target=batch)
        thread.start()
        await asyncio.to_thread(held.wait)
        await asyncio.gather(_scoring(flight, "o-2", log, 0.0), _scoring(flight, "o-3", log, 0.0))
        thread.join()

    asyncio.run(main())
    assert log.index(("out", "batch")) < log.index(("in", "o-2"))  # waited for the batch
    assert log.index(("out", "o-3")) < log.index(("out", "batch"))  # another order id did not
    assert len(flight) == 0


def test_a_batch_waits_for_a_payment_in_flight():
    flight, log = InFlight(), []

    async def main() -> None:
        async with flight.only_one("o-9"):
            log.append(("in", "o-9"))
            thread = threading.Thread(target=lambda: _batch(flight, ["o-8", "o-9"], log))
            thread.start()
            await asyncio.sleep(0.05)
            log.append(("out", "o-9"))
        await asyncio.to_thread(thread.join)

    asyncio.run(main())
    assert log == [("in", "o-9"), ("out", "o-9"), ("in", "batch"), ("out", "batch")]


def _batch(flight: InFlight, order_ids: list[str], log: list) -> None:
    with flight.only_these(order_ids):
        log.append(("in", "batch"))
        log.append(("out", "batch"))


def test_an_event_is_made_only_for_a_request_that_waits(monkeypatch):
    """Every payment claimed its order id with a threading.Event (a lock and a condition); only a copy in
    flight needs one to wait on."""
    import spend.serving.idempotency as idempotency

    made = []
    real = threading.Event
    monkeypatch.setattr(idempotency.threading, "Event", lambda: made.append(1) or real())
    flight, log = InFlight(), []

    async def alone() -> None:
        await asyncio.gather(*(_scoring(flight, f"o-{i}", log, 0.0) for i in range(20)))

    asyncio.run(alone())
    assert not made and len(flight) == 0

    async def copies() -> None:
        await asyncio.gather(*(_scoring(flight, "o-x", log, 0.01) for _ in range(3)))

    asyncio.run(copies())
    assert made and log[-6:] == [("in", "o-x"), ("out", "o-x")] * 3 and len(flight) == 0
