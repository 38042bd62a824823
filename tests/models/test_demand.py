"""The demand forecaster: ordered quantiles, no look-ahead, new series, planned prices, stock-outs, and
a state the model registry can store."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import skops.io as sio

from spend.models.demand import BaselineForecaster, DemandForecaster, warmup_days
from spend.models.demand_requests import plan_skipped
from spend.training.demand_backtest import run_backtest

pytestmark = pytest.mark.slow  # a minute or more of fixtures and training: scheduled first (conftest.py)

DAYS = 240


def _history(products=4, stores=3, seed=0, elasticity=-2.0, level=6.0) -> pd.DataFrame:
    """Poisson units around `level`, a weekly pattern, and prices that move: a 20% cut on a fifth of days."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2024-01-01", periods=DAYS, freq="D")
    weekly = np.array([0.8, 0.9, 0.9, 1.0, 1.1, 1.4, 0.9])[dates.dayofweek]
    rows = []
    for p in range(products):
        price = np.where(rng.random(DAYS) < 0.2, 8.0, 10.0)
        for s in range(stores):
            mean = level * weekly * (price / 10.0) ** elasticity
            rows.append(
                pd.DataFrame(
                    {
                        "product_id": f"P{p}",
                        "store_id": f"S{s}",
                        "date": dates,
                        "units": rng.poisson(mean).astype(float),
                        "price": price,
                        "promo": 0.0,
                        "stockout": 0.0,
                    }
                )
            )
    return pd.concat(rows, ignore_index=True)


def _model(**params) -> DemandForecaster:
    return DemandForecaster(horizon=14, n_estimators=60, min_child_samples=20, **params)


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    return _history()


@pytest.fixture(scope="module")
def fitted(history) -> DemandForecaster:
    return _model().fit(history)


@pytest.mark.parametrize("intervals", ["quantile", "conformal"])
def test_quantiles_are_ordered_and_never_negative(history, intervals):
    forecast = _model(intervals=intervals).fit(history).predict(14)
    values = forecast[["p10", "p50", "p90"]].to_numpy()
    assert len(forecast) == 12 * 14
    assert (values >= 0).all()
    assert (np.diff(values, axis=1) >= 0).all()
    assert (values[:, 2] > values[:, 0]).mean() > 0.9  # an interval, not a point


def test_the_forecast_starts_the_day_after_the_history(fitted, history):
    forecast = fitted.predict(7)
    assert forecast["date"].min() == history["date"].max() + pd.Timedelta(days=1)
    assert forecast["date"].max() == history["date"].max() + pd.Timedelta(days=7)


def test_the_backtest_never_lets_a_window_see_its_own_days_or_later(history):
    """Sales on or after a window's first forecast day are changed wildly: that window's forecasts must
    not move."""
    last = history["date"].max()
    origin = last - pd.Timedelta(days=14)
    changed = history.copy()
    later = changed["date"] > origin
    changed.loc[later, "units"] = changed.loc[later, "units"] * 10 + 50
    scorers = {"spend": lambda: _model()}
    before = run_backtest(history, scorers, 14, 1, 365).forecasts
    after = run_backtest(changed, scorers, 14, 1, 365).forecasts
    assert before["window"].iloc[0] == origin
    pd.testing.assert_series_equal(before["p50"], after["p50"])
    assert not np.allclose(before["demand"], after["demand"])  # the truth did change


def _two_categories(with_categories: bool = True, launched_as: str = "P0") -> pd.DataFrame:
    """Big sellers (about 20 a day) and slow ones (about 2) in three stores, and a product launched in store
    S0 ten days before the end (too short to learn), a big seller by its category, selling as
    `launched_as` does."""
    big = _history(products=3, level=20.0).assign(category="big")
    slow = _history(products=3, level=2.0, seed=1).assign(category="slow")
    slow["product_id"] = slow["product_id"].str.replace("P", "Q")
    both = pd.concat([big, slow], ignore_index=True)
    launched = both[(both["product_id"] == launched_as) & (both["store_id"] == "S0")].tail(10)
    history = pd.concat([both, launched.assign(product_id="P-new", category="big")], ignore_index=True)
    return history if with_categories else history.drop(columns="category")


def _unscaled(model: DemandForecaster) -> DemandForecaster:
    """The model without its short series' own days: the fallback as it was before it read them."""
    model.unlearned_ = model.unlearned_[["product_id", "store_id"]]
    return model


