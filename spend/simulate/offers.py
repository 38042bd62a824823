"""One randomised multi-arm offer campaign with known, member-specific effects on buying and basket value.

Eligible: members signed up 30+ days before the campaign who bought in the year before it. Each is put at
random in control or one of four offers (a fifth each). Within the campaign window an offer can:
- win an extra order with probability r (response), highest for members who have lapsed (recency), and
  depending on the offer: coupons for price-sensitive members, double points for the upper tiers, free
  shipping for web and app shoppers;
- make every order in the window bigger by a factor g (units bought), the same rules;
- put a member off: basic-tier app shoppers drop out for good with probability 0.25 when contacted.
Price sensitivity is hidden but follows what the shop can see (the basic tier, shopping in store).

An offer costs the shop (experiments/offers.yaml holds the same rules): a coupon its percent of what the
member spends in the window, double points the extra points' liability (point value x the ledger's
redemption rate), free shipping a fee per order. The truth written to ground_truth/offer_effects.parquet
is, per member and offer, the expected change in margin, in cost and in net margin (margin minus cost)
against no offer, given the member's hidden state at the campaign.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from spend.models.offers import offer_cost
from spend.simulate.campaign import apply_campaign, check_waves, year_before
from spend.simulate.catalog import Calendar
from spend.simulate.config import TIERS, SimulationConfig
from spend.simulate.customers import Purchases

CONTROL = "control"
PUT_OFF = 0.25
SENSITIVITY_NOISE = 0.5  # sd of a member's own price sensitivity on the logit scale, around its traits'
POINT_VALUE = 0.01  # currency per point: a 500-point redemption is a 5.00 voucher


@dataclass(frozen=True)
class SimOffer:
    name: str
    kind: str  # coupon | points | shipping
    value: float  # percent off, points multiplier, or fee per order


OFFERS = (
    SimOffer("coupon_10", "coupon", 10.0),
    SimOffer("coupon_20", "coupon", 20.0),
    SimOffer("double_points", "points", 2.0),
    SimOffer("free_shipping", "shipping", 4.5),
)
ARMS = (CONTROL, *(o.name for o in OFFERS))


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def sensitivity_centre(customers: pd.DataFrame) -> np.ndarray:
    """The logit of price sensitivity the shop's view of a member predicts: basic tier, shopping in store."""
    in_store = (customers["channel"] == "pos").to_numpy() * 1.0
    basic = (customers["tier_index"].to_numpy() == 0) * 1.0
    return -0.8 + 1.4 * basic + 0.9 * in_store


