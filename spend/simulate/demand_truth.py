"""The simulated shop's true expected demand at any prices, own- and cross-price effects included: what a
pricing benchmark replays a pricing policy against, and what an estimated elasticity is scored on.

Each day the shoppers draw `lines` products, each with probability proportional to its choice weight
(spend/simulate/catalog.py: popularity x season x (price / base price) ** elasticity x promotion lift x
substitutes' prices ** cross-elasticity); a drawn product sells 1 + Poisson(extra units). So expected
units of product j on day d are lines_d x w_jd / sum_k w_kd x (1 + extra_j), before stock-outs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from spend.simulate.catalog import weights_at
from spend.simulate.config import CATEGORIES


@dataclass
class DemandTruth:
    products: pd.DataFrame  # product_id, category, base_price, unit_cost, elasticity, popularity, extra_units
    substitutes: pd.DataFrame  # product_id, substitute_id, cross_elasticity
    season: pd.DataFrame  # (date x category) choice multipliers
    lines: pd.Series  # expected draws per date
    prices: pd.DataFrame  # (product, date) list_price and promo_depth as the shop set them
    promo_lift: float

    @classmethod
    def from_truth(cls, truth: dict[str, pd.DataFrame], promo_lift: float) -> DemandTruth:
        season = truth["category_season"].pivot(index="date", columns="category", values="choice_multiplier")
        return cls(
            products=truth["products"].reset_index(drop=True),
            substitutes=truth["substitutes"],
            season=season[list(CATEGORIES)],
            lines=truth["basket_lines"].set_index("date")["lines"],
            prices=truth["prices"].set_index(["product_id", "date"]),
            promo_lift=promo_lift,
        )

    def shop_prices(self, date) -> tuple[np.ndarray, np.ndarray]:
        """(net price, on promotion) per product on `date`, as the shop set them."""
        day = self.prices.xs(pd.Timestamp(date), level="date").reindex(self.products["product_id"])
        depth = day["promo_depth"].to_numpy(float)
        return day["list_price"].to_numpy(float) * (1 - depth), depth > 0

    def expected_units(self, date, price: np.ndarray, promo: np.ndarray | None = None) -> np.ndarray:
        """Expected units per product (all stores) on `date` at net prices `price` (one per product)."""
        weights = self._weights(date, price, promo)
        extra = self.products["extra_units"].to_numpy(float)
        return self.lines.loc[pd.Timestamp(date)] * weights / weights.sum() * (1 + extra)

    def elasticity(self, date, price: np.ndarray | None = None) -> np.ndarray:
        """Each product's own-price elasticity of expected units at `price` (default: the shop's): its
        choice elasticity, less what its price moves the total weight by (its own share, and the share of
        the products it is a substitute for)."""
        if price is None:
            price, promo = self.shop_prices(date)
        else:
            promo = None
        weights = self._weights(date, price, promo)
        own = self.products["elasticity"].to_numpy(float)
        index = {pid: j for j, pid in enumerate(self.products["product_id"])}
        moved = weights * own  # d sum(w) / d log p_j, own part
        for row in self.substitutes.itertuples():
            moved[index[row.substitute_id]] += weights[index[row.product_id]] * row.cross_elasticity
        return own - moved / weights.sum()

    def _weights(self, date, price: np.ndarray, promo: np.ndarray | None) -> np.ndarray:
        date = pd.Timestamp(date)
        season = self.season.loc[date, self.products["category"]].to_numpy(float)
        promo = np.zeros(len(price), dtype=bool) if promo is None else np.asarray(promo, dtype=bool)
        column = lambda a: np.asarray(a, dtype=float)[:, None]  # noqa: E731
        return weights_at(
            self.products, self.substitutes, column(season), column(price), promo[:, None], self.promo_lift
        )[:, 0]
