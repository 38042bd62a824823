"""One spelling per id: Unicode NFKC, the normal form Python uses for its own identifiers.

"Café" can arrive as one code point for "é" or as "e" plus a combining accent (a Mac export), and a
member number typed through a Japanese input method as full-width digits ("C１２"). The bytes differ, the
id does not: without one spelling each was a customer (and a pseudonym) of its own. Ingestion spells
every id this way before checking it, and the pseudonym does too, so a raw id given later (an erasure
request, a card id over HTTP) finds the customer its export made.
"""

from __future__ import annotations

import unicodedata

import numpy as np
import pandas as pd


def canonical_id(raw: str) -> str:
    if raw.isascii():  # nearly every id, and NFKC leaves ASCII as it is
        return raw
    return unicodedata.normalize("NFKC", raw).strip()


def canonical_ids(text: pd.Series) -> pd.Series:
    """The column with every non-ASCII id in NFKC (each distinct value normalised once)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    ascii_ = pc.fill_null(pc.string_is_ascii(pa.array(text.array)), True)
    other = ~np.asarray(ascii_)
    if not other.any():
        return text
    out = text.copy()
    out[other] = text[other].map({v: canonical_id(v) for v in text[other].unique()})
    return out
