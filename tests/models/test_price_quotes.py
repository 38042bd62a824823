"""Price quotes never break a rule (property-based, over random rule sets), find the textbook optimum
inside them, name the rule that binds, and refuse contradictions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spend.models.price_quotes import (
    INTERIOR,
    LADDER,
    NO_CHANGE_UNKNOWN,
    NO_CHANGE_WIDE,
    NOT_QUOTED,
    Constraints,
    QuoteError,
    Shop,
    candidate_count,
    ladder,
    quote,
)


def _products(n=3, price=10.0, cost=5.0, elasticity=-2.0, width=0.4, **extra) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "product_id": [f"P{j}" for j in range(n)],
            "price": price,
            "cost": cost,
            "units": 100.0,
            "elasticity": elasticity,
            "ci_low": elasticity - width / 2,
            "ci_high": elasticity + width / 2,
        }
    )
    return frame.assign(**extra)


@st.composite
def cases(draw):
    n = draw(st.integers(1, 6))
    price = draw(st.lists(st.floats(2.0, 200.0), min_size=n, max_size=n))
    cost_share = draw(st.lists(st.floats(0.1, 0.9), min_size=n, max_size=n))
    elasticity = draw(st.lists(st.floats(-4.0, -0.2), min_size=n, max_size=n))
    width = draw(st.lists(st.floats(0.05, 3.0), min_size=n, max_size=n))
    products = pd.DataFrame(
        {
            "product_id": [f"P{j}" for j in range(n)],
            "price": np.round(price, 2),
            "cost": np.round(np.array(price) * np.array(cost_share), 2),
            "units": draw(st.lists(st.floats(0.0, 500.0), min_size=n, max_size=n)),
            "elasticity": elasticity,
            "ci_low": np.array(elasticity) - np.array(width) / 2,
            "ci_high": np.array(elasticity) + np.array(width) / 2,
        }
    )
    if draw(st.booleans()):
        products["cap"] = np.round(products["price"] * draw(st.floats(0.9, 1.3)), 2)
    if draw(st.booleans()):
        products["floor"] = np.round(products["price"] * draw(st.floats(0.7, 1.0)), 2)
    rules = Constraints(
        margin_floor=draw(st.floats(0.0, 0.5)),
        max_change=draw(st.floats(0.02, 0.3)),
        endings=draw(st.sampled_from([(0.99,), (0.49, 0.99), (), (0.0, 0.5)])),
        max_volume_loss=draw(st.one_of(st.none(), st.floats(0.0, 0.3))),
    )
    shop = None
    if draw(st.booleans()):
        shop = Shop(units=float(products["units"].sum()) * draw(st.floats(1.0, 5.0)), elasticity=draw(st.floats(-3, 0)))
    return products, rules, draw(st.sampled_from(["margin", "revenue"])), shop


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_a_quote_never_breaks_a_rule(case):
    products, rules, objective, shop = case
    try:
        quoted = quote(products, rules, objective, shop)
    except QuoteError:
        return  # contradictory rules are refused, never half-answered
    assert len(quoted) == len(products)
    p, q = products.set_index("product_id"), quoted.set_index("product_id")
    out = q["binding"].str.startswith(NOT_QUOTED)  # keeps today's price, which the rules do not allow
    assert np.isclose(q.loc[out, "price"], p.loc[out, "price"]).all()
    p, q = p[~out.reindex(p.index).to_numpy()], q[~out]
    price = q["price"]
    kept = np.isclose(price, p["price"])
    assert ((price - p["cost"]) / price >= rules.margin_floor - 1e-9).all()
    assert (np.abs(price / p["price"] - 1) <= rules.max_change + 1e-9).all()
    if rules.endings:
        cents = np.round(price * 100) % 100 / 100
        assert (kept | np.isin(np.round(cents, 2), np.round(rules.endings, 2))).all()
    if "cap" in p:
        assert (price <= p["cap"] + 1e-9).all()
    if "floor" in p:
        assert (price >= p["floor"] - 1e-9).all()
    every = products.set_index("product_id"), quoted.set_index("product_id")  # not quoted ones included
    if rules.max_volume_loss is not None:
        lost = every[0]["units"].sum() - every[1]["expected_units"].sum()
        assert lost <= rules.max_volume_loss * every[0]["units"].sum() + 1e-6
    assert (every[1]["units_low"] <= every[1]["expected_units"] + 1e-9).all()
    assert (every[1]["expected_units"] <= every[1]["units_high"] + 1e-9).all()


def test_an_elastic_product_gets_the_textbook_markup_inside_wide_rules():
    # Margin peaks at cost x e / (1 + e) = 5 x 2 = 10 for e = -2; from 12 with room to move, the quote
    # comes down to the ladder price nearest 10.
    quoted = quote(_products(1, price=12.0), Constraints(max_change=0.5, endings=(0.99,))).iloc[0]
    assert quoted["price"] in (9.99, 10.99)
    assert quoted["binding"] == INTERIOR
    assert quoted["expected_units"] > 100  # cheaper sells more


def test_the_binding_rule_is_named():
    up = quote(_products(1, elasticity=-0.5), Constraints(max_change=0.1, endings=())).iloc[0]
    assert up["price"] == pytest.approx(11.0) and up["binding"] == "max change up"  # inelastic: dearer
    capped = quote(_products(1, elasticity=-0.5, cap=10.5), Constraints(max_change=0.1, endings=())).iloc[0]
    assert capped["price"] == pytest.approx(10.5) and capped["binding"] == "price cap"
    # e = -4: margin peaks at 5 x 4 / 3 = 6.67, below the 40% margin floor's 8.33.
    rules = Constraints(margin_floor=0.4, max_change=0.5, endings=())
    floor = quote(_products(1, elasticity=-4.0), rules).iloc[0]
    assert floor["price"] == pytest.approx(8.34) and floor["binding"] == "margin floor"


def test_a_price_the_ladder_holds_within_its_step_names_the_ladder():
    """At 5.99 with endings .99 and a 10% step the only price is 5.99; an elastic product there was told
    "max change down", as if the step held it: 4.99, the next price down, is 17% away."""
    cheap = _products(1, price=5.99, cost=2.0, elasticity=-3.0)
    held = quote(cheap, Constraints(max_change=0.1, endings=(0.99,))).iloc[0]
    assert held["price"] == 5.99 and held["binding"] == LADDER + "max change down"
    moved = quote(cheap, Constraints(max_change=0.1, endings=(0.49, 0.99))).iloc[0]
    assert moved["price"] == 5.49 and moved["binding"] == "max change down"  # the step holds it at 5.49
    dearer = quote(_products(1, price=3.49, cost=2.0, elasticity=-0.5), Constraints(max_change=0.1)).iloc[0]
    assert dearer["price"] == 3.49 and dearer["binding"] == LADDER + "max change up"


def test_a_volume_cap_holds_prices_back_and_says_so():
    products = _products(2, elasticity=-0.5)  # both would rise 10% and lose units
    free = quote(products, Constraints(max_change=0.1, endings=()))
    capped = quote(products, Constraints(max_change=0.1, endings=(), max_volume_loss=0.01))
    assert (capped["price"] < free["price"]).any()
    assert (capped["binding"] == "volume loss cap").any()
    assert 200 - capped["expected_units"].sum() <= 2.0 + 1e-6


def test_a_product_without_an_elasticity_keeps_its_price_and_says_so():
    # the shop never moved its price: no estimate, which is not an estimate of the wrong sign
    unknown = _products(1).assign(elasticity=np.nan, ci_low=np.nan, ci_high=np.nan)
    quoted = quote(unknown, Constraints()).iloc[0]
    assert quoted["price"] == 10.0 and quoted["binding"] == NO_CHANGE_UNKNOWN


def test_a_product_with_a_wide_interval_keeps_its_price_and_says_why():
    quoted = quote(_products(1, width=3.0), Constraints()).iloc[0]
    assert quoted["price"] == 10.0 and quoted["binding"] == NO_CHANGE_WIDE
    assert quoted["units_high"] - quoted["units_low"] >= 0


@pytest.mark.parametrize(
    ("products", "rules", "words"),
    [
        (_products(1, floor=12.0, cap=11.0), Constraints(), "floor 12.0 is above cap 11.0"),
        (_products(1).drop(columns="cost"), Constraints(), "lack column(s) cost"),
        (_products(1, price=-1.0), Constraints(), "price must be positive"),
        (_products(1, price=np.nan), Constraints(), "P0: price and cost are required"),
        (_products(1, cost="five"), Constraints(), "column cost: not a number"),
        (_products(1, price=np.inf), Constraints(), "P0: price, cost, floor and cap must be finite"),
        (_products(1, cap=np.inf), Constraints(), "P0: price, cost, floor and cap must be finite"),
        (pd.concat([_products(1), _products(1)]), Constraints(), "P0: asked for twice"),
        # a price of 1e308 asked for more candidate prices than memory holds (numpy's ValueError)
        (_products(1, price=1e308, cost=1.0), Constraints(), "P0: the rules allow 2e+307 prices"),
        (_products(1, price=1e5, cost=1.0), Constraints(endings=()), "more than 200,000; narrow max_change"),
    ],
)
def test_contradictions_and_bad_input_are_refused_by_name(products, rules, words):
    with pytest.raises(QuoteError) as error:
        quote(products, rules)
    assert words in str(error.value)
    assert "P0" in str(error.value) or "column" in str(error.value)


@pytest.mark.parametrize(
    ("product", "rules", "words"),
    [
        (_products(1, price=4.0), Constraints(), "price 4.00 is below its cost 5.00"),
        (_products(1, cost=9.0), Constraints(margin_floor=0.3, max_change=0.1), "margin floor needs at least 12.86"),
        (
            _products(1, price=5.5),
            Constraints(margin_floor=0.1, max_change=0.05),
            "no price on the ladder lies between",
        ),
        (
            _products(1, width=5.0),
            Constraints(margin_floor=0.6, max_change=0.5),
            "too wide, and today's price 10.00 breaks",
        ),
    ],
)
def test_a_product_that_cannot_be_quoted_keeps_its_price_and_says_why_and_the_others_are_quoted(product, rules, words):
    # A catalogue holds products priced below cost or beyond one step of the margin floor: one of them
    # refused every other product's quote, so the pricing engine got none.
    others = _products(3, price=10.5, elasticity=-0.5).assign(product_id=["A", "B", "C"])
    quoted = quote(pd.concat([product, others], ignore_index=True), rules).set_index("product_id")
    assert quoted.loc["P0", "binding"].startswith(NOT_QUOTED) and words in quoted.loc["P0", "binding"]
    assert quoted.loc["P0", "price"] == product["price"].iloc[0] and quoted.loc["P0", "change"] == 0
    assert not quoted.loc[["A", "B", "C"], "binding"].str.startswith(NOT_QUOTED).any()
    assert (quoted.loc[["A", "B", "C"], "change"] > 0).all()  # inelastic: each moves up within its rules


@pytest.mark.parametrize("blank", [None, np.nan, "", "  "])
def test_a_product_without_an_id_is_refused_by_its_place(blank):
    products = pd.concat([_products(1), _products(1).assign(product_id=[blank])], ignore_index=True)
    with pytest.raises(QuoteError, match="product 2 of 2 has no product_id"):
        quote(products, Constraints())


def test_a_quote_too_large_to_weigh_is_refused_before_it_is_built():
    many = pd.concat([_products(1).assign(product_id=f"P{i}", price=9_000.0) for i in range(300)])
    with pytest.raises(QuoteError, match="300 products with up to 180,100 prices each are more than one quote weighs"):
        quote(many, Constraints(endings=tuple(np.arange(0, 1, 0.01).round(2))))


@settings(max_examples=60, deadline=None)
@given(
    prices=st.lists(st.floats(0.05, 900.0), min_size=1, max_size=8),
    max_change=st.floats(0.01, 0.9),
    endings=st.sampled_from([(), (0.99,), (0.49, 0.99), (0.0, 0.25, 0.5, 0.75)]),
)
def test_the_candidate_count_never_undercounts_the_ladder(prices, max_change, endings):
    """The service sends a quote off the event loop by this count: a ladder wider than it would slip by."""
    products = pd.DataFrame({"product_id": [f"P{j}" for j in range(len(prices))], "price": prices, "cost": 0.0})
    allowed = sum(len(row) for row in ladder(products, Constraints(max_change=max_change, endings=endings)))
    assert candidate_count(prices, max_change, endings) >= allowed


# ----- the shop around the quote -----


def _shared_value(products: pd.DataFrame, prices: np.ndarray, shop: Shop, objective: str = "margin") -> float:
    """The quote's value with units shared out by the shop (written here from the model's formula, not
    through the quote's code)."""
    p0, u, e = products["price"].to_numpy(), products["units"].to_numpy(), products["elasticity"].to_numpy()
    share = u / max(shop.units, u.sum())
    factor = (prices / p0) ** e
    moved = np.exp(min(shop.elasticity, 0.0) * np.sum(share * np.log(prices / p0)))
    units = u * factor * moved / (np.sum(share * factor) + 1 - share.sum())
    per_unit = prices - products["cost"].to_numpy() if objective == "margin" else prices
    return float(np.sum(per_unit * units))


