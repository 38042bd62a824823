"""Fraud features of each card payment at the moment it is made: the `fraud_v1` service's features, exact.

- Customer spending (the Handbook's): number and mean amount of the card's payments in the last 1, 7
  and 30 days, the current payment included (windows (t - w, t]).
- Terminal risk: payments on the terminal in [t - delay - w, t - delay) and the share of them confirmed
  fraudulent by t (a fraud is placed at max(payment, label time - delay), as in terminals.py).
- Request features: the on-demand view's function (definitions.request_features).

The daily snapshots in the online store give the same windows as of midnight; scoring pushes each
payment's updated windows, so the online store follows these values through the day.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from spend.features.compute.terminals import DAY, DELAY_DAYS, SPENDING, WINDOWS, known_frauds, risk_windows
from spend.features.compute.windows import EventIndex, seconds
from spend.features.store.definitions import request_features

TERMINAL = tuple(f"terminal_{kind}_{w}d" for kind in ("nb_tx", "risk") for w in WINDOWS)
REQUEST = ("amount_over_avg_30d", "is_night", "is_weekend", "basket_size_features")
FEATURES = ("amount", *SPENDING, *TERMINAL, *REQUEST)


def payment_features(
    scored: pd.DataFrame, history: pd.DataFrame, labels: pd.DataFrame, delay_days: int = DELAY_DAYS
) -> pd.DataFrame:
    """FEATURES for each row of `scored` (order_id, customer_id, terminal_id, ts, amount[, basket_size]).

    `history` holds every known payment (same columns), `labels` the fraud labels (order_id, ts known,
    is_fraud). Payments of `scored` missing from `history` are added to it, so a batch sees itself.
    """
    # pandas' isin on Arrow strings converts every value to a Python object; an index lookup does not.
    seen = pd.Index(pd.unique(history["order_id"])).get_indexer(scored["order_id"]) >= 0
    known = pd.concat([history, scored[~seen]], ignore_index=True)
    at = seconds(scored["ts"])
    out = {"amount": scored["amount"].to_numpy(dtype=float)}
    out |= _spending(known, scored, at)
    out |= _terminal(known, scored, labels, at, delay_days * DAY)
    request = pd.DataFrame(
        {
            "amount": out["amount"],
            "avg_amount_30d": out["avg_amount_30d"],
            "transaction_ts": at,
            "basket_size": scored["basket_size"].to_numpy() if "basket_size" in scored else np.ones(len(scored)),
        }
    )
    out |= {c: v.to_numpy() for c, v in request_features(request).items()}
    return pd.DataFrame(out, index=scored.index)[list(FEATURES)]


def _spending(known: pd.DataFrame, scored: pd.DataFrame, at: np.ndarray) -> dict[str, np.ndarray]:
    ids = pd.Index(pd.unique(known["customer_id"]))
    index = EventIndex.build(
        ids.get_indexer(known["customer_id"]),
        seconds(known["ts"]),
        {"n": np.ones(len(known)), "amount": known["amount"].to_numpy(dtype=float)},
    )
    codes, until = ids.get_indexer(scored["customer_id"]), at + 1  # (t - w, t]: the payment itself counts
    sums = index.window_sums(("n", "amount"), codes, until, tuple(w * DAY for w in WINDOWS))
    out = {}
    for w in WINDOWS:
        n = sums["n", w * DAY]
        out[f"nb_tx_{w}d"] = n
        out[f"avg_amount_{w}d"] = np.divide(sums["amount", w * DAY], n, out=np.zeros(len(n)), where=n > 0)
    return out


def _terminal(known, scored, labels, at, delay) -> dict[str, np.ndarray]:
    ids = pd.Index(pd.unique(known["terminal_id"]))
    code = ids.get_indexer(known["terminal_id"])
    paid = seconds(known["ts"])
    counts = EventIndex.build(code, paid, {"n": np.ones(len(paid))})
    frauds = known_frauds(known, labels, code, paid, delay)
    return risk_windows(counts, frauds, ids.get_indexer(scored["terminal_id"]), at - delay)
