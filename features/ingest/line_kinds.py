"""A line's kind as tills and ERPs write it (`spend ingest`, transactions).

Point-of-sale and ERP exports say what a line is in a type column ("Transaction Type": Sale, Return,
Refund, Void; Square's "Event Type": Payment, Refund), and most write a return's quantity as a positive
number, the type saying it is a return. Read as they were, every "Sale" line was quarantined
(`kind:allowed_value`) and every return refused for its sign (`quantity:sign_matches_kind`). Now the
usual words are read as purchase or return; a voided line (rung up and taken off the till) is no sale
and is quarantined as `kind:voided_line`; and in a file whose returns all carry positive quantities, a
return's quantity is read as units given back (negated), counted in the summary. A file mixing both
signs on its returns keeps the sign rule: which convention holds there could only be guessed.
"""

from __future__ import annotations

import pandas as pd

from spend.features.ingest.parse import as_text

PURCHASE = ("purchase", "sale", "sales", "sold", "order", "payment", "invoice", "debit")
RETURN = ("return", "returns", "returned", "refund", "refunded", "credit", "credit_note")
VOID = ("void", "voided", "cancel", "cancelled", "canceled", "deleted")
VOIDED = "kind:voided_line"
_WORDS = {**dict.fromkeys(PURCHASE, "purchase"), **dict.fromkeys(RETURN, "return")}


def read_kind_words(raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`raw` with the usual words of its `kind` column read as purchase or return (another word stays, for
    the allowed values' rule to refuse by name), and the (row, reason) of voided lines."""
    none = pd.DataFrame({"row": pd.Series(dtype="int64"), "reason": pd.Series(dtype=object)})
    if "kind" not in raw:
        return raw, none
    text = as_text(raw["kind"])
    plain = text.str.lower().str.replace(r"[\s\-]+", "_", regex=True)
    void = plain.isin(VOID).fillna(False).to_numpy(dtype=bool)
    raw = raw.copy()
    raw["kind"] = plain.map(_WORDS).fillna(text).mask(void)  # a void's kind is moot: its reason says it all
    return raw, pd.DataFrame({"row": raw.index[void], "reason": VOIDED}) if void.any() else none


def signed_returns(typed: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Returns written with positive quantities, where every return of the file is, read as negative;
    returns how many were."""
    if "kind" not in typed or "quantity" not in typed:
        return typed, 0
    returns = (typed["kind"] == "return").fillna(False)
    positive = returns & (typed["quantity"] > 0).fillna(False)
    if not positive.any() or (returns & (typed["quantity"] < 0).fillna(False)).any():
        return typed, 0
    typed = typed.copy()
    typed["quantity"] = typed["quantity"].mask(positive, -typed["quantity"])
    return typed, int(positive.sum())