def test_a_new_product_is_forecast_from_its_categorys_products_in_the_store():
    from spend.models.demand_requests import forecast, forecastable

    model = _model().fit(_two_categories())
    assert ("P-new", "S0") in set(forecastable(model).itertuples(index=False, name=None))
    asked = forecast(model, products=["P-new"], horizon=7)  # a product too new to learn is not "unknown"
    assert set(asked["method"]) == {"category fallback"} and set(asked["store_id"]) == {"S0"}
    whole = model.predict(7)
    big = whole[whole["product_id"].str.startswith("P") & (whole["store_id"] == "S0")]
    category = forecast(_unscaled(model), products=["P-new"], horizon=7)
    assert category["p50"].mean() == pytest.approx(big.groupby("date")["p50"].median().mean(), rel=1e-6)
    blind = _unscaled(_model().fit(_two_categories(with_categories=False)))
    store = forecast(blind, products=["P-new"], horizon=7)
    assert set(store["method"]) == {"store fallback"}
    assert store["mean"].mean() < 0.7 * category["mean"].mean()  # the store's median mixes in the slow sellers


def test_a_new_products_own_days_pull_its_forecast_from_its_categorys():
    """Listed as a big seller, it sold as a slow one on its ten days: the forecast follows what it sold."""
    from spend.models.demand_requests import forecast

    model = _model().fit(_two_categories(launched_as="Q0"))
    own = _two_categories(launched_as="Q0").query("product_id == 'P-new'")["units"].mean()
    scaled = forecast(model, products=["P-new"], horizon=7)["mean"].mean()
    category = forecast(_unscaled(model), products=["P-new"], horizon=7)["mean"].mean()
    assert category > 5 * own  # the big sellers' level
    assert abs(scaled - own) < 0.5 * (category - own)  # ten days of its own outweigh the category's prior


def test_a_counted_new_product_is_replenished_and_an_uncounted_one_is_not_an_error():
    from spend.models.demand_requests import replenish

    model = _model().fit(_two_categories())
    day = model.last_date_
    pairs = model.static_[["product_id", "store_id"]]
    counts = pd.concat([pairs, pd.DataFrame({"product_id": ["P-new"], "store_id": ["S0"]})])
    counts = counts.assign(ts=day, on_hand=5.0, on_order=0.0, lead_time_days=3.0)
    frame, _ = replenish(model, counts, None, 0.95, 7)
    assert len(frame) == len(pairs) + 1 and "P-new" in set(frame["product_id"])
    new = frame[frame["product_id"] == "P-new"].iloc[0]
    assert new["cover_p50"] > 0 and new["target_stock"] > new["on_hand"]  # a big seller's cover, from its category
    frame, _ = replenish(model, counts[counts["product_id"] != "P-new"], None, 0.95, 7)
    assert "P-new" not in set(frame["product_id"])


def test_a_catalogued_launch_is_forecast_from_its_category_in_every_store_from_its_listing_day():
    """A product in the catalogue that has not sold yet was "unknown" to every forecast: the supply chain
    could not plan the stock it launches with. Listed in 3 days, it gets its category's forecast in each
    store from then; listed 5 days ago without a sale, less; listed before the last 28 days, none."""
    from spend.models.demand_requests import BadRequest, forecast, forecastable, replenish

    history = _two_categories()
    last = history["date"].max()
    launches = pd.DataFrame(
        {
            "product_id": ["L-soon", "L-quiet", "L-old", "P0"],  # P0 has sold: it is no launch
            "category": ["big", "big", "big", "big"],
            "ds": [last + pd.Timedelta(days=3), last - pd.Timedelta(days=4), last - pd.Timedelta(days=60), last],
        }
    )
    model = _model().fit(history, launches=launches)
    assert set(model.launches_["product_id"]) == {"L-soon", "L-quiet"}
    pairs = set(forecastable(model).itertuples(index=False, name=None))
    assert {("L-soon", s) for s in ("S0", "S1", "S2")} <= pairs
    soon = forecast(model, products=["L-soon"], horizon=7).sort_values(["store_id", "date"])
    first = soon[soon["date"] < last + pd.Timedelta(days=3)]
    assert set(first["method"]) == {"not listed yet"} and (first[["p10", "p50", "p90", "mean"]] == 0).all().all()
    listed = soon[soon["date"] >= last + pd.Timedelta(days=3)]
    assert set(listed["method"]) == {"category fallback"} and (listed["mean"] > 5).all()  # a big seller's
    quiet = forecast(model, products=["L-quiet"], horizon=7)
    assert quiet["mean"].mean() == pytest.approx(listed["mean"].mean() * 3 / (3 + 5), rel=0.25)  # 5 days unsold
    with pytest.raises(BadRequest, match="unknown product L-old .*nor a catalogued launch"):
        forecast(model, products=["L-old"], horizon=7)
    pairs = model.static_[["product_id", "store_id"]]
    counts = pd.concat([pairs, pd.DataFrame({"product_id": ["L-soon"], "store_id": ["S1"]})])
    frame, _ = replenish(model, counts.assign(ts=last, on_hand=0.0, on_order=0.0, lead_time_days=5.0), None, 0.95, 7)
    launch = frame[frame["product_id"] == "L-soon"]
    assert launch["store_id"].tolist() == ["S1"] and launch["suggested_order"].iloc[0] > 0  # counted where stocked
    data = sio.dumps(model)
    loaded = sio.loads(data, trusted=sio.get_untrusted_types(data=data))
    pd.testing.assert_frame_equal(
        forecast(loaded, products=["L-soon"], horizon=7), forecast(model, products=["L-soon"], horizon=7)
    )


