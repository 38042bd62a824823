"""The Fraud Detection Handbook's payment simulator (Le Borgne et al., 2022, chapter 3.2), vectorised.

Customers and terminals sit on a 100 x 100 grid; a customer pays at terminals within radius 5, on
average `mean_nb_tx_per_day` ~ U(0, 4) times a day, at a time ~ N(noon, 20,000 s) kept inside the day,
an amount ~ N(mean, mean / 2) with mean ~ U(5, 100) (a negative draw becomes U(0, 2 mean)). Fraud:
1. every payment above 220 is fraud;
2. each day 2 terminals are compromised: every payment on them in the next 28 days is fraud;
3. each day 3 cards are compromised: in the next 14 days a third of their payments are fraud, amount x 5.
Labels become known a week after the payment (the feedback delay). Defaults are the Handbook's
benchmark profile: 5,000 cards, 10,000 terminals, 183 days from 2018-04-01.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from spend.simulate.fraud import CARD_AMOUNT_FACTOR, CARD_DAYS, CARD_SHARE, TERMINAL_DAYS, _within

DAY_S = 86_400
FEEDBACK_DELAY_DAYS = 7


@dataclass(frozen=True)
class HandbookConfig:
    customers: int = 5_000
    terminals: int = 10_000
    days: int = 183
    start: date = date(2018, 4, 1)
    radius: float = 5.0
    amount_threshold: float = 220.0
    terminals_per_day: int = 2
    cards_per_day: int = 3
    seed: int = 0


@dataclass
class HandbookHistory:
    transactions: pd.DataFrame  # canonical transactions table (raw card ids)
    fraud_labels: pd.DataFrame  # canonical fraud_labels table
    truth: pd.DataFrame  # per payment: order_id, customer_id, terminal_id, ts, amount, is_fraud, scenario


def _profiles(config: HandbookConfig, rng: np.random.Generator):
    xy_customers = rng.uniform(0, 100, (config.customers, 2))
    mean_amount = rng.uniform(5, 100, config.customers)
    mean_tx = rng.uniform(0, 4, config.customers)
    xy_terminals = rng.uniform(0, 100, (config.terminals, 2))
    near = cKDTree(xy_terminals).query_ball_point(xy_customers, r=config.radius)
    counts = np.array([len(n) for n in near])
    flat = np.concatenate([np.sort(n) for n in near]).astype(np.int64) if counts.sum() else np.empty(0, np.int64)
    return mean_amount, mean_tx, counts, np.concatenate([[0], np.cumsum(counts)[:-1]]), flat


def _payments(config: HandbookConfig, rng: np.random.Generator) -> pd.DataFrame:
    mean_amount, mean_tx, counts, offsets, flat = _profiles(config, rng)
    per_day = rng.poisson(np.tile(mean_tx, config.days))  # customer-major within each day
    customer = np.repeat(np.tile(np.arange(config.customers), config.days), per_day)
    day = np.repeat(np.repeat(np.arange(config.days), config.customers), per_day)
    seconds = rng.normal(DAY_S / 2, 20_000, customer.size)
    keep = (seconds > 0) & (seconds < DAY_S) & (counts[customer] > 0)
    customer, day, seconds = customer[keep], day[keep], seconds[keep].astype(np.int64)
    mean = mean_amount[customer]
    amount = rng.normal(mean, mean / 2)
    amount = np.where(amount < 0, rng.uniform(0, 2 * mean), amount).round(2)
    terminal = flat[offsets[customer] + (rng.random(customer.size) * counts[customer]).astype(np.int64)]
    order = np.lexsort((seconds, day))
    return pd.DataFrame(
        {"customer": customer[order], "terminal": terminal[order], "day": day[order], "seconds": seconds[order]}
    ).assign(amount=amount[order])


def _compromised(n_entities: int, per_day: int, days: int, rng: np.random.Generator) -> pd.DataFrame:
    chosen = np.concatenate([rng.choice(n_entities, per_day, replace=False) for _ in range(days)])
    return pd.DataFrame({"entity": chosen, "start_day": np.repeat(np.arange(days), per_day)})


def simulate_handbook(config: HandbookConfig = HandbookConfig()) -> HandbookHistory:
    rng = np.random.default_rng(config.seed)
    pay = _payments(config, rng)
    customer, terminal, day = pay["customer"].to_numpy(), pay["terminal"].to_numpy(), pay["day"].to_numpy()
    s1 = pay["amount"].to_numpy() > config.amount_threshold
    s2 = _within(
        terminal, day, _compromised(config.terminals, config.terminals_per_day, config.days, rng), TERMINAL_DAYS
    )
    cards = _compromised(config.customers, config.cards_per_day, config.days, rng)
    s3 = _within(customer, day, cards, CARD_DAYS) & (rng.random(day.size) < CARD_SHARE)
    amount = np.where(s3, pay["amount"].to_numpy() * CARD_AMOUNT_FACTOR, pay["amount"].to_numpy()).round(2)
    scenario = np.select([s3, s2, s1], [3, 2, 1], default=0)  # the Handbook applies 1, 2, 3 in turn
    start = np.datetime64(config.start.isoformat(), "s")
    ts = pd.to_datetime(start + (day * DAY_S + pay["seconds"].to_numpy()).astype("timedelta64[s]"), utc=True)
    truth = pd.DataFrame(
        {
            "order_id": [f"P{k:08d}" for k in range(len(pay))],
            "customer_id": np.char.add("K", np.char.zfill(customer.astype(str), 5)),
            "terminal_id": np.char.add("T", np.char.zfill(terminal.astype(str), 5)),
            "ts": ts,
            "amount": amount,
            "is_fraud": (scenario > 0).astype(int),
            "scenario": scenario,
        }
    )
    return HandbookHistory(_transactions(truth), _labels(truth), truth)


def _iso(ts: pd.Series) -> np.ndarray:
    return ts.dt.strftime("%Y-%m-%dT%H:%M:%SZ").to_numpy()


def _transactions(truth: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "order_id": truth["order_id"],
            "customer_id": truth["customer_id"],
            "ts": _iso(truth["ts"]),
            "product_id": "CARD-PAYMENT",
            "quantity": 1,
            "unit_price": truth["amount"].map("{:.2f}".format),
            "store_id": truth["terminal_id"],
            "channel": "pos",
            "payment_method": "card",
            "terminal_id": truth["terminal_id"],
            "kind": "purchase",
        }
    )


def _labels(truth: pd.DataFrame) -> pd.DataFrame:
    known = truth["ts"] + pd.Timedelta(days=FEEDBACK_DELAY_DAYS)
    return pd.DataFrame(
        {
            "event_id": "L" + truth["order_id"],
            "order_id": truth["order_id"],
            "ts": _iso(known),
            "is_fraud": truth["is_fraud"],
        }
    )


def write_handbook(history: HandbookHistory, out) -> dict[str, int]:
    """transactions.csv and fraud_labels.csv (canonical, for `spend ingest`) and ground_truth/payments.csv."""
    from pathlib import Path

    out = Path(out)
    (out / "ground_truth").mkdir(parents=True, exist_ok=True)
    history.transactions.to_csv(out / "transactions.csv", index=False)
    history.fraud_labels.to_csv(out / "fraud_labels.csv", index=False)
    truth = history.truth.assign(ts=_iso(history.truth["ts"]))
    truth.to_csv(out / "ground_truth" / "payments.csv", index=False)
    return {"transactions": len(history.transactions), "fraud_labels": len(history.fraud_labels)}