def member_traits(customers: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Hidden price sensitivity (0-1) and the observable traits the effects depend on."""
    noise = rng.normal(0, SENSITIVITY_NOISE, len(customers))
    return traits_at(customers, _sigmoid(sensitivity_centre(customers) + noise))


def traits_at(customers: pd.DataFrame, sensitivity: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "price_sensitivity": sensitivity,
            "tier_index": customers["tier_index"].to_numpy(),
            "online": customers["channel"].isin(["web", "app"]).to_numpy(),
            "sleeping_dog": ((customers["tier_at_signup"] == "basic") & (customers["channel"] == "app")).to_numpy(),
        }
    )


def effects(traits: pd.DataFrame, recency_days: np.ndarray) -> tuple[dict, dict]:
    """Per offer: the chance of an extra order (r) and the basket factor (g) of each member."""
    lapsed = 1 - np.exp(-np.asarray(recency_days, dtype=float) / 60)
    s, tier, online = traits["price_sensitivity"].to_numpy(), traits["tier_index"].to_numpy(), traits["online"]
    upper = tier >= 2
    r = {
        "coupon_10": 0.20 * s * lapsed,
        "coupon_20": 0.40 * s * lapsed,
        "double_points": (0.05 + 0.25 * upper) * lapsed,
        "free_shipping": np.where(online, 0.30, 0.0) * lapsed,
    }
    ones = np.ones(len(traits))
    g = {
        "coupon_10": ones,
        "coupon_20": 1 + 0.10 * s,
        "double_points": np.where(upper, 1.20, 1.0),
        "free_shipping": np.where(online, 1.25, 1.0),
    }
    dog = traits["sleeping_dog"].to_numpy()
    return {k: np.where(dog, 0.0, v) for k, v in r.items()}, g


def run_offer_campaigns(
    customers: pd.DataFrame,
    purchases: Purchases,
    calendar: Calendar,
    config: SimulationConfig,
    rng: np.random.Generator,
) -> tuple[Purchases, pd.DataFrame]:
    """Every offer wave in turn, each on the purchases the earlier ones caused; the assignment has one row
    per wave and member (`campaign_day` tells the waves apart)."""
    days = config.offer_wave_days
    check_waves("offer", config.offer_waves, config.offer_every_days, config.offer_window_days)
    if days[0] < 0:
        raise ValueError(
            f"the first of {config.offer_waves} offer waves would start before the history (day {days[0]})"
        )
    waves = []
    for day0 in days:
        purchases, assignment = run_offer_campaign(customers, purchases, calendar, config, rng, day0)
        waves.append(assignment)
    return purchases, pd.concat(waves, ignore_index=True)


def run_offer_campaign(
    customers: pd.DataFrame,
    purchases: Purchases,
    calendar: Calendar,
    config: SimulationConfig,
    rng: np.random.Generator,
    day: int | None = None,
) -> tuple[Purchases, pd.DataFrame]:
    """Assign arms, add the won orders and put-off dropouts; return the assignment with each member's
    effects. One wave, on `day` (default: the config's offer day)."""
    day0 = float(config.offer_offset_days if day is None else day)
    window = config.offer_window_days
    if day0 + window > config.days:
        raise ValueError(f"the offer campaign's {window}-day window must end inside the {config.days}-day history")
    last, _ = year_before(purchases, day0)
    members = last.index.to_numpy()
    members = np.sort(members[customers["signup_day"].to_numpy()[members] <= day0 - 30])
    arm = rng.integers(0, len(ARMS), members.size)
    traits = member_traits(customers.iloc[members], rng)
    recency = day0 - last.reindex(members).to_numpy()
    r, g = effects(traits, recency)
    alive = purchases.dropout_day[members] > day0
    in_window = (purchases.day >= day0) & (purchases.day < day0 + window)
    baseline = np.bincount(purchases.customer[in_window], minlength=len(customers))[members]
    exposure = calendar.visit_season[int(day0) + config.days : int(day0) + config.days + window].sum()
    expected = alive * expected_orders(
        customers["purchase_rate_per_day"].to_numpy()[members] * exposure,
        customers["dropout_prob"].to_numpy()[members],
    )
    treated = arm > 0
    put_off = treated & traits["sleeping_dog"].to_numpy() & alive & (rng.random(members.size) < PUT_OFF)
    respond = np.zeros(members.size, dtype=bool)
    for k, offer in enumerate(OFFERS, start=1):
        respond |= (arm == k) & (rng.random(members.size) < r[offer.name])
    respond &= ~put_off
    assignment = pd.DataFrame(
        {
            "customer_index": members,
            "customer_id": customers["customer_id"].to_numpy()[members],
            "arm": np.asarray(ARMS)[arm],
            "recency_days": recency,
            "baseline_orders": baseline,
            "expected_baseline_orders": expected,
            "alive_at_campaign": alive,
            "put_off": put_off,
            "won_order": respond,
            **{f"r_{o.name}": r[o.name] for o in OFFERS},
            **{f"g_{o.name}": g[o.name] for o in OFFERS},
            **{c: traits[c].to_numpy() for c in ("price_sensitivity", "sleeping_dog")},
            "campaign_day": int(day0),
        }
    )
    return apply_campaign(purchases, members[respond], members[put_off], day0, window, rng), assignment


def expected_orders(mean: np.ndarray, dropout: np.ndarray, most: int = 60) -> np.ndarray:
    """Expected purchases in a window for a member alive at its start: a Poisson count of mean `mean`
    that stops for good after each purchase with probability `dropout` (sum over k of P(N >= k) x
    P(still alive after k - 1 purchases))."""
    from scipy.stats import poisson

    k = np.arange(1, most + 1)
    at_least = poisson.sf(k[None, :] - 1, np.asarray(mean)[:, None])
    alive = (1 - np.asarray(dropout)[:, None]) ** (k[None, :] - 1)
    return (at_least * alive).sum(axis=1)


def _windows(orders: pd.DataFrame, assignment: pd.DataFrame, config: SimulationConfig):
    """(wave's day, its members' rows of `assignment`, which orders fall in its window) for every wave."""
    day = orders["day_index"].to_numpy()
    for day0, members in assignment.groupby("campaign_day", sort=True):
        start = config.days + int(day0)
        yield int(day0), members, (day >= start) & (day < start + config.offer_window_days)


def basket_factors(orders: pd.DataFrame, assignment: pd.DataFrame, config: SimulationConfig) -> np.ndarray:
    """Per order: the basket factor of its member's offer in the wave whose window it falls in, else 1."""
    factor = np.ones(len(orders))
    for _, members, in_window in _windows(orders, assignment, config):
        per_member = pd.Series(1.0, index=members["customer_index"].to_numpy())
        for offer in OFFERS:
            chosen = (members["arm"] == offer.name).to_numpy()
            per_member[members["customer_index"].to_numpy()[chosen]] = members[f"g_{offer.name}"].to_numpy()[chosen]
        member = orders["customer"].map(per_member).to_numpy()
        factor[in_window] = np.nan_to_num(member[in_window], nan=1.0)
    return factor


def grow_baskets(lines: pd.DataFrame, factor: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """Scale each line's units by its order's factor, drawing whole units with the right expectation."""
    f = factor[lines["order"].to_numpy()]
    expected = lines["quantity"].to_numpy() * f
    whole = np.floor(expected)
    quantity = (whole + (rng.random(len(lines)) < expected - whole)).astype(lines["quantity"].dtype)
    changed = f != 1
    discount = np.where(changed, np.round(lines["discount"] * quantity / lines["quantity"], 2), lines["discount"])
    return lines.assign(quantity=np.where(changed, quantity, lines["quantity"]), discount=discount)


def points_multiplier(orders: pd.DataFrame, assignment: pd.DataFrame, config: SimulationConfig) -> np.ndarray:
    """Per order: 2 for a double-points member's order in that wave's window, else 1."""
    points = next(o.value for o in OFFERS if o.kind == "points")
    double = np.zeros(len(orders), dtype=bool)
    for _, members, in_window in _windows(orders, assignment, config):
        chosen = members.loc[members["arm"] == "double_points", "customer_index"]
        double |= in_window & orders["customer"].isin(chosen).to_numpy()
    return np.where(double, points, 1.0)


def order_values(lines: pd.DataFrame, orders: pd.DataFrame, assignment: pd.DataFrame, config) -> pd.DataFrame:
    """Per wave (campaign_day): the mean spend and margin of an order placed in its window, before any
    basket factor."""
    rows = []
    for day0, _, in_window in _windows(orders, assignment, config):
        part = lines[in_window[lines["order"].to_numpy()]]
        spend = part["quantity"] * part["unit_price"] - part["discount"]
        margin = spend - part["quantity"] * part["unit_cost"]
        n = max(part["order"].nunique(), 1)
        rows.append(
            {"campaign_day": day0, "order_spend": float(spend.sum() / n), "order_margin": float(margin.sum() / n)}
        )
    return pd.DataFrame(rows)


def offer_truth(assignment: pd.DataFrame, spend: float, margin: float, redemption_rate: float) -> pd.DataFrame:
    """Expected change in margin, cost and net margin against no offer, per member and offer, given each
    member's hidden state at the campaign (alive or not, buying rate, dropout, price sensitivity): the
    orders it would place anyway are their expectation, not the count drawn."""
    dog = assignment["sleeping_dog"].to_numpy() & assignment["alive_at_campaign"].to_numpy()
    base = assignment["expected_baseline_orders"].to_numpy(float)
    kept = base * np.where(dog, 1 - PUT_OFF, 1.0)  # a contacted sleeping dog keeps its orders 3 times in 4
    moments = {}
    for offer in OFFERS:
        r, g = (assignment[f"{k}_{offer.name}"].to_numpy(float) for k in ("r", "g"))
        moments[offer.name] = (r, g, r * g)
    return _changes(assignment["customer_id"].to_numpy(), base, kept, moments, (spend, margin, redemption_rate), "true")


def bayes_offer_truth(customers: pd.DataFrame, assignment: pd.DataFrame, expected_orders: np.ndarray) -> pd.DataFrame:
    """offer_truth's changes as the best forecast from the data gives them: what the shop can see of each
    member (tier and channel at signup, days since the last order) and the orders it is expected to place
    anyway given its observed purchases (`expected_orders`, spend/simulate/oracle.bayes_expected_orders),
    averaged over the price sensitivity such a member may have. `customers`: the truth's customers;
    `assignment`: the truth's offer_campaign (with the per-order spend and margin and the redemption rate)."""
    seen = customers.set_index("customer_id").reindex(assignment["customer_id"])
    seen = seen.assign(tier_index=pd.Index(TIERS).get_indexer(seen["tier_at_signup"])).reset_index()
    centre = sensitivity_centre(seen)
    nodes, weights = np.polynomial.hermite_e.hermegauss(40)
    weights = weights / weights.sum()
    recency = assignment["recency_days"].to_numpy(float)
    moments = {offer.name: [0.0, 0.0, 0.0] for offer in OFFERS}
    for z, w in zip(nodes, weights, strict=True):
        r, g = effects(traits_at(seen, _sigmoid(centre + SENSITIVITY_NOISE * z)), recency)
        for name, m in moments.items():
            m[0], m[1], m[2] = m[0] + w * r[name], m[1] + w * g[name], m[2] + w * r[name] * g[name]
    base = np.asarray(expected_orders, dtype=float)
    kept = base * np.where(assignment["sleeping_dog"].to_numpy(), 1 - PUT_OFF, 1.0)
    constants = tuple(float(assignment[c].iloc[0]) for c in ("order_spend", "order_margin", "redemption_rate"))
    return _changes(assignment["customer_id"].to_numpy(), base, kept, moments, constants, "bayes")


def _changes(ids, base, kept, moments: dict, constants: tuple, prefix: str) -> pd.DataFrame:
    """Per member and offer, the change in margin, cost and net margin from E[orders] = kept + E[r] and
    E[orders x g] = kept E[g] + E[r g] (kept: the orders placed anyway, after any put-off)."""
    spend, margin, redemption_rate = constants
    rows = []
    for offer in OFFERS:
        r, g, rg = moments[offer.name]
        orders, grown = kept + r, kept * g + rg
        cost = offer_cost(offer.kind, offer.value, grown * spend, orders, POINT_VALUE, redemption_rate)
        delta_margin = grown * margin - base * margin
        rows.append(
            pd.DataFrame(
                {
                    "customer_id": ids,
                    "offer": offer.name,
                    f"{prefix}_margin_uplift": delta_margin,
                    f"{prefix}_cost": cost,
                    f"{prefix}_net_uplift": delta_margin - cost,
                }
            )
        )
    return pd.concat(rows, ignore_index=True)