def test_a_whole_shop_whose_shoppers_only_move_between_products_raises_prices_alone_would_cut():
    # e = -3 alone: margin peaks at 5 x 3 / 2 = 7.5, so each product alone goes down to the step's 9.00.
    # The quote holds the whole shop and its total does not move with prices: a lost unit goes to the
    # other product, so both go up, and the shop sells what it sold.
    products, rules = _products(2, elasticity=-3.0), Constraints(max_change=0.1, endings=())
    alone = quote(products, rules)
    assert alone["price"].tolist() == pytest.approx([9.0, 9.0]) and (alone["binding"] == "max change down").all()
    shared = quote(products, rules, shop=Shop(units=200.0, elasticity=0.0))
    assert shared["price"].tolist() == pytest.approx([11.0, 11.0])
    assert (shared["binding"] == "max change up").all()
    assert shared["expected_units"].sum() == pytest.approx(200.0)


def test_a_shop_whose_total_moves_as_much_as_each_product_quotes_each_product_as_alone():
    products, rules = _products(2, elasticity=-3.0), Constraints(max_change=0.1, endings=())
    alone = quote(products, rules)
    shared = quote(products, rules, shop=Shop(units=200.0, elasticity=-3.0))
    pd.testing.assert_frame_equal(alone, shared)


