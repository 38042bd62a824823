"""Inputs of `spend experiment` read from the shop's own history: the margin spread a test design needs,
and the store x week panel a pilot analysis reads (docs/experiments.md)."""

from __future__ import annotations

import pandas as pd

from spend.core.errors import SpendError, first_few
from spend.core.settings import SpendSettings

STORE_COLUMNS = ["customer_id", "order_id", "ts", "kind", "quantity", "unit_price", "discount", "unit_cost", "store_id"]
REPURCHASE_DAYS = 28


def _lines(settings: SpendSettings) -> pd.DataFrame:
    from spend.features.ingest.store import OfflineStore

    tx = OfflineStore(settings.paths).read("transactions", STORE_COLUMNS)
    if tx.empty:
        raise SpendError("no transactions ingested; run `spend ingest` or `spend demo` first")
    if tx["ts"].dt.tz is not None:  # weeks and the pilot's start are calendar dates, in UTC
        tx["ts"] = tx["ts"].dt.tz_convert("UTC").dt.tz_localize(None)
    tx["ts"] = tx["ts"].astype("datetime64[ns]")  # one unit, or week starts and days cannot be merged
    return tx


def margin_spread(settings: SpendSettings, window_days: int = 28) -> tuple[dict, list[str]]:
    """Mean and standard deviation of margin per customer over the last `window_days`, among the
    customers who bought then; its correlation with the same customers' margin in the window before
    (CUPED's gain); new customers per day. Returns (the figures, what was assumed)."""
    from spend.features.compute.orders import line_values

    if window_days < 7:
        raise SpendError(f"--window-days: at least 7, got {window_days}")
    lines = line_values(_lines(settings))
    notes = [] if lines["unit_cost"].notna().any() else ["no unit_cost in the history: margin is revenue"]
    end = lines["ts"].max().normalize() + pd.Timedelta(days=1)
    window = pd.Timedelta(days=window_days)
    if end - 2 * window < lines["ts"].min():
        raise SpendError(f"--window-days: the history is shorter than two windows of {window_days} days")
    during = lines[lines["ts"] >= end - window].groupby("customer_id")["margin"].sum()
    before = lines[(lines["ts"] >= end - 2 * window) & (lines["ts"] < end - window)]
    pre = before.groupby("customer_id")["margin"].sum().reindex(during.index, fill_value=0.0)
    if len(during) < 10:
        raise SpendError(
            f"only {len(during)} customers bought in the last {window_days} days; too few to design a test"
        )
    spread = {
        "mean": float(during.mean()),
        "sd": float(during.std(ddof=1)),
        "pre_correlation": float(during.corr(pre)) if pre.std() > 0 else 0.0,
        "daily_customers": len(during) / window_days,
        "customers_in_window": len(during),
        "window_days": window_days,
        "to": (end - pd.Timedelta(days=1)).date().isoformat(),
    }
    return spread, notes


def pilot_panel(settings: SpendSettings, pilot_stores: list[str], start: pd.Timestamp) -> tuple[pd.DataFrame, list]:
    """Per store and week: average ticket (every order) and repurchase rate (the week's known customers
    who buy again within 28 days), with `treated` and `post` set for the pilot. Returns (panel, notes)."""
    from spend.core.ids import canonical_id
    from spend.features.compute.orders import line_values

    tx = _lines(settings)
    if tx["store_id"].isna().all():
        raise SpendError("the history has no store_id: a store pilot cannot be analysed without stores")
    pilot_stores = [canonical_id(str(s).strip()) for s in pilot_stores]  # as ingestion spells ids
    stores = set(tx["store_id"].dropna().astype(str))
    unknown = sorted(set(pilot_stores) - stores)
    if unknown:
        raise SpendError(f"--store: unknown store(s) {', '.join(unknown)}")
    if stores <= set(pilot_stores):
        raise SpendError(
            f"--store: every store of the history is in the pilot ({first_few(sorted(stores))}): none is "
            "left to compare with"
        )
    _check_start(start, tx["ts"])
    notes = []
    missing_store = int(tx["store_id"].isna().sum())
    if missing_store:
        notes.append(f"{missing_store} line(s) without a store_id are not in any store's figures")
    tx = tx[tx["store_id"].notna()].assign(store_id=lambda f: f["store_id"].astype(str))
    purchases = tx[tx["kind"] == "purchase"].assign(week=lambda f: f["ts"].dt.to_period("W-SUN").dt.start_time)
    panel = _avg_ticket(purchases).join(_repurchase(line_values(purchases)), how="left")
    panel = panel.reset_index()
    week_start = start.to_period("W-SUN").start_time
    if week_start != start.normalize():
        notes.append(f"the week of {week_start:%Y-%m-%d} holds the start; it is left out as half pilot, half not")
        panel = panel[panel["week"] != week_start]
    last_complete = tx["ts"].max().normalize() - pd.Timedelta(days=REPURCHASE_DAYS + 7)
    cut = int((panel["week"] > last_complete).sum())
    if cut:
        notes.append(f"repurchase_rate: empty for the last weeks, whose {REPURCHASE_DAYS}-day follow-up is not over")
        panel.loc[panel["week"] > last_complete, "repurchase_rate"] = float("nan")
    panel = panel.rename(columns={"week": "period"}).assign(
        treated=lambda f: f["store_id"].isin(pilot_stores).astype(int),
        post=lambda f: (f["period"] >= start.normalize()).astype(int),
    )
    return panel, notes


