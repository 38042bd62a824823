"""A model's YAML (experiments/<model>.yaml) read and checked against its spec: the gate metric, the
baselines, the params and the search space are the model's own. Apart from the training loop so that
commands which only read a setting (`spend forecast`, `spend replenish`, monitoring) do not import the
loop's feature-store and tracking dependencies (Feast alone takes seconds to import).
"""

from __future__ import annotations

import inspect

from spend.core.errors import SpendError
from spend.core.experiments import ExperimentConfig, read_config
from spend.core.registry import ModelSpec


def load_config(model: ModelSpec, path=None, overrides: tuple[str, ...] = ()) -> ExperimentConfig:
    """The model's YAML (or the file at `path`) with `overrides` applied, its gate metric and baselines
    checked against the spec."""
    config = read_config(model.name, model.config, path, overrides)
    metric = config.gate.metric or model.gate_metric
    if metric not in model.metric_names:
        raise SpendError(
            f"{model.name}.yaml: gate.metric: {metric} is not a {model.name} metric ({', '.join(model.metric_names)})"
        )
    unknown = [b for b in config.baselines if b not in model.baselines]
    if unknown:
        raise SpendError(
            f"{model.name}.yaml: baselines: {', '.join(unknown)} not for {model.name} "
            f"(known: {', '.join(model.baselines) or 'none'})"
        )
    _known_params(model, config)
    _known_search_space(model, config)
    return config.model_copy(update={"gate": config.gate.model_copy(update={"metric": metric})})


class _Lowest:
    """An Optuna trial stand-in that answers each suggestion with its lower bound (or first choice)."""

    def suggest_int(self, name, low, high, **kwargs):
        return low

    def suggest_float(self, name, low, high, **kwargs):
        return low

    def suggest_categorical(self, name, choices):
        return choices[0]


def _known_search_space(model: ModelSpec, config: ExperimentConfig) -> None:
    """Every bound of `search_space` is one the model tunes (a stray name failed each Optuna trial, with
    Optuna's warnings on the terminal, then ended as an unexpected ValueError)."""
    if not config.search_space:
        return
    if model.search_space is None:
        raise SpendError(f"{model.name}.yaml: search_space: {model.name} is not tuned (it has no --tune space)")
    try:
        model.search_space(_Lowest(), config.search_space)
    except ValueError as error:
        raise SpendError(f"{model.name}.yaml: search_space: {error}") from error


def _known_params(model: ModelSpec, config: ExperimentConfig) -> None:
    """Every key of `params` is one the model's estimator takes (a misspelt key was an unexpected TypeError
    after the data was read). An estimator taking any keyword cannot be checked here."""
    taken = inspect.signature(model.estimator).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in taken):
        return
    names = {p.name for p in taken}
    unknown = sorted(set(config.params) - names)
    if unknown:
        raise SpendError(
            f"{model.name}.yaml: params.{unknown[0]}: not a parameter of {model.name} "
            f"(its parameters: {', '.join(sorted(names))})"
        )
