"""`spend elasticity`: own-price elasticities per product from the demand snapshots (every store summed),
by models/pricing.py's estimator."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from spend.core.errors import SpendError
from spend.core.settings import SpendSettings


def product_history(settings: SpendSettings, as_of: pd.Timestamp | None = None) -> pd.DataFrame:
    """Per product and day over every store: units (stock-out store days left out and made up for),
    the day's price and promotion share."""
    from spend.models.pricing import product_days
    from spend.training.datasets.series_backtest import read_history

    return product_days(read_history(settings, as_of).history)


def elasticities(
    settings: SpendSettings,
    products: list[str] | None = None,
    method: str = "dml",
    progress: Callable[[int, int], None] | None = None,
) -> tuple[pd.DataFrame, dict]:
    """(one row per product: elasticity, ci_low, ci_high, method, n_days, ...; a summary). Every product
    is estimated, whatever is asked, so that the category prior an answer is shrunk toward does not
    depend on which products were asked for."""
    from spend.models.pricing import METHODS, ElasticityEstimator

    if method not in METHODS:
        raise SpendError(f"--method: {method!r} is not one of {', '.join(METHODS)}")
    daily = product_history(settings)
    known = set(daily["product_id"])
    unknown = sorted(set(products or []) - known)
    if unknown:
        raise SpendError(f"--product: unknown product(s) {', '.join(unknown[:5])}")
    try:
        fitted = ElasticityEstimator(method=method).fit(daily, progress=progress)
    except ValueError as error:
        raise SpendError(f"elasticities: {error}") from error
    table = fitted.elasticities(products)
    summary = {
        "method": method,
        "products": len(table),
        "from": daily["date"].min().date().isoformat(),
        "to": daily["date"].max().date().isoformat(),
        "category_prior": int((table["method"] == "category prior").sum()),
        "negative_and_significant": int((table["ci_high"] < 0).sum()),
    }
    return table, summary
