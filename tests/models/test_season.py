"""The shop's yearly profile: a window's index is its share of the year's purchase days, read from the
same days a year earlier, from purchases before the cut-off only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spend.models.season import CYCLE, SEASON_INDEX, season_index, season_profile, with_season

UNTIL = pd.Timestamp("2011-03-01", tz="UTC")


def purchases(busy: tuple[str, str], start: str = "2010-01-01", end: str = "2011-12-31") -> pd.DataFrame:
    """One customer buying every day, and nine more buying every day inside `busy` (first, last)."""
    days = pd.date_range(start, end, freq="D", tz="UTC")
    rows = [("quiet", day) for day in days]
    inside = days[(days >= pd.Timestamp(busy[0], tz="UTC")) & (days <= pd.Timestamp(busy[1], tz="UTC"))]
    rows += [(f"busy{k}", day + pd.Timedelta(hours=k)) for day in inside for k in range(9)]
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
    # a window reaching past the year's end wraps round the cycle: 15 busy days of the 30 from 16 October
    both = season_index(profile, pd.Timestamp("2011-10-16", tz="UTC"), 30)[0]
    assert both == pytest.approx((30 + 9 * 16) / 30 / mean)


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
