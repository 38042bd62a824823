"""Fraud features of payments at request time, from the online store's values and the requests.

The card's spending windows in the online store are as of its last push (or the midnight snapshot):
each payment is added to them (count + 1, mean updated), as the offline computation counts the payment
itself; payments of one card in one batch are added in time order, each seeing the ones before it that
fall inside each window (a payment three days earlier counts in the 7-day window, not the 1-day). Terminal
windows end a week ago, so a payment never enters them. Unknown cards and terminals start from empty
windows, like a first payment offline; so does every payment when the online store cannot be read
(`columns=None`: the degraded answer).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np

from spend.features.compute.payments import FEATURES, REQUEST, SPENDING, TERMINAL
from spend.features.compute.terminals import DAY, WINDOWS
from spend.features.store.definitions import SNAPSHOT_TTL, request_arrays, request_values

EMPTY_WINDOWS = dict.fromkeys(SPENDING, 0.0)
EMPTY_TERMINAL = dict.fromkeys(TERMINAL, 0.0)
STORED = ("amount", *SPENDING, *TERMINAL)  # the features taken from the payment and the online windows
_AT = {name: j for j, name in enumerate(FEATURES)}  # a feature's column in the rows
_STORED_AT = [_AT[name] for name in STORED]


def payment_rows(
    columns: dict | None,
    cards: Sequence[str],
    amounts: Sequence[float],
    ts_seconds: Sequence[int],
    baskets: Sequence[int],
) -> tuple[np.ndarray, dict[str, dict]]:
    """The model's input rows (one per payment, in the order given: time order; columns FEATURES, floats)
    and each card's windows after its last payment, to push. Plain lists into one array, no DataFrame and
    no array per column: this is the request path of a single payment, where building either cost more
    than the model."""
    if len(cards) == 1:
        return _one_payment(columns, cards[0], float(amounts[0]), int(ts_seconds[0]), int(baskets[0]))
    latest: dict[str, dict] = {}
    base: dict[str, dict] = {}  # each card's online windows, as read for its first payment of the batch
    earlier: dict[str, _BatchWindows] = {}  # each card's payments so far in the batch
    stored = []  # per payment: amount, the card's windows after it, the terminal's windows (STORED order)
    for i, (card, amount, at) in enumerate(zip(cards, amounts, ts_seconds, strict=True)):
        if card not in base:
            base[card] = _online(columns, i, "customer_spending", SPENDING) or EMPTY_WINDOWS
            earlier[card] = _BatchWindows()
        after = latest[card] = _windows_after(base[card], amount, earlier[card].inside(int(at)))
        earlier[card].add(int(at), float(amount))
        terminal = _online(columns, i, "terminal_risk", TERMINAL) or EMPTY_TERMINAL
        stored.append([amount, *(after[name] for name in SPENDING), *(terminal[name] for name in TERMINAL)])
    rows = np.empty((len(stored), len(FEATURES)))
    rows[:, _STORED_AT] = np.array(stored, dtype=np.float64).reshape(len(stored), len(STORED))
    request = request_arrays(
        rows[:, _AT["amount"]],
        rows[:, _AT["avg_amount_30d"]],
        np.asarray(ts_seconds, dtype=np.int64),
        np.asarray(baskets, dtype=np.int64),
    )
    for name, column in request.items():
        rows[:, _AT[name]] = column
    return rows, latest


def _one_payment(columns: dict | None, card: str, amount: float, ts_seconds: int, basket: int) -> tuple:
    """payment_rows for a single payment: one list in FEATURES order, one array (the general path's
    column-wise placing showed in a one-payment profile; docs/serving.md)."""
    after = _windows_after(_online(columns, 0, "customer_spending", SPENDING) or EMPTY_WINDOWS, amount)
    terminal = _online(columns, 0, "terminal_risk", TERMINAL) or EMPTY_TERMINAL
    request = request_values(amount, after["avg_amount_30d"], ts_seconds, basket)
    row = [amount, *(after[n] for n in SPENDING), *(terminal[n] for n in TERMINAL), *(request[n] for n in REQUEST)]
    return np.array([row], dtype=np.float64), {card: after}


def _windows_after(before: dict, amount: float, batch: dict | None = None) -> dict:
    """A card's spending windows with one more payment (count + 1, mean updated) and, per window, the
    count and sum of the batch's earlier payments inside it (`batch`: window -> (count, sum))."""
    after = {}
    for w in WINDOWS:
        count, mean = before[f"nb_tx_{w}d"], before[f"avg_amount_{w}d"]
        extra, extra_sum = batch[w] if batch else (0, 0.0)
        after[f"nb_tx_{w}d"] = count + extra + 1
        after[f"avg_amount_{w}d"] = (mean * count + extra_sum + amount) / (count + extra + 1)
    return after


class _BatchWindows:
    """A card's earlier payments in a batch (in time order) and, per window, where the ones inside it
    start and what they add up to: sliding sums, so a card with a thousand payments in one batch costs a
    thousand steps, not a million."""

    def __init__(self) -> None:
        self.times: list[int] = []
        self.amounts: list[float] = []
        self.first = dict.fromkeys(WINDOWS, 0)
        self.sums = dict.fromkeys(WINDOWS, 0.0)

    def inside(self, at: int) -> dict[int, tuple[int, float]]:
        """Per window w, the count and sum of the earlier payments in (at - w days, at], as the offline
        windows count them."""
        out = {}
        for w in WINDOWS:
            while self.first[w] < len(self.times) and self.times[self.first[w]] <= at - w * DAY:
                self.sums[w] -= self.amounts[self.first[w]]
                self.first[w] += 1
            out[w] = (len(self.times) - self.first[w], self.sums[w])
        return out

    def add(self, at: int, amount: float) -> None:
        self.times.append(at)
        self.amounts.append(amount)
        for w in WINDOWS:
            self.sums[w] += amount


def model_inputs(values: np.ndarray, features: Sequence[str]) -> np.ndarray:
    """The rows' columns in the order a fitted model lists its features (FEATURES unless retrained with
    another set); a feature the rows lack is an error naming it."""
    if list(features) == list(FEATURES):
        return values
    missing = [f for f in features if f not in _AT]
    if missing:
        raise ValueError(f"the fraud model needs feature(s) {', '.join(missing)}, which requests do not give")
    return values[:, [_AT[f] for f in features]]


def with_pending(columns: dict, cards: Sequence[str], pending, now: datetime) -> dict:
    """The online values with each card's pending windows (written by this process, not yet online) in
    place of the stored ones: they are newer. Windows older than the view's time to live are read as the
    online store reads them once written: not found (a back-dated payment's windows once counted while
    pending and not after their write, so the card's next score depended on the write's timing)."""
    entries = [pending.get(card) for card in cards]
    if not any(entries):
        return columns
    oldest = now - SNAPSHOT_TTL
    out = dict(columns)
    names = (*SPENDING, "customer_spending__found", "customer_spending__event_seconds")
    for name in names:
        out[name] = np.array(columns[name], copy=True)
    for i, entry in enumerate(entries):
        if entry is not None:
            windows, at = entry
            expired = at <= oldest  # as the reader's `found`: event time after now - ttl
            for name in SPENDING:
                out[name][i] = np.nan if expired else windows[name]
            out["customer_spending__found"][i] = not expired
            out["customer_spending__event_seconds"][i] = np.nan if expired else at.timestamp()
    return out


def _online(columns: dict | None, i: int, view: str, names: Sequence[str]) -> dict | None:
    if columns is None or not bool(columns[f"{view}__found"][i]):
        return None
    return {name: float(columns[name][i]) for name in names}
