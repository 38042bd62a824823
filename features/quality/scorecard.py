"""Data-quality scorecard: completeness, validity, uniqueness, timeliness and consistency per table, 0-100.

Each dimension lists the checks that failed, so a low score says what to fix, not just that something is off.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import pandas as pd

from spend.core.settings import SpendSettings
from spend.features.ingest.catalog import BatchRecord
from spend.features.ingest.daily_totals import daily_lines
from spend.features.ingest.refusals import settled
from spend.features.ingest.store import OfflineStore
from spend.features.quality.consistency import CHECKS
from spend.features.schema.fields import default_context
from spend.features.schema.tables import TABLES

DIMENSIONS = ("completeness", "validity", "uniqueness", "timeliness", "consistency")
PASS_MARK = 0.95  # a check below this share of passing rows is listed as failing


@dataclass
class Dimension:
    score: float
    failing: list[str] = field(default_factory=list)


@dataclass
class TableScore:
    table: str
    rows: int
    batches: int
    dimensions: dict[str, Dimension]

    @property
    def overall(self) -> float:
        return round(sum(d.score for d in self.dimensions.values()) / len(self.dimensions), 1)


NO_SALES = "quantity:non_zero_quantity"  # in a daily report, a product that sold nothing that day


def completeness(stored: pd.DataFrame, table: str) -> Dimension:
    """The share filled of each field that counts, averaged. A daily total names no customer by design
    (features/ingest/daily_totals.py), and a report of units alone no price: its lines do not count
    against customer_id or unit_price, which a history of such lines alone does not score at all (the
    ingestion's summary and the feature build say what they lack)."""
    fields = [f.name for f in TABLES[table].fields(default_context()) if f.counts_for_completeness]
    filled = {name: float(stored[name].notna().mean()) if name in stored else 0.0 for name in fields}
    if "order_id" in stored:
        daily = daily_lines(stored["order_id"])
        unpriced = daily & stored["unit_price"].isna() if "unit_price" in stored else daily
        for name, by_design in (("customer_id", daily), ("unit_price", unpriced)):
            if name not in filled or not by_design.any():
                continue
            if by_design.all():
                del filled[name]
            else:
                filled[name] = float(stored.loc[~by_design, name].notna().mean())
    failing = [f"{name}: {share:.1%} filled" for name, share in filled.items() if share < PASS_MARK]
    return Dimension(round(100 * sum(filled.values()) / len(filled), 1), failing)


def validity(batches: list[BatchRecord], went_in_later: dict[str, int] | None = None) -> Dimension:
    """Accepted rows over the rows checked, a daily report's days without sales left out. A row quarantined
    and stored by a later ingest of its export (its fix given since) counts once, as accepted."""
    later = went_in_later or {}
    accepted = sum(b.accepted for b in batches)
    quarantined = sum(b.quarantined for b in batches) - sum(later.values())
    reasons: dict[str, int] = {}
    for b in batches:
        for reason, count in b.quarantined_by_reason.items():
            reasons[reason] = reasons.get(reason, 0) + count
    for reason, count in later.items():
        reasons[reason] = reasons.get(reason, 0) - count
    # A daily report's zero-unit rows are quarantined (a day without lines is a zero already), not faults.
    no_sales = sum(b.quarantined_by_reason.get(NO_SALES, 0) for b in batches if b.options.get("daily_totals"))
    if no_sales:
        reasons[NO_SALES] -= no_sales
    failing = [
        f"{reason}: {count:,} rows quarantined"
        for reason, count in sorted(reasons.items(), key=lambda r: -r[1])
        if count
    ]
    total = accepted + quarantined - no_sales
    return Dimension(round(100 * accepted / total, 1) if total else 100.0, failing)


def _went_in_later(store: OfflineStore, table: str) -> dict[str, int]:
    """Quarantined rows a later batch stored or refused again for another reason, by their quarantine reason
    (`spend quarantine` leaves them out the same way)."""
    refused = store.read_quarantine(table, ["reason", "row_hash", "batch_id"])
    if refused.empty or "row_hash" not in refused:
        return {}
    later, again = settled(store, table, refused)  # refused again for another reason: counted once, as that
    return refused.loc[later | again, "reason"].astype(str).value_counts().to_dict()


def uniqueness(batches: list[BatchRecord], stored: pd.DataFrame, key: str) -> Dimension:
    received = sum(b.received for b in batches)
    duplicates = sum(b.duplicates for b in batches)
    repeated_keys = int(stored[key].duplicated().sum()) if key in stored else 0
    failing = [f"{duplicates:,} of {received:,} received rows were duplicates"] if duplicates else []
    if repeated_keys:
        failing.append(f"{key}: {repeated_keys:,} stored rows share a key")
    share = 1 - (duplicates + repeated_keys) / received if received else 1.0
    return Dimension(round(100 * share, 1), failing)


def timeliness(stored: pd.DataFrame, time_column: str, now: datetime, sla_days: float, streams: bool) -> Dimension:
    if not streams:
        return Dimension(100.0)  # one-off records (campaign assignments) do not go stale
    if stored.empty:
        return Dimension(0.0, ["no stored rows"])
    age_days = (pd.Timestamp(now) - stored[time_column].max()).total_seconds() / 86_400
    if age_days <= sla_days:
        return Dimension(100.0)
    return Dimension(
        round(100 * sla_days / age_days, 1),
        [f"{time_column}: newest row is {age_days:,.1f} days old (SLA {sla_days:g} days)"],
    )


def consistency(stored: pd.DataFrame, table: str, store: OfflineStore) -> Dimension:
    checks = CHECKS[table](stored, store.current)
    if not checks:
        return Dimension(100.0, [])
    failing = [f"{name}: {detail}" for name, share, detail in checks if share < PASS_MARK]
    return Dimension(round(100 * sum(share for _, share, _ in checks) / len(checks), 1), failing)


def score_table(table: str, store: OfflineStore, settings: SpendSettings, now: datetime) -> TableScore | None:
    batches = store.catalog.batches(table)
    if not batches:
        return None
    spec = TABLES[table]
    stored = store.current(table)  # a replaced row is history, not a second row of its key
    if stored.empty:  # every row quarantined: what was wrong is in validity; nothing else can be measured
        nothing = Dimension(0.0, ["no accepted rows"])
        dims = dict.fromkeys(DIMENSIONS, nothing) | {"validity": validity(batches)}
        return TableScore(table, 0, len(batches), dims)
    dims = {
        "completeness": completeness(stored, table),
        "validity": validity(batches, _went_in_later(store, table)),
        "uniqueness": uniqueness(batches, stored, spec.key),
        "timeliness": timeliness(stored, spec.time_column, now, settings.freshness_sla_days, spec.streams),
        "consistency": consistency(stored, table, store),
    }
    return TableScore(table, len(stored), len(batches), dims)


def scorecard(settings: SpendSettings, now: datetime | None = None) -> dict:
    """Score every table that has data, and keep the card in SPEND_HOME/reports/quality.json."""
    now = now or datetime.now(UTC)
    store = OfflineStore(settings.paths)
    scores = [s for t in TABLES if (s := score_table(t, store, settings, now)) is not None]
    card = {
        "generated_at": now.isoformat(),
        "tables": {
            s.table: {
                "rows": s.rows,
                "batches": s.batches,
                "overall": s.overall,
                **{name: asdict(d) for name, d in s.dimensions.items()},
            }
            for s in scores
        },
    }
    settings.paths.reports.mkdir(parents=True, exist_ok=True)
    (settings.paths.reports / "quality.json").write_text(json.dumps(card, indent=2) + "\n")
    return card
