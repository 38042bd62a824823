"""Price elasticities: DML recovers known elasticities where prices follow demand (naive OLS does not),
intervals, shrinkage toward the category, cross effects, and refusals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spend.models.pricing import PRIOR, ElasticityEstimator, product_days, shop_response, weekly_panel

DAYS = 728


def _shop(
    products=12, seed=0, substitutes: dict | None = None, truth: pd.Series | None = None
) -> tuple[pd.DataFrame, pd.Series]:
    """Daily units of products whose shop prices into the season (dearer when demand is high) and
    promotes off season: a regression of units on price alone is confounded. Returns (daily, truth)."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2024-01-01", periods=DAYS, freq="D")
    season = 1 + 0.5 * np.cos(2 * np.pi * (dates.dayofyear.to_numpy() - 200) / 365.25)
    if truth is None:
        truth = pd.Series(rng.uniform(-2.5, -0.8, products), index=[f"P{j}" for j in range(products)])
    prices, promos = {}, {}
    for product in truth.index:
        walk = np.exp(np.cumsum(np.where(rng.random(DAYS) < 1 / 30, rng.normal(0, 0.08, DAYS), 0.0)))
        promos[product] = rng.random(DAYS) < 0.15 / season
        prices[product] = 10 * season**0.4 * walk.clip(0.7, 1.4) * (1 - 0.2 * promos[product])
    rows = []
    for product, e in truth.items():
        price, promo = prices[product], promos[product].astype(float)
        log_mean = np.log(30 * season) + e * np.log(price / 10) + np.log(1.3) * promo
        for other, cross in (substitutes or {}).get(product, {}).items():
            log_mean = log_mean + cross * np.log(prices[other] / 10)
        rows.append(
            pd.DataFrame(
                {
                    "product_id": product,
                    "date": dates,
                    "units": rng.poisson(np.exp(log_mean)),
                    "price": price,
                    "promo": promo,
                }
            )
        )
    return pd.concat(rows, ignore_index=True), truth


@pytest.fixture(scope="module")
def shop():
    return _shop()


@pytest.fixture(scope="module")
def estimates(shop):
    daily, _ = shop
    return {m: ElasticityEstimator(method=m).fit(daily).elasticities() for m in ("dml", "ols", "ols_controls")}


def test_dml_recovers_the_true_elasticities_where_naive_ols_is_confounded(shop, estimates):
    _, truth = shop
    error = {m: (t.set_index("product_id")["elasticity"] - truth).abs() for m, t in estimates.items()}
    assert error["dml"].mean() < 0.2
    assert error["ols"].mean() > 2 * error["dml"].mean()
    bias = (estimates["ols"].set_index("product_id")["raw_elasticity"] - truth).mean()
    assert bias > 0.3  # dearer in season, when demand is high: naive slopes are too flat


@pytest.mark.parametrize("method", ["dml", "ols_controls"])
def test_a_shop_of_one_product_gets_an_honest_interval(method):
    """The shop's traffic control summed every product's units, the product's own included: with one
    product it was the outcome itself, and the elasticity came out 0 with an interval of width 1e-14."""
    daily, truth = _shop(products=1, seed=3)
    row = ElasticityEstimator(method=method).fit(daily).elasticities().iloc[0]
    assert abs(row["elasticity"] - truth.iloc[0]) < 0.75, (row.to_dict(), truth.iloc[0])  # was 0
    assert row["ci_high"] - row["ci_low"] > 0.1  # was 1e-14 wide


def test_intervals_hold_the_estimate_and_mostly_the_truth(shop, estimates):
    _, truth = shop
    table = estimates["dml"].set_index("product_id")
    truth = truth.reindex(table.index)
    assert (table["ci_low"] < table["elasticity"]).all() and (table["elasticity"] < table["ci_high"]).all()
    covered = ((table["ci_low"] <= truth) & (truth <= table["ci_high"])).mean()
    assert covered >= 0.75
    assert set(table.columns) >= {"elasticity", "ci_low", "ci_high", "method", "n_days"}
    assert (table["n_days"] > 600).all()


