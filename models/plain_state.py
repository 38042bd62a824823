"""Fitted state as plain values: the model registry stores models with skops, which loads without
running pickle code but cannot hold pandas objects; a model keeps its tables as dicts of arrays in its
state and rebuilds them on load. Datetime columns are stored as whole seconds; a column named `ds`
(mlforecast's dates) comes back as datetimes."""

from __future__ import annotations

import numpy as np
import pandas as pd


def to_plain(value):
    """pandas objects as dicts of arrays (skops stores those)."""
    if isinstance(value, pd.DataFrame):
        columns = {c: _array(value[c]) for c in value.columns}
        return {"__frame__": columns, "index": _array(value.index), "index_name": value.index.name}
    if isinstance(value, pd.Series):
        return {"__series__": _array(value), "index": _array(value.index), "name": value.name}
    if isinstance(value, pd.Timestamp):
        return {"__timestamp__": value.isoformat()}
    return value


def _array(values) -> np.ndarray:
    array = np.asarray(values)
    if array.dtype.kind == "M":
        return array.astype("datetime64[s]").astype("int64")  # whole days: seconds lose nothing
    return array.astype(str) if array.dtype == object else array


def from_plain(value):
    if isinstance(value, dict) and "__frame__" in value:
        columns = {c: _restored(v, c) for c, v in value["__frame__"].items()}
        index = pd.Index(_restored(value["index"], "index"), name=value["index_name"])
        return pd.DataFrame(columns, index=index)
    if isinstance(value, dict) and "__series__" in value:
        return pd.Series(
            _restored(value["__series__"], value["name"]), index=_restored(value["index"], "index"), name=value["name"]
        )
    if isinstance(value, dict) and "__timestamp__" in value:
        return pd.Timestamp(value["__timestamp__"])
    return value


class PlainState:
    """A model whose fitted attributes are pandas objects, stored as plain values and rebuilt on load.
    Listed before BaseEstimator, so these are the state methods pickle and skops call."""

    def __getstate__(self) -> dict:
        return {k: to_plain(v) for k, v in self.__dict__.items()}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update({k: from_plain(v) for k, v in state.items()})


def _restored(values: np.ndarray, name: str):
    if name == "ds":
        return pd.to_datetime(values, unit="s")
    return values.astype(object) if values.dtype.kind == "U" else values