def test_a_launch_that_sells_after_the_fit_is_forecast_from_its_own_days_once_the_origin_moves():
    """`update` moves the origin without refitting: a launch that sold since is a new series of its own."""
    from spend.models.demand_requests import forecast, forecastable

    history = _two_categories(launched_as="Q0")  # P-new sold as a slow seller on the last ten days
    cut = history["date"].max() - pd.Timedelta(days=10)
    before = history[(history["date"] <= cut) & (history["product_id"] != "P-new")]
    launches = pd.DataFrame({"product_id": ["P-new"], "category": ["big"], "ds": [cut + pd.Timedelta(days=1)]})
    model = _model().fit(before, launches=launches)
    assert set(forecast(model, products=["P-new"], horizon=7)["method"]) == {"category fallback"}
    listed = forecast(model, products=["P-new"], horizon=7)["mean"].mean()
    model.update(history[history["date"] > history["date"].max() - pd.Timedelta(days=60)])
    assert model.launches_.empty
    assert {p for p, _ in forecastable(model).itertuples(index=False, name=None) if p == "P-new"} == {"P-new"}
    sold = forecast(model, products=["P-new"], horizon=7)
    assert set(sold["store_id"]) == {"S0"}  # where it sold, no longer every store
    own = history.query("product_id == 'P-new'")["units"].mean()
    assert abs(sold["mean"].mean() - own) < 0.5 * (listed - own)  # its own ten days, not the category's level


def test_a_series_without_history_gets_the_product_fallback(fitted):
    series = pd.DataFrame({"product_id": ["P0", "P0", "P9"], "store_id": ["S0", "S-new", "S1"]})
    forecast = fitted.predict(7, series=series)
    method = forecast.groupby(["product_id", "store_id"])["method"].first()
    assert method[("P0", "S0")] == "model"
    assert method[("P0", "S-new")] == "product fallback"
    assert method[("P9", "S1")] == "store fallback"
    own = forecast[forecast["store_id"] == "S-new"]["p50"].mean()
    assert own > 0


def test_a_planned_price_cut_raises_the_median_of_an_elastic_product(fitted, history):
    start = history["date"].max() + pd.Timedelta(days=1)
    dates = pd.date_range(start, periods=14, freq="D")
    regular = pd.DataFrame({"product_id": "P1", "date": dates, "price": 10.0})
    cut = regular.assign(price=8.0)
    base = fitted.predict(14, plan=regular)
    lower = fitted.predict(14, plan=cut)
    p1 = base["product_id"] == "P1"
    assert lower.loc[p1, "p50"].sum() > 1.2 * base.loc[p1, "p50"].sum()  # truth: (0.8)^-2 = 1.56x
    others = ~p1
    np.testing.assert_allclose(lower.loc[others, "p50"], base.loc[others, "p50"])


