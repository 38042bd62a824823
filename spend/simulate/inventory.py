"""Stock, replenishment and stock-outs: sales are what the shelf could give, not what shoppers wanted.

Each product x store (the POS stores, and the WEB and APP shops' warehouses) is replenished by a
periodic-review order-up-to policy of the kind a shop runs without a forecaster: every `review_days`
the store orders up to `cover x trailing mean sales x (lead time + review days)`. Trailing *sales* are
censored by the stock-outs they cause, so a stock-out lowers the next order: the policy leaves a
realistic share of empty-shelf days. Shoppers who find the shelf empty lose that line; the true demand
is kept in ground truth (`demand`) for scoring forecasts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from spend.simulate.config import SimulationConfig

TRAILING_DAYS = 28


@dataclass
class Stock:
    lines: pd.DataFrame  # the purchase lines shoppers got (lost lines removed, partial lines cut)
    keep_orders: np.ndarray  # bool per order: it still has a line
    inventory: pd.DataFrame  # product, store, day_index, on_hand, on_order, lead_time_days (close of day)
    demand: pd.DataFrame  # product, store, day_index, demand, sold (every series x day)


def run_stock(
    orders: pd.DataFrame, lines: pd.DataFrame, stores: list[str], config: SimulationConfig, rng: np.random.Generator
) -> Stock:
    n_products, n_days = config.products, 2 * config.days
    store_code = pd.Index(stores).get_indexer(orders["store_id"].to_numpy()[lines["order"].to_numpy()])
    day = orders["day_index"].to_numpy()[lines["order"].to_numpy()]
    series = lines["product"].to_numpy() * len(stores) + store_code
    demand = np.zeros((n_products * len(stores), n_days))
    np.add.at(demand, (series, day), lines["quantity"].to_numpy())
    lead = rng.integers(config.lead_time_days[0], config.lead_time_days[1] + 1, n_products)
    series_lead = np.repeat(lead, len(stores))
    sold, on_hand, on_order = _replenish(demand, series_lead, config, rng)
    got = _served_lines(lines, series, day, sold)
    keep_orders = np.zeros(len(orders), dtype=bool)
    keep_orders[got["order"].to_numpy()] = True
    index = pd.MultiIndex.from_product([range(n_products), range(len(stores)), range(n_days)])
    product, store, days = (index.get_level_values(k).to_numpy() for k in range(3))
    grid = {"product": product, "store": np.asarray(stores)[store], "day_index": days}
    inventory = pd.DataFrame(
        grid
        | {
            "on_hand": on_hand.ravel(),
            "on_order": on_order.ravel(),
            "lead_time_days": np.repeat(lead, len(stores) * n_days),
        }
    )
    return Stock(got, keep_orders, inventory, pd.DataFrame(grid | {"demand": demand.ravel(), "sold": sold.ravel()}))


def _replenish(demand: np.ndarray, lead: np.ndarray, config: SimulationConfig, rng) -> tuple[np.ndarray, ...]:
    """Day by day over every series at once: arrivals, sales capped by stock, reviews and orders."""
    n_series, n_days = demand.shape
    warm = demand[:, :TRAILING_DAYS].mean(axis=1)
    on_hand = np.ceil(warm * (lead + config.review_days) * config.order_cover)
    on_order = np.zeros(n_series)
    arrivals = np.zeros((n_series, n_days + int(lead.max()) + 1))
    review_day = rng.integers(0, config.review_days, n_series)
    sold, stock, pipeline = np.zeros_like(demand), np.zeros_like(demand), np.zeros_like(demand)
    trailing = np.zeros(n_series)  # sales over the last TRAILING_DAYS days
    for d in range(n_days):
        on_hand += arrivals[:, d]
        on_order -= arrivals[:, d]
        sold[:, d] = np.minimum(on_hand, demand[:, d])
        on_hand -= sold[:, d]
        trailing += sold[:, d] - (sold[:, d - TRAILING_DAYS] if d >= TRAILING_DAYS else 0.0)
        due = review_day == d % config.review_days
        if due.any():
            rate = np.maximum(trailing[due] / min(d + 1, TRAILING_DAYS), config.min_daily_rate)
            target = np.ceil(rate * (lead[due] + config.review_days) * config.order_cover)
            order = np.maximum(0.0, target - on_hand[due] - on_order[due])
            rows = np.flatnonzero(due)
            arrivals[rows, d + lead[due]] += order
            on_order[due] += order
        stock[:, d], pipeline[:, d] = on_hand, on_order
    return sold, stock, pipeline


def _served_lines(lines: pd.DataFrame, series: np.ndarray, day: np.ndarray, sold: np.ndarray) -> pd.DataFrame:
    """The lines as served: in order of arrival within a series-day, each gets what stock is left."""
    cell = series * sold.shape[1] + day
    order = np.lexsort((lines["order"].to_numpy(), cell))  # orders are numbered in time order
    quantity = lines["quantity"].to_numpy()[order]
    before = pd.Series(quantity).groupby(cell[order]).cumsum().to_numpy() - quantity
    available = sold.ravel()[cell[order]]
    served = np.empty_like(quantity, dtype=float)
    served[order] = np.clip(available - before, 0, quantity)
    out = lines.assign(quantity=served)
    kept = out["quantity"] > 0
    scale = np.where(lines["quantity"] > 0, out["quantity"] / lines["quantity"], 0)
    out["discount"] = np.round(lines["discount"] * scale, 2)
    return out[kept]
