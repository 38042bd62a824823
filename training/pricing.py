"""`spend elasticity`: own-price elasticities per product from the demand snapshots (every store summed),
by models/pricing.py's estimator."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from spend.core.errors import SpendError
from spend.core.settings import SpendSettings


def _fitted(settings: SpendSettings, method: str, wanted: list[str], option: str, progress):
    """An estimator fitted on every product of the history; `wanted` products must be in it."""
    from spend.models.pricing import ElasticityEstimator
    from spend.training.datasets.price_panel import read_panel

    panel = read_panel(settings)
    _known(panel.daily["product_id"], wanted, option)
    try:
        return panel.fit(ElasticityEstimator(method=method), progress=progress)
    except ValueError as error:
        raise SpendError(f"elasticities: {error}") from error


def elasticities(
    settings: SpendSettings,
    products: list[str] | None = None,
    method: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[pd.DataFrame, dict]:
    """(one row per product: elasticity, ci_low, ci_high, method, n_days, ...; a summary). Without a
    `method`, the pricing champion's, which price quotes use (read, not refitted: a refit of a shop of
    thousands of products takes minutes); with one, or without a champion, fitted on the history now.
    Every product is estimated, whatever is asked, so that the category prior an answer is shrunk toward
    does not depend on which products were asked for."""
    from spend.core.ids import canonical_id
    from spend.models.pricing import METHODS

    products = [canonical_id(p) for p in products] if products else products  # spelt as ingestion stores them
    if method is not None and method not in METHODS:
        raise SpendError(f"--method: {method!r} is not one of {', '.join(METHODS)}")
    champion = _champion(settings) if method is None else None
    if champion is not None:
        fitted, source = champion
        _known(fitted.elasticities()["product_id"], products or [], "--product")
    else:
        fitted = _fitted(settings, method or "dml", products or [], "--product", progress)
        source = "fitted on the history now" + ("" if method else ": no pricing champion (`spend train pricing`)")
    span = getattr(fitted, "span_", None)  # the days it learnt from; a champion fitted before 2026-12-06 has none
    table = fitted.elasticities(products)
    summary = {
        "method": fitted.method,
        "products": len(table),
        **({} if span is None else {"from": span[0], "to": span[1]}),
        "category_prior": int((table["method"] == "category prior").sum()),
        "negative_and_significant": int((table["ci_high"] < 0).sum()),
        "source": source,  # `elasticities` holds the rows in `spend elasticity --json`
    }
    return _with_catalogue(fitted, table, summary)


def _with_catalogue(fitted, table: pd.DataFrame, summary: dict) -> tuple[pd.DataFrame, dict]:
    """Each product's category, where the fit had a catalogue, and the cross-price effects of its
    substitute groups on the products asked for (`cross_effects`)."""
    from spend.models.pricing import WHOLE_SHOP

    categories = getattr(fitted, "categories_", None)
    if categories is not None and set(categories) - {WHOLE_SHOP}:
        table = table.assign(category=categories.reindex(table["product_id"]).to_numpy())
    cross = getattr(fitted, "cross_", None)
    if cross is not None and len(cross):
        cross = cross[cross["product_id"].isin(table["product_id"])]
        summary["cross_effects"] = cross.drop(columns="method").round(4).to_dict("records")
    return table, summary


def _known(have: pd.Series, wanted: list[str], option: str) -> None:
    unknown = sorted(set(wanted) - set(have))
    if unknown:
        raise SpendError(f"{option}: unknown product(s) {', '.join(unknown[:5])}")


def _champion(settings: SpendSettings) -> tuple[object, str] | None:
    """(the pricing champion, where its figures come from in one line), or None without one."""
    from spend.core.model_store import ModelStore
    from spend.core.registry import spec

    store = ModelStore(settings)
    version = store.version_by_alias("pricing")
    if version is None:
        return None
    model = store.load_version(version, spec("pricing").feature_service)
    return model, f"pricing v{version.version} (champion), as the service quotes"


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
    from spend.core.ids import canonical_ids
    from spend.models.price_quotes import LADDER, Constraints, QuoteError, asked_columns, not_quoted, quote

    rules = _constraints(constraints or {})
    asked = products.assign(product_id=canonical_ids(products["product_id"].astype(str)))
    try:
        asked_columns(asked)  # a bad row is named before minutes of elasticities
    except QuoteError as error:
        raise SpendError(f"price quote: {error}") from error
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
        "not_quoted": not_quoted(quoted["binding"]),
        "expected_margin_per_day": round(float(quoted["expected_margin"].sum()), 2),
        "rules": rules,
        "shop_elasticity": None if shop is None else round(shop.elasticity, 4),
        "elasticities": source,
    }
    held = int(quoted["binding"].str.startswith(LADDER).sum())
    notes = []
    if held:
        notes.append(
            f"{held} product(s) keep today's price because no allowed ending lies between it and the bound "
            "their best price is beyond: allow more endings (endings: [0.49, 0.99], or [] for any cent) or "
            "a larger max_change"
        )
    if summary["not_quoted"]:
        notes.append(
            f"{summary['not_quoted']} product(s) not quoted: today's price is below cost or no price keeps "
            "every rule; each keeps its price and its binding says why"
        )
    if notes:
        summary["note"] = "; ".join(notes)
    return quoted, summary


def _quoting_model(settings: SpendSettings, wanted: list[str], progress) -> tuple[object, pd.DataFrame, str]:
    """(the elasticity model a quote uses, its `quote_inputs`, where it came from in one line): the pricing
    champion, or one fitted on the history now when none is registered."""
    champion = _champion(settings)
    if champion is None:
        fitted = _fitted(settings, "dml", wanted, "--products", progress)
        source = "fitted on the history now: no pricing champion (`spend train pricing` registers one)"
        return fitted, fitted.quote_inputs(), source
    model, source = champion
    inputs = model.quote_inputs()
    _known(inputs["product_id"], wanted, "--products")
    return model, inputs, source


def _constraints(given: dict) -> dict:
    from dataclasses import fields

    from spend.models.price_quotes import Constraints, QuoteError

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
    try:  # before any elasticity is read or fitted
        Constraints(**rules).check()
    except QuoteError as error:
        raise SpendError(f"--constraints: {error}") from error
    return rules
