"""The recall list's report flags an uplift that cannot rank: constant, unknown or absent."""

from __future__ import annotations

import numpy as np

from spend.training.recall import uplift_warning


def test_a_constant_or_missing_uplift_is_flagged():
    assert "the same (0.0333)" in uplift_warning(np.full(500, 0.0333))
    assert uplift_warning(None).startswith("no uplift")
    assert "unknown" in uplift_warning(np.full(3, np.nan))
    assert uplift_warning(np.array([0.01, 0.05, np.nan])) is None
