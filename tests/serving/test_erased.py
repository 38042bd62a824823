"""The service's view of erased cards (serving/erased.py) and what it drops of them: kept answers."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

from spend.core.privacy.vault import IdentityVault
from spend.serving.erased import ErasedCards
from spend.serving.idempotency import ScoredPayments

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
