"""Drift statistics on frames whose shift is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spend.models.drift import compare, profile, psi


def _frame(n: int, seed: int, scale: float = 1.0, missing: float = 0.0, tiers=("gold", "silver")) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    spend = rng.gamma(2.0, 50.0, n) * scale
    spend[rng.random(n) < missing] = np.nan
    return pd.DataFrame({"spend": spend, "orders": rng.poisson(3, n), "tier": rng.choice(tiers, n)})


def test_psi_is_zero_for_equal_shares_and_grows_with_the_shift():
    assert psi([0.5, 0.5], [0.5, 0.5]) == 0.0
    assert 0 < psi([0.5, 0.5], [0.6, 0.4]) < psi([0.5, 0.5], [0.9, 0.1])
    assert np.isfinite(psi([0.5, 0.5, 0.0], [0.4, 0.4, 0.2]))  # an empty training bin is floored


def test_a_fresh_sample_of_the_same_population_does_not_breach():
    table = compare(profile(_frame(5_000, 1)), _frame(5_000, 2))
    assert (table["breach"] == "").all(), table
    assert table["psi"].max() < 0.05


@pytest.mark.parametrize(
    ("today", "feature", "words"),
    [
        (_frame(5_000, 2, scale=3.0), "spend", "PSI"),  # a price shock
        (_frame(5_000, 2, scale=3.0), "spend", "outside the training range"),
        (_frame(5_000, 2, missing=0.3), "spend", "missing 0% -> 30%"),
        (_frame(5_000, 2, tiers=("gold", "silver", "platinum")), "tier", "outside the training range"),
    ],
)
def test_a_known_shift_is_flagged_on_its_feature_only(today, feature, words):
    table = compare(profile(_frame(5_000, 1)), today).set_index("feature")
    assert words in table.loc[feature, "breach"], table
    assert table.drop(index=feature)["breach"].eq("").all(), table


def test_a_feature_that_moves_on_its_own_gets_a_limit_scaled_to_the_time_since_training():
    train, later, today = _frame(5_000, 1), _frame(5_000, 2, scale=1.3), _frame(5_000, 3, scale=1.5)
    day = pd.Timestamp("2026-01-01")
    seasoned = profile(train, recent=later, reference_at=day, recent_at=day + pd.Timedelta(days=30))
    plain = compare(profile(train), today).set_index("feature")
    soon = compare(seasoned, today, at=day + pd.Timedelta(days=30)).set_index("feature")
    late = compare(seasoned, today, at=day + pd.Timedelta(days=90)).set_index("feature")
    assert "PSI" in plain.loc["spend", "breach"] and late.loc["spend", "breach"] == ""
    assert plain.loc["spend", "psi_limit"] == 0.25 and soon.loc["spend", "psi_limit"] < late.loc["spend", "psi_limit"]
    natural = seasoned["features"]["spend"]["natural_psi"]
    assert late.loc["spend", "psi_limit"] == pytest.approx(1.5 * 3 * natural)  # 90 days is 3x the 30 it moved in


def test_a_feature_missing_today_is_a_breach():
    table = compare(profile(_frame(100, 1)), _frame(100, 2).drop(columns="orders")).set_index("feature")
    assert table.loc["orders", "breach"] == "missing from today's inputs"


def test_a_drift_just_past_its_limit_is_flagged_and_a_large_one_also_blocks():
    train = _frame(5_000, 1)
    slight = compare(profile(train), _frame(5_000, 2, scale=1.5)).set_index("feature").loc["spend"]
    shock = compare(profile(train), _frame(5_000, 2, scale=3.0)).set_index("feature").loc["spend"]
    assert 0.25 < slight["psi"] < 0.5 and slight["breach"] and not slight["blocks"]
    assert shock["breach"] and shock["blocks"]


def test_a_lifetime_count_gets_its_movement_scaled_by_the_square_of_the_time():
    train, later, today = _frame(5_000, 1), _frame(5_000, 2, scale=1.3), _frame(5_000, 3, scale=1.5)
    day = pd.Timestamp("2026-01-01")
    dates = {"reference_at": day, "recent_at": day + pd.Timedelta(days=30)}
    season = compare(profile(train, later, **dates), today, at=day + pd.Timedelta(days=90)).set_index("feature")
    trend = compare(profile(train, later, **dates, trends=("spend",)), today, at=day + pd.Timedelta(days=90))
    assert trend.set_index("feature").loc["spend", "psi_limit"] == pytest.approx(3 * season.loc["spend", "psi_limit"])
