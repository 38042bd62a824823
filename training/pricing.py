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
    from spend.training.datasets.price_panel import read_panel

    return read_panel(settings, as_of).daily


def _fitted(settings: SpendSettings, method: str, wanted: list[str], option: str, progress):
    """(the history, an estimator fitted on every product of it); `wanted` products must be in it."""
    from spend.models.pricing import ElasticityEstimator

    daily = product_history(settings)
    unknown = sorted(set(wanted) - set(daily["product_id"]))
    if unknown:
        raise SpendError(f"{option}: unknown product(s) {', '.join(unknown[:5])}")
    try:
        return daily, ElasticityEstimator(method=method).fit(daily, progress=progress)
    except ValueError as error:
        raise SpendError(f"elasticities: {error}") from error


def elasticities(
    settings: SpendSettings,
    products: list[str] | None = None,
    method: str = "dml",
    progress: Callable[[int, int], None] | None = None,
) -> tuple[pd.DataFrame, dict]:
    """(one row per product: elasticity, ci_low, ci_high, method, n_days, ...; a summary). Every product
    is estimated, whatever is asked, so that the category prior an answer is shrunk toward does not
    depend on which products were asked for."""
    from spend.models.pricing import METHODS

    if method not in METHODS:
        raise SpendError(f"--method: {method!r} is not one of {', '.join(METHODS)}")
    daily, fitted = _fitted(settings, method, products or [], "--product", progress)
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


def price_quotes(
    settings: SpendSettings,
    products: pd.DataFrame,
    constraints: dict | None = None,
    objective: str = "margin",
    progress: Callable[[int, int], None] | None = None,
) -> tuple[pd.DataFrame, dict]:
    """Quotes for the products of `products` (product_id, price, cost, optional floor and cap), from each
    product's elasticity and its mean daily units over the last four weeks (`quote_inputs`), with units
    shared out by the shop's response to all prices moving together where it was estimated (`shop`).
    The pricing champion's, as the service quotes, so the CLI and the pricing engine get one answer;
    without a champion, elasticities fitted on the history now (the summary's `elasticities` says which)."""
    from spend.models.price_quotes import Constraints, QuoteError, quote

    rules = _constraints(constraints or {})
    asked = products.assign(product_id=products["product_id"].astype(str))
    fitted, inputs, source = _quoting_model(settings, list(asked["product_id"]), progress)
    shop = fitted.shop()
    try:
        quoted = quote(asked.merge(inputs, on="product_id"), Constraints(**rules), objective, shop)
    except QuoteError as error:
        raise SpendError(f"price quote: {error}") from error
    summary = {
        "objective": objective,
        "products": len(quoted),
        "changed": int((quoted["change"].abs() > 1e-9).sum()),
        "expected_margin_per_day": round(float(quoted["expected_margin"].sum()), 2),
        "rules": rules,
        "shop_elasticity": None if shop is None else round(shop.elasticity, 4),
        "elasticities": source,
    }
    return quoted, summary


def _quoting_model(settings: SpendSettings, wanted: list[str], progress) -> tuple[object, pd.DataFrame, str]:
    """(the elasticity model a quote uses, its `quote_inputs`, where it came from in one line): the pricing
    champion, or one fitted on the history now when none is registered."""
    from spend.core.model_store import ModelStore
    from spend.core.registry import spec

    store = ModelStore(settings)
    version = store.version_by_alias("pricing")
    if version is None:
        _, fitted = _fitted(settings, "dml", wanted, "--products", progress)
        source = "fitted on the history now: no pricing champion (`spend train pricing` registers one)"
        return fitted, fitted.quote_inputs(), source
    model = store.load_version(version, spec("pricing").feature_service)
    inputs = model.quote_inputs()
    unknown = sorted(set(wanted) - set(inputs["product_id"]))
    if unknown:
        raise SpendError(f"--products: unknown product(s) {', '.join(unknown[:5])}")
    return model, inputs, f"pricing v{version.version} (champion), as the service quotes"


def _constraints(given: dict) -> dict:
    from dataclasses import fields

    from spend.models.price_quotes import Constraints

    known = {f.name for f in fields(Constraints)}
    unknown = sorted(set(given) - known)
    if unknown:
        raise SpendError(f"--constraints: unknown rule(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    rules = dict(given)
    try:
        for name, value in rules.items():
            if name == "endings":
                rules[name] = tuple(float(e) for e in (value or ()))
            elif value is not None or name != "max_volume_loss":
                rules[name] = float(value)
    except (TypeError, ValueError) as error:
        raise SpendError(f"--constraints: {name} must be a number (endings: a list of cents), not {value!r}") from error
    return rules
