"""What Spend's LightGBM models share: the booster settings, the Optuna search space over them, and
reason codes from TreeSHAP contributions."""

from __future__ import annotations

import ctypes
import threading
import weakref

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
    numpy array: on a single payment the sklearn wrapper's checks cost far more than the model itself.
    One row goes through LightGBM's single-row C API (SingleRow below)."""
    values = np.asarray(matrix, dtype=np.float64)
    if len(values) == 1:
        single = SingleRow.of(fitted.booster_, values.shape[1])
        if single is not None:
            return single.predict(values[0])
    return fitted.booster_.predict(values, num_threads=threads_for(len(values)))


def contributions(booster, matrix: pd.DataFrame | np.ndarray) -> np.ndarray:
    """TreeSHAP contributions of a fitted binary Booster, (rows, features + 1), the bias last; one row
    through the single-row C API, as positive_probability."""
    values = np.asarray(matrix, dtype=np.float64)
    if len(values) == 1:
        single = SingleRow.of(booster, values.shape[1], "contrib")
        if single is not None:
            return single.predict(values[0])[None, :]
    return booster.predict(values, pred_contrib=True, num_threads=threads_for(len(values)))


class SingleRow:
    """LightGBM's low-latency path for one row (c_api.h: LGBM_BoosterPredictForMatSingleRowFast): the
    prediction set up once per booster instead of on every call. Booster.predict builds a predictor and
    converts its input on each call, several times the trees' own work for one payment (docs/serving.md).
    `kind`: "score", "contrib" (TreeSHAP contributions, one per column, then the bias) or "leaf" (the
    leaf index the row reaches in each tree, as floats).

    The Python package does not wrap this call, so it goes through the library the package loaded; if that
    library lacks it, `of` answers None and callers use Booster.predict. Tests hold both to the same
    numbers. One prediction at a time per setup (it owns a buffer): calls are serialised. ctypes releases
    the GIL during the call, so a prediction in another thread lets the event loop run meanwhile."""

    # c_api.h: C_API_PREDICT_NORMAL, C_API_PREDICT_LEAF_INDEX, C_API_PREDICT_CONTRIB; C_API_DTYPE_FLOAT64
    _PREDICT = {"score": 0, "leaf": 2, "contrib": 3}
    _DTYPE_FLOAT64 = 1
    _made: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def __init__(self, booster, columns: int, kind: str = "score") -> None:
        from lightgbm.basic import _LIB, _safe_call

        if booster.num_model_per_iteration() != 1:  # a multi-class booster writes more than the buffer holds
            raise ValueError("the single-row path is for binary and regression boosters")
        self.columns = columns
        self._lock = threading.Lock()
        size = {"score": 1, "contrib": columns + 1, "leaf": booster.num_trees()}[kind]
        self._out = np.empty(size, dtype=np.float64)
        self._length = ctypes.c_int64(0)
        self._handle = ctypes.c_void_p()
        self._call = _LIB.LGBM_BoosterPredictForMatSingleRowFast
        self._safe = _safe_call
        _safe_call(
            _LIB.LGBM_BoosterPredictForMatSingleRowFastInit(
                booster._handle,
                ctypes.c_int(self._PREDICT[kind]),
                ctypes.c_int(0),  # first iteration
                ctypes.c_int(booster.best_iteration or -1),  # as Booster.predict: the best, else all
                ctypes.c_int(self._DTYPE_FLOAT64),
                ctypes.c_int32(columns),
                b"num_threads=1",
                ctypes.byref(self._handle),
            )
        )
        weakref.finalize(self, _LIB.LGBM_FastConfigFree, self._handle)

    @classmethod
    def of(cls, booster, columns: int, kind: str = "score") -> SingleRow | None:
        from lightgbm.basic import LightGBMError

        made = cls._made.setdefault(booster, {})
        single = made.get(kind)
        if single is None or single.columns != columns:
            try:
                single = cls(booster, columns, kind)
            except (AttributeError, OSError, LightGBMError, ValueError):  # no such call, or not this booster
                return None
            made[kind] = single
        return single

    def predict(self, row: np.ndarray) -> np.ndarray:
        row = np.ascontiguousarray(row, dtype=np.float64)
        with self._lock:
            self._safe(
                self._call(
                    self._handle,
                    row.ctypes.data_as(ctypes.c_void_p),
                    ctypes.byref(self._length),
                    self._out.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
                )
            )
            return self._out[: self._length.value].copy()


def top_reasons(fitted, matrix: pd.DataFrame | np.ndarray, names: list[str], top: int = 3) -> list[list[str]]:
    """Per row, the `top` inputs pushing the score up most (positive TreeSHAP contributions only)."""
    return reasons_from(contributions(fitted.booster_, matrix)[:, :-1], names, top)  # the last is the bias


def reasons_from(contributions: np.ndarray, names: list[str], top: int = 3) -> list[list[str]]:
    """Per row of (rows, features) contributions, the names of the `top` largest positive ones."""
    order = np.argsort(-contributions, axis=1)[:, :top]
    # Largest first, so a row's positive contributions lead: keep that many of its names.
    kept = (np.take_along_axis(contributions, order, axis=1) > 0).sum(axis=1).tolist()
    labels = np.asarray(names, dtype=object)[order].tolist()
    return [row[:k] for row, k in zip(labels, kept, strict=True)]
