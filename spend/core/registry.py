"""The model registry: every model Spend trains and serves is declared once, as a `ModelSpec` beside
its estimator (a module-level `SPEC` in a module of spend.models, or of a module named in
SPEND_MODEL_MODULES). Everything that used to list the models by hand comes from here: `spend train |
backtest | score NAME`, MLflow's registered names and the gate, the service's model slots, routes and
role map, and `spend models list`.

A spec holds only declarations and plain callables; it imports no MLflow, Feast or BentoML, so models/
stays free of them. How a dataset strategy builds training data lives in spend.training.datasets.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from spend.core.errors import SpendError

Dataset = Literal["customer_cohorts", "payments_prequential", "series_backtest", "price_panel", "offer_campaign"]
# What each kind of training data is made from: said wherever a model is missing, so a shop whose exports
# cannot give one (no card payments, no campaign) learns why, not only to train it.
LEARNS_FROM: dict[str, str] = {
    "customer_cohorts": "customers' purchases",
    "payments_prequential": "card payments and fraud labels",
    "series_backtest": "daily purchases per product",
    "price_panel": "purchases at prices that moved, over 26 weeks or more",
    "offer_campaign": "a randomised offer campaign",
}
ROLES = ("marketing", "pricing-engine", "supply-chain", "data-scientist", "admin", "monitoring")
EVERYTHING = ("data-scientist", "admin")  # roles that may call every endpoint


@dataclass(frozen=True)
class ServingSpec:
    """How the service answers with the model.

    - `roles`: who may call it, beside data-scientist and admin (who may call everything);
    - `route_roles`: for a route that other roles may call than the model's others, its own roles
      (the pricing engine may ask for a demand forecast, but not for replenishment orders);
    - `routes`: each HTTP route (POST, JSON body) and the name of the service method that implements a
      tuned request path for it (churn's, fraud's), or None for the generic customer endpoint:
      `{"customer_ids": [...]}` in; for each customer, `found` and the model's score on its online
      features (the spec's feature service) out.
    """

    roles: tuple[str, ...]
    routes: Mapping[str, str | None]
    route_roles: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        bad = [route for route in self.routes if not route.startswith("/v1/")]
        if bad:
            raise ValueError(f"routes {bad} must start with /v1/")
        stray = set(self.route_roles) - set(self.routes)
        if stray:
            raise ValueError(f"route_roles names routes {sorted(stray)} the spec does not serve")
        unknown = (set(self.roles) | {r for roles in self.route_roles.values() for r in roles}) - set(ROLES)
        if unknown:
            raise ValueError(f"unknown roles {sorted(unknown)}; roles: {', '.join(ROLES)}")


@dataclass(frozen=True)
class ModelSpec:
    """One model, declared once.

    - `estimator(**params)` builds an unfitted estimator from the YAML's params (plus what the dataset
      strategy adds, such as `horizon_days`);
    - `config`: the pydantic schema of experiments/<name>.yaml (unknown keys are errors);
    - `dataset`: how training data is made (spend.training.datasets);
    - `label`/`make_label`: the label column and, for customer cohorts, f(lines, ids, cutoff, horizon);
    - `metrics(y, scores) -> {name: value}` (None where the dataset strategy computes them, as the fraud
      protocol does per test day), `metric_names`, `lower_is_better`, `gate_metric` (the YAML may
      override it);
    - `baselines`: name -> f(config) -> an unfitted estimator the dataset strategy fits on the same
      training data and compares with the model on the same holdout; where the strategy can serve it,
      the gate crowns it when it beats the model;
    - `predict(model, X)`: the scores the metrics are computed on;
    - `describe(model, X, scores)`: extra columns of `spend score NAME` (bands, reasons), optional;
    - `search_space(trial, bounds)`: Optuna's parameters, optional;
    - `serving`: how the service answers with it, or None (batch only).
    """

    name: str
    summary: str
    estimator: Callable[..., Any]
    config: type
    feature_service: str
    dataset: Dataset
    label: str
    metrics: Callable[[Any, Any], dict[str, float]] | None
    metric_names: tuple[str, ...]
    gate_metric: str
    predict: Callable[[Any, Any], Any]
    lower_is_better: frozenset[str] = frozenset()
    baselines: Mapping[str, Callable] = field(default_factory=dict)
    make_label: Callable | None = None
    describe: Callable | None = None
    search_space: Callable | None = None
    serving: ServingSpec | None = None
    score_column: str = "score"

    def __post_init__(self) -> None:
        if self.gate_metric not in self.metric_names:
            raise ValueError(f"{self.name}: gate metric {self.gate_metric!r} is not one of {self.metric_names}")

    def better(self, metric: str, new: float, old: float, min_improvement: float = 0.0) -> bool:
        """At least as good as `old`, by at least `min_improvement`, in the metric's direction."""
        if metric in self.lower_is_better:
            return new <= old - min_improvement
        return new >= old + min_improvement


def _modules() -> list[str]:
    import spend.models

    found = [f"spend.models.{m.name}" for m in pkgutil.iter_modules(spend.models.__path__)]
    extra = [m.strip() for m in os.environ.get("SPEND_MODEL_MODULES", "").split(",") if m.strip()]
    return found + extra


@lru_cache(maxsize=1)
def _registry() -> dict[str, ModelSpec]:
    specs: dict[str, ModelSpec] = {}
    for module_name in _modules():
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            raise SpendError(f"SPEND_MODEL_MODULES: cannot import {module_name}: {error}") from error
        spec = getattr(module, "SPEC", None)
        if spec is None:
            continue
        if not isinstance(spec, ModelSpec):
            raise SpendError(f"{module_name}.SPEC is a {type(spec).__name__}, not a ModelSpec")
        if spec.name in specs:
            raise SpendError(f"model {spec.name!r} is declared twice ({module_name} and another module)")
        specs[spec.name] = spec
    return specs


def specs() -> dict[str, ModelSpec]:
    """Every declared model by name, in declaration order of the modules."""
    return dict(_registry())


def spec(name: str) -> ModelSpec:
    """The spec of `name` (or of its registered form, `spend-<name>`); an unknown name lists the known."""
    from spend.core.names import model_name

    found = _registry().get(model_name(name))
    if found is None:
        raise SpendError(f"unknown model {name!r}; known: {', '.join(sorted(_registry())) or 'none'}")
    return found


def train_hint(name: str) -> str:
    """How to get a missing model, and what its training needs ("train one with `spend train fraud` (it
    learns from card payments and fraud labels)"); an undeclared name gets the command only."""
    from spend.core.names import model_name

    found = _registry().get(model_name(name))
    needs = f" (it learns from {LEARNS_FROM[found.dataset]})" if found is not None else ""
    return f"train one with `spend train {name}`{needs}"


def permission(model: ModelSpec, route: str) -> str:
    """The permission a model's route needs: the model's name, or `name route` for a route with roles of
    its own."""
    return f"{model.name} {route}" if route in model.serving.route_roles else model.name


def served() -> dict[str, ModelSpec]:
    """The models the service answers with."""
    return {name: s for name, s in _registry().items() if s.serving is not None}
