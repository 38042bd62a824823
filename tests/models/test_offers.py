"""Offer targeting's parts: effects per offer recovered on known groups, the assignment LP's rules, the
doubly robust value of a policy against its truth, the cost rules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spend.models.offer_assignment import NONE, assign
from spend.models.offer_policy import ArmOutcomes, dr_scores, policy_value
from spend.models.offers import BestSingleOffer, NoOffer, OfferUplift, offer_cost

pytestmark = pytest.mark.slow  # a minute or more of fixtures and training: scheduled first (conftest.py)

ARMS = np.array(["control", "coupon", "points"], dtype=object)


def _campaign(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Members in two groups: the coupon adds +6 for group 1 and -4 for group 0; points add +1 for all."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"group": rng.integers(0, 2, n).astype(float), "noise": rng.normal(size=n)})
    arm = ARMS[rng.integers(0, 3, n)]
    effect = {"coupon": np.where(X["group"] == 1, 6.0, -4.0), "points": np.ones(n)}
    y = 10 + 2 * X["noise"].to_numpy() + rng.normal(0, 3, n)
    for name, tau in effect.items():
        y = y + (arm == name) * tau
    return X, arm, y, effect


@pytest.mark.parametrize("learner", ["dr", "x", "t"])
def test_each_offers_effect_is_recovered_on_a_known_two_group_effect(learner):
    X, arm, y, _ = _campaign(12_000, seed=1)
    cost = np.where(arm == "coupon", 1.0, 0.0)
    model = OfferUplift(learner=learner, min_child_samples=100).fit(X, arm, y, cost)
    effects = model.effects(X)
    coupon, points = effects.net[:, 0], effects.net[:, 1]
    assert model.offers_ == ["coupon", "points"]
    assert abs(coupon[X["group"] == 1].mean() - 6) < 0.6
    assert abs(coupon[X["group"] == 0].mean() + 4) < 0.6
    assert abs(points.mean() - 1) < 0.5
    assert abs(effects.cost[:, 0].mean() - 1) < 0.05 and abs(effects.cost[:, 1].mean()) < 0.05


def test_the_kept_models_give_what_econml_gives():
    """The model keeps plain LightGBM pieces (skops cannot hold econml's objects): the same effects."""
    from econml.dr import DRLearner
    from sklearn.dummy import DummyClassifier

    X, arm, y, _ = _campaign(3_000, seed=2)
    model = OfferUplift(learner="dr", min_child_samples=50, random_state=3).fit(X, arm, y, np.zeros(len(y)))
    booster = model._params()
    from spend.models.offers import _booster

    econml = DRLearner(
        model_propensity=DummyClassifier(strategy="prior"),
        model_regression=_booster(model._outcome_params(), 3),  # the first stage's own, deeper boosters
        model_final=_booster(booster, 3),
        categories=[0, 1, 2],
        cv=2,
        min_propensity=1e-3,
        random_state=3,
        allow_missing=True,
    ).fit(y, pd.Index(["control", "coupon", "points"]).get_indexer(arm), X=X.to_numpy())
    np.testing.assert_allclose(model.effects(X).net, econml.const_marginal_effect(X.to_numpy()), rtol=1e-9)


def test_the_best_single_offer_and_no_offer_baselines():
    X, arm, y, _ = _campaign(6_000, seed=4)
    single = BestSingleOffer().fit(X, arm, y, np.zeros(len(y))).effects(X)
    # On average the coupon is +1 and points +1: either may win, but only one offer is allowed.
    assert np.isfinite(single.net).sum(axis=1).tolist() == [1] * len(X)
    none = NoOffer().fit(X, arm, y, np.zeros(len(y))).effects(X)
    assert (assign(none.net, none.cost, 1e9).choice == NONE).all()


def test_a_member_with_a_negative_effect_for_every_offer_gets_none_and_says_why():
    net = np.array([[2.0, 1.0], [-1.0, -0.5], [0.0, -3.0]])
    result = assign(net, np.ones_like(net), budget=100)
    assert result.choice.tolist() == [0, NONE, NONE]
    assert result.reason[1].startswith("no offer pays for itself")
    assert result.reason[2].startswith("no offer pays for itself")


def test_without_binding_limits_each_member_gets_its_best_paying_offer():
    rng = np.random.default_rng(5)
    net = rng.normal(0, 2, (500, 4))
    result = assign(net, np.abs(rng.normal(1, 0.2, net.shape)), budget=1e9)
    best = np.where(net.max(axis=1) > 0, net.argmax(axis=1), NONE)
    assert (result.choice == best).all()


def test_the_budget_goes_to_the_best_net_per_cost():
    # Member 0 is worth 10 for a cost of 10; members 1 and 2 are worth 6 each for a cost of 5 each.
    net, cost = np.array([[10.0], [6.0], [6.0]]), np.array([[10.0], [5.0], [5.0]])
    assert assign(net, cost, budget=10).choice.tolist() == [NONE, 0, 0]  # 12 beats 10: not greedy by value


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    members=st.integers(1, 40),
    offers=st.integers(1, 4),
    seed=st.integers(0, 10_000),
    budget=st.floats(0, 200),
    stock_share=st.floats(0, 1),
)
def test_an_assignment_never_breaks_the_budget_a_stock_or_the_contact_cap(members, offers, seed, budget, stock_share):
    rng = np.random.default_rng(seed)
    net = rng.normal(1, 3, (members, offers))
    cost = rng.uniform(0, 20, (members, offers))
    stock = np.where(rng.random(offers) < 0.5, np.floor(stock_share * members), np.inf)
    allowed = rng.random(members) < 0.8
    result = assign(net, cost, budget, stock, allowed)
    given_ = result.choice != NONE
    rows = np.flatnonzero(given_)
    assert cost[rows, result.choice[given_]].sum() <= budget + 1e-6
    for k in range(offers):
        assert (result.choice == k).sum() <= stock[k]
    assert not (given_ & ~allowed).any()  # excluded or contacted recently: never an offer
    assert (net[rows, result.choice[given_]] > 0).all()  # nobody gets an offer that loses money
    assert set(result.reason[~allowed & ~given_]) <= {
        "not allowed: excluded or contacted recently",
        "no offer pays for itself: expected net margin <= 0",
    }


