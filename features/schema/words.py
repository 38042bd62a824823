"""The words exports use for a category's values, read as Spend's (`FieldSpec.words`).

Tills, shops and loyalty systems name the same things their own way: a line's kind "Sale" or "Refund",
a channel "Online" or "In store", a payment "Credit Card" or "Apple Pay", points "Earned" or
"Redeemed". An unknown word quarantines its line (`field:allowed_value`), so every line of an export
that wrote "Sale" was refused. Words are matched written plain (lower case, spaces and hyphens as "_");
a word not listed is still refused by name, for the user to map or fix.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from spend.features.schema.fields import TEXT


def plain(text: str) -> str:
    """A name or a word written plain: lower case, words joined by "_" ("In-Store " -> "in_store")."""
    return "_".join(text.strip().lower().replace("-", " ").split())


def written_as(values: pd.Series, words: tuple[str, ...]) -> pd.Series:
    """Which values are one of `words` written plain ('Cancelled', 'wc-cancelled' and 'CANCELLED ' are
    one word: WooCommerce's database prefix is dropped); a blank is none. An export holds a handful of
    words over a million lines: each distinct one is written plain once."""
    if values.isna().all():
        return pd.Series(False, index=values.index)
    codes, found = distinct(values)
    hit = np.append(np.isin([plain(word).removeprefix("wc_") for word in found], words), False)  # -1: a blank
    return pd.Series(hit[codes], index=values.index)


def distinct(values: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Each value's code (-1 for a blank) and the distinct values as text, to read each once: Arrow's
    dictionary of the column (an export's text is Arrow's already)."""
    arrow = isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow"
    text = values if arrow else values.astype(TEXT)
    encoded = pa.chunked_array(text.array._pa_array).combine_chunks().dictionary_encode()
    return pc.fill_null(encoded.indices, -1).to_numpy(), encoded.dictionary.to_pylist()


def _read_as(value: str, *words: str) -> tuple[tuple[str, str], ...]:
    return tuple((word, value) for word in words)


LINE_KINDS = (
    *_read_as("purchase", "sale", "sales", "sold", "order", "payment", "invoice", "debit"),
    *_read_as("return", "returns", "returned", "refund", "refunded", "credit", "credit_note"),
)
CHANNELS = (
    *_read_as("pos", "store", "in_store", "instore", "shop", "retail", "till", "offline", "point_of_sale"),
    *_read_as("web", "online", "website", "web_shop", "webshop", "ecommerce", "e_commerce", "internet"),
    *_read_as("app", "mobile", "mobile_app", "ios", "android", "iphone"),
)
PAYMENT_METHODS = (
    *_read_as("card", "credit_card", "debit_card", "credit", "debit", "visa", "mastercard", "amex", "maestro"),
    *_read_as("wallet", "apple_pay", "google_pay", "paypal", "samsung_pay", "alipay", "wechat_pay", "mobile_pay"),
    *_read_as("voucher", "gift_card", "giftcard", "coupon", "store_credit"),
    *_read_as("cash", "cash_on_delivery", "cod"),
    *_read_as("points", "loyalty_points", "reward_points"),
    *_read_as("other", "boleto", "bank_transfer", "transfer", "wire", "pix", "cheque", "check", "invoice"),
)
POINTS_KINDS = (
    *_read_as("earn", "earned", "earning", "accrual", "accrued", "award", "awarded", "bonus", "issued"),
    *_read_as("redeem", "redeemed", "redemption", "spent", "spend", "burn", "burned", "used"),
    *_read_as("expire", "expired", "expiry", "expiration"),
    *_read_as("adjust", "adjusted", "adjustment", "correction", "manual"),
)
