"""A discount on the whole order (`order_discount`): the field and the rule that bounds it.

Shopify's orders CSV writes the order's discount (its `Discount Amount`: what a discount code took off)
once, on the order's first line; WooCommerce's `Cart Discount Amount` and Magento's `discount_amount` are
the order's too. Mapped to a line's `discount` it would sit on the first line alone (that line promoted
and too cheap, the others at shelf price); left out, every discounted order counted at shelf price. The
order's discount is spread over its lines at ingestion (features/ingest/discounts.py).

The order's discount is its whole discount, its lines' own included; a negative amount (Magento writes
its discount so) is read as its size.
"""

from __future__ import annotations

import pandas as pd

from spend.features.schema.fields import FieldSpec, Kind, RowRule, row_rule

FIELD = "order_discount"
READS = ("order_id", FIELD)  # what its cross-row rule reads


def order_discount_field() -> FieldSpec:
    return FieldSpec(
        FIELD,
        Kind.FLOAT,
        "Money taken off the whole order (Shopify's Discount Amount), its lines' own discounts included, "
        "written on one of its lines or on each; a negative amount is read as its size. Where the order's "
        "lines carry no discount of their own it is spread over its purchase lines in proportion to their "
        "amounts, each line's share added to its discount.",
        unit="currency",
        required=False,
        nullable=True,
        content="never",  # its share is in each line's discount, which is content
    )


def order_discount_rules() -> tuple[RowRule, ...]:
    return (
        row_rule(
            FIELD,
            "one_value_per_order",
            "every line of an order in the file must give the same order_discount, or leave it blank "
            "(a discount of the line's own is its discount)",
            one_value_per_order,
            among_valid=True,
            reads=READS,
        ),
        row_rule(
            FIELD,
            "within_order_amount",
            "order_discount must not exceed the order's purchase lines' amount (quantity x unit_price) in the file",
            within_order_amount,
        ),
    )


def _given(df: pd.DataFrame) -> bool:
    """Whether any line gives an order discount (most exports give none: the rules then cost nothing)."""
    return FIELD in df.columns and bool(df[FIELD].notna().any())


def one_value_per_order(df: pd.DataFrame) -> pd.Series:
    if not _given(df) or "order_id" not in df.columns:
        return pd.Series(True, index=df.index)
    return ~(df.groupby("order_id", dropna=False, sort=False)[FIELD].transform("nunique") > 1)


def within_order_amount(df: pd.DataFrame) -> pd.Series:
    if not _given(df):
        return pd.Series(True, index=df.index)
    return ~(order_size(df) > order_amount(df) + 1e-9).fillna(False)


def order_size(df: pd.DataFrame) -> pd.Series:
    """Each line's order discount as money taken off (blank where none is given)."""
    if FIELD not in df.columns:
        return pd.Series(pd.NA, index=df.index, dtype="Float64")
    return df[FIELD].astype("Float64").abs()


def purchase_amounts(df: pd.DataFrame) -> pd.Series:
    """quantity x unit_price on a purchase line, 0 on any other (a return, a line without a price)."""
    purchase = (df["kind"] == "purchase").fillna(False) & (df["quantity"] > 0).fillna(False)
    gross = (df["quantity"] * df["unit_price"]).astype("Float64")
    return gross.where(purchase, 0.0).fillna(0.0)


def order_amount(df: pd.DataFrame) -> pd.Series:
    """Each line's order's purchase amount in the frame (a line without an order id: its own)."""
    amounts = purchase_amounts(df)
    if "order_id" not in df.columns:
        return amounts
    orders = df["order_id"]
    summed = amounts.groupby(orders, dropna=True, sort=False).transform("sum")
    return summed.where(orders.notna(), amounts)