def test_a_negative_budget_or_stock_is_refused():
    with pytest.raises(ValueError, match="budget must be a finite number >= 0"):
        assign(np.ones((2, 1)), np.ones((2, 1)), -5)
    with pytest.raises(ValueError, match="stock must be >= 0"):
        assign(np.ones((2, 1)), np.ones((2, 1)), 5, np.array([-1.0]))


def test_the_doubly_robust_value_covers_the_true_value_of_a_policy_on_a_large_campaign():
    X, arm, y, effect = _campaign(60_000, seed=6)
    train = np.arange(len(y)) < 30_000
    mu = ArmOutcomes().fit(X[train], arm[train], y[train])
    scores = dr_scores(mu.predict(X[~train]), mu.arms_, arm[~train], y[~train])
    group = X.loc[~train, "group"].to_numpy()
    policy = np.where(group == 1, 1, 2)  # coupon to group 1, points to group 0: worth 0.5 x 6 + 0.5 x 1
    truth = np.where(group == 1, effect["coupon"][~train], effect["points"][~train]).mean()
    value = policy_value(scores, policy, alpha=0.01)
    assert value.low <= truth <= value.high
    assert value.high - value.low < 0.5  # and tells the policy apart from a worse one
    worse = policy_value(scores, np.where(group == 1, 2, 1), alpha=0.01)
    assert worse.high < value.low


def test_offer_costs_follow_the_rules():
    spend, orders = np.array([100.0, 0.0]), np.array([2.0, 0.0])
    assert offer_cost("coupon", 10, spend, orders, 0.01, 0.6).tolist() == [10.0, 0.0]
    assert offer_cost("points", 2, spend, orders, 0.01, 0.6).tolist() == pytest.approx([0.6, 0.0])
    assert offer_cost("shipping", 4.5, spend, orders, 0.01, 0.6).tolist() == [9.0, 0.0]
    with pytest.raises(ValueError, match="unknown offer kind"):
        offer_cost("cashback", 1, spend, orders, 0.01, 0.6)


def test_a_campaign_without_control_or_with_a_tiny_arm_is_refused():
    X, arm, y, _ = _campaign(500, seed=7)
    with pytest.raises(ValueError, match="no control group"):
        OfferUplift().fit(X, np.where(arm == "control", "coupon", arm), y, np.zeros(len(y)))
    tiny = arm.copy()
    tiny[np.flatnonzero(arm == "points")[10:]] = "coupon"
    with pytest.raises(ValueError, match="points have fewer than 30 members"):
        OfferUplift().fit(X, tiny, y, np.zeros(len(y)))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), budget=st.floats(1, 300), limited=st.booleans())