def _check_start(start: pd.Timestamp, ts: pd.Series) -> None:
    """A pilot needs weeks of the history on both sides of its start (what `analyze --kind pilot` compares)."""
    first, last = ts.min().normalize(), ts.max().normalize()
    if start.normalize() <= first:
        raise SpendError(
            f"--start: {start:%Y-%m-%d} is not after the history's first day {first:%Y-%m-%d}: no week "
            "before the pilot to compare with"
        )
    if start.normalize() > last:
        raise SpendError(
            f"--start: {start:%Y-%m-%d} is after the history's last day {last:%Y-%m-%d}: no week of the "
            "pilot to analyse yet"
        )


def _avg_ticket(purchases: pd.DataFrame) -> pd.DataFrame:
    discount = purchases["discount"].fillna(0.0)
    net = purchases.assign(net=purchases["quantity"] * purchases["unit_price"] - discount)
    per_week = net.groupby(["store_id", "week"]).agg(revenue=("net", "sum"), orders=("order_id", "nunique"))
    return (per_week["revenue"] / per_week["orders"]).rename("avg_ticket").to_frame()


def _repurchase(lines: pd.DataFrame) -> pd.Series:
    """Share of a store-week's customers whose next purchase day (anywhere) is within 28 days of the week's end."""
    days = lines.assign(day=lines["ts"].dt.normalize())[["customer_id", "store_id", "week", "day"]]
    visits = days.drop_duplicates(["customer_id", "store_id", "week"])
    all_days = days.drop_duplicates(["customer_id", "day"]).sort_values("day")
    week_end = visits["week"] + pd.Timedelta(days=7)
    probe = visits.assign(after=week_end).sort_values("after")
    nxt = pd.merge_asof(
        probe,
        all_days[["customer_id", "day"]].rename(columns={"day": "next_day"}),
        left_on="after",
        right_on="next_day",
        by="customer_id",
        direction="forward",
    )
    came_back = (nxt["next_day"] - nxt["after"]).dt.days < REPURCHASE_DAYS
    return nxt.assign(again=came_back).groupby(["store_id", "week"])["again"].mean().rename("repurchase_rate")


def ab_results(
    settings: SpendSettings, assignment: pd.DataFrame, start: pd.Timestamp, days: int = 28
) -> tuple[pd.DataFrame, list[str]]:
    """One row per assigned customer: variant, margin over the `days` from `start`, pre_margin over the
    `days` before, converted (bought in the window) and returned (returned a line in it). Customer ids
    are the shop's own; they are pseudonymised with the home's key to meet the history."""
    from spend.core.privacy.pseudonym import pseudonymise
    from spend.features.compute.orders import line_values

    _check_assignment(assignment)
    lines = line_values(_lines(settings))
    first, last = lines["ts"].min().normalize(), lines["ts"].max().normalize()
    span = (last - first).days + 1
    if days > span:  # before any date arithmetic: 100,000 days from 2026 is past pandas' calendar
        raise SpendError(f"--days: {days} days is longer than the whole history ({span} days, {first:%Y-%m-%d} on)")
    start, window = start.normalize(), pd.Timedelta(days=days)
    if start + window > last + pd.Timedelta(days=1):
        raise SpendError(
            f"--start/--days: the window {start:%Y-%m-%d} + {days} days runs past the history's last day "
            f"{last:%Y-%m-%d}; ingest the rest of the test period or shorten --days"
        )
    if start < first:
        raise SpendError(
            f"--start: {start:%Y-%m-%d} is before the history's first day {first:%Y-%m-%d}: the test window "
            "would count purchases that were never ingested as none"
        )
    key = settings.pseudonym_key.get_secret_value().encode("utf-8")
    ids = pseudonymise(assignment["customer_id"].astype(str).str.strip(), key)
    during = lines[(lines["ts"] >= start) & (lines["ts"] < start + window)]
    before = lines[(lines["ts"] >= start - window) & (lines["ts"] < start)]
    by_customer = during.groupby("customer_id")
    frame = pd.DataFrame({"customer_id": assignment["customer_id"].astype(str), "variant": assignment["variant"]})
    frame["margin"] = ids.map(by_customer["margin"].sum()).fillna(0.0).to_numpy()
    frame["pre_margin"] = ids.map(before.groupby("customer_id")["margin"].sum()).fillna(0.0).to_numpy()
    bought = set(during.loc[during["kind"] == "purchase", "customer_id"])
    returned = set(during.loc[during["kind"] == "return", "customer_id"])
    frame["converted"] = ids.isin(bought).astype(int).to_numpy()
    frame["returned"] = ids.isin(returned).astype(int).to_numpy()
    notes = []
    if not lines["unit_cost"].notna().any():
        notes.append("no unit_cost in the history: margin is revenue")
    if start - window < first:
        covered = (start - first).days
        notes.append(f"the pre-period starts before the history's first day: pre_margin covers {covered} of {days}")
    unseen = int((~ids.isin(set(lines["customer_id"]))).sum())
    if unseen == len(ids):
        raise SpendError(
            f"--assignment: none of the {unseen} assigned customers has a line in the history; give the shop's own "
            "customer ids as the export had them (Spend pseudonymises them with this home's key to find them)"
        )
    if unseen:
        notes.append(f"{unseen} assigned customer(s) have no line in the history: their figures are 0")
    return frame, notes


def _check_assignment(assignment: pd.DataFrame) -> None:
    missing = [c for c in ("customer_id", "variant") if c not in assignment.columns]
    if missing:
        raise SpendError(f"--assignment lacks required column(s) {', '.join(missing)}")
    empty = int(assignment["customer_id"].isna().sum() + assignment["variant"].isna().sum())
    if empty:
        raise SpendError(f"--assignment: {empty} empty customer_id or variant value(s)")
    duplicated = int(assignment["customer_id"].astype(str).str.strip().duplicated().sum())
    if duplicated:
        raise SpendError(f"--assignment: {duplicated} customer_id(s) assigned more than once")
