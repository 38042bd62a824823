"""Fraud features of one payment at request time, from the online store's values and the request.

The card's spending windows in the online store are as of its last push (or the midnight snapshot):
this payment is added to them (count + 1, mean updated), as the offline computation counts the payment
itself. Terminal windows end a week ago, so this payment never enters them. Unknown cards and terminals
start from empty windows, like a first payment offline.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.compute.payments import FEATURES, SPENDING, TERMINAL
from features.compute.terminals import WINDOWS
from features.store.definitions import request_features


def payment_row(columns: dict, amount: float, ts_seconds: int, basket_size: int) -> tuple[pd.DataFrame, dict]:
    """The model's input row (FEATURES) and the card's updated windows to push."""
    spending_known = bool(columns["customer_spending__found"][0])
    terminal_known = bool(columns["terminal_risk__found"][0])
    row: dict[str, float] = {"amount": float(amount)}
    for w in WINDOWS:
        n = float(columns[f"nb_tx_{w}d"][0]) if spending_known else 0.0
        mean = float(columns[f"avg_amount_{w}d"][0]) if spending_known else 0.0
        row[f"nb_tx_{w}d"] = n + 1
        row[f"avg_amount_{w}d"] = (mean * n + amount) / (n + 1)
    for name in TERMINAL:
        row[name] = float(columns[name][0]) if terminal_known else 0.0
    request = pd.DataFrame(
        {
            "amount": [float(amount)],
            "avg_amount_30d": [row["avg_amount_30d"]],
            "transaction_ts": [int(ts_seconds)],
            "basket_size": [int(basket_size)],
        }
    )
    row |= {k: float(v.iloc[0]) for k, v in request_features(request).items()}
    frame = pd.DataFrame([row])[list(FEATURES)].astype(np.float64)
    return frame, {name: row[name] for name in SPENDING}
