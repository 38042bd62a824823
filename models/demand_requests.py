"""Checking a forecast or replenishment request against a fitted demand model, shared by the CLI
(training/forecasting.py, training/replenishment.py) and the service (serving/demand.py): the series
asked for, a horizon within bounds, a price plan that can be applied, current stock counts. A bad request
raises a SpendError that names the field and the problem before anything is computed; `kind` says which
(a client's mistake, "invalid", or something unknown to the model, "unknown")."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping

import pandas as pd
from pandas.errors import OutOfBoundsDatetime

from spend.core.errors import SpendError, first_few
from spend.core.ids import canonical_id, canonical_ids
from spend.features.compute.days import ShopClock, StoreClocks

PLAN_COLUMNS = ("product_id", "date")
PLANNED = ("price", "promo")  # a plan row sets either or both
MAX_COUNT_AGE_DAYS = 7  # a stock count older than this before the as-of day is stale: the position is unknown
MAX_LEAD_TIME_DAYS = 365
NO_COUNTS = (
    "no inventory ingested: give lead_time_days for target stock levels only (orders need stock counts: "
    "ingest inventory)"
)
TARGETS_ONLY = "no inventory ingested: target stock levels only; orders and fill rates need stock counts"


class BadRequest(SpendError):
    """`field`: the request field at fault (the service's name for it); `kind`: "invalid" or "unknown"."""

    def __init__(self, message: str, field: str, kind: str = "invalid") -> None:
        super().__init__(message)
        self.field = field
        self.kind = kind


def check_horizon(horizon: int, most: int) -> int:
    if not 1 <= horizon <= most:
        raise BadRequest(f"horizon: {horizon} must be between 1 and {most} days", "horizon")
    return horizon


def forecastable(model, counts: pd.DataFrame | None = None) -> pd.DataFrame:
    """The product x store pairs `model` answers for: those it learned, those of its history too short
    to learn (a product launched last week), and each catalogued launch in every store, which get its
    fallback. With stock `counts` (replenishment), a pair it did not learn only where it is counted: a new
    product not yet in the stock report is not an error of the report's."""
    learned = model.static_[["product_id", "store_id"]]
    new = [getattr(model, "unlearned_", None)]  # a model fitted before 2026-12-06 has none
    launches = getattr(model, "launches_", None)
    if launches is not None and len(launches):
        new.append(launches[["product_id"]].merge(learned[["store_id"]].drop_duplicates(), how="cross"))
    new = [part[["product_id", "store_id"]] for part in new if part is not None and not part.empty]
    if not new:
        return learned
    unlearned = pd.concat(new, ignore_index=True)
    if counts is not None and not counts.empty:
        counted = counts[["product_id", "store_id"]].astype(str).drop_duplicates()
        unlearned = unlearned.merge(counted, on=["product_id", "store_id"])
    return pd.concat([learned, unlearned], ignore_index=True)


def requested_series(learned: pd.DataFrame, products, stores) -> pd.DataFrame:
    """The product x store pairs asked for: every learned pair of the given products and stores; a
    product or store never seen is an error (a new pair of known ones gets the model's fallback). Ids are
    spelt as ingestion stores them (NFKC: "Ｐ１" asks for P1)."""
    products = [canonical_id(str(p)) for p in products] if products else products
    stores = [canonical_id(str(s)) for s in stores] if stores else stores
    for field, asked, known in (
        ("product", products, set(learned["product_id"])),
        ("store", stores, set(learned["store_id"])),
    ):
        unknown = sorted(set(asked or ()) - known)
        if unknown:
            shown = ", ".join(unknown[:5])
            where = "the demand history" + (" nor a catalogued launch" if field == "product" else "")
            raise BadRequest(f"{field}: unknown {field} {shown} (not in {where})", f"{field}s", "unknown")
    pairs = learned[["product_id", "store_id"]].drop_duplicates()
    if products:
        pairs = pairs[pairs["product_id"].isin(products)]
    if stores:
        pairs = pairs[pairs["store_id"].isin(stores)]
    if products and stores:  # exactly the pairs asked for, learned or not
        pairs = pd.MultiIndex.from_product([list(products), list(stores)], names=["product_id", "store_id"])
        pairs = pairs.to_frame(index=False)
    return pairs.reset_index(drop=True)


def check_plan(
    plan: pd.DataFrame,
    last_date: pd.Timestamp,
    products: set[str],
    horizon: int | None = None,
    stores: set[str] | None = None,
) -> pd.DataFrame:
    """The plan with parsed dates and prices; an error names the first problem (column, row, value). Every
    row must apply: its day inside the forecast's `horizon` after the history's last day, its product and
    store known (`stores`), one row per product, store and day, a price or a promotion (or both) set. A
    row's blank price keeps the last price (a promotion calendar need not know the prices)."""
    missing = [c for c in PLAN_COLUMNS if c not in plan.columns]
    if not any(c in plan.columns for c in PLANNED):
        missing.append("price or promo")
    if missing:
        found = ", ".join(map(str, plan.columns)) or "none"
        raise BadRequest(
            f"price plan: missing column(s) {', '.join(missing)} (needs product_id, date, and price, promo or "
            f"both; store_id optional; found {found}): rename the plan's columns",
            "prices",
        )
    plan = plan.copy()
    blank_id = plan["product_id"].isna() | (plan["product_id"].astype(str).str.strip() == "")
    plan["product_id"] = canonical_ids(plan["product_id"].astype(str))  # as ingestion spells ids
    if "store_id" in plan.columns:
        plan["store_id"] = plan["store_id"].map(lambda v: canonical_id(v) if isinstance(v, str) else v)
    written, odd = _not_iso_days(plan["date"])
    dates = pd.to_datetime(plan["date"].where(~written & ~odd), errors="coerce", utc=True)
    beyond = pd.Series(False, index=plan.index)  # a date past 2262 is a date, not garbage
    unread = dates.isna() & ~written & ~odd
    if unread.any():  # read one by one, the unparsed only: a plan of thousands of days stays fast
        beyond[unread] = plan.loc[unread, "date"].map(_beyond_calendar).astype(bool)
    priced = _given(plan["price"]) if "price" in plan.columns else pd.Series(False, index=plan.index)
    promoted = _given(plan["promo"]) if "promo" in plan.columns else pd.Series(False, index=plan.index)
    prices = (
        pd.to_numeric(plan["price"], errors="coerce")
        if "price" in plan.columns
        else pd.Series(float("nan"), index=plan.index)
    )
    promo = _promo(plan["promo"]) if "promo" in plan.columns else pd.Series(0.0, index=plan.index)
    day = dates.dt.tz_localize(None).dt.normalize()
    keys = ["product_id", "date", *(["store_id"] if "store_id" in plan.columns else [])]
    checks = [
        ("product_id: missing", blank_id),
        ("date: write days as YYYY-MM-DD (07/12/2026 is 7 December or 12 July)", written),
        ("date: not a date", (dates.isna() & ~beyond) | odd),
        ("date: a time of day, not a day (the time would be dropped)", dates.notna() & (dates != dates.dt.normalize())),
        ("price and promo: both blank (a plan row sets a price, a promotion, or both)", ~priced & ~promoted),
        ("price: not a number", priced & prices.isna()),
        ("price: negative", prices < 0),
        ("price: must be above 0 and finite", (prices == 0) | prices.abs().eq(float("inf"))),
        ("promo: must be blank, 0 to 1, or yes/no (on promotion that day)", promo.isna() | ~promo.between(0, 1)),
        (f"date: not after the history's last day {last_date.date()}", day <= last_date),
        ("product_id: unknown product", ~plan["product_id"].isin(products)),
    ]
    if horizon is not None:
        end = last_date + pd.Timedelta(days=horizon)
        checks.append((f"date: after the forecast's last day {end.date()} (horizon {horizon})", (day > end) | beyond))
    checks.append(("date: after the year 2261, past any forecast", beyond))
    if stores is not None and "store_id" in plan.columns:
        checks.append(
            ("store_id: unknown store", plan["store_id"].notna() & ~plan["store_id"].astype(str).isin(stores))
        )
    checks.append(("a second row for the same product, store and day", plan.assign(date=day).duplicated(keys)))
    for problem, bad in checks:
        if bad.any():
            row = int(bad.to_numpy().nonzero()[0][0])
            raise BadRequest(f"price plan row {row + 1}: {problem} ({_row_text(plan.iloc[row])})", "prices")
    checked = plan.assign(date=day, price=prices)
    return checked.assign(promo=promo.where(promoted)) if "promo" in plan.columns else checked


PROMO_WORDS = {"yes": 1.0, "y": 1.0, "true": 1.0, "no": 0.0, "n": 0.0, "false": 0.0}


def _given(values: pd.Series) -> pd.Series:
    """Cells that hold something (not missing, not blank text)."""
    return values.notna() & (values.astype(str).str.strip() != "")


def _promo(values: pd.Series) -> pd.Series:
    """A plan's `promo` as a share of the day on promotion (1: on promotion; a blank is 0 here and is
    left to the model's default by check_plan); NaN where it is none of these."""
    words = values.map(lambda v: PROMO_WORDS.get(v.strip().lower()) if isinstance(v, str) else None)
    numbers = pd.to_numeric(values.map(lambda v: float(v) if isinstance(v, bool) else v), errors="coerce")
    blank = ~_given(values)
    return numbers.fillna(words.astype(float)).mask(blank, 0.0)


def said(*lines: str | None) -> str | None:
    """The lines an answer's `skipped` says, in one (None when there is none)."""
    return "; ".join(line for line in lines if line) or None


def unplanned_promotions(model, plan: pd.DataFrame | None) -> str | None:
    """One line when the history promoted and no plan says when it will again: a day without a plan is
    forecast at its series' chance of a promotion (models/promotions.py), which stocks for promotions on
    average, not for the days the shop will run them."""
    recent = getattr(model, "recent_", None)
    # a plan of prices alone says nothing of promotions: its days hold the chance too
    planned = plan is not None and "promo" in plan.columns and bool(plan["promo"].notna().any())
    if planned or recent is None or "promo" not in recent.columns or not len(recent):
        return None
    last = recent[recent["ds"] > recent["ds"].max() - pd.Timedelta(days=28)]
    share = float((last["promo"] > 0).mean())
    if share < 0.01:
        return None
    return (
        f"no promotion calendar: {share:.0%} of the product x store days of the last 4 weeks were promoted, so "
        "each day is forecast at its series' chance of a promotion; give the promotion calendar (a plan with a "
        "promo column) to stock for the promotions themselves"
    )


def _row_text(row: pd.Series) -> str:
    """A plan row as a person reads it (`product_id P1, date 2026-12-07, price 0`), not a Python dict."""
    return ", ".join(f"{name} {'' if pd.isna(value) else value}".strip() for name, value in row.items())


ISO_DAY = r"\d{4}-\d{2}-\d{2}"


def _not_iso_days(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(texts that are not days written YYYY-MM-DD, values that are neither text nor a date). pandas read
    07/12/2026 as 12 July, a European's 7 December, and 20261207 as nanoseconds after 1970, without a
    word. Dates from Excel or Parquet (date or datetime values) are days already."""
    none = pd.Series(False, index=values.index)
    if pd.api.types.is_datetime64_any_dtype(values):
        return none, none
    if pd.api.types.is_numeric_dtype(values):
        return none, pd.Series(True, index=values.index)
    iso = re.compile(ISO_DAY)
    written = values.map(lambda v: isinstance(v, str) and iso.fullmatch(v.strip()) is None).astype(bool)
    odd = values.map(lambda v: not isinstance(v, str | dt.date) and not pd.isna(v)).astype(bool)
    return written, odd


def _beyond_calendar(value) -> bool:
    """Whether `value` is a date too late for pandas' nanosecond calendar (after 2262-04-11)."""
    try:
        return pd.Timestamp(value).year >= 2262
    except OutOfBoundsDatetime:
        return True
    except (ValueError, TypeError):
        return False


def forecast(model, products=None, stores=None, horizon: int = 28, plan: pd.DataFrame | None = None) -> pd.DataFrame:
    """The model's forecast for a checked request (one row per product, store and day)."""
    check_horizon(horizon, model.horizon)
    known = forecastable(model)
    series = requested_series(known, products, stores)
    if plan is not None:
        plan = check_plan(plan, model.last_date_, set(known["product_id"]), horizon, set(known["store_id"]))
    return model.predict(horizon, plan=plan, series=series)


def plan_skipped(model, plan: pd.DataFrame | None) -> str | None:
    """One line when a planned price moves nothing for some of its products (a crowned baseline reads no
    prices; a product may have no estimated price effect): an unchanged forecast is not an answer that
    the price makes no difference."""
    if plan is None or plan.empty:
        return None
    lines = _before_listing(model, plan)
    priced = plan[plan["price"].notna()] if "price" in plan.columns else plan.iloc[:0]
    if priced.empty:  # a promotion calendar alone: the promotion moves the forecast, no price is planned
        return "; ".join(lines) or None
    products = sorted(set(priced["product_id"].astype(str)))
    still, why = model.unpriced(products)
    lines += [f"planned prices do not move the forecast of {first_few(still)}: {why}"] if still else []
    outside = model.outside_prices(priced) if hasattr(model, "outside_prices") else pd.DataFrame()
    outside = outside[~outside.index.isin(still)]
    if len(outside):
        spans = [f"{p} ({row.low:,.2f} to {row.high:,.2f})" for p, row in outside.iterrows()]
        lines.append(
            f"planned prices outside those the history shows count as the nearest shown, as the price effect "
            f"is not known beyond them: {first_few(spans)}"
        )
    return "; ".join(lines) or None


def _before_listing(model, plan: pd.DataFrame) -> list[str]:
    """A line for plan days before a catalogued launch's listing day: it is not on sale, so nothing is
    forecast on them, whatever the plan says (said, since the plan's days were taken without a word)."""
    launches = getattr(model, "launches_", None)
    if launches is None or not len(launches):
        return []
    listed = plan["product_id"].astype(str).map(launches.set_index("product_id")["ds"])
    early = plan[pd.to_datetime(plan["date"]).to_numpy() < pd.to_datetime(listed).to_numpy()]
    if early.empty:
        return []
    pairs = zip(early["product_id"].astype(str), pd.to_datetime(listed[early.index]), strict=True)
    named = sorted({f"{product} (listed {day.date().isoformat()})" for product, day in pairs})
    return [f"planned days before a launch's listing day move nothing, it is not on sale yet: {first_few(named)}"]


def latest_counts(
    counts: pd.DataFrame, as_of: pd.Timestamp, zone: str = "UTC", stores: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """Each product x store's last stock count before the day `as_of` on its store's clock (`stores`: the
    stores keeping another zone than the shop's, `zone`), with its age in days."""
    clocks = StoreClocks.of(ShopClock(zone), stores or {})
    ts = clocks.local(pd.to_datetime(counts["ts"], utc=True), counts["store_id"])
    before = counts.assign(ts=ts)[ts < as_of].sort_values("ts", kind="stable")
    last = before.drop_duplicates(["product_id", "store_id"], keep="last").copy()
    last["product_id"], last["store_id"] = last["product_id"].astype(str), last["store_id"].astype(str)
    last["count_age_days"] = (as_of - last["ts"].dt.normalize()).dt.days - 1
    keep = ["product_id", "store_id", "on_hand", "on_order", "lead_time_days", "count_age_days"]
    return last[keep].reset_index(drop=True)


def check_counts(stock: pd.DataFrame, pairs: pd.DataFrame, as_of: pd.Timestamp, lead_time_given: bool) -> None:
    """Every pair to replenish has a current count, with a lead time unless the request gives one."""
    merged = pairs.merge(stock, on=["product_id", "store_id"], how="left")
    no_lead_time = merged["on_hand"].notna() & merged["lead_time_days"].isna() & (not lead_time_given)
    for problem, bad in (
        ("no stock count before the as-of day", merged["on_hand"].isna()),
        (f"a stock count older than {MAX_COUNT_AGE_DAYS} days", merged["count_age_days"] > MAX_COUNT_AGE_DAYS),
        ("no lead_time_days on the last stock count", no_lead_time),
    ):
        if bad.any():
            pairs_shown = merged.loc[bad, ["product_id", "store_id"]].head(5).itertuples(index=False)
            shown = ", ".join(f"{p} @ {s}" for p, s in pairs_shown)
            raise BadRequest(
                f"inventory: {int(bad.sum())} product x store pair(s) have {problem} ({as_of.date()}): "
                f"{shown}; ingest a current inventory snapshot{_counted_stores(merged, bad)}",
                "stores",
            )


def _counted_stores(merged: pd.DataFrame, bad: pd.Series) -> str:
    """Where whole stores lack counts (a stock report of the shops, not the web shop), the stores whose
    every pair has one: asking for those alone is answered."""
    stores = merged.groupby("store_id")["product_id"].size()
    lacking = set(merged.loc[bad, "store_id"])
    counted = sorted(set(stores.index) - lacking)
    if not counted or not lacking:
        return ""
    return f", or ask for the stores counted in full ({first_few(counted, 10)})"


def day(ts, zone: str = "UTC") -> pd.Timestamp:
    """A date as itself, an instant as the shop's day then (its clock: `zone`), without a zone (the demand
    model's calendar)."""
    stamp = pd.Timestamp(ts)
    return (stamp.tz_convert(zone).tz_localize(None) if stamp.tzinfo is not None else stamp).normalize()


def replenish(
    model,
    counts: pd.DataFrame | None,
    as_of,
    service_level: float,
    review_days: int,
    pairs: pd.DataFrame | None = None,
    lead_time_days: float | None = None,
    *,
    zone: str = "UTC",
    plan: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.Timestamp]:
    """(order-up-to suggestions for `pairs`, default every series the model answers for and the counts
    cover (`forecastable`); the as-of day: `as_of`, or by default the day after the last stock count).
    `lead_time_days` replaces every count's lead time; without stock counts (None or empty) it is
    required, and only target stock levels come out (on hand, on order, the order and its fill rate
    empty, the reason says why). `zone`: the shop's clock (SPEND_TIMEZONE), whose days the history counts;
    `plan`: planned prices and promotions (as `forecast` takes them), within the model's horizon."""
    from spend.models.replenishment import COLUMNS, cover_demand, order_up_to

    counted = counts is not None and not counts.empty
    _check_replenish_request(counted, service_level, review_days, lead_time_days)
    first_day = model.last_date_ + pd.Timedelta(days=1)
    if as_of is None:
        as_of = day(counts["ts"].max(), zone) + pd.Timedelta(days=1) if counted else first_day
    as_of = day(as_of, zone)
    pairs = forecastable(model, counts) if pairs is None else pairs
    if plan is not None:
        known = forecastable(model)
        plan = check_plan(plan, model.last_date_, set(known["product_id"]), model.horizon, set(known["store_id"]))
    if counted:
        stock = latest_counts(counts, as_of, zone, getattr(model, "store_zones_", None))
        check_counts(stock, pairs, as_of, lead_time_days is not None)
        stock = pairs.merge(stock, on=["product_id", "store_id"])
    else:
        stock = pairs.assign(on_hand=float("nan"), on_order=float("nan"), lead_time_days=float("nan"))
    if lead_time_days is not None:
        stock["lead_time_days"] = float(lead_time_days)
    stock["cover_days"] = (stock["lead_time_days"].round() + review_days).astype(int)
    needed = _days_needed(stock, as_of, first_day, model.horizon)
    predicted = model.predict(needed, plan=plan, series=stock[["product_id", "store_id"]])
    predicted = predicted[predicted["date"] >= as_of]
    cover = stock.set_index(["product_id", "store_id"])["cover_days"]
    demand = cover_demand(predicted, cover, getattr(model, "cover_correlation_", 0.0))  # 0: fitted before 2026-12-07
    return order_up_to(stock, demand, service_level)[list(COLUMNS)], as_of


def _days_needed(stock: pd.DataFrame, as_of: pd.Timestamp, first_day: pd.Timestamp, horizon: int) -> int:
    """Forecast days from the model's first to the end of the longest cover period; within its horizon."""
    offset = (as_of - first_day).days
    if offset < 0:
        raise BadRequest(
            f"as_of: {as_of.date()} is before the demand model's first forecast day {first_day.date()}", "as_of"
        )
    needed = offset + int(stock["cover_days"].max())
    if needed > horizon:
        longest = stock.loc[stock["cover_days"].idxmax()]
        raise BadRequest(
            f"the cover period (lead time + review days) reaches {needed} days past the model's history "
            f"({first_day.date()}); the demand model forecasts {horizon}: retrain it on recent data "
            f"or raise max_horizon_days in demand.yaml (longest: {longest['product_id']} @ {longest['store_id']}, "
            f"lead time {longest['lead_time_days']:g} days)",
            "review_days",
        )
    return needed


def _check_replenish_request(counted: bool, service_level: float, review_days: int, lead_time_days) -> None:
    if not 0.5 <= service_level < 1:
        raise BadRequest(f"service_level: {service_level} must be at least 0.5 and below 1", "service_level")
    if not 1 <= review_days <= 91:
        raise BadRequest(f"review_days: {review_days} must be between 1 and 91", "review_days")
    if lead_time_days is None and not counted:
        raise BadRequest(NO_COUNTS, "lead_time_days")
    if lead_time_days is not None and not 0 <= lead_time_days <= MAX_LEAD_TIME_DAYS:
        problem = f"lead_time_days: {lead_time_days} must be between 0 and {MAX_LEAD_TIME_DAYS}"
        raise BadRequest(problem, "lead_time_days")