def test_a_product_without_price_variation_gets_its_category_prior(shop):
    daily, _ = shop
    flat = daily.assign(price=np.where(daily["product_id"] == "P0", 10.0, daily["price"]))
    table = ElasticityEstimator().fit(flat).elasticities().set_index("product_id")
    assert table.loc["P0", "method"] == PRIOR
    assert "too little price variation" in table.loc["P0", "note"]
    others = table.drop(index="P0")
    assert others["elasticity"].min() <= table.loc["P0", "elasticity"] <= others["elasticity"].max()
    assert table.loc["P0", "ci_high"] - table.loc["P0", "ci_low"] > (others["ci_high"] - others["ci_low"]).median()


def test_a_product_without_its_own_estimate_gets_its_own_categorys_prior_not_the_shops():
    truth = pd.Series([-2.4] * 6 + [-0.9] * 6, index=[f"P{j}" for j in range(12)])
    daily, _ = _shop(truth=truth, seed=3)
    flat = daily.assign(price=np.where(daily["product_id"] == "P0", 10.0, daily["price"]))
    categories = pd.Series(["elastic"] * 6 + ["staple"] * 6, index=truth.index)
    pooled = ElasticityEstimator(method="ols_controls").fit(flat, categories=categories).elasticities()
    shop_wide = ElasticityEstimator(method="ols_controls").fit(flat).elasticities()
    own, shop = pooled.set_index("product_id").loc["P0"], shop_wide.set_index("product_id").loc["P0"]
    assert own["method"] == shop["method"] == PRIOR
    assert abs(own["elasticity"] + 2.4) < 0.3 < abs(shop["elasticity"] + 2.4)
    assert own["ci_low"] <= -2.4 <= own["ci_high"]


@pytest.mark.parametrize("seed", [0, 3])
def test_categories_that_respond_alike_change_almost_nothing(seed):
    """Departments drawn at random carry no signal: their means are pooled back to the shop's, and one spread
    within them is learnt from all (a category of six products estimating its own spread overshrinks)."""
    truth = pd.Series(np.random.default_rng(seed).uniform(-2.5, -0.8, 24), index=[f"P{j}" for j in range(24)])
    daily, _ = _shop(products=24, seed=seed, truth=truth)
    categories = pd.Series(np.array(["a", "b", "c", "d"])[np.arange(24) % 4], index=truth.index)
    pooled = ElasticityEstimator(method="ols_controls").fit(daily, categories=categories).elasticities()
    shop_wide = ElasticityEstimator(method="ols_controls").fit(daily).elasticities()
    pooled, shop_wide = pooled.set_index("product_id")["elasticity"], shop_wide.set_index("product_id")["elasticity"]
    assert (pooled - shop_wide).abs().max() < 0.05
    assert (pooled - truth).abs().mean() <= (shop_wide - truth).abs().mean() + 0.005


def test_a_small_category_and_products_the_catalogue_does_not_name_pool_toward_the_shop(shop):
    daily, _ = shop
    flat = daily.assign(price=np.where(daily["product_id"].isin(["P0", "P1"]), 10.0, daily["price"]))
    categories = pd.Series({"P0": "alone", "P2": "alone"})  # P0 flat: a category of one estimate (P2's)
    table = ElasticityEstimator(method="ols_controls").fit(flat, categories=categories).elasticities()
    shop_wide = ElasticityEstimator(method="ols_controls").fit(flat).elasticities()
    table, shop_wide = table.set_index("product_id"), shop_wide.set_index("product_id")
    for product in ("P0", "P1"):  # P1: not in the catalogue
        assert table.loc[product, "method"] == PRIOR
        assert table.loc[product, "elasticity"] == pytest.approx(shop_wide.loc["P0", "elasticity"], abs=0.05)