@pytest.mark.parametrize("stockouts", ["impute", "exclude"])
def test_stock_out_days_do_not_pull_the_forecast_down(stockouts):
    """A shelf that empties on a third of the days caps sales at 1: flagged, the forecast stays near the
    true level; unflagged (the same sales taken as demand), it falls."""
    history = _history(elasticity=0.0, level=8.0, seed=3)
    rng = np.random.default_rng(4)
    empty = rng.random(len(history)) < 0.33
    capped = history.assign(units=np.where(empty, np.minimum(history["units"], 1.0), history["units"]))
    flagged = _model(stockouts=stockouts).fit(capped.assign(stockout=empty.astype(float))).predict(14)
    unflagged = _model(stockouts=stockouts).fit(capped).predict(14)
    true_level = history["units"].mean()
    assert flagged["p50"].mean() > 0.85 * true_level
    assert unflagged["p50"].mean() < flagged["p50"].mean() - 1.0


def test_the_fitted_forecaster_round_trips_through_skops(fitted):
    data = sio.dumps(fitted)
    loaded = sio.loads(data, trusted=sio.get_untrusted_types(data=data))
    pd.testing.assert_frame_equal(loaded.predict(14), fitted.predict(14))


def test_the_category_is_an_input_and_survives_the_registrys_format():
    """With the catalogue's categories each series' category is a static input of the trees; the registry's
    skops state keeps it, and the new product's fallback, through a load."""
    history = _two_categories()
    model = _model().fit(history)
    assert "category_code" in model._statics and model.category_codes_.to_dict() == {"big": 0.0, "slow": 1.0}
    without = _model(use_categories=False).fit(history)
    assert "category_code" not in without._statics
    assert not np.allclose(model.predict(7)["p50"], without.predict(7)["p50"])  # the trees read it
    data = sio.dumps(model)
    loaded = sio.loads(data, trusted=sio.get_untrusted_types(data=data))
    series = pd.DataFrame({"product_id": ["P0", "P-new"], "store_id": ["S0", "S0"]})
    pd.testing.assert_frame_equal(loaded.predict(7, series=series), model.predict(7, series=series))


def test_a_horizon_beyond_the_trained_one_is_refused(fitted):
    with pytest.raises(ValueError, match="horizon must be between 1 and 14"):
        fitted.predict(15)
    with pytest.raises(ValueError, match="horizon must be between 1 and 14"):
        fitted.predict(0)


def test_a_history_without_a_required_column_names_it(history):
    with pytest.raises(ValueError, match="lacks column\\(s\\) price"):
        _model().fit(history.drop(columns="price"))


def test_a_history_with_nothing_to_learn_from_is_refused_naming_why(history):
    """A series' first days only fill its lags and rolling windows (mlforecast drops them): a history no
    longer than that, or one whose remaining days sold nothing, is a clear error, not LightGBM's."""
    warm = warmup_days(_model().lags)
    short = history[history["date"] < history["date"].min() + pd.Timedelta(days=warm)]
    with pytest.raises(ValueError, match=f"more than {warm} days of history"):
        _model().fit(short)
    silent = history[history["date"] < history["date"].min() + pd.Timedelta(days=warm + 3)].copy()
    silent.loc[silent.groupby(["product_id", "store_id"]).cumcount() >= warm, "units"] = 0.0
    with pytest.raises(ValueError, match="no units sold"):
        _model().fit(silent)
    silent.loc[silent.index[-1], "units"] = 1.0  # one sale is something to learn from
    _model().fit(silent)


def test_a_backtest_window_too_short_to_learn_from_names_the_window(history):
    from spend.core.errors import SpendError

    short = history[history["date"] < history["date"].min() + pd.Timedelta(days=60)]
    with pytest.raises(SpendError, match="window 1 of 2 .* cannot fit spend: no series has more than"):
        run_backtest(short, {"spend": lambda: _model()}, 14, 2, 365)


def test_a_seasonal_naive_baseline_repeats_last_week(history):
    forecast = BaselineForecaster("SeasonalNaive", 7, 14).fit(history).predict(7)
    series = history[(history["product_id"] == "P0") & (history["store_id"] == "S0")]
    last_week = series["units"].to_numpy()[-7:]
    own = forecast[(forecast["product_id"] == "P0") & (forecast["store_id"] == "S0")]
    np.testing.assert_allclose(own["p50"].to_numpy(), last_week)


def test_a_baseline_gives_a_series_too_short_for_it_its_mean(history):
    young = history[(history["product_id"] == "P0") & (history["store_id"] == "S0")].tail(10)
    short = pd.concat([history[history["product_id"] != "P0"], young.assign(store_id="S-young")])
    forecast = BaselineForecaster("AutoETS", 7, 14).fit(short).predict(7)
    own = forecast[forecast["store_id"] == "S-young"]
    assert len(own) == 7 and (own["method"] == "series mean").all()
    assert own["p50"].iloc[0] == pytest.approx(young["units"].mean())
    assert own["date"].min() == short["date"].max() + pd.Timedelta(days=1)


