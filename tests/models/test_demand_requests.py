"""A price plan's days, as the three kinds of file hand them over: CSV text, Excel and Parquet values."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from spend.models.demand_requests import BadRequest, check_plan

LAST = pd.Timestamp("2026-12-04")


def _plan(date) -> pd.DataFrame:
    return pd.DataFrame({"product_id": ["P1"], "date": pd.Series([date], dtype=object), "price": [9.5]})


@pytest.mark.parametrize(
    "date", ["2026-12-07", " 2026-12-07 ", dt.date(2026, 12, 7), dt.datetime(2026, 12, 7), pd.Timestamp("2026-12-07")]
)
def test_a_day_as_text_excel_or_parquet_hand_it_over_is_read(date):
    checked = check_plan(_plan(date), LAST, {"P1"}, horizon=28)
    assert checked["date"].tolist() == [pd.Timestamp("2026-12-07")]


@pytest.mark.parametrize(
    ("date", "words"),
    [
        ("07/12/2026", "date: write days as YYYY-MM-DD"),  # read as 12 July before, without a word
        ("12/7/2026", "date: write days as YYYY-MM-DD"),
        ("2026-12-07 10:00", "date: write days as YYYY-MM-DD"),
        (dt.datetime(2026, 12, 7, 10, 30), "date: a time of day, not a day"),  # the time was dropped
        (pd.Timestamp("2026-12-07 10:30"), "date: a time of day, not a day"),
        ("2026-13-45", "date: not a date"),
        (20261207, "date: not a date"),  # nanoseconds after 1970 to pandas
        (float("nan"), "date: not a date"),
    ],
)
def test_a_day_that_could_be_misread_is_refused_naming_the_row(date, words):
    with pytest.raises(BadRequest, match=f"price plan row 1: {words}"):
        check_plan(_plan(date), LAST, {"P1"}, horizon=28)


def test_a_refused_row_is_shown_as_a_person_reads_it_not_as_a_python_dict():
    """Over HTTP the answer said `({'product_id': 'P1', 'date': datetime.date(2026, 12, 7), 'price': 0.0})`."""
    with pytest.raises(BadRequest) as refused:
        check_plan(_plan(dt.date(2026, 12, 7)).assign(price=0.0), LAST, {"P1"}, horizon=28)
    assert str(refused.value) == (
        "price plan row 1: price: must be above 0 and finite (product_id P1, date 2026-12-07, price 0.0)"
    )


def test_a_parquet_datetime_column_is_read_and_its_times_refused():
    plan = pd.DataFrame(
        {"product_id": ["P1", "P1"], "date": pd.to_datetime(["2026-12-07", "2026-12-08"]), "price": 9.5}
    )
    assert len(check_plan(plan, LAST, {"P1"}, horizon=28)) == 2
    with pytest.raises(BadRequest, match="row 2: date: a time of day"):
        check_plan(
            plan.assign(date=[pd.Timestamp("2026-12-07"), pd.Timestamp("2026-12-08 09:00")]), LAST, {"P1"}, horizon=28
        )


def test_a_plan_missing_a_column_names_the_columns_it_has():
    """It said only what was missing: a plan whose product column is "SKU" was told to have product_id."""
    foreign = pd.DataFrame({"SKU": ["P1"], "date": ["2026-12-07"], "price": [9.5]})
    with pytest.raises(BadRequest, match=r"missing column\(s\) product_id .*found SKU, date, price\): rename"):
        check_plan(foreign, LAST, {"P1"}, horizon=28)


def test_a_stock_report_of_some_stores_names_the_stores_it_covers():
    """A report of the shops' counts, without the web shop's, refused every pair and named five of them; the
    stores counted in full are what a request can ask for (`spend replenish --store`)."""
    from spend.models.demand_requests import check_counts

    pairs = pd.DataFrame({"product_id": ["P1", "P2", "P1", "P2", "P1"], "store_id": ["S1", "S1", "S2", "S2", "WEB"]})
    counted = pairs[pairs["store_id"] != "WEB"].assign(on_hand=3.0, on_order=0.0, lead_time_days=2.0, count_age_days=0)
    with pytest.raises(
        BadRequest,
        match=r"1 product x store pair\(s\) have no stock count .*P1 @ WEB; .*"
        r"or ask for the stores counted in full \(S1, S2\)",
    ):
        check_counts(counted, pairs, LAST, lead_time_given=False)
    check_counts(counted, pairs[pairs["store_id"] != "WEB"], LAST, lead_time_given=False)  # answered
    one_missing = counted.iloc[1:]  # P1 @ S1 uncounted: no store is counted in full but S2
    with pytest.raises(BadRequest, match=r"in full \(S2\)"):
        check_counts(one_missing, pairs, LAST, lead_time_given=False)


def test_a_promotion_calendar_without_prices_keeps_the_last_price_and_a_row_must_plan_something():
    """A calendar of promotion days was refused for its missing price column: marketing plans promotions
    before it sets their prices, and supply chain still needs their lift."""
    calendar = pd.DataFrame({"product_id": ["P1", "P1"], "date": ["2026-12-07", "2026-12-08"], "promo": ["yes", 1]})
    checked = check_plan(calendar, LAST, {"P1"}, horizon=28)
    assert checked["promo"].tolist() == [1.0, 1.0] and checked["price"].isna().all()
    mixed = pd.DataFrame(
        {"product_id": ["P1", "P1"], "date": ["2026-12-07", "2026-12-08"], "price": [9.5, ""], "promo": ["", "no"]}
    )
    checked = check_plan(mixed, LAST, {"P1"}, horizon=28)
    assert checked["price"].tolist()[0] == 9.5 and pd.isna(checked["price"].tolist()[1])
    with pytest.raises(BadRequest, match="row 2: price and promo: both blank"):
        check_plan(mixed.assign(promo=["", " "]), LAST, {"P1"}, horizon=28)
    with pytest.raises(BadRequest, match=r"missing column\(s\) price or promo"):
        check_plan(calendar.drop(columns="promo"), LAST, {"P1"}, horizon=28)


def test_a_planned_promotion_without_a_price_lifts_the_forecast_at_the_last_price():
    from spend.models.demand import DemandForecaster

    days = pd.date_range("2025-06-01", LAST, freq="D")
    rng = pd.Series(range(len(days)))
    promo = ((rng // 9) % 4 == 0).astype(float).to_numpy()  # a 9-day promotion every 36 days
    history = pd.DataFrame(
        {
            "product_id": "P1",
            "store_id": "S1",
            "date": days,
            "units": 5.0 + 10.0 * promo + (rng % 3).to_numpy(),
            "price": 9.5,
            "promo": promo,
        }
    )
    model = DemandForecaster(horizon=7, n_estimators=40, min_child_samples=20).fit(history)
    calendar = pd.DataFrame({"product_id": "P1", "date": pd.date_range("2026-12-05", periods=7).date, "promo": 1})
    plain = model.predict(7)
    promoted = model.predict(7, plan=check_plan(calendar, model.last_date_, {"P1"}, horizon=7))
    assert promoted["mean"].sum() > 1.5 * plain["mean"].sum()
