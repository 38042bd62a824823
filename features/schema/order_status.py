"""An order's status, as shops export it: which orders are sales and which are not.

Shops export every order they hold, cancelled ones included (Shopify's `Financial Status` voided,
WooCommerce's and Magento's `status` cancelled or failed, Olist's `order_status` canceled or unavailable).
Stored as sales they would count purchases nobody made: a churned customer looks active, demand and
revenue look higher. The lines of an order whose status says it never became a sale are quarantined with
the reason `order_status:cancelled`. A fully refunded order is a sale taken back: its lines are kept
only beside its return lines (Shopify's orders JSON gives them), since alone they would count as a
sale; without them they are quarantined as `order_status:refunded_without_return_lines`. Any other
status (paid, pending, processing, shipped, complete, partially refunded, ...) or none is a sale; a
partially refunded order without return lines counts whole (Shopify's orders CSV gives its refund as an
amount, not the lines given back), which ingestion counts and says.

A cancellation time (Shopify's `Cancelled at`, its orders JSON's `cancelled_at`) says the same as a
cancelled status: Shopify keeps an order cancelled without a refund as "paid" (or "partially_refunded"),
so its Financial Status alone stored the cancelled order as a sale. Its lines are quarantined as
`cancelled_at:cancelled`. "closed" is read as a sale (decided 2026-12-07): Magento closes an order it
refunded, but tills and POS systems close a ticket once it is paid, and a status word cannot say which
shop wrote it; a Magento export's refunds come as its credit memos' lines.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa

from spend.features.schema.fields import FieldSpec, Kind, RowRule, Rule, row_rule
from spend.features.schema.words import written_as

FIELD = "order_status"

# Written plain (lower case, words joined by "_", WooCommerce's database prefix "wc_" dropped).
NEVER_A_SALE = (
    "cancelled",
    "canceled",
    "cancel",
    "voided",
    "void",
    "failed",
    "payment_failed",
    "declined",
    "denied",
    "rejected",
    "expired",
    "abandoned",
    "unavailable",  # Olist: the order could not be fulfilled
    "draft",
    "checkout_draft",  # WooCommerce: a checkout never placed
    "incomplete",  # BigCommerce: an abandoned checkout
)
REFUNDED = ("refunded", "fully_refunded")
PARTLY_REFUNDED = ("partially_refunded", "partly_refunded", "partial_refund")
# Before any other reason a line breaks: the order's status says the most about it.
CANCELLED = f"{FIELD}:cancelled"
CANCELLED_AT = "cancelled_at:cancelled"
NEVER_SOLD = (CANCELLED, CANCELLED_AT)  # the order never became a sale (a refunded one did)
REASONS = (*NEVER_SOLD, f"{FIELD}:refunded_without_return_lines")


def status_field() -> FieldSpec:
    never = pa.Check(lambda s: ~written_as(s, NEVER_A_SALE), name="cancelled")
    return FieldSpec(
        FIELD,
        Kind.TEXT,
        "The order's status in the shop (Shopify's Financial Status, WooCommerce's, Magento's or Olist's "
        "status). An order that never became a sale (cancelled, voided, failed, declined, expired, "
        "unavailable, a draft) is quarantined; a refunded one is kept beside its return lines only. "
        "Blank or any other status: a sale.",
        required=False,
        nullable=True,
        content="never",  # an order paid after a first export is the same order when exported again
        rules=(Rule("cancelled", f"not one of {', '.join(NEVER_A_SALE)} (any case)", never),),
    )


# A cancellation column written as a flag (`Cancelled: No`), mapped to cancelled_at: its no is no time.
NOT_CANCELLED = ("false", "f", "no", "n", "0")


def cancelled_at_field() -> FieldSpec:
    # pandera leaves blanks out: any other value given fails
    given = pa.Check(lambda s: written_as(s, NOT_CANCELLED), name="cancelled")
    return FieldSpec(
        "cancelled_at",
        Kind.TEXT,
        "When the order was cancelled (Shopify's Cancelled at), as the shop writes it, or a flag saying it "
        "was (yes, true, 1). An order with one never became a sale, whatever its status says, and is "
        f"quarantined; blank or {', '.join(NOT_CANCELLED)} (any case): not cancelled.",
        required=False,
        nullable=True,
        content="never",  # as a status: an order cancelled after a first export is the same order
        rules=(Rule("cancelled", f"blank or {', '.join(NOT_CANCELLED)} (the order's cancellation is no sale)", given),),
    )


def refunded_rule() -> RowRule:
    return row_rule(
        FIELD,
        "refunded_without_return_lines",
        f"an order whose status is {' or '.join(REFUNDED)} must have return lines (negative quantities) "
        "in the same file: alone, its purchase lines would count as a sale",
        _refunds_beside_returns,
    )


def partly_refunded_alone(df: pd.DataFrame) -> pd.Series:
    """Lines of orders whose status says part was refunded, without return lines in the frame: they count
    whole, the refund being no line of this export (Shopify's orders CSV gives it as an amount only)."""
    if FIELD not in df.columns or df[FIELD].isna().all():
        return pd.Series(False, index=df.index)
    partly = written_as(df[FIELD], PARTLY_REFUNDED).to_numpy(dtype=bool)
    return pd.Series(partly & ~_with_return_lines(df), index=df.index)


def _refunds_beside_returns(df: pd.DataFrame) -> pd.Series:
    if FIELD not in df.columns or df[FIELD].isna().all():
        return pd.Series(True, index=df.index)
    refunded = written_as(df[FIELD], REFUNDED).to_numpy(dtype=bool)
    return pd.Series(~refunded | _with_return_lines(df), index=df.index)


def _with_return_lines(df: pd.DataFrame) -> np.ndarray:
    """Per line, whether its order has a return line (a negative quantity) in the frame."""
    returned = df.loc[(df["quantity"] < 0).fillna(False).to_numpy(dtype=bool), "order_id"].dropna().unique()
    return df["order_id"].isin(returned).to_numpy(dtype=bool)
