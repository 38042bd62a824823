"""A row's identity hashes each value as pandas does, whichever way a column is hashed: a column of ids
(nearly every value distinct) value by value, a column of repeated values through its dictionary. The
stored identities of every home depend on it: a hash that moved would store every line again."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spend.features.ingest.identity import _plain_hash, content_hash

N = 20_000  # above the sample that tells ids from repeated values


def _columns() -> dict[str, list]:
    rng = np.random.default_rng(7)
    return {
        "ids": [f"ev-{i:016x}" for i in range(N)],
        "repeated": [f"P{i}" for i in rng.integers(0, 50, N)],
        "a third distinct": [f"o{i}" for i in rng.integers(0, N // 3, N)],
        "ids with blanks": [None if i % 97 == 0 else f"c{i}" for i in range(N)],
        "sorted repeats": sorted(f"s{i // 7}" for i in range(N)),
    }


@pytest.mark.parametrize("name", sorted(_columns()))
def test_every_way_of_hashing_a_text_column_gives_pandas_hash_of_its_values(name):
    values = _columns()[name]
    column = pd.Series(values, dtype="string[pyarrow]")
    reference = pd.util.hash_pandas_object(pd.Series(values, dtype=object), index=False).to_numpy()
    assert (_plain_hash(column) == reference).all()
    assert (_plain_hash(column.iloc[:100]) == reference[:100]).all()  # a small file: no sample taken


def test_a_rows_identity_is_the_same_for_an_id_column_in_arrow_or_as_objects():
    values = _columns()
    frame = pd.DataFrame({k: pd.Series(v, dtype="string[pyarrow]") for k, v in values.items()})
    objects = pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in values.items()})
    assert content_hash(frame).equals(content_hash(objects))
