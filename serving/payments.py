"""The payments of one fraud request, in the order the fraud features need them. Light on purpose: the
service imports it at start-up, in BentoML's supervisor process too."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spend.serving.schemas import Transaction


class Payments:
    """Payments in time order (a card's later payments see its earlier ones), their pseudonymised cards
    and the entity rows to read; `order` maps back to the order given."""

    def __init__(self, transactions: list[Transaction], key: bytes) -> None:
        from spend.core.privacy.pseudonym import pseudonym

        self.order = sorted(range(len(transactions)), key=lambda i: transactions[i].ts)
        self.ordered = [transactions[i] for i in self.order]
        self.cards = [pseudonym(t.card_id, key) for t in self.ordered]
        self.entities = {"customer_id": self.cards, "terminal_id": [t.terminal_id for t in self.ordered]}
