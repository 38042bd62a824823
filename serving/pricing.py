"""The price quote endpoint's work: the pricing champion's elasticities and recent units, and the quote
arithmetic the CLI uses (models/price_quotes.py). An unknown product is 404; rules that contradict
themselves are 400, naming the rule and the product; a product that cannot be quoted (priced below cost,
no price keeps every rule) keeps its price and says why, and the others are quoted."""

from __future__ import annotations

from collections import Counter

import bentoml
import numpy as np

from spend.serving.answers import json_response, no_model, refused, served_fields, unavailable


def quote(service, ctx: bentoml.Context, products, objective: str, rules, stores):
    from spend.models.price_quotes import Constraints, QuoteError, not_quoted, quote_columns

    loaded = service.slots["pricing"].current
    if loaded is None:
        return unavailable(ctx, no_model("pricing"))
    model = loaded.model
    ids = [p.product_id for p in products]
    if len(set(ids)) < len(ids):
        twice = sorted(i for i, n in Counter(ids).items() if n > 1)
        reason = f"products: asked for twice (one entry per product): {', '.join(twice[:5])}"
        return refused(ctx, 400, reason, "products", logged="products: twice")
    index, inputs, shop = _inputs(model)
    rows = np.fromiter((index.get(i, -1) for i in ids), np.intp, len(ids))
    if (rows < 0).any():
        unknown = sorted({i for i, row in zip(ids, rows, strict=True) if row < 0})
        reason = f"products: unknown product(s) {', '.join(unknown[:5])}"
        return refused(ctx, 404, reason, "products", logged="products: unknown")
    settings = rules.model_dump()
    settings["endings"] = tuple(settings["endings"])
    asked = (
        {"product_id": ids}
        | {field: [getattr(p, field) for p in products] for field in ("price", "cost", "floor", "cap")}
        | {column: values[rows] for column, values in inputs.items()}
    )
    try:
        quoted = quote_columns(asked, Constraints(**settings), objective, shop)
    except QuoteError as error:
        return refused(ctx, 400, str(error), "constraints", logged="constraints: cannot all hold")
    service._served(ctx, loaded, customers=0, result_size=len(ids))
    used = None if shop is None else round(shop.elasticity, 4)  # the model's shop: already held at or below 0
    body = {
        "objective": objective,
        "stores": stores,
        "shop_elasticity": used,
        "not_quoted": not_quoted(quoted["binding"]),
    }
    body["quotes"] = _records(quoted)
    return json_response(served_fields(loaded) | body)


SMALL_QUOTE = 50_000  # candidate prices a quote may weigh on the event loop (docs/serving.md: about a millisecond)
# A quote in a shop weighs its table about twice (best replies from two starts; docs/serving.md).
SHOP_PASSES = 2


def is_small(products, rules, shop=None) -> bool:
    """Whether the quote's work is small enough to do without leaving the event loop: its candidate
    prices, weighed SHOP_PASSES times when units are shared out by the shop (`shop`, the model's)."""
    from spend.models.price_quotes import candidate_count

    weight = 1 if shop is None else SHOP_PASSES
    return weight * candidate_count([p.price for p in products], rules.max_change, rules.endings) <= SMALL_QUOTE


def served_shop(service):
    """The shop the pricing champion shares units out by (None: no model, or each product alone)."""
    loaded = service.slots["pricing"].current
    return None if loaded is None else _inputs(loaded.model)[2]


def _inputs(model):
    """(each product's row, each product's elasticity, interval and recent daily units as arrays, the
    shop around any quote): the same for every request to this model, so built once and kept on the
    loaded model (a swapped model brings its own)."""
    cached = getattr(model, "quote_inputs_", None)
    if cached is None:
        table = model.quote_inputs()
        columns = {c: table[c].to_numpy() for c in table.columns if c != "product_id"}
        rows = {product: row for row, product in enumerate(table["product_id"])}
        cached = model.quote_inputs_ = (rows, columns, model.shop())
    return cached


def _records(columns: dict) -> list[dict]:
    """The quotes as JSON records (PriceQuote's fields), numbers to 4 decimals: rounded in one call, and
    each record a dict display rather than dict(zip(...)), which took twice as long over 100 products."""
    floats = [n for n, v in columns.items() if isinstance(v, np.ndarray) and v.dtype.kind == "f"]
    r = dict(zip(floats, np.array([columns[n] for n in floats]).round(4).tolist(), strict=True))
    rows = zip(
        list(columns["product_id"]), r["current_price"], r["price"], r["change"], r["expected_units"],
        r["units_low"], r["units_high"], r["expected_margin"], r["margin_low"], r["margin_high"],
        columns["binding"], strict=True,
    )  # fmt: skip
    return [
        {
            "product_id": product,
            "current_price": now,
            "price": price,
            "change": change,
            "expected_units": units,
            "units_low": units_low,
            "units_high": units_high,
            "expected_margin": margin,
            "margin_low": margin_low,
            "margin_high": margin_high,
            "binding": binding,
        }
        for product, now, price, change, units, units_low, units_high, margin, margin_low, margin_high, binding in rows
    ]
