"""The price quote endpoint's work: the pricing champion's elasticities and recent units, and the quote
arithmetic the CLI uses (models/price_quotes.py). An unknown product is 404; rules that cannot all hold
are 400, naming the rule and the product."""

from __future__ import annotations

import bentoml

from spend.serving.answers import json_response, refused, served_fields, unavailable

NO_PRICING_MODEL = "no pricing model loaded; train one with `spend train pricing`"


def quote(service, ctx: bentoml.Context, products, objective: str, rules, stores):
    import pandas as pd

    from spend.models.price_quotes import Constraints, QuoteError
    from spend.models.price_quotes import quote as quoted_prices

    loaded = service.slots["pricing"].current
    if loaded is None:
        return unavailable(ctx, NO_PRICING_MODEL)
    model = loaded.model
    asked = pd.DataFrame([p.model_dump() for p in products])
    if asked["product_id"].duplicated().any():
        return refused(ctx, 400, "products: a product is asked for twice", "products", logged="products: twice")
    known = _inputs(model)
    unknown = sorted(set(asked["product_id"]) - set(known["product_id"]))
    if unknown:
        reason = f"products: unknown product(s) {', '.join(unknown[:5])}"
        return refused(ctx, 404, reason, "products", logged="products: unknown")
    settings = rules.model_dump()
    settings["endings"] = tuple(settings["endings"])
    try:
        frame = quoted_prices(asked.merge(known, on="product_id"), Constraints(**settings), objective)
    except QuoteError as error:
        return refused(ctx, 400, str(error), "constraints", logged="constraints: cannot all hold")
    service._served(ctx, loaded, customers=0, result_size=len(frame))
    body = {"objective": objective, "stores": stores, "quotes": frame.round(4).to_dict("records")}
    return json_response(served_fields(loaded) | body)


def _inputs(model):
    """Each product's elasticity, interval and recent daily units: the same for every request to this
    model, so built once and kept on the loaded model (a swapped model brings its own)."""
    cached = getattr(model, "quote_inputs_", None)
    if cached is None:
        cached = model.quote_inputs_ = model.quote_inputs()
    return cached
