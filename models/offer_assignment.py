"""Which offer for which member, exactly, as a linear program solved by HiGHS (through scipy).

Maximise the expected net margin sum_ik net[i, k] x[i, k] subject to
- one offer at most per member: sum_k x[i, k] <= 1;
- the budget: sum_ik cost[i, k] x[i, k] <= budget (expected cost);
- each offer's stock: sum_i x[i, k] <= stock[k];
- x[i, k] = 0 where the member may not get offer k (excluded, contacted recently) or it does not pay for
  itself (net <= 0).

Only the budget and the stocks tie members together, so the LP's dual has 1 + K prices (lambda for a unit
of budget, mu_k for a unit of offer k) and, given them, each member simply takes the offer with the best
reduced value net - lambda cost - mu_k if it is positive. A million members in one HiGHS run took minutes
(the interior point's crossover grows faster than the members), so the LP is solved in two steps:
1. approximate prices by bisection on the budget's and stocks' use;
2. members whose choice is clear at those prices (best reduced value far from zero and from their second
   best) are fixed; the rest (a band of the closest calls) go to HiGHS with the budget and stock left.
The band's own dual prices then certify the fixed choices (complementary slackness: every fixed member's
choice is still its best reduced value, and every member left out has none positive). If a fixed choice
fails the certificate, the band grows and the LP is solved again, up to the whole problem: the answer is
the LP's optimum either way. A vertex of the LP splits at most 1 + K members between offers; a split
member gets the offer it holds wholly or none, which keeps every constraint.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

NONE = -1
WHOLE = 1 - 1e-6
BAND = 20_000  # members in the first LP: the closest calls at the approximate prices
TOLERANCE = 1e-7


@dataclass
class Assignment:
    choice: np.ndarray  # per member: the offer's column, or NONE
    reason: np.ndarray  # per member: why it got what it got
    net: float  # expected net margin of the assignment
    cost: float  # expected cost
    split_members: int  # members the LP split between offers, given none
    lp_members: int = 0  # members in the last LP HiGHS solved (the rest were certified by its prices)


def assign(
    net: np.ndarray,
    cost: np.ndarray,
    budget: float,
    stock: np.ndarray | None = None,
    allowed: np.ndarray | None = None,
) -> Assignment:
    """`net`, `cost`: (members, offers); `stock`: per offer (inf: unlimited); `allowed`: (members,) or
    (members, offers) booleans."""
    net, cost = np.asarray(net, dtype=float), np.asarray(cost, dtype=float)
    members, offers = net.shape
    if budget < 0 or not np.isfinite(budget):
        raise ValueError(f"budget must be a finite number >= 0, not {budget}")
    stock = np.full(offers, np.inf) if stock is None else np.asarray(stock, dtype=float)
    if (stock < 0).any():
        raise ValueError("stock must be >= 0 for every offer")
    may = (
        np.ones_like(net, dtype=bool)
        if allowed is None
        else np.broadcast_to(np.asarray(allowed, bool).T, net.T.shape).T
    )
    candidate = may & np.isfinite(net) & (net > 0) & (cost <= budget)
    value = np.where(candidate, net, -np.inf)
    choice, split, lp_members = _optimal_choice(value, np.where(candidate, cost, 0.0), budget, stock)
    chosen = choice != NONE
    rows = np.flatnonzero(chosen)
    reason = _reasons(choice, may, net, candidate)
    return Assignment(
        choice,
        reason,
        float(net[rows, choice[chosen]].sum()),
        float(cost[rows, choice[chosen]].sum()),
        split,
        lp_members,
    )


def _optimal_choice(value, cost, budget, stock) -> tuple[np.ndarray, int, int]:
    members = len(value)
    live = np.flatnonzero(np.isfinite(value).any(axis=1))  # members with at least one paying offer
    choice = np.full(members, NONE)
    if len(live) == 0:
        return choice, 0, 0
    value, cost = value[live], cost[live]
    lam, mu = _prices(value, cost, budget, stock)
    band = BAND
    while True:
        fixed, in_band = _fix_clear_calls(value, cost, lam, mu, band)
        fixed[in_band] = NONE  # the LP decides these
        left_budget = budget - _spent(cost, fixed)
        left_stock = stock - np.bincount(fixed[fixed != NONE], minlength=len(stock))
        if left_budget >= 0 and (left_stock >= 0).all():
            rows = np.flatnonzero(in_band)
            x, band_choice, duals = _solve(value[rows], cost[rows], left_budget, left_stock)
            if in_band.all() or _certified(value, cost, fixed, ~in_band, *duals):
                fixed[rows] = band_choice
                choice[live] = fixed
                split = int(((x > 1e-9) & (x < WHOLE)).any(axis=1).sum())
                return choice, split, len(rows)
        band *= 4


def _reduced(value, cost, lam, mu) -> np.ndarray:
    return value - lam * cost - mu[None, :]


def _best(value, cost, lam, mu) -> tuple[np.ndarray, np.ndarray]:
    """Each member's best offer at these prices (NONE when no reduced value is positive) and its value."""
    reduced = _reduced(value, cost, lam, mu)
    k = reduced.argmax(axis=1)
    top = reduced[np.arange(len(k)), k]
    return np.where(top > 0, k, NONE), top


