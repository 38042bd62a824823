"""Text features (membership_tier) as category codes learned at fit time, so a fitted model needs nothing
but itself to score. An unknown category (a tier added later) becomes missing, which boosters handle."""

from __future__ import annotations

import numpy as np
import pandas as pd


def learn_categories(X: pd.DataFrame) -> dict[str, list[str]]:
    return {c: sorted(X[c].dropna().astype(str).unique()) for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])}


def encode(X: pd.DataFrame, features: list[str], categories: dict[str, list[str]], model: str) -> pd.DataFrame:
    """The `features` columns of X as floats; a missing column is an error naming it."""
    missing = [c for c in features if c not in X]
    if missing:
        raise ValueError(f"{model} model needs feature(s) {', '.join(missing)}")
    out = X[features]
    if not categories:  # all numeric: no copy when the columns are floats already (a fraud score per call)
        return out.astype(float, copy=False)
    out = out.copy()
    for column, known in categories.items():
        codes = pd.Categorical(out[column].astype("string"), categories=known).codes.astype(float)
        out[column] = np.where(codes < 0, np.nan, codes)
    return out.astype(float)