def test_shrinkage_pulls_a_noisy_estimate_toward_its_category(shop, estimates):
    raw = estimates["dml"]
    distance_raw = (raw["raw_elasticity"] - raw["raw_elasticity"].mean()).abs()
    distance = (raw["elasticity"] - raw["raw_elasticity"].mean()).abs()
    assert (distance <= distance_raw + 1e-9).all()
    assert (raw["se"] <= raw["raw_se"] + 1e-9).all()


def test_a_declared_substitute_gets_a_cross_price_effect():
    pairs = pd.DataFrame({"product_id": ["P0"], "substitute_id": ["P1"]})
    covered = 0
    for seed in range(3):  # three shops: a 90% interval may miss one
        daily, _ = _shop(products=4, seed=seed, substitutes={"P0": {"P1": 0.8}})
        cross = ElasticityEstimator().fit(daily, substitutes=pairs).cross_.set_index("substitute_id").loc["P1"]
        assert cross["cross_elasticity"] > 0.3
        covered += cross["ci_low"] <= 0.8 <= cross["ci_high"]
    assert covered >= 2


def test_products_shared_among_processes_get_the_same_answer_as_one_by_one(monkeypatch):
    """A shop of thousands of products (Online Retail II's 1,800 priced ones) took 17 minutes to train,
    one booster after another on one core; the products are now shared among the cores above a size."""
    import spend.models.pricing as pricing

    daily, _ = _shop(products=6, seed=2, substitutes={"P0": {"P1": 0.8}})
    pairs = pd.DataFrame({"product_id": ["P0"], "substitute_id": ["P1"]})
    monkeypatch.setattr(pricing, "_workers", lambda tasks: 1)
    alone = ElasticityEstimator().fit(daily, substitutes=pairs)
    monkeypatch.setattr(pricing, "_workers", lambda tasks: 2)
    shared = ElasticityEstimator().fit(daily, substitutes=pairs)
    pd.testing.assert_frame_equal(alone.elasticities(), shared.elasticities())
    pd.testing.assert_frame_equal(alone.cross_, shared.cross_)
    assert len(shared.cross_) == 1
    monkeypatch.undo()
    assert pricing._workers(pricing.PARALLEL_FROM - 1) == 1 and pricing._workers(10_000) <= 4


def test_the_panel_sums_whole_weeks_and_lags_the_previous_one(shop):
    daily, _ = shop
    panel = weekly_panel(daily[daily["product_id"] == "P1"])
    assert len(panel) == DAYS // 7 - 1  # the first week has no previous one
    one = daily[(daily["product_id"] == "P1") & (daily["date"] < daily["date"].min() + pd.Timedelta(days=14))]
    assert panel["units"].iloc[0] == one["units"].iloc[7:].sum()
    assert panel["lag_log_units"].iloc[0] == pytest.approx(np.log1p(one["units"].iloc[:7].sum()))


def test_a_history_without_prices_names_the_column(shop):
    daily, _ = shop
    with pytest.raises(ValueError, match="lacks column\\(s\\) price"):
        ElasticityEstimator().fit(daily.drop(columns="price"))
    with pytest.raises(ValueError, match="method must be one of"):
        ElasticityEstimator(method="magic").fit(daily)


def test_a_store_day_that_closed_empty_is_made_up_for_by_the_stores_in_stock():
    days = pd.date_range("2026-01-01", periods=3)
    history = pd.DataFrame(
        {
            "product_id": "A",
            "store_id": ["S1"] * 3 + ["S2"] * 3,
            "date": list(days) * 2,
            "units": [6.0, 6.0, 6.0, 2.0, 2.0, 0.0],  # S1 makes 3/4 of the sales; S2 ran out on day 3
            "price": 1.0,
            "promo": 0.0,
            "stockout": [0, 0, 0, 0, 0, 1],
        }
    )
    daily = product_days(history).set_index("date")["units"]
    assert daily.iloc[0] == pytest.approx(8.0)
    expected_share = 18 / 22  # S1's share of the product's units over the history
    assert daily.iloc[2] == pytest.approx(6.0 / expected_share)
    without = product_days(history.drop(columns="stockout")).set_index("date")["units"]
    assert without.iloc[2] == pytest.approx(6.0)  # no stock data: the units as sold


