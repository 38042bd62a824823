"""Text features (membership_tier) as category codes learned at fit time by scikit-learn's OrdinalEncoder,
so a fitted model needs nothing but itself to score. An unknown category (a tier added later) and a
missing value become NaN, which boosters handle as missing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.preprocessing import OrdinalEncoder


def learn_categories(X: pd.DataFrame, ordered: Mapping[str, Sequence[str]] | None = None) -> OrdinalEncoder | None:
    """An encoder fitted on X's text columns (its `feature_names_in_` name them), or None if all are numeric.
    A column in `ordered` is coded by that order (membership tiers lowest first: one split then tells the
    upper tiers apart), any other alphabetically; a value outside the order becomes NaN."""
    text = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    if not text:
        return None
    seen, ordered = _as_text(X[text]), {c: list(v) for c, v in (ordered or {}).items() if c in text}
    for column, order in ordered.items():  # the encoder refuses to fit on a value outside given categories
        seen[column] = seen[column].where(seen[column].isin(order))
    # Given orders for some columns means lists for all: the others sorted, as "auto" would.
    orders = [ordered.get(c, sorted(seen[c].dropna().unique())) for c in text] if ordered else "auto"
    encoder = OrdinalEncoder(
        categories=orders,
        handle_unknown="use_encoded_value",
        unknown_value=np.nan,
        encoded_missing_value=np.nan,
        dtype=np.float64,
    )
    return encoder.fit(seen)


def encode(X: pd.DataFrame, features: list[str], categories: OrdinalEncoder | None, model: str) -> pd.DataFrame:
    """The `features` columns of X as floats; a missing column is an error naming it."""
    missing = [c for c in features if c not in X]
    if missing:
        raise ValueError(f"{model} model needs feature(s) {', '.join(missing)}")
    out = X[features]
    if categories is None:  # all numeric: no copy when the columns are floats already (a fraud score per call)
        return out.astype(float, copy=False)
    out = out.copy()
    text = list(categories.feature_names_in_)
    out[text] = categories.transform(_as_text(out[text]))
    return out.astype(float)


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns as Python objects with NaN for missing: the form OrdinalEncoder sorts and encodes as missing."""
    return frame.astype(object).where(frame.notna(), np.nan)