def test_the_banded_solution_is_the_whole_lps_optimum(seed, budget, limited):
    """Members fixed at the approximate prices and certified by the band's duals: the same value as one LP
    over every member (less at most the members a vertex splits, which get none)."""
    import scipy.sparse as sp
    from scipy.optimize import linprog

    import spend.models.offer_assignment as lp

    rng = np.random.default_rng(seed)
    members, offers = 200, 3
    net, cost = rng.normal(1, 3, (members, offers)), rng.uniform(0.5, 10, (members, offers))
    stock = np.array([20.0, np.inf, 15.0]) if limited else None
    original = lp.BAND
    lp.BAND = 7  # far fewer than the members: the certificate must do the work
    try:
        result = assign(net, cost, budget, stock)
    finally:
        lp.BAND = original
    rows, cols = np.nonzero((net > 0) & (cost <= budget))
    n = len(rows)
    matrix = sp.vstack(
        [
            sp.csr_matrix((np.ones(n), (rows, np.arange(n))), (members, n)),
            sp.csr_matrix(cost[rows, cols][None, :]),
            *([sp.csr_matrix((np.ones(n), (cols, np.arange(n))), (offers, n))] if limited else []),
        ]
    )
    bounds = np.concatenate([np.ones(members), [budget], *([np.array([20.0, 1e12, 15.0])] if limited else [])])
    optimum = -linprog(-net[rows, cols], A_ub=matrix, b_ub=bounds, bounds=(0, 1), method="highs").fun
    assert result.net <= optimum + 1e-6
    assert result.net >= optimum - result.split_members * net.max() - 1e-6


def test_a_members_waves_are_one_cluster_in_the_policy_values_interval():
    rng = np.random.default_rng(3)
    scores = rng.normal(0, 5, (400, 3))
    choice = rng.integers(0, 3, 400)
    plain = policy_value(scores, choice)
    alone = policy_value(scores, choice, members=np.arange(400))
    assert alone.se == pytest.approx(plain.se)  # one row per member: the usual standard error
    # Every member twice (two waves, the same gain): the naive interval would shrink by sqrt(2); the
    # clustered one is the interval of the 400 members.
    twice = policy_value(
        np.vstack([scores, scores]), np.concatenate([choice, choice]), members=np.tile(np.arange(400), 2)
    )
    naive = policy_value(np.vstack([scores, scores]), np.concatenate([choice, choice]))
    assert twice.value == pytest.approx(plain.value) and twice.se == pytest.approx(plain.se)
    assert naive.se < 0.75 * twice.se


def test_the_first_stage_has_its_own_boosters_and_tiers_are_ranked():
    X, arm, y, _ = _campaign(3_000, seed=2)
    X = X.assign(membership_tier=np.where(X["group"] == 1, "gold", np.where(np.arange(len(X)) % 2, "silver", "basic")))
    model = OfferUplift(learner="x", num_leaves=2, outcome_num_leaves=7, min_child_samples=50).fit(
        X, arm, y, np.zeros(len(y))
    )
    codes = model.categories_.transform(pd.DataFrame({"membership_tier": ["basic", "silver", "gold", "platinum"]}))
    assert codes.ravel().tolist() == [0, 1, 2, 3]  # the tiers' order, not the alphabet's (gold before basic)
    kept = [m for pieces in model.effect_ for _, m in pieces]  # the imputed effects' boosters
    assert {m.get_params()["num_leaves"] for m in kept} == {2}
    for learner, first, last in (("x", "models", "cate_models"), ("dr", "model_regression", "model_final")):
        econml = OfferUplift(learner=learner, num_leaves=2, outcome_num_leaves=7)._econml([0, 1, 2])
        assert getattr(econml, first).get_params()["num_leaves"] == 7
        assert getattr(econml, last).get_params()["num_leaves"] == 2


def test_pooled_campaigns_are_reweighted_by_their_own_arm_shares():
    """Two waves split differently (90/10 and 10/90) with different baselines; a useless outcome model
    (zeros) leaves the weights to do the work: each wave's own shares recover the true effect, 1; the
    pooled shares do not."""
    rng = np.random.default_rng(4)
    n = 40_000
    wave = np.repeat(["a", "b"], n // 2)
    treated = rng.random(n) < np.where(wave == "a", 0.1, 0.9)
    y = np.where(wave == "a", 10.0, 0.0) + treated * 1.0 + rng.normal(0, 1, n)
    arm = np.where(treated, "coupon", "control")
    mu = np.zeros((n, 2))
    own = policy_value(dr_scores(mu, ["control", "coupon"], arm, y, wave), np.ones(n, dtype=int))
    pooled = policy_value(dr_scores(mu, ["control", "coupon"], arm, y), np.ones(n, dtype=int))
    assert own.low <= 1.0 <= own.high
    assert not pooled.low <= 1.0 <= pooled.high


def test_an_offers_model_saved_before_the_tier_ladder_still_clones_for_the_gates_refit():
    """The gate refits the champion's settings (sklearn's clone): a champion saved before `tiers` existed
    raised AttributeError there."""
    from sklearn.base import clone

    X, arm, y, _ = _campaign(2_000, seed=4)
    state = dict(OfferUplift(min_child_samples=50).fit(X, arm, y, np.zeros(len(y))).__getstate__())
    state.pop("tiers")
    before = OfferUplift.__new__(OfferUplift)
    before.__setstate__(state)
    assert clone(before).get_params()["tiers"] is None and "OfferUplift(" in repr(before)