def _moving_shop(shop_elasticity: float, seed: int = 0) -> pd.DataFrame:
    """Daily units of 20 products in a shop that moves all its prices together (dearer in season, as it
    reprices every few weeks) as well as one by one; the shop's total moves by `shop_elasticity` against
    the price index, and each product's share by its own elasticity."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2024-01-01", periods=DAYS, freq="D")
    season = 1 + 0.4 * np.cos(2 * np.pi * (dates.dayofyear.to_numpy() - 200) / 365.25)
    level = np.repeat(rng.normal(0, 0.06, DAYS // 28 + 1), 28)[:DAYS] + 0.15 * (season - 1)  # the shop's moves
    products = [f"P{j}" for j in range(20)]
    own = rng.uniform(-3.0, -1.5, len(products))
    log_price = level[None, :] + np.repeat(rng.normal(0, 0.05, (len(products), DAYS // 14 + 1)), 14, axis=1)[:, :DAYS]
    weights = np.exp(own[:, None] * log_price)
    shares = weights / weights.sum(axis=0)
    index = np.mean(log_price, axis=0)  # equal sizes: the units-weighted index is the mean
    total = 4000 * season * np.exp(shop_elasticity * index)
    units = rng.poisson(total[None, :] * shares)
    return pd.DataFrame(
        {
            "product_id": np.repeat(products, DAYS),
            "date": np.tile(dates, len(products)),
            "units": units.reshape(-1),
            "price": (10 * np.exp(log_price)).reshape(-1),
            "promo": 0.0,
        }
    )


@pytest.mark.parametrize("truth", [0.0, -1.0])
def test_the_shop_response_recovers_how_its_total_moves_when_every_price_moves(truth):
    response = shop_response(weekly_panel(_moving_shop(truth)))
    assert response["ci_low"] <= truth <= response["ci_high"]
    assert abs(response["elasticity"] - truth) < 0.25
    assert response["periods"] > 90


def test_a_shop_whose_prices_never_move_together_has_no_response_and_quotes_products_alone():
    daily = _moving_shop(0.0)
    daily["price"] = 10.0 * np.where(daily["date"].dt.dayofyear % 14 < 7, 1.0, 1.05) ** np.where(
        daily["product_id"].str[1:].astype(int) % 2 == 0, 1, -1
    )  # half the products dearer while the other half are cheaper: no index move
    response = shop_response(weekly_panel(daily))
    assert response["elasticity"] is None and "never moved together" in response["note"]
    assert ElasticityEstimator().fit(daily).shop() is None


def test_the_shop_response_a_quote_uses_lies_between_every_unit_leaving_and_every_unit_staying():
    fitted = ElasticityEstimator(method="ols_controls").fit(_moving_shop(-1.0))
    table = fitted.elasticities().set_index("product_id")["elasticity"]
    units = fitted.recent_["units"].reindex(table.index)
    mean = float((table * units).sum() / units.sum())
    assert fitted.shop().elasticity == pytest.approx(fitted.shop_response_["elasticity"])  # inside: as estimated
    assert fitted.shop().units == pytest.approx(fitted.recent_["units"].sum())
    fitted.shop_response_ = fitted.shop_response_ | {"elasticity": mean - 3.0}  # more elastic than its products
    assert fitted.shop().elasticity == pytest.approx(mean)
    fitted.shop_response_ = fitted.shop_response_ | {"elasticity": 0.4}  # dearer sells more: not assumed
    assert fitted.shop().elasticity == 0.0
