"""`spend score fraud`: batch scoring of a file of card payments with the fraud champion.

Batch scoring checks every line with ingestion's rules plus the ones scoring needs (a card and a
terminal); a rejected line gets its reason and no score, never a silent 0. Features come from the
ingested history plus the batch itself, exactly as at training. Alerts (score at or above the stored
threshold) get reason codes. The cards' updated spending windows are pushed to the online store, so the
next payment scored online sees them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from spend.core.model_store import ModelStore
from spend.core.privacy.erasing import not_erasing
from spend.core.registry import spec
from spend.core.settings import SpendSettings
from spend.features.compute.payments import FEATURES, SPENDING, payment_features
from spend.features.compute.terminals import card_payments
from spend.features.governance.after_erasure import without_erased
from spend.features.ingest.pipeline import IngestOptions, check_rows
from spend.features.ingest.readers import read_export
from spend.features.ingest.store import OfflineStore
from spend.features.schema.fields import row_rule

NEEDS_TERMINAL = row_rule(
    "terminal_id",
    "missing_terminal",
    "a card payment to score needs its terminal_id",
    lambda df: df["terminal_id"].notna(),
)


@dataclass
class Scored:
    frame: pd.DataFrame  # one row per input line: status, error, score, alert, reasons
    pushed_cards: int


def score_file(settings: SpendSettings, path: Path, push: bool = True) -> Scored:
    """Score every card payment of a transactions file with the fraud @champion."""
    model, version = ModelStore(settings).load("fraud", feature_service=spec("fraud").feature_service)
    raw = read_export(path)
    checked = check_rows(
        raw, str(path), IngestOptions("transactions", extra_rules=(NEEDS_TERMINAL,)), settings, datetime.now(UTC)
    )
    lines = checked.typed.assign(line=np.arange(len(raw)))
    bad = checked.reasons["reasons"].reindex(lines.index)
    good = lines[bad.isna()]
    payments = card_payments(good) if len(good) else good.head(0)
    offline = OfflineStore(settings.paths)
    stored = offline.read("transactions")
    history = card_payments(stored) if not stored.empty else payments.head(0)  # a first batch has no history
    labels = offline.read("fraud_labels", ["order_id", "ts", "is_fraud"])
    if labels.empty:
        labels = pd.DataFrame({"order_id": [], "ts": pd.to_datetime([], utc=True), "is_fraud": []})
    features = payment_features(payments, history, labels) if len(payments) else pd.DataFrame(columns=FEATURES)
    score = model.predict_proba(features[list(FEATURES)]) if len(payments) else np.empty(0)
    alert = score >= model.threshold_
    reasons = np.full(len(payments), "", dtype=object)
    if alert.any():
        reasons[alert] = [";".join(r) for r in model.explain(features[list(FEATURES)][alert])]
    by_order = pd.DataFrame(
        {"fraud_score": score, "alert": alert, "reasons": reasons}, index=payments["order_id"].to_numpy()
    )
    out = pd.DataFrame(
        {
            "line": lines["line"].to_numpy() + 1,
            "order_id": lines["order_id"].to_numpy(),
            "customer_id": lines["customer_id"].to_numpy(),
            "status": np.where(bad.isna(), "scored", "rejected"),
            "error": bad.fillna("").to_numpy(),
        }
    )
    scored = out["status"] == "scored"
    joined = by_order.reindex(out.loc[scored, "order_id"])
    for column in ("fraud_score", "alert", "reasons"):
        out.loc[scored, column] = joined[column].to_numpy()
    out["model_version"] = int(version.version)
    pushed = push_spending(settings, payments, features) if push and len(payments) else 0
    return Scored(out, pushed)


def push_spending(settings: SpendSettings, payments: pd.DataFrame, features: pd.DataFrame) -> int:
    """Each card's spending windows as of its latest payment in the batch, pushed to the online store by
    Spend's writer (Feast's `push` would leave the batch reader's records behind: it reads them back the
    slow way)."""
    from spend.features.store.config import feature_store
    from spend.features.store.push import OnlinePush

    latest = pd.concat([payments[["customer_id", "ts"]], features[list(SPENDING)]], axis=1)
    latest = latest.sort_values("ts").drop_duplicates("customer_id", keep="last")
    rows = latest.rename(columns={"ts": "event_timestamp"})
    push = OnlinePush(feature_store(settings), "customer_spending_push")
    # An erasure since the lines were checked: it ran wholly before (its cards are dropped here) or runs
    # wholly after (and deletes what is pushed), as with the service's writes (spend/core/privacy/erasing.py).
    with not_erasing(settings.paths.home):
        rows = without_erased(settings, rows)
        push.push(rows.reset_index(drop=True))
    return len(rows)
