"""Record identity: derived event ids, row hashes, and the duplicate/conflict decisions made from them.

- A *duplicate* is a record already received (same key and same content), in an earlier batch or
  earlier in this one. It is counted, not stored again: replaying a file adds nothing.
- A *conflict* is a new record whose key is already taken by different content. It is quarantined.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.schema.fields import TEXT


def content_hash(frame: pd.DataFrame) -> pd.Series:
    """A stable 64-bit hash of each row's values (pandas' SipHash with its fixed key), as int64."""
    if frame.shape[1] == 0:
        return pd.Series(0, index=frame.index, dtype="int64")
    hashed = pd.util.hash_pandas_object(frame, index=False, categorize=True)
    return pd.Series(hashed.to_numpy().view("int64"), index=frame.index)


def derive_event_ids(event_id: pd.Series, content: pd.Series) -> pd.Series:
    """Event ids for rows that came without one, from the hash of their parsed content (format independent)."""
    digits = content.to_numpy().view("uint64").astype(str)
    derived = pd.Series(np.char.add("ev-", digits), index=content.index, dtype=TEXT)
    return event_id.fillna(derived)


def classify(
    row_hash: pd.Series, key: pd.Series, invalid: pd.Series, seen_hashes: np.ndarray, stored_keys: np.ndarray
) -> pd.Series:
    """Label each row 'accepted', 'duplicate', 'invalid' or 'conflict' (in that order of precedence)."""
    hashes = row_hash.to_numpy()
    replay = np.isin(hashes, seen_hashes) | row_hash.duplicated(keep="first").to_numpy()
    status = np.where(replay, "duplicate", np.where(invalid.to_numpy(), "invalid", "accepted"))
    candidates = pd.Series(status == "accepted", index=key.index)
    keys = key.fillna("")
    taken = np.isin(keys.to_numpy(dtype=object), stored_keys) & candidates.to_numpy()
    repeated = keys[candidates].duplicated(keep="first").reindex(key.index, fill_value=False).to_numpy()
    status = np.where(taken | repeated, "conflict", status)
    return pd.Series(status, index=key.index)
