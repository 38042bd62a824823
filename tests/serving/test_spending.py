"""Pending spending windows: the next payment of a card sees them at once, a background write puts them
online, a failing write keeps them and says why, and a newer entry is never lost to an older write."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from spend.features.compute.payments import SPENDING
from spend.features.store.definitions import SNAPSHOT_TTL
from spend.serving.fraud import with_pending
from spend.serving.spending import PendingWindows

AT = datetime(2026, 1, 1, tzinfo=UTC)


def _windows(n: float) -> dict:
    return dict.fromkeys(SPENDING, n)


class Sink:
    def __init__(self, fail: bool = False) -> None:
        self.writes, self.fail = [], fail

    def __call__(self, keys, seconds, windows) -> None:
        if self.fail:
            raise ConnectionError("Redis is down")
        self.writes.append((keys, seconds, windows))


def test_pending_windows_are_written_once_and_then_forgotten():
    sink = Sink()
    pending = PendingWindows(sink, interval=3600)
    assert pending.put({"c_a": _windows(2.0)}, {"c_a": AT}) and pending.get("c_a") == (_windows(2.0), AT)
    assert pending.flush() == 1 and len(pending) == 0 and pending.get("c_a") is None
    keys, seconds, windows = sink.writes[0]
    assert keys == {"customer_id": ["c_a"]} and seconds.tolist() == [int(AT.timestamp())]
    assert set(windows) == set(SPENDING) and windows["nb_tx_1d"].tolist() == [2.0]
    assert pending.last_error is None


def test_a_failing_write_keeps_them_and_says_why():
    sink = Sink(fail=True)
    pending = PendingWindows(sink, interval=3600)
    pending.put({"c_a": _windows(1.0)}, {"c_a": AT})
    assert pending.flush() == 0 and len(pending) == 1 and "ConnectionError" in pending.last_error
    sink.fail = False
    assert pending.flush() == 1 and pending.last_error is None


def test_a_large_flush_is_written_in_parts_and_a_failing_part_keeps_the_rest():
    # Parts bound how long one write's Python holds the GIL beside the requests (docs/serving.md).
    class FailsThird(Sink):
        def __call__(self, keys, seconds, windows) -> None:
            self.fail = len(self.writes) == 2
            super().__call__(keys, seconds, windows)

    sink = FailsThird()
    pending = PendingWindows(sink, interval=3600, part=4)
    cards = [f"c_{i:02d}" for i in range(11)]
    pending.put({card: _windows(float(i)) for i, card in enumerate(cards)}, dict.fromkeys(cards, AT))
    assert pending.flush() == 8 and [len(keys["customer_id"]) for keys, _, _ in sink.writes] == [4, 4]
    written = [card for keys, _, _ in sink.writes for card in keys["customer_id"]]
    assert sorted(pending.cards()) == sorted(set(cards) - set(written)) and len(pending) == 3
    assert [windows["nb_tx_1d"].tolist() for _, _, windows in sink.writes] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert "ConnectionError" in pending.last_error
    sink.writes.clear()
    assert pending.flush() == 3 and len(pending) == 0 and pending.last_error is None


def test_a_newer_entry_survives_the_write_of_an_older_one():
    written = []
    pending = PendingWindows(lambda *write: written.append(write), interval=3600)
    pending.put({"c_a": _windows(1.0)}, {"c_a": AT})
    original = pending._write

    def write_then_update(*write) -> None:
        original(*write)
        pending.put({"c_a": _windows(2.0)}, {"c_a": AT})  # a payment scored during the write

    pending._write = write_then_update
    pending.flush()
    assert pending.get("c_a") == (_windows(2.0), AT)


def test_the_read_takes_pending_windows_over_stored_ones():
    columns = {name: np.array([5.0, 5.0]) for name in SPENDING} | {
        "customer_spending__found": np.array([False, True]),
        "customer_spending__event_seconds": np.array([np.nan, 100.0]),
    }
    pending = PendingWindows(lambda *write: None, interval=3600)
    pending.put({"c_new": _windows(1.0)}, {"c_new": AT})
    out = with_pending(columns, ["c_new", "c_old"], pending, AT)
    assert out["nb_tx_7d"].tolist() == [1.0, 5.0] and out["customer_spending__found"].tolist() == [True, True]
    assert out["customer_spending__event_seconds"][0] == AT.timestamp()
    assert columns["nb_tx_7d"].tolist() == [5.0, 5.0]  # the reader's arrays are not changed


def test_a_card_reads_the_same_time_pending_or_written():
    """Pending windows carry the whole second the online store will keep: the next payment's features do
    not depend on whether the background write has happened yet (a retried payment's next one once scored
    differently when it had)."""
    sink = Sink()
    pending = PendingWindows(sink, interval=3600)
    at = AT.replace(microsecond=654_321)
    pending.put({"c_a": _windows(1.0)}, {"c_a": at})
    columns = {name: np.array([np.nan]) for name in SPENDING}
    columns |= {"customer_spending__found": np.array([False]), "customer_spending__event_seconds": np.array([np.nan])}
    read_pending = with_pending(columns, ["c_a"], pending, AT)["customer_spending__event_seconds"][0]
    pending.flush()
    assert read_pending == sink.writes[0][1][0] == int(at.timestamp())


def test_pending_windows_past_the_time_to_live_read_as_the_written_ones_do():
    """A payment dated days back keeps windows as of its time: once written, the online store reads them
    as expired (not found, so the card starts afresh); while pending they counted, and the card's next
    score depended on whether the write had happened yet."""
    pending = PendingWindows(lambda *write: None, interval=3600)
    pending.put({"c_old": _windows(3.0), "c_new": _windows(1.0)}, {"c_old": AT, "c_new": AT})
    columns = {name: np.array([np.nan, np.nan]) for name in SPENDING} | {
        "customer_spending__found": np.array([False, False]),
        "customer_spending__event_seconds": np.array([np.nan, np.nan]),
    }
    later = AT + SNAPSHOT_TTL + timedelta(seconds=1)
    out = with_pending(columns, ["c_old", "c_new"], pending, later)
    assert out["customer_spending__found"].tolist() == [False, False]
    assert np.isnan(out["nb_tx_1d"]).all() and np.isnan(out["customer_spending__event_seconds"]).all()
    fresh = with_pending(columns, ["c_old", "c_new"], pending, AT + SNAPSHOT_TTL - timedelta(seconds=1))
    assert fresh["customer_spending__found"].tolist() == [True, True] and fresh["nb_tx_1d"].tolist() == [3.0, 1.0]


def test_a_refused_card_is_never_kept_and_forget_waits_for_a_write_in_progress():
    """An erasure: the erased card's windows are dropped, a write that holds them ends before forget
    returns (so nothing puts them online afterwards), and later puts for the card keep nothing."""
    import threading

    erased: set[str] = set()
    started, release = threading.Event(), threading.Event()

    def slow_write(keys, seconds, windows) -> None:
        started.set()
        release.wait(5)

    pending = PendingWindows(slow_write, interval=3600, refused=erased.__contains__)
    pending.put({"c_gone": _windows(1.0), "c_kept": _windows(1.0)}, {"c_gone": AT, "c_kept": AT})
    writer = threading.Thread(target=pending.flush)
    writer.start()
    assert started.wait(5)
    pending.put({"c_gone": _windows(2.0)}, {"c_gone": AT})  # a payment while the write is on its way
    erased.add("c_gone")
    forgot = []
    forgetting = threading.Thread(target=lambda: forgot.append(pending.forget(["c_gone"])))
    forgetting.start()
    forgetting.join(0.2)
    assert forgetting.is_alive(), "forget must wait for the write in progress"
    release.set()
    writer.join(5)
    forgetting.join(5)
    assert forgot == [1] and pending.get("c_gone") is None
    assert pending.put({"c_gone": _windows(3.0)}, {"c_gone": AT}) and pending.get("c_gone") is None
    assert pending.cards() == []
