"""Offer targeting: per member and offer, the expected change in margin and the expected cost against no
offer, learned from a randomised multi-arm campaign; assigned under a budget by models/offer_assignment.py
and judged off-policy by models/offer_policy.py.

The outcome is the member's net margin in the campaign window: margin of what it bought minus what its
offer cost (`offer_cost`; nothing under control). Net effects come from econml's meta-learners
(`learner`: "dr" DRLearner, "x" XLearner, "t" TLearner; compared in docs/offers.md) with LightGBM
nuisances and the campaign's known arm shares as propensities. The X- and DR-learners' first stage
predicts a member's margin in the window, which varies by tens between members, and gets boosters of its
own (`outcome_*`: deeper trees); the effects they impute, a few units under that noise, are learned by
the small, strongly regularised boosters the other settings describe. Membership tiers are ranked
(basic to platinum), not coded alphabetically. The cost of an offer is zero under control, so its
expectation per arm is a plain regression on that arm's members.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from lightgbm import LGBMRegressor
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError

from spend.core.experiments import OffersConfig
from spend.core.names import TIERS
from spend.core.registry import ModelSpec, ServingSpec
from spend.models.encoding import encode, learn_categories

CONTROL = "control"
MIN_ARM = 30  # members an arm needs before its effect is learned


def offer_cost(kind: str, value: float, spend, orders, point_value: float, redemption_rate) -> np.ndarray:
    """What an offer costs the shop given what the member spent and how many orders it placed in the window:
    a coupon its percent of the spend; a points multiplier the extra points' liability (1 point per unit
    spent, each worth point_value and redeemed at the ledger's rate: one rate, or one per member); free
    shipping its fee per order."""
    spend, orders = np.asarray(spend, dtype=float), np.asarray(orders, dtype=float)
    if kind == "coupon":
        return spend * value / 100
    if kind == "points":
        return spend * (value - 1) * point_value * redemption_rate
    if kind == "shipping":
        return orders * value
    raise ValueError(f"unknown offer kind {kind!r}")


@dataclass
class Effects:
    offers: list[str]
    net: np.ndarray  # (members, offers): expected net margin change against no offer
    cost: np.ndarray  # (members, offers): expected cost

    @property
    def margin(self) -> np.ndarray:
        return self.net + self.cost


def check_arms(arm) -> np.ndarray:
    arm = np.asarray(arm, dtype=object)
    counts = pd.Series(arm).value_counts()
    if CONTROL not in counts:
        raise ValueError("the campaign has no control group: offer effects cannot be estimated")
    small = counts[counts < MIN_ARM]
    if len(small):
        raise ValueError(f"arms {', '.join(map(str, small.index))} have fewer than {MIN_ARM} members")
    if len(counts) < 2:
        raise ValueError("the campaign has no offer arm")
    return arm


def _booster(params: dict, random_state: int) -> LGBMRegressor:
    return LGBMRegressor(**params, subsample=0.8, subsample_freq=1, random_state=random_state, verbose=-1)


class _NetEffects:
    """predict(X): (members, offers) expected net margin change against no offer, from `effects` (what the
    gate scores and MLflow's python_function flavor answers, for the model and its baselines alike)."""

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.effects(X).net


class OfferUplift(_NetEffects, BaseEstimator):
    def __init__(
        self,
        learner: str = "x",
        n_estimators: int = 200,
        learning_rate: float = 0.05,
        num_leaves: int = 8,
        min_child_samples: int = 500,
        outcome_n_estimators: int = 200,
        outcome_learning_rate: float = 0.05,
        outcome_num_leaves: int = 15,
        outcome_min_child_samples: int = 200,
        random_state: int = 0,
        tiers: tuple[str, ...] | None = None,
    ) -> None:
        self.learner = learner
        self.tiers = tiers  # the shop's membership tiers, lowest first (SPEND_TIERS); None: Spend's default
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.outcome_n_estimators = outcome_n_estimators
        self.outcome_learning_rate = outcome_learning_rate
        self.outcome_num_leaves = outcome_num_leaves
        self.outcome_min_child_samples = outcome_min_child_samples
        self.random_state = random_state

    def __setstate__(self, state: dict) -> None:
        # A model registered before SPEND_TIERS has no ladder: Spend's default, as it was fitted with; its
        # parameters (clone for the gate's refit, repr) still read.
        super().__setstate__({"tiers": None} | state)

    def _params(self) -> dict:
        return {
            "n_estimators": int(self.n_estimators),
            "learning_rate": float(self.learning_rate),
            "num_leaves": int(self.num_leaves),
            "min_child_samples": int(getattr(self, "leaf_size_", self.min_child_samples)),
        }

    def _outcome_params(self) -> dict:
        """The first stage's boosters: a member's margin in the window, not an effect."""
        return {
            "n_estimators": int(self.outcome_n_estimators),
            "learning_rate": float(self.outcome_learning_rate),
            "num_leaves": int(self.outcome_num_leaves),
            "min_child_samples": int(min(self.outcome_min_child_samples, getattr(self, "leaf_size_", 10**9))),
        }

    def _econml(self, categories: list[int]):
        from econml.dr import DRLearner
        from econml.metalearners import TLearner, XLearner
        from sklearn.dummy import DummyClassifier

        def booster():
            return _booster(self._params(), self.random_state)

        def outcome():
            return _booster(self._outcome_params(), self.random_state)

        # A randomised campaign's propensity is the arm's share, whatever the member: the prior.
        prior = DummyClassifier(strategy="prior")
        if self.learner == "dr":
            return DRLearner(
                model_propensity=prior,
                model_regression=outcome(),
                model_final=booster(),
                categories=categories,
                cv=2,
                min_propensity=1e-3,
                random_state=self.random_state,
                allow_missing=True,  # LightGBM handles a missing feature (no customers table: no tenure)
            )
        if self.learner == "x":
            return XLearner(
                models=outcome(),
                cate_models=booster(),
                propensity_model=prior,
                categories=categories,
                allow_missing=True,
            )
        if self.learner == "t":
            return TLearner(models=booster(), categories=categories, allow_missing=True)
        raise ValueError(f"learner must be dr, x or t, not {self.learner!r}")

    def fit(self, X: pd.DataFrame, arm, net, cost) -> OfferUplift:
        arm = check_arms(arm)
        self.features_ = list(X.columns)
        self.categories_ = learn_categories(X, {"membership_tier": self.tiers or TIERS})
        X = encode(X, self.features_, self.categories_, "offers").to_numpy()  # econml's own models see arrays
        self.offers_ = sorted(set(arm) - {CONTROL})
        # Leaves of min_child_samples members, or a quarter of an arm's on a small campaign (a small shop's
        # arms of a few hundred would otherwise fit one constant per offer).
        per_arm = len(arm) // (len(self.offers_) + 1)
        self.leaf_size_ = int(min(self.min_child_samples, max(20, per_arm // 4)))
        # Arms as codes (control 0): econml's X-learner cannot fit its propensity on text labels.
        codes = pd.Index([CONTROL, *self.offers_]).get_indexer(arm)
        with warnings.catch_warnings():
            # econml warns that missing features may bias identification; here the arms are randomised,
            # so identification never rests on X, and LightGBM splits on a missing value by design.
            warnings.filterwarnings("ignore", message=r"(X|Input) contains NaN", category=UserWarning)
            fitted = self._econml(list(range(len(self.offers_) + 1))).fit(np.asarray(net, dtype=float), codes, X=X)
            self.effect_ = _pieces(fitted, self.learner, X)
        cost = np.asarray(cost, dtype=float)
        self.cost_ = {
            offer: _booster(self._params(), self.random_state).fit(X[arm == offer], cost[arm == offer])
            for offer in self.offers_
        }
        return self

    def effects(self, X: pd.DataFrame) -> Effects:
        if not hasattr(self, "effect_"):
            raise NotFittedError("OfferUplift is not fitted yet; call fit first")
        X = encode(X, self.features_, self.categories_, "offers").to_numpy()
        net = np.column_stack([sum(w * m.predict(X) for w, m in pieces) for pieces in self.effect_])
        cost = np.column_stack([np.maximum(self.cost_[o].predict(X), 0.0) for o in self.offers_])
        return Effects(list(self.offers_), net, cost)


def _pieces(fitted, learner: str, X: np.ndarray) -> list[list[tuple[float, LGBMRegressor]]]:
    """Each offer's effect as a weighted sum of fitted LightGBM regressors: what econml's learner computes
    in const_marginal_effect, kept without econml's object (which the registry's skops cannot hold)."""
    if learner == "dr":
        return [[(1.0, m)] for m in fitted.fitted_models_final]
    if learner == "t":
        control = fitted.models[0]
        return [[(1.0, m), (-1.0, control)] for m in fitted.models[1:]]
    # X-learner: the treated share (a randomised campaign's propensity, the same for everyone) weighs the
    # model imputed from the control arm against the one imputed from the treated arm.
    share = [float(p.predict_proba(X[:1])[0, 1]) for p in fitted.propensity_models]
    return [
        [(p, c), (1 - p, t)]
        for p, c, t in zip(share, fitted.cate_controls_models, fitted.cate_treated_models, strict=True)
    ]


class BestSingleOffer(_NetEffects, BaseEstimator):
    """The baseline: the offer with the best average net effect on the campaign, for everyone (or nobody,
    when no offer pays for itself on average). Its effects are that offer's averages; other offers are
    not allowed (-inf)."""

    def fit(self, X: pd.DataFrame, arm, net, cost) -> BestSingleOffer:
        arm, net, cost = check_arms(arm), np.asarray(net, dtype=float), np.asarray(cost, dtype=float)
        self.features_ = list(X.columns)
        self.offers_ = sorted(set(arm) - {CONTROL})
        control = net[arm == CONTROL].mean()
        self.net_ = np.array([net[arm == o].mean() - control for o in self.offers_])
        self.cost_ = np.array([cost[arm == o].mean() for o in self.offers_])
        self.best_ = int(np.argmax(self.net_))
        return self

    def effects(self, X: pd.DataFrame) -> Effects:
        if not hasattr(self, "net_"):
            raise NotFittedError("BestSingleOffer is not fitted yet; call fit first")
        net = np.full((len(X), len(self.offers_)), -np.inf)
        net[:, self.best_] = self.net_[self.best_]
        return Effects(list(self.offers_), net, np.tile(self.cost_, (len(X), 1)))


class NoOffer(_NetEffects, BaseEstimator):
    """The baseline of sending nothing: no offer is allowed, so an assignment offers nobody anything."""

    def fit(self, X: pd.DataFrame, arm, net, cost) -> NoOffer:
        self.offers_ = sorted(set(check_arms(arm)) - {CONTROL})
        self.features_ = list(X.columns)
        return self

    def effects(self, X: pd.DataFrame) -> Effects:
        if not hasattr(self, "offers_"):
            raise NotFittedError("NoOffer is not fitted yet; call fit first")
        shape = (len(X), len(self.offers_))
        return Effects(list(self.offers_), np.full(shape, -np.inf), np.zeros(shape))


def search_space(trial, bounds: dict | None = None) -> dict:
    from spend.models.boosting import capacity_space

    return capacity_space(
        trial,
        bounds,
        {
            "n_estimators": (50, 400),
            "learning_rate": (0.01, 0.2),
            "num_leaves": (2, 31),
            "min_child_samples": (50, 800),
        },
    )


SPEC = ModelSpec(
    name="offers",
    summary="which coupon or points offer for which member: effects per offer, assigned under a budget",
    estimator=OfferUplift,
    config=OffersConfig,
    feature_service="offers_v1",
    dataset="offer_campaign",
    label="net_margin",
    metrics=None,  # policy values on the held-out part of the campaign, by the dataset strategy
    metric_names=("policy_value", "policy_value_low", "policy_value_high"),
    gate_metric="policy_value",
    predict=lambda model, X: model.predict(X),
    baselines={"best_single": lambda config: BestSingleOffer(), "no_offer": lambda config: NoOffer()},
    search_space=search_space,
    serving=ServingSpec(roles=("marketing",), routes={"/v1/offers/assign": "offers_assign"}),
)
