"""The shop's yearly profile: a window's index is its share of the year's purchase days, read from the
same days a year earlier, from purchases before the cut-off only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spend.models.season import CYCLE, SEASON_INDEX, season_index, season_profile, with_season

UNTIL = pd.Timestamp("2011-03-01", tz="UTC")


def purchases(
    busy: tuple[str, str], start: str = "2010-01-01", end: str = "2011-12-31", buyers: int = 9
) -> pd.DataFrame:
    """One customer buying every day, and `buyers` more buying every day inside `busy` (first, last)."""
    days = pd.date_range(start, end, freq="D", tz="UTC")
    rows = [("quiet", day) for day in days]
    inside = days[(days >= pd.Timestamp(busy[0], tz="UTC")) & (days <= pd.Timestamp(busy[1], tz="UTC"))]
    rows += [(f"busy{k}", day + pd.Timedelta(hours=k)) for day in inside for k in range(buyers)]
    return pd.DataFrame(rows, columns=["customer_id", "ts"])


def test_a_window_is_indexed_by_its_share_of_the_years_purchase_days():
    # 31 busy days (ten buyers) in a year of one buyer a day: 365 + 9 * 31 purchase days in the year
    profile = season_profile(purchases(("2010-10-01", "2010-10-31")), UNTIL)
    mean = (CYCLE + 9 * 31) / CYCLE
    assert profile.mean() == pytest.approx(1.0)
    # a year after: the 90 days from 1 October 2011 hold the whole busy month
    october = season_index(profile, pd.Timestamp("2011-10-01", tz="UTC"), 90)[0]
    assert october == pytest.approx((90 + 9 * 31) / 90 / mean)
    quiet = season_index(profile, pd.Timestamp("2011-03-01", tz="UTC"), 90)[0]
    assert quiet == pytest.approx(1 / mean)
    half = season_index(profile, pd.Timestamp("2011-10-16", tz="UTC"), 90)[0]  # 16 busy days of 90
    assert half == pytest.approx((90 + 9 * 16) / 90 / mean)


def test_a_window_past_the_profiles_last_day_wraps_round_to_its_first():
    # busy on the profile year's last 14 days and its first 15: the 29 days from 15 February 2011 are
    # those 14 and then, a year on, the first 15
    ends = pd.concat(
        [purchases(("2011-02-15", "2011-02-28"), buyers=1), purchases(("2010-03-01", "2010-03-15"), buyers=1)]
    )
    profile = season_profile(ends, UNTIL)
    mean = (CYCLE + 29) / CYCLE
    assert season_index(profile, pd.Timestamp("2011-02-15", tz="UTC"), 29)[0] == pytest.approx(2 / mean)


def test_a_customer_buying_twice_in_a_day_counts_once():
    base = purchases(("2010-10-01", "2010-10-31"))
    doubled = pd.concat([base, base.assign(ts=base["ts"] + pd.Timedelta(minutes=5))], ignore_index=True)
    np.testing.assert_allclose(season_profile(doubled, UNTIL), season_profile(base, UNTIL))


def test_only_purchases_before_the_cut_off_count():
    before = season_profile(purchases(("2010-10-01", "2010-10-31")), UNTIL)
    # the busy month repeated after the cut-off (the holdout's own window) changes nothing
    after = purchases(("2010-10-01", "2010-10-31"))
    after = pd.concat([after, purchases(("2011-03-01", "2011-05-31"), start="2011-03-01")], ignore_index=True)
    np.testing.assert_allclose(season_profile(after, UNTIL), before)


def test_under_a_year_of_purchases_gives_no_profile():
    assert season_profile(purchases(("2010-10-01", "2010-10-31"), start="2010-03-02"), UNTIL) is None
    assert season_profile(pd.DataFrame({"customer_id": [], "ts": pd.to_datetime([], utc=True)}), UNTIL) is None


def test_a_models_profile_adds_the_index_of_one_date_or_one_per_row():
    profile = season_profile(purchases(("2010-10-01", "2010-10-31")), UNTIL)

    class Seasonal:
        season_, horizon_days = profile, 90

    frame = pd.DataFrame({"x": [1.0, 2.0]})
    one = with_season(Seasonal(), frame, pd.Timestamp("2011-10-01", tz="UTC"))
    assert one[SEASON_INDEX].nunique() == 1 and one[SEASON_INDEX].iloc[0] > 1.5
    dates = np.array(["2011-10-01", "2011-03-01"], dtype="datetime64[ns]")
    rows = with_season(Seasonal(), frame, dates)[SEASON_INDEX].to_numpy()
    assert rows[0] == pytest.approx(one[SEASON_INDEX].iloc[0]) and rows[1] < 1
    assert SEASON_INDEX not in with_season(object(), frame, dates)  # a model without a profile: unchanged


def test_a_window_that_was_empty_a_year_ago_is_not_read_as_nobody_buying():
    days = purchases(("2010-10-01", "2010-10-31"))
    closed = days[
        (days["ts"] < pd.Timestamp("2010-06-01", tz="UTC")) | (days["ts"] >= pd.Timestamp("2010-09-01", tz="UTC"))
    ]
    profile = season_profile(closed, UNTIL)  # the shop shut for June to August 2010
    summer = season_index(profile, pd.Timestamp("2011-06-01", tz="UTC"), 90)[0]
    assert profile[_position("2010-07-01")] == 0 and summer == pytest.approx(1 / 3)
    assert season_index(profile, pd.Timestamp("2011-10-01", tz="UTC"), 90)[0] < 3


def _position(day: str) -> int:
    return (pd.Timestamp(day) - pd.Timestamp(0)).days % CYCLE
