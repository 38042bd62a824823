"""`among`: which rows of an ingest the home already holds, by Arrow's hash set (features/ingest/identity.py).
It replaced numpy's and pandas' isin, which took seconds per million stored rows on every ingest
(benchmarks/ingest_growth.py); these pin that it answers as they did."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spend.features.ingest.identity import among


@pytest.mark.parametrize("pool_size", [0, 3, 50])  # fewer than, as many as and more than the values
def test_hashes_are_found_as_numpys_isin_finds_them(pool_size):
    rng = np.random.default_rng(pool_size)
    values = rng.integers(-5, 5, 10).astype("int64")
    pool = rng.integers(-5, 5, pool_size).astype("int64")
    assert among(values, pool).tolist() == np.isin(values, pool).tolist()


def test_keys_are_found_whatever_their_string_type_and_a_blank_is_never_found():
    keys = pd.Series(["e1", None, "e3", "e1"], dtype="string[pyarrow]")
    stored = pd.Series(["e1", "e9", None], dtype=object)  # a store read as objects, with a blank key
    assert among(keys, stored).tolist() == [True, False, False, True]
    assert among(pd.Series([None, None], dtype=object), stored).tolist() == [False, False]
    assert among(keys, pd.Series([], dtype=object)).tolist() == [False] * 4
