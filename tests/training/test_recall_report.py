"""The recall list's report flags an uplift that cannot rank: constant, unknown or absent."""

from __future__ import annotations

import numpy as np

from spend.training.recall import uplift_warning


def test_a_constant_or_missing_uplift_is_flagged():
    assert "the same (0.0333)" in uplift_warning(np.full(500, 0.0333))
    assert uplift_warning(None).startswith("no uplift")
    assert "unknown" in uplift_warning(np.full(3, np.nan))
    assert uplift_warning(np.array([0.01, 0.05, np.nan])) is None


def test_the_reports_value_line_counts_unknown_saved_margins_instead_of_printing_nan():
    """A list whose values were unknown read "half of the list's expected saved margin (nan) comes from
    its first 0 customers"."""
    from spend.training.report_sections import _recall_reading

    assert _recall_reading(np.cumsum([50.0, 30.0, 20.0]), 0) == (
        "half of the list's expected saved margin (100) comes from its first 1 customers"
    )
    assert _recall_reading(np.array([]), 3) == (
        "no contact on the list is expected to save any margin (3 customers without a known saved margin left out)"
    )
    assert _recall_reading(np.zeros(4), 0) == "no contact on the list is expected to save any margin"
    # without a campaign the value is what is at risk, and the line says so
    assert _recall_reading(np.cumsum([50.0, 30.0, 20.0]), 0, measured=False).startswith(
        "half of the list's margin at risk (no campaign has measured a contact's effect) (100)"
    )