@pytest.mark.parametrize("method", ["SeasonalNaive", "CrostonOptimized"])
def test_a_served_baseline_forecasts_a_pair_new_to_a_store_and_a_launch_as_the_forecaster_does(method):
    """A baseline served because it won the backtest left a pair it had no weeks of (a product new to a
    store, asked for by product and store) out of its answer without a word, and knew no catalogued
    launch: "unknown product" to the supply chain planning its launch stock."""
    from spend.models.demand_requests import forecast, forecastable

    history = _two_categories()
    history = history[~((history["product_id"] == "P1") & (history["store_id"] == "S2"))]
    last = history["date"].max()
    launches = pd.DataFrame({"product_id": ["L-soon"], "category": ["big"], "ds": [last + pd.Timedelta(days=2)]})
    model = BaselineForecaster(method, 7, 14).fit(history, launches=launches)
    assert {("L-soon", s) for s in ("S0", "S1", "S2")} <= set(forecastable(model).itertuples(index=False, name=None))
    asked = forecast(model, products=["P1", "L-soon"], stores=["S2"], horizon=7)
    new_pair = asked[asked["product_id"] == "P1"]
    assert len(new_pair) == 7 and set(new_pair["method"]) == {"product fallback"}
    elsewhere = model.predict(7)
    p1 = elsewhere[elsewhere["product_id"] == "P1"].groupby("date")["mean"].mean()
    np.testing.assert_allclose(new_pair.sort_values("date")["mean"], p1.to_numpy())  # its mean in S0 and S1
    soon = asked[asked["product_id"] == "L-soon"].sort_values("date")
    assert soon["method"].tolist() == ["not listed yet"] + ["category fallback"] * 6  # listed on the second day
    assert soon["mean"].iloc[0] == 0 and (soon["mean"].iloc[1:] > 5).all()  # a big seller's
    assert list(model.predict(7)["product_id"].unique()) == list(elsewhere["product_id"].unique())  # asked only
    kept = BaselineForecaster(method, 7, 14).fit(history, launches=launches).update(history)
    assert kept.launches_["product_id"].tolist() == ["L-soon"]  # a re-forecast keeps the launch not sold yet
    sold = history[(history["product_id"] == "P0") & (history["date"] == last)].assign(product_id="L-soon")
    assert kept.update(pd.concat([history, sold])).launches_.empty


def test_a_refit_learns_from_the_new_history_only(history):
    doubled = history.assign(units=history["units"] * 2, price=history["price"] * 3)
    refitted = _model().fit(history).fit(doubled)
    fresh = _model().fit(doubled)
    pd.testing.assert_series_equal(refitted.reference_price_, fresh.reference_price_)
    pd.testing.assert_series_equal(refitted.product_level_, fresh.product_level_)
    pd.testing.assert_frame_equal(refitted.predict(7), fresh.predict(7))


def _regimes(seed=1) -> pd.DataFrame:
    """Series whose level switches between 2 and 12 units a day every three weeks: recent sales tell the
    level, so the lags matter."""
    rng = np.random.default_rng(seed)
    frame = _history(products=3, stores=2, seed=seed)
    block = (frame["date"] - frame["date"].min()).dt.days // 21
    level = pd.Series(rng.choice([2.0, 12.0], size=(6, block.max() + 1)).ravel())
    series = frame.groupby(["product_id", "store_id"]).ngroup()
    mean = level.to_numpy()[series * (block.max() + 1) + block]
    return frame.assign(units=rng.poisson(mean).astype(float))


def test_an_update_moves_the_origin_and_reads_the_new_sales_without_refitting():
    history = _regimes()
    cut = history["date"].max() - pd.Timedelta(days=7)
    model = _model().fit(history[history["date"] <= cut])
    trees = model.forecaster_.models_["p50"]
    same = model.predict(7)
    pd.testing.assert_frame_equal(model.update(history[history["date"] <= cut]).predict(7), same)

    # The same last week sold 2 units a day everywhere, or 12: the next week's forecast follows, read
    # through the lags, from the same trees.
    last = history["date"] > cut
    low = model.update(history.assign(units=np.where(last, 2.0, history["units"]))).predict(7)
    high = model.update(history.assign(units=np.where(last, 12.0, history["units"]))).predict(7)
    assert model.forecaster_.models_["p50"] is trees
    assert low["date"].min() == high["date"].min() == history["date"].max() + pd.Timedelta(days=1)
    assert high["p50"].mean() > 2 * low["p50"].mean()


