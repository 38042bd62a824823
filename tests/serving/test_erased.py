"""The service's view of erased cards (serving/erased.py) and what it drops of them: kept answers, and card
windows waiting to be written when `spend erase` runs in another process."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from functools import partial
from types import SimpleNamespace

from spend.core.privacy.pseudonym import pseudonym
from spend.core.privacy.vault import IdentityVault
from spend.features.governance.erasure import erase_customers
from spend.serving.erased import ErasedCards, erasures_held_off
from spend.serving.idempotency import ScoredPayments
from spend.serving.spending import PendingWindows
from tests.conftest import TEST_KEY

KEY = b"test-key-0123456789abcdef0123456789"


def test_cards_erased_here_count_at_once_and_others_once_the_deny_list_is_read(tmp_path):
    path = tmp_path / "vault" / "identity.sqlite"
    erased = ErasedCards(path, KEY)
    assert not erased.refresh() and not path.exists()  # no vault: nobody erased, and none created
    erased.add(["c_here"])
    assert "c_here" in erased and "c_there" not in erased
    IdentityVault(path, KEY).erase(["c_there"])  # `spend erase` in another process
    assert "c_there" not in erased  # not before the deny list is read again
    assert erased.refresh() and "c_there" in erased and "c_other" not in erased
    assert not erased.refresh()  # nothing new


def test_forget_drops_every_kept_answer_of_an_erased_card():
    scored = ScoredPayments()
    payment = SimpleNamespace(terminal_id="T-1", ts=datetime(2026, 1, 1, tzinfo=UTC), amount=5.0, currency="GBP")
    for order_id, card in (("o-1", "c_gone"), ("o-2", "c_kept"), ("o-3", "c_gone")):
        details = (card, payment.terminal_id, payment.ts.timestamp(), payment.amount, payment.currency, 1)
        scored.put(order_id, details, {"order_id": order_id})
    assert scored.forget({"c_gone"}.__contains__) == 2 and len(scored) == 1


def _windows() -> dict:
    return {"spend_1h": 1.0}


def _pending(settings, write, forgotten: list) -> tuple[PendingWindows, ErasedCards]:
    erased = ErasedCards(settings.paths.vault, TEST_KEY.encode())
    guard = partial(erasures_held_off, settings.paths.home, erased, lambda: forgotten.append(True))
    return PendingWindows(write, interval=3600, refused=erased.__contains__, guard=guard), erased


def test_a_write_of_card_windows_leaves_out_a_card_erased_by_another_process_since_the_last_write(settings):
    written: list[list[str]] = []
    forgotten: list[bool] = []
    pending, erased = _pending(settings, lambda keys, seconds, windows: written.append(keys["customer_id"]), forgotten)
    gone, kept = pseudonym("bob-12", TEST_KEY.encode()), pseudonym("alice-77", TEST_KEY.encode())
    at = datetime(2026, 1, 1, tzinfo=UTC)
    pending.put({gone: _windows(), kept: _windows()}, {gone: at, kept: at})
    erase_customers(settings, ["bob-12"])  # `spend erase`, in another process than the service
    assert gone not in erased  # the service has not refreshed since
    assert pending.flush() == 1 and written == [[kept]] and forgotten == [True]
    assert gone in erased and pending.get(gone) is None
    assert pending.put({gone: _windows()}, {gone: at}) and pending.cards() == []
    assert pending.flush() == 0 and forgotten == [True]  # the vault unchanged: not read again


def test_an_erasure_waits_for_a_write_of_card_windows_in_progress_before_deleting_online(settings, monkeypatch):
    from spend.features.governance import erasure

    order: list[str] = []
    started, release = threading.Event(), threading.Event()

    def slow_write(keys, seconds, windows) -> None:
        started.set()
        release.wait(5)
        order.append("windows written")

    monkeypatch.setattr(erasure, "_erase_online", lambda settings, pseudonyms: order.append("deleted online") or 0)
    pending, _ = _pending(settings, slow_write, [])
    card = pseudonym("bob-12", TEST_KEY.encode())
    pending.put({card: _windows()}, {card: datetime(2026, 1, 1, tzinfo=UTC)})
    writer = threading.Thread(target=pending.flush)
    writer.start()
    assert started.wait(5)
    eraser = threading.Thread(target=erase_customers, args=(settings, ["bob-12"]))
    eraser.start()
    eraser.join(0.3)
    assert eraser.is_alive(), "the erasure must wait for the write in progress"
    release.set()
    writer.join(5)
    eraser.join(5)
    assert order == ["windows written", "deleted online"]


def test_a_write_leaves_out_an_erased_card_even_when_the_registry_refresh_read_the_deny_list_first(settings):
    """The registry refresh and the writer both follow the deny list; whichever reads it first, the card's
    pending windows are not written."""
    written: list[list[str]] = []
    pending, erased = _pending(settings, lambda keys, seconds, windows: written.append(keys["customer_id"]), [])
    gone = pseudonym("bob-12", TEST_KEY.encode())
    pending.put({gone: _windows()}, {gone: datetime(2026, 1, 1, tzinfo=UTC)})
    erase_customers(settings, ["bob-12"])
    assert erased.refresh()  # the refresh thread, before it could drop the card's pending windows
    assert pending.flush() == 0 and written == [] and pending.cards() == []
