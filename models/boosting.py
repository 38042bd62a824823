"""What Spend's LightGBM models share: the booster settings, the Optuna search space over them, and
reason codes from TreeSHAP contributions."""

from __future__ import annotations

import numpy as np
import pandas as pd

CAPACITY = ("n_estimators", "learning_rate", "num_leaves", "min_child_samples", "random_state")


def booster(cls, estimator, **extra):
    """A LightGBM `cls` with the estimator's capacity parameters, row subsampling and no logging."""
    params = {name: getattr(estimator, name) for name in CAPACITY}
    return cls(**params, subsample=0.8, subsample_freq=1, verbose=-1, **extra)


def capacity_space(trial, bounds: dict | None, defaults: dict) -> dict:
    """Optuna space over the booster's capacity and learning rate, within `bounds` (name -> low, high)."""
    unknown = set(bounds or {}) - set(defaults)
    if unknown:
        raise ValueError(f"no search space for {', '.join(sorted(unknown))}; known: {', '.join(defaults)}")
    b = defaults | dict(bounds or {})
    return {
        "n_estimators": trial.suggest_int("n_estimators", *map(int, b["n_estimators"])),
        "learning_rate": trial.suggest_float("learning_rate", *map(float, b["learning_rate"]), log=True),
        "num_leaves": trial.suggest_int("num_leaves", *map(int, b["num_leaves"])),
        "min_child_samples": trial.suggest_int("min_child_samples", *map(int, b["min_child_samples"]), log=True),
    }


SMALL_BATCH = 256  # rows below which one thread is faster than starting OpenMP's


def threads_for(rows: int) -> int:
    """LightGBM's num_threads for a batch of `rows`."""
    return 1 if rows < SMALL_BATCH else 0  # 0: LightGBM's default, every core


def positive_probability(fitted, matrix: pd.DataFrame | np.ndarray) -> np.ndarray:
    """P(class 1) from a fitted binary LGBMClassifier on an all-float matrix, through the Booster on a
    numpy array: the sklearn wrapper's checks cost 20x the model on a single payment (1.1 ms vs 0.05)."""
    return fitted.booster_.predict(np.asarray(matrix, dtype=np.float64), num_threads=threads_for(len(matrix)))


def top_reasons(fitted, matrix: pd.DataFrame | np.ndarray, names: list[str], top: int = 3) -> list[list[str]]:
    """Per row, the `top` inputs pushing the score up most (positive TreeSHAP contributions only)."""
    values = np.asarray(matrix, dtype=np.float64)
    contributions = fitted.booster_.predict(values, pred_contrib=True, num_threads=threads_for(len(values)))
    return reasons_from(contributions[:, :-1], names, top)  # the last column is the bias


def reasons_from(contributions: np.ndarray, names: list[str], top: int = 3) -> list[list[str]]:
    """Per row of (rows, features) contributions, the names of the `top` largest positive ones."""
    order = np.argsort(-contributions, axis=1)[:, :top]
    # Largest first, so a row's positive contributions lead: keep that many of its names.
    kept = (np.take_along_axis(contributions, order, axis=1) > 0).sum(axis=1).tolist()
    labels = np.asarray(names, dtype=object)[order].tolist()
    return [row[:k] for row, k in zip(labels, kept, strict=True)]
