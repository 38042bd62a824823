"""Fraud features of payments at request time, from the online store's values and the requests.

The card's spending windows in the online store are as of its last push (or the midnight snapshot):
each payment is added to them (count + 1, mean updated), as the offline computation counts the payment
itself; payments of one card in one batch are added in time order, each seeing the ones before. Terminal
windows end a week ago, so a payment never enters them. Unknown cards and terminals start from empty
windows, like a first payment offline; so does every payment when the online store cannot be read
(`columns=None`: the degraded answer).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from features.compute.payments import FEATURES, SPENDING, TERMINAL
from features.compute.terminals import WINDOWS
from features.store.definitions import request_features

EMPTY_WINDOWS = {name: 0.0 for name in SPENDING}


def payment_rows(
    columns: dict | None,
    cards: Sequence[str],
    amounts: Sequence[float],
    ts_seconds: Sequence[int],
    baskets: Sequence[int],
) -> tuple[pd.DataFrame, dict[str, dict]]:
    """The model's input rows (FEATURES, one per payment, in the order given: time order) and each card's
    windows after its last payment, to push."""
    latest: dict[str, dict] = {}
    rows = []
    for i, (card, amount) in enumerate(zip(cards, amounts, strict=True)):
        before = latest.get(card) or _online(columns, i, "customer_spending", SPENDING) or EMPTY_WINDOWS
        after = {}
        for w in WINDOWS:
            n, mean = before[f"nb_tx_{w}d"], before[f"avg_amount_{w}d"]
            after[f"nb_tx_{w}d"] = n + 1
            after[f"avg_amount_{w}d"] = (mean * n + amount) / (n + 1)
        latest[card] = after
        terminal = _online(columns, i, "terminal_risk", TERMINAL) or dict.fromkeys(TERMINAL, 0.0)
        rows.append({"amount": float(amount)} | after | terminal)
    frame = pd.DataFrame(rows)
    request = pd.DataFrame(
        {
            "amount": frame["amount"],
            "avg_amount_30d": frame["avg_amount_30d"],
            "transaction_ts": np.asarray(ts_seconds, dtype=np.int64),
            "basket_size": np.asarray(baskets, dtype=np.int64),
        }
    )
    frame = pd.concat([frame, request_features(request)], axis=1)
    return frame[list(FEATURES)].astype(np.float64), latest


def _online(columns: dict | None, i: int, view: str, names: Sequence[str]) -> dict | None:
    if columns is None or not bool(columns[f"{view}__found"][i]):
        return None
    return {name: float(columns[name][i]) for name in names}