def test_units_that_go_to_products_outside_the_quote_count_as_lost():
    # One product of a shop selling 100x its units: what it loses goes elsewhere, not to the quote.
    products, rules = _products(1, elasticity=-3.0), Constraints(max_change=0.1, endings=())
    shared = quote(products, rules, shop=Shop(units=10_000.0, elasticity=0.0)).iloc[0]
    assert shared["price"] == pytest.approx(9.0)


@st.composite
def shop_cases(draw):
    n = draw(st.integers(1, 4))
    price = np.round(draw(st.lists(st.floats(2.0, 40.0), min_size=n, max_size=n)), 2)
    elasticity = draw(st.lists(st.floats(-4.0, -0.3), min_size=n, max_size=n))
    products = pd.DataFrame(
        {
            "product_id": [f"P{j}" for j in range(n)],
            "price": price,
            "cost": np.round(price * np.array(draw(st.lists(st.floats(0.2, 0.8), min_size=n, max_size=n))), 2),
            "units": draw(st.lists(st.floats(1.0, 300.0), min_size=n, max_size=n)),
            "elasticity": elasticity,
            "ci_low": np.array(elasticity) - 0.2,
            "ci_high": np.array(elasticity) + 0.2,
        }
    )
    shop = Shop(units=float(products["units"].sum() * draw(st.floats(1.0, 3.0))), elasticity=draw(st.floats(-3.0, 0.0)))
    rules = Constraints(max_change=draw(st.floats(0.05, 0.2)), endings=draw(st.sampled_from([(0.99,), (0.49, 0.99)])))
    return products, shop, rules, draw(st.sampled_from(["margin", "revenue"]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shop_cases())
def test_with_a_shop_the_quote_is_the_best_combination_of_ladder_prices(case):
    # Every combination of the products' ladder prices, valued with the units shared out: the quote is
    # within 0.5% of the best of them. Best replies can stop short of the best combination: over 6,000
    # random cases (these cases, hypothesis seed 12345) the largest shortfall was 0.05% and 6 differed at
    # all; starting from today's prices only, it was 0.54%.
    import itertools

    products, shop, rules, objective = case
    try:
        quoted = quote(products, rules, objective, shop)
    except QuoteError:
        return
    best = max(
        _shared_value(products, np.array(combo), shop, objective)
        for combo in itertools.product(*ladder(products, rules))
    )
    assert _shared_value(products, quoted["price"].to_numpy(), shop, objective) >= best - 5e-3 * abs(best) - 1e-9


def test_the_ladder_of_a_product_a_quote_would_not_move_is_refused_by_name():
    # What the pricing benchmark's oracle asks before it prices a product: one a quote keeps at today's
    # price (below cost, no price within every rule) is left out of the oracle too.
    with pytest.raises(QuoteError, match="P0: price 4.00 is below its cost 5.00"):
        ladder(_products(1, price=4.0)[["product_id", "price", "cost"]], Constraints())
    with pytest.raises(QuoteError, match="P0: no price satisfies the rules"):
        ladder(_products(1, cost=9.0)[["product_id", "price", "cost"]], Constraints(margin_floor=0.3, max_change=0.1))
