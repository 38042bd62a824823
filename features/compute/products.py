"""Product x store daily demand and product pricing, as daily snapshots.

A history without any store_id is one shop (store `all`); lines without a store in a history with
stores are the store `unassigned` (build.py says which). Demand rows are dense (a day without sales is
a row with zero units: demand models need the zeros) from each product x store's first sale to the end
of the history (the last day any line was sold), so a product that stopped selling shows its zeros. A
row with event_timestamp T describes the day that ended at T (days start at the shop's local
midnight, SPEND_TIMEZONE, or at the store's own where its lines name another zone:
features/compute/days.py). Where inventory counts are ingested,
`stockout_1d` is 1 on a day that closed with nothing on hand (the day's sales were capped by the
shelf, not by demand), 0 on a day that closed with stock, and empty where no count was taken.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from spend.features.compute.days import DAY, UTC, ShopClock, StoreClocks
from spend.features.compute.windows import EventIndex, daily_cutoffs, seconds

DEMAND_COLUMNS = (
    "units_1d",
    "revenue_1d",
    "avg_unit_price_1d",
    "promo_share_1d",
    "returned_units_1d",
    "units_7d",
    "units_28d",
    "stockout_1d",
)
# A history without any store_id is one shop; in one with stores, a line without one still sold.
ONE_SHOP = "all"
NO_STORE = "unassigned"
PRICING_COLUMNS = ("current_price", "unit_cost", "price_change_30d", "discount_depth_7d", "price_changes_90d")


def _lines(lines: pd.DataFrame) -> pd.DataFrame:
    """Each line's gross and net amount, and whether it sold on a promotion: a discount, or the export's
    own flag (daily totals carry no discount; a store read before the flag existed has no such column)."""
    gross = lines["quantity"] * lines["unit_price"]
    promo = lines["discount"].fillna(0.0) > 0
    if "on_promotion" in lines.columns:
        promo |= pd.to_numeric(lines["on_promotion"], errors="coerce").fillna(0).to_numpy() > 0
    return lines.assign(gross=gross, net=gross - lines["discount"].fillna(0.0), promo=promo.astype(float))


def demand_snapshots(
    transactions: pd.DataFrame,
    until: pd.Timestamp,
    inventory: pd.DataFrame | None = None,
    history_end: pd.Timestamp | None = None,
    clock: ShopClock | StoreClocks = UTC,
) -> pd.DataFrame:
    """`history_end`: the last line's time in the whole history, given when `transactions` holds only some
    products (a Spark partition); every series runs to the day after it. Days are the shop's (`clock`), or
    each store's own where `clock` names the stores keeping another (StoreClocks)."""
    if transactions.empty:
        return pd.DataFrame(columns=["product_id", "store_id", "event_timestamp", *DEMAND_COLUMNS])
    missing = ONE_SHOP if transactions["store_id"].isna().all() else NO_STORE
    transactions = transactions.assign(store_id=transactions["store_id"].astype(object).fillna(missing))
    clocks = clock if isinstance(clock, StoreClocks) else StoreClocks(clock)
    if not clocks.stores:
        return _store_days(transactions, until, inventory, history_end, clocks.shop)
    # every store's series runs to the day after the whole history's last line, on its own calendar
    end = transactions["ts"].max() if history_end is None else history_end
    zone = clocks.zone_of(transactions["store_id"])
    counted = None if inventory is None or inventory.empty else clocks.zone_of(inventory["store_id"])
    parts = [
        _store_days(
            transactions[zone == name],
            until,
            None if counted is None else inventory[counted == name],
            end,
            ShopClock(name),
        )
        for name in pd.unique(zone)
    ]
    return pd.concat(parts, ignore_index=True)


