"""A line's kind as tills and ERPs write it (`spend ingest`, transactions).

Point-of-sale and ERP exports say what a line is in a type column ("Transaction Type": Sale, Return,
Refund, Void; Square's "Event Type": Payment, Refund), and most write a return's quantity as a positive
number, the type saying it is a return. Read as they were, every "Sale" line was quarantined
(`kind:allowed_value`) and every return refused for its sign (`quantity:sign_matches_kind`). Now the
usual words are read as purchase or return (features/schema/words.py); a voided line (rung up and
taken off the till) is no sale and is quarantined as `kind:voided_line`; and in a file whose returns
all carry positive quantities, a return's quantity is read as units given back (negated), counted in
the summary. A file mixing both signs on its returns keeps the sign rule: which convention holds
there could only be guessed.
"""

from __future__ import annotations

import pandas as pd

from spend.features.ingest.validate import failed
from spend.features.schema.words import written_as

VOID = ("void", "voided", "cancel", "cancelled", "canceled", "deleted")
VOIDED = "kind:voided_line"


def voided_lines(raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`raw` with a voided line's kind blank (its reason says it all), and the (row, reason) of those lines;
    the other words are read when the column is parsed (features/schema/words.py)."""
    if "kind" not in raw:
        return raw, failed()
    void = written_as(raw["kind"], VOID).to_numpy(dtype=bool)
    if not void.any():
        return raw, failed()
    raw = raw.copy()
    raw["kind"] = raw["kind"].mask(void)
    return raw, failed(raw.index[void], VOIDED)


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
