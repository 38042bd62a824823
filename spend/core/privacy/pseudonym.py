"""Keyed pseudonyms for customer ids: HMAC-SHA256, stable for a key, different under another key."""

from __future__ import annotations

import hashlib
import hmac

import numpy as np
import pandas as pd

from spend.core.ids import canonical_id
from spend.features.schema.fields import TEXT

PREFIX = "c_"
HEX_CHARS = 32  # 128 bits: collisions are negligible for any customer base


def pseudonym(raw_id: str, key: bytes) -> str:
    """The pseudonym of an id as ingestion spells it (Unicode NFKC, spend/core/ids.py)."""
    return written_pseudonym(canonical_id(raw_id), key)


def written_pseudonym(raw_id: str, key: bytes) -> str:
    """The pseudonym of the id's characters as given: what a home made before ids were spelled one way
    (2026-12-06) holds an id such as "Cafe\u0301" under."""
    digest = hmac.new(key, raw_id.encode("utf-8"), hashlib.sha256).hexdigest()
    return PREFIX + digest[:HEX_CHARS]


def pseudonymise(raw_ids: pd.Series, key: bytes) -> pd.Series:
    """Map a column of raw ids to pseudonyms; HMAC runs once per distinct id, so 1M rows cost little."""
    codes, uniques = pd.factorize(raw_ids, use_na_sentinel=True)
    table = np.array([pseudonym(str(raw), key) for raw in uniques] + [None], dtype=object)
    return pd.Series(table[codes], index=raw_ids.index, dtype=TEXT)  # code -1 (missing) takes the None
