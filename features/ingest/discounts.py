"""Discounts as exports write them: signed against their line's amount, or once for the whole order.

**Signed discounts.** Square's item sales write a line's `Discounts` as the receipt shows them, negative
on a sale (`-$1.00`) and positive on a refund, where Spend's `discount` is the money taken off, 0 or
more: every discounted sale was quarantined as `discount:non_negative_discount`. Where every discount of
a file that is not 0 has the sign opposite its line's amount (quantity x unit_price), and one is
negative, the file writes them signed, and each is read as its size. A file that writes them both ways
keeps them as written: which sign means money off cannot be known, and the negatives are quarantined.

**An order's discount** spread over its lines (`order_discount`, features/schema/order_discount.py).

A line's `discount` is what the features read: the realised price pricing learns from, the promotion a
forecast reads, a customer's net spend. An order's discount is spread over its purchase lines in
proportion to their amounts (quantity x unit_price), each share added to the line's discount, so the
lines' discounts sum to the order's; a return line of the order in the same export takes the same rate
of its own amount (a refund gives back what was paid, not the shelf price). An order whose lines already
carry a discount keeps theirs and gets
none of the order's: the order's figure includes them, and what it holds beyond them may be no line's
(Shopify's counts a free-shipping code). Nothing is spread over an order whose discount exceeds its
lines' amount (quarantined by the field's rule) or whose lines give different order discounts
(quarantined as one value per order).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from spend.features.schema.order_discount import (
    FIELD,
    one_value_per_order,
    order_amount,
    order_size,
    purchase_amounts,
    within_order_amount,
)


@dataclass(frozen=True)
class Spread:
    lines: pd.Series  # bool per row: the line took a share of its order's discount
    kept: pd.Series  # bool per row: its order's discount was not spread, its lines carrying their own


def spread_order_discounts(typed: pd.DataFrame) -> tuple[pd.DataFrame, Spread]:
    none = pd.Series(False, index=typed.index)
    if FIELD not in typed.columns or "order_id" not in typed.columns or typed[FIELD].isna().all():
        return typed, Spread(none, none)
    size = order_size(typed)
    typed = typed.assign(**{FIELD: size})  # as the field's rules judge it: the money taken off
    if "discount" not in typed:
        typed = typed.assign(discount=pd.Series(pd.NA, index=typed.index, dtype="Float64"))
    orders = typed["order_id"]
    amount, gross, back = order_amount(typed), purchase_amounts(typed), _returned_amounts(typed)
    own = typed["discount"].astype("Float64").fillna(0.0)
    carries_own = (own.where(gross > 0, 0.0) > 0).groupby(orders, sort=False).transform("any")
    given = (size > 0).fillna(False) & orders.notna()
    # Nothing is spread over an order its rules quarantine: one value per order, within its amount.
    allowed = one_value_per_order(typed) & within_order_amount(typed) & (amount > 0)
    spreads = given & allowed & ~carries_own.fillna(False).astype(bool)
    takes = spreads & ((gross > 0) | ((back > 0) & (own == 0)))  # a return's own discount stays
    share = (size * (gross + back) / amount).where(takes, 0.0).fillna(0.0)
    typed["discount"] = share.where(takes, typed["discount"].astype("Float64"))
    kept = given & carries_own.fillna(False).astype(bool)
    return typed, Spread(takes.astype(bool), kept.astype(bool))


def _returned_amounts(typed: pd.DataFrame) -> pd.Series:
    """|quantity x unit_price| on a return line, 0 on any other."""
    returned = (typed["kind"] == "return").fillna(False) & (typed["quantity"] < 0).fillna(False)
    return (typed["quantity"] * typed["unit_price"]).abs().astype("Float64").where(returned, 0.0).fillna(0.0)


def signed_discounts(typed: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """`typed` with discounts written signed against their lines read as their sizes, and how many were."""
    if "discount" not in typed or not (typed["discount"] < 0).fillna(False).any():
        return typed, 0
    discount = typed["discount"].astype("Float64")
    amount = (typed["quantity"] * typed["unit_price"]).astype("Float64")
    given = (discount != 0).fillna(False)
    against = ((discount < 0) & (amount > 0)) | ((discount > 0) & (amount < 0))
    if not against.fillna(False)[given].all():
        return typed, 0
    return typed.assign(discount=discount.abs()), int(given.sum())


def orders_counted(lines: pd.Series, orders: pd.Series) -> int:
    """The distinct orders among the lines marked."""
    return int(orders[lines.to_numpy(dtype=bool)].nunique())
