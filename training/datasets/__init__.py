"""Dataset strategies: how a model's training data, holdout and baselines are made, by the `dataset` its
spec names. Each module offers the same functions, which the shared loop (training/loop.py) calls:

- `STEPS`: the progress steps of a training run;
- `prepare(settings, spec, config, as_of) -> data`;
- `evaluate(spec, config, data, params) -> Evaluation`: fit the candidate, score it and the baselines on
  the holdout, and hand over every fitted scorer that could be served (the contenders);
- `champion_metrics(spec, config, data, model) -> {metric: value}`: another model on the same holdout;
- `objective(spec, config, data) -> f(trial) -> float`: what tuning optimises (the gate's metric on
  folds before the holdout);
- `score(settings, spec, as_of, **options) -> (frame, summary)`: `spend score NAME`.

And, for monitoring (training/monitoring.py), where the strategy can say:
- `current_inputs(settings, spec, config, as_of) -> frame`: the model's inputs as they are today;
- `live_metrics(settings, spec, config, model, run_tags, as_of) -> {"value": ..., ...} or {"status": ...}`:
  a champion's gate metric on cases whose labels arrived after its holdout.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType

import numpy as np
import pandas as pd

from spend.core.errors import SpendError


@dataclass
class Evaluation:
    table: pd.DataFrame  # one row per scorer ("spend" and each baseline), metrics as columns
    params: dict  # what the candidate was fitted with, as logged
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)  # beyond the table's
    details: dict = field(default_factory=dict)  # strategy-specific figures for the report
    # Every fitted scorer that could be registered and served in the candidate's place, by its row in
    # `table` ("spend" is the candidate): the gate crowns the best of them (training/loop.py).
    contenders: dict[str, object] = field(default_factory=dict)
    # For the run's signature, input example and figures (training/plots.py): a few holdout input rows,
    # and for a binary label the holdout's labels and every scorer's scores.
    example: pd.DataFrame | None = None
    # The training inputs, profiled and kept with the model for drift monitoring (models/drift.py).
    reference: pd.DataFrame | None = None
    recent: pd.DataFrame | None = None  # the holdout's inputs: how far features move on their own
    reference_at: pd.Timestamp | None = None  # when the reference and recent inputs were (their middle)
    recent_at: pd.Timestamp | None = None
    trends: tuple[str, ...] = ()  # inputs that grow with time (models/drift.py)
    holdout_scores: tuple[np.ndarray, dict[str, np.ndarray]] | None = None
    # Figures beyond the classifier's (training/plots.py): file name -> a function that draws one.
    figures: dict[str, Callable[[], object]] = field(default_factory=dict)

    @property
    def model(self) -> object:
        """The fitted candidate."""
        return self.contenders["spend"]


def strategy(dataset: str) -> ModuleType:
    from spend.training.datasets import (
        customer_cohorts,
        offer_campaign,
        payments_prequential,
        price_panel,
        series_backtest,
    )

    known = {
        "customer_cohorts": customer_cohorts,
        "payments_prequential": payments_prequential,
        "series_backtest": series_backtest,
        "price_panel": price_panel,
        "offer_campaign": offer_campaign,
    }
    if dataset not in known:
        raise SpendError(f"dataset strategy {dataset!r} is not implemented yet; implemented: {', '.join(known)}")
    return known[dataset]
