"""Price quotes: for each product, the price on the allowed ladder that maximises expected margin (or
revenue) within the business rules, with expected units and margin under the elasticity's interval.

Expected units at a candidate price p follow the product's constant elasticity from its current price
and units: units(p) = units x (p / price) ** elasticity. Rules, all hard:

- margin floor: (p - cost) / p at least `margin_floor`;
- a step: p within `max_change` of the current price, either way;
- the ladder: p ends in one of `endings` (cents, 0.99 by default; none: any cent);
- bounds per product (`floor`, `cap` columns: a competitor's price, a minimum advertised price);
- volume: total expected units may fall by at most `max_volume_loss` of today's, over the quote.

The volume cap couples the products; it is met by pricing lost units: each product maximises its
objective plus lambda x units, with the smallest lambda (found by bisection) that keeps the total within
the cap. A product whose elasticity interval is wider than `max_interval_width`, or whose elasticity
is not negative, keeps its price and says so: a price moved on a guess is worse than no move.

The shop around the quote (`Shop`, optional). An own elasticity is measured with the shop's traffic
held fixed: the units a dearer product loses partly go to the shop's other products. With the shop's
daily units U and its response E to all prices moving together (E <= 0), units are shared out as in
a shop whose total moves by E: units_j = u_j f_j x exp(E x sum_k s_k log(p_k / p0_k)) / sum_k s_k f_k,
with f_j = (p_j / p0_j) ** e_j, s_k = u_k / U, and the shop's products outside the quote at f = 1.
Units that move to the shop's products outside the quote count as no value (their costs are not
known). Each product takes its best ladder price given the others' (the quote's whole value in
shared-out units, one product moved at a time), repeated until no product moves, once from today's
prices and once from each product's choice alone; the choice with the highest value is kept. Without a
`Shop`, every lost unit leaves the shop (each product alone).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

OBJECTIVES = ("margin", "revenue")
MAX_LADDER = 200_000  # candidate prices one product may weigh (its ladder between its bounds)
MAX_CELLS = 20_000_000  # products x the widest ladder: the candidate table's size, a few arrays of it in memory
REQUIRED = ("product_id", "price", "cost", "units", "elasticity", "ci_low", "ci_high")
NO_CHANGE_WIDE = "no change: elasticity interval too wide"
NO_CHANGE_SIGN = "no change: elasticity not negative"
NO_CHANGE_UNKNOWN = "no change: no elasticity (its price barely moved, or too few weeks)"
INTERIOR = "none: best price inside the rules"
LADDER = "the ladder within "  # + a bound's rule: no allowed ending lies between today's price and that bound
NOT_QUOTED = "not quoted: "  # + why: the product keeps today's price, which the rules do not allow


ROUNDS = 25  # rounds of best replies from each start (they usually stop moving within a few)


class QuoteError(ValueError):
    """A request the rules cannot answer; names the product or the rule."""


@dataclass(frozen=True)
class Constraints:
    margin_floor: float = 0.0
    max_change: float = 0.10
    endings: tuple[float, ...] = (0.99,)
    max_volume_loss: float | None = None
    max_interval_width: float = 2.0

    def check(self) -> None:
        if not 0 <= self.margin_floor < 1:
            raise QuoteError(f"margin_floor {self.margin_floor} must be at least 0 and below 1")
        if not 0 < self.max_change < 1:
            raise QuoteError(f"max_change {self.max_change} must be above 0 and below 1")
        if any(not 0 <= e < 1 or abs(e * 100 - round(e * 100)) > 1e-6 for e in self.endings):
            # the ladder's prices are rounded to the cent: 0.999 came out as a price ending in .00
            raise QuoteError(f"endings {self.endings} must be whole cents: at least 0 and below 1, two decimals")
        if self.max_volume_loss is not None and not 0 <= self.max_volume_loss <= 1:
            raise QuoteError(f"max_volume_loss {self.max_volume_loss} must be between 0 and 1")


@dataclass(frozen=True)
class Shop:
    """The shop around a quote: its mean daily units over every product (the quoted ones included) and
    the elasticity of that total when all its prices move together (0: shoppers only move between
    products; a positive estimate is taken as 0)."""

    units: float
    elasticity: float


def quote(
    products: pd.DataFrame, constraints: Constraints, objective: str = "margin", shop: Shop | None = None
) -> pd.DataFrame:
    """One row per product: the quoted price, expected units and margin (with low/high from the
    elasticity's interval), the change, and the binding rule."""
    return pd.DataFrame(quote_columns(products, constraints, objective, shop))


def quote_columns(
    products: pd.DataFrame | Mapping[str, Sequence],
    constraints: Constraints,
    objective: str = "margin",
    shop: Shop | None = None,
) -> dict[str, np.ndarray | list]:
    """`quote` as one array per column, from a frame or a mapping of columns: what the service answers
    with, without building a DataFrame on either side."""
    constraints.check()
    if objective not in OBJECTIVES:
        raise QuoteError(f"objective must be one of {', '.join(OBJECTIVES)}, not {objective!r}")
    columns = _checked(products)
    bounds = _bounds(columns, constraints)
    prices, unplaced = _ladders(columns, bounds, constraints)
    fixed = _fixed_reasons(columns, constraints)
    out = _not_quoted(columns, prices, fixed, unplaced)
    if (out != None).any():  # noqa: E711 (elementwise)
        prices, fixed = _today_only(prices, columns["price"], out), np.where(out != None, out, fixed)  # noqa: E711
    table = _Table(columns, prices, fixed, objective, shop)
    free, choice = _choose(table, constraints)
    return _answer(columns, bounds, table, fixed, free, choice)


def _not_quoted(columns: dict[str, np.ndarray], prices: np.ndarray, fixed: np.ndarray, unplaced: np.ndarray):
    """Per product, why it cannot be quoted (None where it can): a price below its cost, no allowed price
    (`unplaced`, from the ladders), or a product that keeps its price (`fixed`) where today's breaks the
    rules. Such a product keeps today's price and says why; the rest of the request is quoted (a catalogue
    holds some products priced below cost, and one of them refused the pricing engine every other quote)."""
    price, cost = columns["price"], columns["cost"]
    out = unplaced.copy()
    for i in np.flatnonzero(unplaced != None):  # noqa: E711 (elementwise)
        out[i] = NOT_QUOTED + unplaced[i]
    kept = np.flatnonzero((fixed != None) & (out == None))  # noqa: E711 (elementwise)
    today = price[kept][:, None]
    off_ladder = ~(np.abs(prices[kept] - today) <= 1e-8 + 1e-5 * today).any(axis=1)  # np.isclose's tolerance
    for i in kept[off_ladder]:
        out[i] = f"{NOT_QUOTED}{fixed[i]}, and today's price {_amount(price[i])} breaks the rules"
    for i in np.flatnonzero(price < cost):
        out[i] = f"{NOT_QUOTED}price {_amount(price[i])} is below its cost {_amount(cost[i])}"
    return out


def _today_only(prices: np.ndarray, today: np.ndarray, out: np.ndarray) -> np.ndarray:
    """The ladders with each product not quoted (`out`) left only today's price to keep."""
    prices = prices.copy()
    rows = np.flatnonzero(out != None)  # noqa: E711 (elementwise)
    prices[rows] = np.nan
    prices[rows, 0] = today[rows]
    return prices


# A quote answers a pricing engine's request per call: every step is arithmetic on whole columns;
# per-product Python (pandas rows, then tuples) cost more than the arithmetic itself.


class _Table:
    """Every product's candidates side by side (padded with NaN), with their expected units and value:
    choosing is then one argmax per row, however many times the volume cap or the shop asks."""

    def __init__(self, rows: dict[str, np.ndarray], prices: np.ndarray, fixed: np.ndarray, objective: str, shop):
        self.prices = prices
        self.now, self.units_now, self.elasticity = rows["price"], rows["units"], rows["elasticity"]
        padding = np.isnan(prices)
        self.steps, self.factor = self._response(prices)  # NaN on padding
        self.units = np.where(padding, 0.0, self.units_now[:, None] * self.factor)  # padding sells nothing
        self.cost = rows["cost"] if objective == "margin" else np.zeros(len(prices))  # value = (p - cost) x units
        self.value = np.where(padding, -np.inf, (prices - self.cost[:, None]) * self.units)
        self.fixed = fixed != None  # noqa: E711 (elementwise)
        self.any_fixed = bool(self.fixed.any())
        self.kept = np.argmin(np.where(padding, np.inf, np.abs(prices - self.now[:, None])), axis=1)
        self.rows = np.arange(len(prices))
        self.shop = shop
        if shop is not None:
            self.share = self.units_now / max(float(shop.units), float(self.units_now.sum()), 1e-12)
            self.outside = 1.0 - self.share.sum()  # the shop's units outside the quote: at today's prices
            self.shop_elasticity = min(float(shop.elasticity), 0.0)
            # Each candidate's own part of the shop's terms, computed once for every round of best
            # replies (padding moves nothing).
            self.moved_part = np.where(padding, 0.0, self.share[:, None] * self.steps)
            self.spread_part = np.where(padding, 0.0, self.share[:, None] * self.factor)
            self.lifted = np.exp(self.shop_elasticity * self.moved_part)

    def _response(self, prices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per product x price: the log step from today's price, and the units factor it brings,
        (p / today's) ** elasticity."""
        steps = np.log(prices / self.now[:, None])
        return steps, np.exp(self.elasticity[:, None] * steps)

    def pick(self, lam: float) -> np.ndarray:
        """Each product's candidate: alone, its best value plus lam x units; in a shop, each product's
        best reply to the others' prices, repeated until no product moves, from today's prices and from
        the choice alone (the best choice seen is kept)."""
        worth = self.value if lam == 0 else self.value + lam * self.units  # -inf on padding
        alone = np.where(self.fixed, self.kept, np.argmax(worth, axis=1))
        if self.shop is None:
            return alone
        best, best_value, seen = self.kept, -np.inf, set()
        # Two starts: a reply path can stop short of the best combination. A path that reaches a choice
        # already seen would go on as it went before (a fixed point, a cycle, or the first path), so it
        # stops there: every choice on it has been valued.
        for choice in (self.kept, alone):
            if choice.tobytes() in seen:
                continue
            seen.add(choice.tobytes())
            for _ in range(ROUNDS):
                new = self._best_replies(choice, worth)
                if self.any_fixed:
                    new = np.where(self.fixed, self.kept, new)
                value = self._value(new, lam)
                if value > best_value:
                    best, best_value = new, value
                if new.tobytes() in seen:
                    break
                seen.add(new.tobytes())
                choice = new
        return best

    def _best_replies(self, choice: np.ndarray, worth: np.ndarray) -> np.ndarray:
        """Each product's best candidate when it alone moves from `choice` and the others keep theirs,
        by `worth` (value plus lam x units), units shared out by the shop: `moved_alone`'s values up to
        each row's positive factor (the shop's total moved by the others' steps), which leaves each row's
        argmax where it is, in four passes over the table instead of a dozen."""
        at = self.rows, choice
        before, spread = worth[at], self.spread_part[at]
        others = spread.sum() + self.outside - spread
        value = (worth + (before.sum() - before)[:, None]) * self.lifted
        return np.argmax(value / (self.spread_part + others[:, None]), axis=1)

    def moved_alone(self, choice: np.ndarray, lam: float, prices: np.ndarray) -> np.ndarray:
        """The quote's value plus lam x its units, with units shared out by the shop, when each product
        alone moves from its price in `choice` to each of its `prices` (a product x price table) and the
        others keep theirs."""
        at = self.rows, choice
        steps, factor = self._response(prices)
        worth = (prices - self.cost[:, None] + lam) * self.units_now[:, None] * factor
        before = self.value[at] + lam * self.units[at]
        value = before.sum() + worth - before[:, None]
        if self.shop is None:
            return value
        share = self.share[:, None]
        moved = np.sum(self.moved_part[at]) + share * (steps - self.steps[at][:, None])
        spread = np.sum(self.spread_part[at]) + self.outside + share * (factor - self.factor[at][:, None])
        return np.exp(self.shop_elasticity * moved) / spread * value

    def _value(self, choice: np.ndarray, lam: float) -> float:
        """The quote's value plus lam x its units at `choice`, units shared out by the shop."""
        at = self.rows, choice
        value = float(self.value[at].sum())
        return (value + lam * float(self.units[at].sum()) if lam else value) * self.spread(choice)

    def spread(self, choice: np.ndarray) -> float:
        """The shop's factor on every product's units at `choice` (1 without a shop): its total moved by
        its elasticity, shared out by the products' factors."""
        if self.shop is None:
            return 1.0
        at = self.rows, choice
        moved = math.exp(self.shop_elasticity * float(self.moved_part[at].sum()))
        return moved / (float(self.spread_part[at].sum()) + self.outside)

    def loss(self, choice: np.ndarray) -> float:
        return float(self.units_now.sum() - self.units[self.rows, choice].sum() * self.spread(choice))


def ladder(products: pd.DataFrame, constraints: Constraints) -> list[np.ndarray]:
    """Every allowed price of each product (product_id, price, cost, optional floor and cap): what a
    quote chooses from, for anyone optimising under the same rules (the pricing benchmark's oracle)."""
    constraints.check()
    columns = asked_columns(products)
    prices, unplaced = _ladders(columns, _bounds(columns, constraints), constraints)
    out = _not_quoted(columns, prices, np.full(len(prices), None, dtype=object), unplaced)
    for i in np.flatnonzero(out != None)[:1]:  # noqa: E711 (elementwise): a quote would keep its price
        raise QuoteError(f"{columns['product_id'][i]}: {out[i].removeprefix(NOT_QUOTED)}")
    return [np.unique(row[~np.isnan(row)]) for row in prices]


def asked_columns(products: pd.DataFrame) -> dict[str, np.ndarray]:
    """The products a quote is asked for (product_id, price, cost, optional floor and cap) checked as a
    quote checks them, before any model is read: the first bad one named."""
    return _checked(products.assign(units=0.0, elasticity=-1.0, ci_low=-1.0, ci_high=-1.0))


def not_quoted(bindings) -> int:
    """How many quotes keep today's price because no price keeps every rule (their binding says why)."""
    return sum(str(binding).startswith(NOT_QUOTED) for binding in bindings)


def _checked(products: pd.DataFrame | Mapping[str, Sequence]) -> dict[str, np.ndarray]:
    """The products as one array per column (floor and cap NaN where absent), or the first bad one named."""
    missing = [c for c in REQUIRED if c not in products]
    if missing:
        raise QuoteError(f"products lack column(s) {', '.join(missing)}")
    columns = {"product_id": product_ids(products["product_id"])}
    for name in (*REQUIRED[1:], "floor", "cap"):
        given = products[name] if name in products else np.full(len(columns["product_id"]), np.nan)
        columns[name] = _numbers(given, name, optional=name in ("floor", "cap"))
    ids, price, cost = columns["product_id"], columns["price"], columns["cost"]
    blank = np.flatnonzero(np.isnan(price) | np.isnan(cost))
    if blank.size:
        raise QuoteError(f"{ids[blank[0]]}: price and cost are required")
    endless = np.flatnonzero(np.isinf(price) | np.isinf(cost) | np.isinf(columns["floor"]) | np.isinf(columns["cap"]))
    if endless.size:
        raise QuoteError(f"{ids[endless[0]]}: price, cost, floor and cap must be finite (leave floor or cap blank)")
    bad = np.flatnonzero((price <= 0) | (cost < 0) | (columns["units"] < 0))
    if bad.size:
        raise QuoteError(f"{ids[bad[0]]}: price must be positive, cost and units not negative")
    floor, cap = columns["floor"], columns["cap"]
    crossed = np.flatnonzero(~np.isnan(floor) & ~np.isnan(cap) & (floor > cap))
    if crossed.size:
        first = crossed[0]
        raise QuoteError(f"{ids[first]}: floor {floor[first]} is above cap {cap[first]}")
    return columns


def product_ids(column: Sequence) -> np.ndarray:
    """The product ids as objects; a blank one or one asked for twice is an error naming it."""
    ids = np.asarray(column, dtype=object)
    if all(type(value) is str and value.strip() for value in ids) and len(set(ids)) == len(ids):
        return ids  # the usual request, checked in one pass; the loops below name what is wrong
    blank = [i for i, value in enumerate(ids) if value is None or value != value or str(value).strip() == ""]
    if blank:
        raise QuoteError(f"product {blank[0] + 1} of {len(ids)} has no product_id")
    seen: set = set()
    for value in ids:
        if value in seen:
            raise QuoteError(f"{value}: asked for twice (one row per product)")
        seen.add(value)
    return ids


def _numbers(column: Sequence, name: str, optional: bool) -> np.ndarray:
    """A column as floats; text that is not a number is an error naming the column (blank where optional)."""
    values = np.asarray(column)
    if values.dtype.kind in "fiub":
        return values.astype(float)
    if values.dtype.kind == "O":  # numbers and None, as a service request brings them: no pandas needed
        try:
            return values.astype(float)
        except (ValueError, TypeError):
            pass  # text among them: pandas names the problem below
    try:
        return pd.to_numeric(pd.Series(values), errors="coerce" if optional else "raise").to_numpy(float)
    except (ValueError, TypeError) as error:
        raise QuoteError(f"column {name}: not a number ({error})") from error


_NEAR_EDGES = 1 + np.array([-1, 1, -1, 1]) * 1e-4  # just below and above each bound
LOW_RULES = ("max change down", "margin floor", "price floor")
HIGH_RULES = ("max change up", "price cap")


@dataclass(frozen=True)
class _Bounds:
    low: np.ndarray  # each product's lowest allowed price ...
    high: np.ndarray  # ... and highest
    low_rule: np.ndarray  # the rule that sets each (the first named on a tie)
    high_rule: np.ndarray


def _bounds(columns: dict[str, np.ndarray], c: Constraints) -> _Bounds:
    price, floor, cap = columns["price"], columns["floor"], columns["cap"]
    lows = np.array(
        [
            price * (1 - c.max_change),
            columns["cost"] / (1 - c.margin_floor),
            np.where(np.isfinite(floor), floor, -np.inf),
        ]
    )
    highs = np.array([price * (1 + c.max_change), np.where(np.isfinite(cap), cap, np.inf)])
    low_rule, high_rule = np.asarray(LOW_RULES)[lows.argmax(axis=0)], np.asarray(HIGH_RULES)[highs.argmin(axis=0)]
    return _Bounds(lows.max(axis=0), highs.min(axis=0), low_rule, high_rule)


def candidate_count(prices: Sequence[float], max_change: float, endings: Sequence[float]) -> float:
    """About how many candidate prices a quote of these products weighs (the width of `_ladders`): the
    whole units within each product's largest change either way, times the allowed endings, or every
    cent when none are given. What a caller needs to know before asking for a large quote."""
    per_unit = len(endings) if endings else 100
    return sum(2 * max_change * price + 2 for price in prices) * per_unit


def _ladders(columns: dict[str, np.ndarray], bounds: _Bounds, c: Constraints) -> tuple[np.ndarray, np.ndarray]:
    """Every product's allowed prices, one sorted row each, padded with NaN: the ladder's prices between
    the product's bounds, and today's price where it is legal (keeping it is allowed); and per product,
    why it has none (None where it has some), naming the rules."""
    price, low, high = columns["price"], bounds.low, bounds.high
    _check_ladder_size(columns["product_id"], low, high, c)
    if c.endings:
        base = np.floor(low)
        steps = np.arange(max(int((np.floor(high) - base).max(initial=0)), 0) + 1)
        raw = ((base[:, None] + steps)[:, :, None] + np.asarray(c.endings)[None, None, :]).reshape(len(price), -1)
        inside = (raw >= low[:, None] - 1e-9) & (raw <= high[:, None] + 1e-9)
        ladder = np.where(inside, raw.round(2), np.nan)
    else:  # every cent from the first at or above the low bound to the last at or below the high one
        base, top = np.ceil(low * 100), np.floor(high * 100)
        cents = base[:, None] + np.arange(int(np.clip(top - base, 0, None).max(initial=0)) + 1)
        ladder = np.where(cents <= top[:, None], cents / 100, np.nan)
    legal = (low <= price + 1e-9) & (price <= high + 1e-9) & ~(ladder == price[:, None]).any(axis=1)
    ladder = np.sort(np.concatenate([ladder, np.where(legal, price, np.nan)[:, None]], axis=1), axis=1)
    infeasible, empty = low > high + 1e-9, np.isnan(ladder).all(axis=1)
    unplaced = np.full(len(price), None, dtype=object)
    for i in np.flatnonzero(infeasible | empty):
        unplaced[i] = (
            f"no price satisfies the rules ({bounds.low_rule[i]} needs at least {low[i]:.2f}, "
            f"{bounds.high_rule[i]} allows at most {high[i]:.2f})"
            if infeasible[i]
            else f"no price on the ladder lies between {low[i]:.2f} and {high[i]:.2f}"
        )
    return ladder[:, : int((~np.isnan(ladder)).sum(axis=1).max(initial=1))], unplaced


def _check_ladder_size(ids: np.ndarray, low: np.ndarray, high: np.ndarray, c: Constraints) -> None:
    """A product whose rules allow more than MAX_LADDER prices is refused, naming them: every candidate is
    weighed, so a price of 1e12 at a 10% step would ask for more memory than any machine has."""
    per_unit = len(c.endings) if c.endings else 100
    with np.errstate(invalid="ignore", over="ignore"):
        width = (np.floor(high) - np.floor(low) + 1) * per_unit
    for i in np.flatnonzero(width > MAX_LADDER)[:1]:
        raise QuoteError(
            f"{ids[i]}: the rules allow {_amount(width[i], 0)} prices between {_amount(low[i])} and "
            f"{_amount(high[i])}, more than {MAX_LADDER:,}; narrow max_change or give a floor and cap"
        )
    cells = len(ids) * float(np.nanmax(width, initial=0))  # every product's row is as wide as the widest
    if cells > MAX_CELLS:
        raise QuoteError(
            f"products: {len(ids):,} products with up to {_amount(np.nanmax(width), 0)} prices each are more than "
            f"one quote weighs ({MAX_CELLS:,} candidates); quote the dearest products apart or in smaller batches"
        )


def _amount(value: float, places: int = 2) -> str:
    """A number for a message: grouped digits, or three significant ones when it is astronomical."""
    return f"{value:,.{places}f}" if abs(value) < 1e12 else f"{value:.3g}"


def _fixed_reasons(columns: dict[str, np.ndarray], c: Constraints) -> np.ndarray:
    """Per product, why it keeps its price (None where it may move): no estimate, then a wide interval."""
    unknown = np.isnan(columns["elasticity"])
    wide = columns["ci_high"] - columns["ci_low"] > c.max_interval_width
    unsigned = ~(columns["elasticity"] < 0)
    reasons = np.where(wide, NO_CHANGE_WIDE, np.where(unsigned, NO_CHANGE_SIGN, None))
    return np.where(unknown, NO_CHANGE_UNKNOWN, reasons).astype(object)


def _choose(table: _Table, c: Constraints) -> tuple[np.ndarray, np.ndarray]:
    """(each product's best candidate without the volume cap, the choice that meets the cap)."""
    choice = table.pick(0.0)
    if c.max_volume_loss is None:
        return choice, choice
    allowed = c.max_volume_loss * table.units_now.sum() + 1e-9
    if table.loss(choice) <= allowed:
        return choice, choice
    low, high = 0.0, float(np.max(table.now) * 10)
    if table.loss(table.pick(high)) > allowed:
        raise QuoteError("the volume-loss cap cannot be met within the other rules, even at the lowest prices")
    for _ in range(60):
        mid = (low + high) / 2
        if table.loss(table.pick(mid)) <= allowed:
            high = mid
        else:
            low = mid
    return choice, table.pick(high)


def _answer(rows, bounds: _Bounds, table: _Table, fixed, free, choice) -> dict:
    price = table.prices[table.rows, choice]
    cost = rows["cost"]
    spread = table.spread(choice)

    def units_at(elasticity: np.ndarray) -> np.ndarray:
        return table.units_now * (price / table.now) ** elasticity * spread

    expected = units_at(rows["elasticity"])
    one, other = units_at(rows["ci_low"]), units_at(rows["ci_high"])
    low, high = np.minimum(one, other), np.maximum(one, other)
    binding = np.where(table.fixed, fixed, np.where(choice != free, "volume loss cap", _binding(table, bounds, free)))
    binding = _ladder_bound(binding, table.prices, table.now, price).tolist()
    return {
        "product_id": rows["product_id"],
        "current_price": table.now,
        "price": price,
        "change": price / table.now - 1,
        "expected_units": expected,
        "units_low": low,
        "units_high": high,
        "expected_margin": (price - cost) * expected,
        "margin_low": (price - cost) * low,
        "margin_high": (price - cost) * high,
        "binding": binding,
    }


def _ladder_bound(binding: np.ndarray, ladder: np.ndarray, now: np.ndarray, price: np.ndarray) -> np.ndarray:
    """A product held at today's price by a bound, with no ladder price on that side of today's, is
    held by the ladder: at 5.99 with endings .99 and a 10% step, 4.99 is out of reach and 5.99 is all
    there is. Said as "max change down" alone, the step looked like the rule to loosen."""
    out = binding.astype(object)
    held = np.flatnonzero(np.abs(price - now) <= 1e-8 + 1e-5 * np.abs(now))  # np.isclose's test, cheaper
    rows, today = ladder[held], now[held, None]
    below = (rows < today - 1e-9).any(axis=1)  # a NaN (no candidate there) compares False
    above = (rows > today + 1e-9).any(axis=1)
    for i, has_below, has_above in zip(held, below, above, strict=True):
        if (out[i] in LOW_RULES and not has_below) or (out[i] in HIGH_RULES and not has_above):
            out[i] = LADDER + out[i]
    return out


def _binding(table: _Table, bounds: _Bounds, choice: np.ndarray) -> np.ndarray:
    """Per product, the rule that stops the price where it is: the bound on the side its value still
    rises toward, the product moved alone with the others at `choice` (constant elasticity makes a
    product's value single-peaked in its price: alone, margin peaks at cost x e / (1 + e) when e < -1)."""
    edges = np.array([bounds.high, bounds.high, bounds.low, bounds.low]).T * _NEAR_EDGES
    with np.errstate(invalid="ignore", over="ignore"):
        value = table.moved_alone(choice, 0.0, edges)  # just below and above each bound
    scale = np.maximum(np.abs(value).max(axis=1), 1e-300)
    rises = (value[:, 1] - value[:, 0]) / scale > 1e-11
    falls = (value[:, 3] - value[:, 2]) / scale < -1e-11
    return np.where(rises, bounds.high_rule, np.where(falls, bounds.low_rule, INTERIOR))  # inside: the ladder rounds it
