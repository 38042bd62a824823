"""The product catalogue as models read it (the `products` table): each product's category and substitute
group. Categories are attributes of what a product is, not of when it sold, so the catalogue as stored
applies to the whole history: a product's latest row (a re-categorised product's new category counts for
its past sales too; features/schema/tables.py).

Substitute groups become the pairs whose cross-price effects pricing estimates: every product of a group
against each other one. A group of more than MAX_GROUP products is left out, and said: each pair is one
more treatment in a product's regression on about a hundred weekly rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

MAX_GROUP = 5
NO_CATALOGUE = "no products table: elasticities pool toward one category for the whole shop"


@dataclass(frozen=True)
class Catalogue:
    categories: pd.Series | None  # category by product_id; None without a catalogue
    substitutes: pd.DataFrame | None  # product_id, substitute_id pairs within a group
    note: str | None  # what the catalogue could not give, in one line
    listed: pd.Series | None = None  # listing time (UTC) by product_id, where the rows carry it

    @classmethod
    def read(cls, store) -> Catalogue:
        """The stored catalogue (`store`: an OfflineStore)."""
        columns = ["product_id", "category", "substitute_group", "listed_at"]
        return cls.of(store.latest("products", "product_id", columns))

    @classmethod
    def of(cls, rows: pd.DataFrame) -> Catalogue:
        if rows.empty:
            return cls(None, None, NO_CATALOGUE)
        rows = rows.assign(product_id=rows["product_id"].astype(str)).drop_duplicates("product_id", keep="last")
        categories = pd.Series(rows["category"].astype(str).to_numpy(), index=rows["product_id"], name="category")
        pairs, too_big = _pairs(rows)
        note = None
        if too_big:
            note = (
                f"substitute groups of more than {MAX_GROUP} products have no cross-price effects: "
                f"{', '.join(too_big[:3])}{' ...' if len(too_big) > 3 else ''}"
            )
        listed = None
        if "listed_at" in rows.columns:
            listed = pd.Series(rows["listed_at"].to_numpy(), index=rows["product_id"].to_numpy(), name="listed_at")
        return cls(categories, pairs if len(pairs) else None, note, listed)

    def launches(self, sold, zone: str = "UTC") -> pd.DataFrame:
        """The catalogued products `sold` does not hold, with their category and listing day (`ds`, the
        shop's day in `zone`, without a zone, as the demand history's dates): the products a forecast can
        only take from their category."""
        if self.categories is None or self.listed is None:
            return pd.DataFrame(columns=["product_id", "category", "ds"])
        unsold = self.categories.index[~self.categories.index.isin(set(sold))]
        listed = pd.to_datetime(self.listed.reindex(unsold), utc=True).dt.tz_convert(zone).dt.tz_localize(None)
        listed = listed.dt.normalize()
        frame = pd.DataFrame({"product_id": unsold, "category": self.categories.reindex(unsold).to_numpy()})
        return frame.assign(ds=listed.to_numpy()).dropna(subset=["ds"]).reset_index(drop=True)


def _pairs(rows: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """(every ordered pair of products within a group of 2 to MAX_GROUP, the groups left out as too big)."""
    grouped = rows.dropna(subset=["substitute_group"]).groupby(rows["substitute_group"].astype(str))["product_id"]
    pairs, too_big = [], []
    for group, members in grouped:
        members = sorted(set(members))
        if len(members) > MAX_GROUP:
            too_big.append(group)
            continue
        pairs += [(a, b) for a in members for b in members if a != b]
    return pd.DataFrame(pairs, columns=["product_id", "substitute_id"]), sorted(too_big)