def _store_days(
    transactions: pd.DataFrame, until: pd.Timestamp, inventory, history_end, clock: ShopClock
) -> pd.DataFrame:
    """Demand snapshots of stores that keep one clock (`clock`); every line names its store."""
    lines = _lines(transactions)
    pair = lines["product_id"].astype(str) + "\x1f" + lines["store_id"].astype(str)
    ids = pd.Index(pd.unique(pair))
    code = ids.get_indexer(pair)
    ts = clock.wall(seconds(lines["ts"]))
    bought = (lines["kind"] == "purchase").to_numpy()
    priced = bought & lines["unit_price"].notna().to_numpy()  # daily totals of units alone have no price
    index = EventIndex.build(
        code,
        ts,
        {
            "units": np.where(bought, lines["quantity"], 0.0),
            "priced_units": np.where(priced, lines["quantity"], 0.0),
            "revenue": np.where(priced, lines["net"], 0.0),  # a NaN would carry into every later window
            "promo_units": np.where(bought, lines["quantity"] * lines["promo"], 0.0),
            "returned": np.where(bought, 0.0, -lines["quantity"]),
        },
    )
    first = pd.Series(ts).groupby(code).min()
    start = (first.to_numpy() // DAY + 1) * DAY
    last = int(ts.max()) if history_end is None else clock.wall_at(history_end)
    end = np.full(len(start), min((last // DAY + 1) * DAY, clock.wall_at(until)))
    entity, cutoff = daily_cutoffs(start, end)
    codes = first.index.to_numpy()[entity]
    split = pd.Series(ids.to_numpy()[codes].astype(str)).str.split("\x1f", n=1, expand=True)
    product, store = split[0].to_numpy(), split[1].to_numpy()

    def day_sum(name: str, days: int = 1) -> np.ndarray:
        return index.window_sum(name, codes, cutoff, days * DAY)

    units, revenue, priced = day_sum("units"), day_sum("revenue"), day_sum("priced_units")
    return pd.DataFrame(
        {
            "product_id": product,
            "store_id": store,
            "event_timestamp": pd.to_datetime(clock.instant(cutoff), unit="s", utc=True),
            "units_1d": units,
            "revenue_1d": np.where((units > 0) & (priced <= 0), np.nan, revenue),  # sold at no known price
            "avg_unit_price_1d": np.divide(revenue, priced, out=np.full(len(units), np.nan), where=priced > 0),
            "promo_share_1d": np.divide(day_sum("promo_units"), units, out=np.zeros(len(units)), where=units > 0),
            "returned_units_1d": day_sum("returned"),
            "units_7d": day_sum("units", 7),
            "units_28d": day_sum("units", 28),
            "stockout_1d": _stockouts(product, store, cutoff, inventory, clock),
        }
    )


def _stockouts(product, store, cutoff: np.ndarray, inventory: pd.DataFrame | None, clock: ShopClock) -> np.ndarray:
    """1.0 where the day before `cutoff` closed with nothing on hand, 0.0 with stock, NaN without a count
    (the day's last count is the one that counts)."""
    out = np.full(len(cutoff), np.nan)
    if inventory is None or inventory.empty:
        return out
    day = (clock.wall(seconds(inventory["ts"])) // DAY + 1) * DAY
    counts = inventory.assign(day=day).sort_values("ts", kind="stable")
    last = counts.drop_duplicates(["product_id", "store_id", "day"], keep="last")
    keys = pd.MultiIndex.from_arrays([last["product_id"].astype(str), last["store_id"].astype(str), last["day"]])
    at = keys.get_indexer(pd.MultiIndex.from_arrays([product, store, cutoff]))
    found = at >= 0
    out[found] = (last["on_hand"].to_numpy()[at[found]] <= 0).astype(float)
    return out


def pricing_snapshots(transactions: pd.DataFrame, until: pd.Timestamp, clock: ShopClock = UTC) -> pd.DataFrame:
    """Per product and the shop's day: the last shelf price and cost seen (any store or channel), its change
    over 30 days, promo depth."""
    # order_id breaks ties of one second, so the latest price does not depend on the order lines were read in.
    priced = (transactions["kind"] == "purchase") & transactions["unit_price"].notna()  # not units alone
    lines = _lines(transactions[priced]).sort_values(["product_id", "ts", "order_id"], kind="stable")
    ids = pd.Index(pd.unique(lines["product_id"]))
    code = ids.get_indexer(lines["product_id"])
    ts = clock.wall(seconds(lines["ts"]))
    change = np.r_[False, (np.diff(lines["unit_price"].to_numpy()) != 0) & (np.diff(code) == 0)]
    index = EventIndex.build(
        code, ts, {"gross": lines["gross"], "discount": lines["gross"] - lines["net"], "changes": change}
    )
    first, last = pd.Series(ts).groupby(code).min(), pd.Series(ts).groupby(code).max()
    entity, cutoff = daily_cutoffs(
        (first.to_numpy() // DAY + 1) * DAY, np.minimum((last.to_numpy() // DAY + 1) * DAY, clock.wall_at(until))
    )
    codes = first.index.to_numpy()[entity]
    current, _ = index.latest(lines["unit_price"].to_numpy(), codes, cutoff)  # cut-offs follow a first sale
    cost, _ = index.latest(lines["unit_cost"].to_numpy(), codes, cutoff)
    month_ago, known = index.latest(lines["unit_price"].to_numpy(), codes, cutoff - 30 * DAY)
    earlier = np.where(known, month_ago, np.nan)
    gross7 = index.window_sum("gross", codes, cutoff, 7 * DAY)
    return pd.DataFrame(
        {
            "product_id": ids.to_numpy()[codes],
            "event_timestamp": pd.to_datetime(clock.instant(cutoff), unit="s", utc=True),
            "current_price": current,
            "unit_cost": cost,
            "price_change_30d": current / earlier - 1,
            "discount_depth_7d": np.divide(
                index.window_sum("discount", codes, cutoff, 7 * DAY),
                gross7,
                out=np.zeros(len(gross7)),
                where=gross7 > 0,
            ),
            "price_changes_90d": index.window_sum("changes", codes, cutoff, 90 * DAY),
        }
    )
