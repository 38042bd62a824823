"""Text features (membership_tier) as category codes learned at fit time by scikit-learn's OrdinalEncoder,
so a fitted model needs nothing but itself to score. An unknown category (a tier added later) and a
missing value become NaN, which boosters handle as missing."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.preprocessing import OrdinalEncoder


def learn_categories(X: pd.DataFrame) -> OrdinalEncoder | None:
    """An encoder fitted on X's text columns (its `feature_names_in_` name them), or None if all are numeric."""
    text = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    if not text:
        return None
    encoder = OrdinalEncoder(
        handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan, dtype=np.float64
    )
    return encoder.fit(_as_text(X[text]))


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