def test_an_update_without_every_learned_series_is_refused(fitted, history):
    with pytest.raises(ValueError, match="lacks 3 of the 12 learned series"):
        fitted.update(history[history["product_id"] != "P0"])


@pytest.mark.parametrize("intervals", ["quantile", "conformal"])
def test_the_mean_of_a_slow_mover_is_its_expected_units_not_its_median(intervals):
    # Most days sell nothing: the median is 0, the mean is not. Prices that do not move demand: the level
    # is 0.5 whatever the estimated elasticity.
    history = _history(level=0.5, elasticity=0.0)
    forecast = _model(intervals=intervals).fit(history).predict(14)
    assert forecast["mean"].mean() == pytest.approx(0.5, rel=0.2)
    if intervals == "quantile":
        assert forecast["p50"].mean() < 0.8 * forecast["mean"].mean()


def test_rows_of_weight_zero_are_left_out_and_the_rest_train_unweighted():
    from lightgbm import LGBMRegressor

    from spend.models.demand import UnweightedLGBM

    rng = np.random.default_rng(3)
    X = pd.DataFrame({"a": rng.normal(size=2000), "b": rng.normal(size=2000)})
    y = X["a"] * 3 + rng.normal(size=2000)
    weight = np.where(rng.random(2000) < 0.3, 0.0, 1.0)
    y_spoiled = np.where(weight == 0, -100.0, y)  # what a zero-weight row says must not matter
    params = dict(objective="quantile", alpha=0.9, n_estimators=30, verbosity=-1, deterministic=True, n_jobs=1)
    ours = UnweightedLGBM(**params).fit(X, y_spoiled, sample_weight=weight)
    kept = weight > 0
    alone = LGBMRegressor(**params).fit(X[kept], y[kept])
    np.testing.assert_allclose(ours.predict(X), alone.predict(X))
    # Other weights are kept as weights.
    uneven = np.where(weight > 0, 2.0 - kept.cumsum() % 2, 0.0)
    weighted = UnweightedLGBM(**params).fit(X, y_spoiled, sample_weight=uneven)
    assert not np.allclose(weighted.predict(X), alone.predict(X))


