"""Turn purchase times into orders and basket lines: channel, store, products by the demand model, returns."""

from __future__ import annotations

import numpy as np
import pandas as pd

from spend.simulate.catalog import Calendar, Catalog, choice_weights
from spend.simulate.config import CHANNELS, SimulationConfig
from spend.simulate.customers import Purchases


def build_orders(
    customers: pd.DataFrame, purchases: Purchases, catalog: Catalog, config: SimulationConfig, rng: np.random.Generator
) -> pd.DataFrame:
    """One row per order over the whole simulated span (history and the time before it)."""
    order = np.lexsort((purchases.customer, purchases.day))
    c, day = purchases.customer[order], purchases.day[order]
    preferred = pd.Categorical(customers["channel"].to_numpy()[c], categories=CHANNELS).codes
    channel = np.where(rng.random(c.size) < 0.75, preferred, rng.integers(0, len(CHANNELS), c.size))
    channel_name = np.asarray(CHANNELS)[channel]
    home = customers["home_store"].to_numpy()[c]
    store = np.where(channel_name == "pos", home, np.where(channel_name == "web", "WEB", "APP"))
    # Shops open 8:00-20:00; online orders come at any time of day.
    frac = day - np.floor(day)
    seconds = np.where(channel_name == "pos", 8 * 3600 + frac * 12 * 3600, frac * 86_400)
    pay = _payment(channel_name, rng)
    terminal = np.where(
        (channel_name == "pos") & (pay != "cash"),
        np.char.add(
            np.char.add(store.astype(str), "-T"), rng.integers(1, config.terminals_per_store + 1, c.size).astype(str)
        ),
        "",
    )
    return pd.DataFrame(
        {
            "order_id": [f"O{k:08d}" for k in range(c.size)],
            "customer": c,
            "day_index": np.floor(day).astype(int) + config.days,
            "ts": config.start_ts
            + (np.floor(day).astype("int64") * 86_400 + seconds.astype("int64")).astype("timedelta64[s]"),
            "channel": channel_name,
            "store_id": store,
            "payment_method": pay,
            "terminal_id": terminal,
        }
    )


def _payment(channel: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    u = rng.random(channel.size)
    in_store = np.where(u < 0.70, "card", np.where(u < 0.95, "cash", "wallet"))
    online = np.where(u < 0.85, "card", "wallet")
    return np.where(channel == "pos", in_store, online)


def build_lines(
    orders: pd.DataFrame, catalog: Catalog, calendar: Calendar, config: SimulationConfig, rng: np.random.Generator
) -> pd.DataFrame:
    """Purchase lines: products drawn per day with the choice weights (price, promotion, season, substitutes)."""
    n_lines = 1 + rng.poisson(config.mean_lines_per_order - 1, len(orders))
    line_order = np.repeat(np.arange(len(orders)), n_lines)
    line_day = orders["day_index"].to_numpy()[line_order]
    weights = choice_weights(catalog, calendar, config.promo_lift)
    product = np.empty(line_order.size, dtype=np.int64)
    for d in np.unique(line_day):
        rows = np.flatnonzero(line_day == d)
        w = weights[:, d]
        product[rows] = rng.choice(w.size, rows.size, p=w / w.sum())
    extra = catalog.products["extra_units"].to_numpy()[product]
    lines = pd.DataFrame({"order": line_order, "product": product, "quantity": 1 + rng.poisson(extra)})
    lines = lines.groupby(["order", "product"], as_index=False, sort=True)["quantity"].sum()
    day = orders["day_index"].to_numpy()[lines["order"]]
    list_price = catalog.list_price[lines["product"], day]
    depth = catalog.promo_depth[lines["product"], day]
    return lines.assign(
        unit_price=list_price,
        discount=np.round(lines["quantity"] * list_price * depth, 2),
        unit_cost=catalog.products["unit_cost"].to_numpy()[lines["product"]],
        promo=depth > 0,
    )


def build_returns(
    lines: pd.DataFrame, orders: pd.DataFrame, catalog: Catalog, rng: np.random.Generator
) -> pd.DataFrame:
    """Each line is returned whole with its category's return rate, 1-30 days later."""
    rate = catalog.products["return_rate"].to_numpy()[lines["product"]]
    returned = lines[rng.random(len(lines)) < rate].copy()
    delay = rng.uniform(1, 30, len(returned)) * 86_400
    returned["return_ts"] = orders["ts"].to_numpy()[returned["order"]] + delay.astype("timedelta64[s]")
    returned["quantity"] = -returned["quantity"]
    return returned
