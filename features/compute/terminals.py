"""Terminal risk windows of the Fraud Detection Handbook, as daily snapshots per payment terminal.

At cut-off T, the windows look at payments in [T - delay - w, T - delay) for w in 1, 7, 30 days:
their number, and the share confirmed fraudulent. A fraud label only counts once it is known: each
fraud is placed at max(payment time, label time - delay), so a label reported after T never counts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from spend.features.compute.windows import EventIndex, daily_cutoffs, seconds

DAY = 86_400
DELAY_DAYS = 7
WINDOWS = (1, 7, 30)
SPENDING = tuple(f"{kind}_{w}d" for kind in ("nb_tx", "avg_amount") for w in WINDOWS)  # a card's spending windows
COLUMNS = tuple(f"terminal_nb_tx_{w}d" for w in WINDOWS) + tuple(f"terminal_risk_{w}d" for w in WINDOWS)


def card_payments(transactions: pd.DataFrame) -> pd.DataFrame:
    """One row per card-present purchase order: order_id, terminal_id, customer_id, ts, amount."""
    lines = transactions[transactions["terminal_id"].notna() & (transactions["kind"] == "purchase")]
    amount = lines["quantity"] * lines["unit_price"] - lines["discount"].fillna(0.0)
    return (
        lines.assign(amount=amount)
        .groupby("order_id", sort=False, observed=True)
        .agg(
            terminal_id=("terminal_id", "first"),
            customer_id=("customer_id", "first"),
            ts=("ts", "min"),
            amount=("amount", "sum"),
        )
        .reset_index()
    )


def terminal_snapshots(
    transactions: pd.DataFrame, labels: pd.DataFrame, until: pd.Timestamp, delay_days: int = DELAY_DAYS
) -> pd.DataFrame:
    payments = card_payments(transactions)
    if payments.empty:
        return pd.DataFrame(columns=["terminal_id", "event_timestamp", *COLUMNS])
    ids = pd.Index(pd.unique(payments["terminal_id"]))
    code = ids.get_indexer(payments["terminal_id"])
    paid = seconds(payments["ts"])
    delay = delay_days * DAY
    counts = EventIndex.build(code, paid, {"n": np.ones(len(paid))})
    frauds = known_frauds(payments, labels, code, paid, delay)
    first = pd.Series(paid).groupby(code).min()
    last = pd.Series(paid).groupby(code).max()
    start = (first.to_numpy() // DAY + 1) * DAY
    end = np.minimum((last.to_numpy() // DAY + 1 + max(WINDOWS) + delay_days) * DAY, int(until.timestamp()))
    entity, cutoff = daily_cutoffs(start, end)
    codes = first.index.to_numpy()[entity]
    frame = {"terminal_id": ids.to_numpy()[codes], "event_timestamp": pd.to_datetime(cutoff, unit="s", utc=True)}
    return pd.DataFrame(frame | risk_windows(counts, frauds, codes, cutoff - delay))


def risk_windows(counts: EventIndex, frauds: EventIndex, codes: np.ndarray, shifted: np.ndarray) -> dict:
    """terminal_nb_tx_{w}d and terminal_risk_{w}d over [shifted - w, shifted) for each window w."""
    windows = tuple(w * DAY for w in WINDOWS)
    n_sums = counts.window_sums(("n",), codes, shifted, windows)
    fraud_sums = frauds.window_sums(("n",), codes, shifted, windows)
    out = {}
    for w in WINDOWS:
        n, fraud = n_sums["n", w * DAY], fraud_sums["n", w * DAY]
        out[f"terminal_nb_tx_{w}d"] = n
        out[f"terminal_risk_{w}d"] = np.divide(fraud, n, out=np.zeros(len(n)), where=n > 0)
    return out


def known_frauds(payments, labels, code, paid, delay) -> EventIndex:
    """The payments confirmed fraudulent, each placed when its label became known; none without labels
    (a shop that exports card payments but no fraud outcomes has terminals with no known risk)."""
    if labels.empty or "is_fraud" not in labels.columns:
        labels = pd.DataFrame(
            {
                "order_id": pd.Series(dtype=object),
                "ts": pd.Series(dtype="datetime64[ns, UTC]"),
                "is_fraud": pd.Series(dtype=int),
            }
        )
    confirmed = labels[labels["is_fraud"] == 1]
    label_ts = pd.to_datetime(
        payments["order_id"].map(confirmed.drop_duplicates("order_id").set_index("order_id")["ts"]), utc=True
    )
    is_fraud = label_ts.notna().to_numpy()
    placed = np.maximum(paid, np.where(is_fraud, seconds(label_ts.fillna(payments["ts"])) - delay, paid))
    return EventIndex.build(code[is_fraud], placed[is_fraud], {"n": np.ones(int(is_fraud.sum()))})