def _confounded(days=420, seed=1) -> pd.DataFrame:
    """A shop that prices into its peaks, as real shops do: demand follows a season, the shelf price
    rises with it (and a random fifth of days are 20% off). True own-price elasticity: -2."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2024-01-01", periods=days, freq="D")
    season = 1 + 0.6 * np.sin(2 * np.pi * np.arange(days) / 182.5)
    rows = []
    for p in range(4):
        price = 10.0 * (1 + 0.25 * (season - 1)) * np.where(rng.random(days) < 0.2, 0.8, 1.0)
        for s in range(3):
            mean = 6.0 * season**3 * (price / 10.0) ** -2.0
            units = rng.poisson(mean).astype(float)
            rows.append(pd.DataFrame({"product_id": f"P{p}", "store_id": f"S{s}", "date": dates, "units": units}))
            rows[-1] = rows[-1].assign(price=price, promo=0.0, stockout=0.0)
    return pd.concat(rows, ignore_index=True)


def test_a_planned_cut_raises_the_forecast_of_a_shop_that_prices_into_its_peaks():
    """Trees reading the price (`price_effect="learned"`) learned that dear days sell more, the season's
    doing: a cut halved one product's forecast. The elasticity, estimated with the season controlled
    for, says a cut sells more."""
    history = _confounded()
    model = _model().fit(history)
    days = pd.date_range(history["date"].max() + pd.Timedelta(days=1), periods=14, freq="D")
    plan = model.last_price_.rename("price").reset_index().merge(pd.DataFrame({"date": days}), how="cross")
    base = model.predict(14).groupby("product_id")["mean"].sum()
    cut = model.predict(14, plan=plan.assign(price=plan["price"] * 0.8)).groupby("product_id")["mean"].sum()
    assert (cut > 1.2 * base).all(), (cut / base).round(3).to_dict()  # truth: 0.8 ** -2 = 1.56x
    assert model.elasticity_.between(-3.0, -1.2).all() and model.price_note_ is None
    assert plan_skipped(model, plan) is None  # every planned product moves: nothing to say


def test_a_planned_price_beyond_the_history_is_read_as_the_nearest_shown_and_the_answer_says_so():
    """A plan of 1000 for a product that sold at 8 to 12 moved the forecast as 12 would, and said nothing."""
    history = _confounded()
    model = _model().fit(history)
    days = pd.date_range(history["date"].max() + pd.Timedelta(days=1), periods=7, freq="D")
    high = model.price_range_["high"]
    plan = high.rename("price").reset_index().merge(pd.DataFrame({"date": days}), how="cross")
    far = plan.assign(price=np.where(plan["product_id"] == "P1", 1000.0, plan["price"]))
    pd.testing.assert_frame_equal(model.predict(7, plan=far), model.predict(7, plan=plan))
    assert plan_skipped(model, plan) is None
    low, top = model.price_range_.loc["P1"]
    assert plan_skipped(model, far) == (
        "planned prices outside those the history shows count as the nearest shown, as the price effect is not "
        f"known beyond them: P1 ({low:,.2f} to {top:,.2f})"
    )


def test_a_history_too_short_for_an_elasticity_says_planned_prices_move_nothing(history):
    short = history[history["date"] < history["date"].min() + pd.Timedelta(days=120)]
    model = _model().fit(short)
    assert model.price_note_.startswith("price effect: no product with an elasticity (e.g. only ")
    days = pd.date_range(short["date"].max() + pd.Timedelta(days=1), periods=7, freq="D")
    plan = pd.DataFrame({"product_id": "P1", "date": days, "price": 5.0})
    pd.testing.assert_frame_equal(model.predict(7, plan=plan), model.predict(7))
    assert plan_skipped(model, plan) == (
        "planned prices do not move the forecast of P1: no price effect was estimated for them"
    )


@pytest.mark.parametrize("method", ["SeasonalNaive", "AutoETS", "CrostonOptimized"])
def test_a_fitted_baseline_round_trips_through_skops_so_the_gate_can_register_it(history, method):
    """A baseline that wins the gate is registered in the forecaster's place: it must be storable."""
    young = history[(history["product_id"] == "P0") & (history["store_id"] == "S0")].tail(10)
    short = pd.concat([history[history["product_id"] != "P0"], young.assign(store_id="S-young")])
    fitted = BaselineForecaster(method, 7, 14).fit(short)
    data = sio.dumps(fitted)
    loaded = sio.loads(data, trusted=sio.get_untrusted_types(data=data))
    pd.testing.assert_frame_equal(loaded.predict(7), fitted.predict(7))
    asked = pd.DataFrame({"product_id": ["P1", "P0"], "store_id": ["S0", "S-young"]})
    pd.testing.assert_frame_equal(loaded.predict(7, series=asked), fitted.predict(7, series=asked))
    assert set(loaded.predict(7, series=asked)["store_id"]) == {"S0", "S-young"}
    assert plan_skipped(loaded, pd.DataFrame({"product_id": ["P1"], "price": [1.0]})).endswith(
        f"the served forecaster is the {method} baseline, which reads no prices"
    )
    learned = set(zip(loaded.static_["product_id"], loaded.static_["store_id"], strict=True))
    assert learned == set(zip(short["product_id"], short["store_id"], strict=True))  # what a request is checked on


def test_a_plan_for_a_launch_before_its_listing_day_says_it_moves_nothing():
    """A launch promotion planned before the product is listed was taken without a word, and forecast zero."""
    from spend.models.demand_requests import plan_skipped

    history = _two_categories()
    last = history["date"].max()
    launches = pd.DataFrame({"product_id": ["L-soon"], "category": ["big"], "ds": [last + pd.Timedelta(days=3)]})
    model = _model().fit(history, launches=launches)
    days = pd.date_range(last + pd.Timedelta(days=1), periods=4)
    plan = pd.DataFrame({"product_id": "L-soon", "date": days.date, "promo": 1.0})
    said = plan_skipped(model, plan)
    listed = (last + pd.Timedelta(days=3)).date().isoformat()
    assert (
        said
        == f"planned days before a launch's listing day move nothing, it is not on sale yet: L-soon (listed {listed})"
    )
    assert plan_skipped(model, plan.iloc[2:]) is None  # from its listing day on, the plan is read
