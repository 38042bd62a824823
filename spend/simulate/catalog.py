"""Products, stores, daily prices and promotions, and the seasonal calendar the shoppers follow."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from spend.simulate.config import CATEGORIES, SimulationConfig

# Per category: typical shelf price, yearly amplitude and peak day-of-year, return rate, extra units per line.
_CATEGORY_PROFILE = {
    "grocery": (3.0, 0.05, 1, 0.01, 1.2),
    "beverages": (4.0, 0.30, 196, 0.01, 1.0),
    "household": (8.0, 0.05, 1, 0.02, 0.4),
    "apparel": (35.0, 0.20, 100, 0.12, 0.1),
    "electronics": (90.0, 0.15, 340, 0.06, 0.02),
    "toys": (20.0, 0.40, 350, 0.04, 0.2),
    "garden": (15.0, 0.60, 130, 0.03, 0.3),
    "seasonal": (12.0, 0.80, 352, 0.03, 0.5),
}
_WEEKDAY = np.array([0.85, 0.85, 0.9, 0.95, 1.1, 1.3, 1.05])  # Monday .. Sunday


@dataclass
class Calendar:
    """Days from `first_day` (inclusive), covering signups before the history and the history itself."""

    days: pd.DatetimeIndex
    visit_season: np.ndarray  # multiplies every customer's purchase rate; mean 1 over the history
    category_season: np.ndarray  # (category, day) multipliers of product choice


@dataclass
class Catalog:
    products: pd.DataFrame  # product_id, category, base_price, unit_cost, elasticity, popularity, ...
    substitutes: pd.DataFrame  # product_id, substitute_id, cross_elasticity
    list_price: np.ndarray  # (product, day) shelf price before promotion
    promo_depth: np.ndarray  # (product, day) share taken off on promotion, 0 when none
    stores: pd.DataFrame  # store_id, region, terminals


def holidays(days: pd.DatetimeIndex) -> dict[str, np.ndarray]:
    """Masks of the holiday periods: Black Friday weekend, Christmas run-up, summer sale."""
    nov = (days.month == 11) & (days.dayofweek == 4)
    black_friday = nov & (days.day >= 22) & (days.day <= 28)
    bf_weekend = black_friday | np.roll(black_friday, 1) | np.roll(black_friday, 2)
    christmas = (days.month == 12) & (days.day <= 24)
    summer = (days.month == 7) & (days.day <= 14)
    return {"black_friday": bf_weekend, "christmas": christmas, "summer_sale": summer}


def build_calendar(config: SimulationConfig) -> Calendar:
    first = pd.Timestamp(config.start) - pd.Timedelta(days=config.days)
    days = pd.date_range(first, periods=2 * config.days, freq="D")
    doy = days.dayofyear.to_numpy()
    marks = holidays(days)
    visits = _WEEKDAY[days.dayofweek] * (1 + 0.15 * np.cos(2 * np.pi * (doy - 350) / 365.25))
    visits = visits * np.where(marks["black_friday"], 1.8, 1.0) * np.where(marks["christmas"], 1.3, 1.0)
    visits = visits / visits[config.days :].mean()
    season = np.empty((len(CATEGORIES), len(days)))
    for i, category in enumerate(CATEGORIES):
        _, amplitude, peak, _, _ = _CATEGORY_PROFILE[category]
        season[i] = 1 + amplitude * np.cos(2 * np.pi * (doy - peak) / 365.25)
    season[CATEGORIES.index("toys")] *= np.where(marks["christmas"], 2.5, 1.0)
    season[CATEGORIES.index("seasonal")] *= np.where(marks["christmas"], 3.0, 1.0)
    season[CATEGORIES.index("electronics")] *= np.where(marks["black_friday"], 2.5, 1.0)
    season[CATEGORIES.index("beverages")] *= np.where(marks["summer_sale"], 1.3, 1.0)
    return Calendar(days, visits, season)


def build_catalog(config: SimulationConfig, calendar: Calendar, rng: np.random.Generator) -> Catalog:
    n = config.products
    category = np.arange(n) % len(CATEGORIES)  # every category is stocked
    profile = np.array([_CATEGORY_PROFILE[CATEGORIES[c]] for c in category])
    base_price = np.round(profile[:, 0] * rng.lognormal(0, 0.4, n), 2).clip(0.5)
    products = pd.DataFrame(
        {
            "product_id": [f"P{j:05d}" for j in range(n)],
            "category": [CATEGORIES[c] for c in category],
            "base_price": base_price,
            "unit_cost": np.round(base_price * rng.uniform(0.45, 0.75, n), 2),
            "elasticity": np.round(rng.uniform(-2.8, -0.6, n), 3),
            "popularity": rng.lognormal(0, 0.8, n),
            "return_rate": profile[:, 3],
            "extra_units": profile[:, 4],
        }
    )
    season = calendar.category_season[category]
    list_price, promo = _price_paths(base_price, season, products["popularity"].to_numpy(), config, rng)
    substitutes = _substitutes(category, config.substitute_pairs, rng)
    stores = pd.DataFrame(
        {
            "store_id": [f"S{s:03d}" for s in range(config.stores)],
            "region": [config.regions[s % len(config.regions)] for s in range(config.stores)],
        }
    )
    return Catalog(products.assign(category_index=category), substitutes, list_price, promo, stores)


def _price_paths(
    base: np.ndarray, season: np.ndarray, popularity: np.ndarray, config: SimulationConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """List prices and promotions set the way shops set them, in reaction to demand, so that a regression
    of units on price is confounded: the list price rises into the category's season (a share
    `price_season` of its swing in demand, as an elasticity), and promotions start more often off
    season and on slow movers (the least popular quarter)."""
    n, n_days = season.shape
    steps = np.where(rng.random((n, n_days)) < 1 / 60, rng.normal(0, 0.07, (n, n_days)), 0.0)
    level = np.exp(np.cumsum(steps, axis=1)).clip(0.7, 1.4)
    list_price = np.round(base[:, None] * level * season**config.price_season, 2)
    promo = np.zeros((n, n_days))
    slow = np.where(popularity < np.quantile(popularity, 0.25), config.promo_slow_movers, 1.0)[:, None]
    rate = np.clip(season**-config.promo_off_season, 0.5, 2.0) * slow / 45
    starts = rng.random((n, n_days)) < rate
    for j, d in zip(*np.nonzero(starts), strict=True):
        promo[j, d : d + rng.integers(7, 15)] = rng.uniform(0.10, 0.35)
    return list_price, np.round(promo, 3)


def _substitutes(category: np.ndarray, pairs: int, rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    for _ in range(pairs):
        c = rng.integers(0, category.max() + 1)
        members = np.flatnonzero(category == c)
        if len(members) < 2:  # a small catalog's category of one product has no substitute (same draws else)
            continue
        j, k = rng.choice(members, 2, replace=False)
        rows.append((f"P{j:05d}", f"P{k:05d}", round(float(rng.uniform(0.3, 0.8)), 3)))
    frame = pd.DataFrame(rows, columns=["product_id", "substitute_id", "cross_elasticity"])
    return frame.drop_duplicates(["product_id", "substitute_id"]).reset_index(drop=True)


def choice_weights(catalog: Catalog, calendar: Calendar, promo_lift: float) -> np.ndarray:
    """(product, day) weights of choosing each product for a basket line: the demand model's ground truth."""
    p = catalog.products
    season = calendar.category_season[p["category_index"]]
    price = catalog.list_price * (1 - catalog.promo_depth)
    return weights_at(p, catalog.substitutes, season, price, catalog.promo_depth > 0, promo_lift)


def weights_at(
    products: pd.DataFrame,
    substitutes: pd.DataFrame,
    season: np.ndarray,
    price: np.ndarray,
    promo: np.ndarray,
    promo_lift: float,
) -> np.ndarray:
    """Choice weights at any prices: (product, day) arrays of the season multiplier, the net price paid
    and whether the product is on promotion. A product's weight moves with its own price by its
    elasticity and with its declared substitutes' prices by the cross-elasticity."""
    log_rel = np.log(price / products["base_price"].to_numpy()[:, None])
    log_w = np.log(products["popularity"].to_numpy())[:, None] + np.log(season)
    log_w = log_w + products["elasticity"].to_numpy()[:, None] * log_rel + np.log(promo_lift) * promo
    index = {pid: j for j, pid in enumerate(products["product_id"])}
    for row in substitutes.itertuples():
        log_w[index[row.product_id]] += row.cross_elasticity * log_rel[index[row.substitute_id]]
    return np.exp(log_w)