def _spent(cost, choice) -> float:
    taken = choice != NONE
    return float(cost[np.flatnonzero(taken), choice[taken]].sum())


def _bisect(excess, high: float = 1.0, steps: int = 22) -> float:
    """The smallest price >= 0 at which `excess(price)` (use beyond the limit, falling with the price) is
    <= 0, to a relative precision: approximate prices only decide which members the LP sees."""
    if excess(0.0) <= 0:
        return 0.0
    while excess(high) > 0 and high < 1e12:
        high *= 4
    low = 0.0
    for _ in range(steps):
        middle = (low + high) / 2
        low, high = (middle, high) if excess(middle) > 0 else (low, middle)
    return high


def _prices(value, cost, budget, stock, rounds: int = 3) -> tuple[float, np.ndarray]:
    """Approximate dual prices of the budget and the stocks, one at a time (a few rounds when stocks bind)."""
    lam, mu = 0.0, np.zeros(value.shape[1])
    limited = np.flatnonzero(np.isfinite(stock))
    for _ in range(rounds if len(limited) else 1):
        lam = _bisect(lambda p: _spent(cost, _best(value, cost, p, mu)[0]) - budget)
        for k in limited:

            def over(p, k=k, lam=lam):
                trial = mu.copy()
                trial[k] = p
                return float((_best(value, cost, lam, trial)[0] == k).sum() - stock[k])

            mu[k] = _bisect(over, high=float(np.nanmax(np.where(np.isfinite(value), value, np.nan))) + 1)
    return lam, mu


def _fix_clear_calls(value, cost, lam, mu, band: int) -> tuple[np.ndarray, np.ndarray]:
    """Each member's choice at the prices, and the `band` members whose choice is the closest call (best
    reduced value nearest zero or nearest their second best), which the LP decides."""
    reduced = _reduced(value, cost, lam, mu)
    ordered = np.sort(np.where(np.isfinite(reduced), reduced, -np.inf), axis=1)
    top = ordered[:, -1]
    second = ordered[:, -2] if reduced.shape[1] > 1 else np.full(len(top), -np.inf)
    closeness = np.minimum(np.abs(top), top - second)
    fixed = np.where(top > 0, reduced.argmax(axis=1), NONE)
    in_band = np.zeros(len(top), dtype=bool)
    if band >= len(top):
        in_band[:] = True
    else:
        in_band[np.argpartition(closeness, band)[:band]] = True
    return fixed, in_band


def _certified(value, cost, fixed, outside, lam, mu) -> bool:
    """At the band's dual prices, is every member outside the band's fixed choice still optimal?"""
    reduced = _reduced(value[outside], cost[outside], lam, mu)
    reduced = np.where(np.isfinite(reduced), reduced, -np.inf)
    best = reduced.max(axis=1)
    chosen = fixed[outside]
    taken = chosen != NONE
    own = reduced[np.flatnonzero(taken), chosen[taken]]
    ok_taken = (own >= -TOLERANCE).all() and (own >= best[taken] - TOLERANCE).all()
    return bool(ok_taken and (best[~taken] <= TOLERANCE).all())


def _solve(value, cost, budget, stock) -> tuple[np.ndarray, np.ndarray, tuple[float, np.ndarray]]:
    """The LP over these members: x (members, offers), each member's whole offer or NONE, and the dual
    prices of the budget and each offer's stock."""
    members, offers = value.shape
    rows, cols = np.nonzero(np.isfinite(value))
    n = len(rows)
    x_full = np.zeros((members, offers))
    if n == 0:
        return x_full, np.full(members, NONE), (0.0, np.zeros(offers))
    limited = np.flatnonzero(np.isfinite(stock))
    matrix = sp.vstack(
        [
            sp.csr_matrix((np.ones(n), (rows, np.arange(n))), (members, n)),
            sp.csr_matrix(cost[rows, cols][None, :]),
            sp.csr_matrix((np.ones(n), (cols, np.arange(n))), (offers, n))[limited],
        ],
        format="csr",
    )
    bounds = np.concatenate([np.ones(members), [budget], stock[limited]])
    result = linprog(-value[rows, cols], A_ub=matrix, b_ub=bounds, bounds=(0, 1), method="highs-ipm")
    if result.status != 0:
        raise RuntimeError(f"the assignment LP did not solve: {result.message}")
    x_full[rows, cols] = result.x
    whole = x_full >= WHOLE
    choice = np.where(whole.any(axis=1), whole.argmax(axis=1), NONE)
    marginals = -np.asarray(result.ineqlin.marginals)  # prices of a unit more budget and stock, >= 0
    mu = np.zeros(offers)
    mu[limited] = marginals[members + 1 :]
    return x_full, choice, (float(marginals[members]), mu)


def _reasons(choice, may, net, candidate) -> np.ndarray:
    reason = np.full(len(choice), "budget or stock used up by members worth more", dtype=object)
    reason[choice != NONE] = "best net margin within the budget"
    no_candidate = ~candidate.any(axis=1) & (choice == NONE)
    finite = np.where(np.isfinite(net), net, -np.inf)
    reason[no_candidate & (finite.max(axis=1, initial=-np.inf) <= 0)] = (
        "no offer pays for itself: expected net margin <= 0"
    )
    reason[no_candidate & ~may.any(axis=1)] = "not allowed: excluded or contacted recently"
    return reason
