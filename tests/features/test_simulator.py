"""The simulator is deterministic, its output is valid canonical data, and it recovers its own ground truth."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spend.simulate.config import SimulationConfig
from spend.simulate.run import simulate
from spend.simulate.writer import write_simulation


@pytest.fixture(scope="module")
def sim():
    return simulate(SimulationConfig(customers=20_000, seed=11))


def _digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*.*"))}


def test_same_seed_same_bytes_and_another_seed_differs(tmp_path):
    # A short history with the offer campaign on: every table and ground-truth file, in a third of the time.
    config = SimulationConfig(customers=500, days=120, seed=3, dirty_share=0.01, offer_campaign=True)
    write_simulation(simulate(config), tmp_path / "a")
    write_simulation(simulate(config), tmp_path / "b")
    write_simulation(simulate(replace(config, seed=4)), tmp_path / "c")
    a, b, c = _digests(tmp_path / "a"), _digests(tmp_path / "b"), _digests(tmp_path / "c")
    assert a == b
    assert a["transactions.csv"] != c["transactions.csv"]
    assert {
        "customers.csv",
        "transactions.csv",
        "points.csv",
        "membership.csv",
        "campaigns.csv",
        "ground_truth/parameters.json",
        "ground_truth/customers.parquet",
        "ground_truth/offer_effects.parquet",
    } <= set(a)


def _exposure(sim, config: SimulationConfig) -> pd.DataFrame:
    """Per customer: purchases after signup while alive inside the history, and season-weighted days alive."""
    truth = sim.truth["customers"].set_index("customer_id")
    start, end = pd.Timestamp(config.start), pd.Timestamp(config.start) + pd.Timedelta(days=config.days)
    begin = truth["signup_ts"].clip(lower=start)
    stop = truth["dropout_ts"].fillna(end).clip(upper=end)
    season = sim.truth["visit_season"].set_index("date")["visit_multiplier"]
    cumulative = pd.Series(np.r_[0, season.cumsum().to_numpy()], index=season.index.append(pd.DatetimeIndex([end])))

    def integral(ts: pd.Series) -> np.ndarray:  # season-weighted days from `start` to ts
        day = ts.dt.floor("D")
        whole = cumulative.reindex(day).to_numpy()
        return whole + season.reindex(day).fillna(0).to_numpy() * ((ts - day).dt.total_seconds() / 86_400).to_numpy()

    tx = sim.tables["transactions"]
    orders = tx[tx["kind"] == "purchase"].drop_duplicates("order_id")[["customer_id", "ts"]]
    orders = orders.assign(ts=pd.to_datetime(orders["ts"]).dt.tz_localize(None))
    orders = orders.join(pd.DataFrame({"begin": begin, "stop": stop}), on="customer_id")
    counted = orders[(orders["ts"] > orders["begin"]) & (orders["ts"] <= orders["stop"])]
    exposure = np.clip(integral(stop) - integral(begin), 0, None)
    return truth.assign(
        purchases=counted.groupby("customer_id").size().reindex(truth.index, fill_value=0), exposure=exposure
    )


@pytest.mark.parametrize("segment", ["tier_at_signup", "region", "channel"])
def test_purchase_rates_per_segment_match_the_truth(sim, segment):
    frame = _exposure(sim, SimulationConfig(customers=20_000, seed=11))
    frame = frame[frame["exposure"] > 0]
    grouped = frame.assign(expected=frame["purchase_rate_per_day"] * frame["exposure"]).groupby(segment)
    observed = grouped["purchases"].sum() / grouped["exposure"].sum()
    truth = grouped["expected"].sum() / grouped["exposure"].sum()
    big = grouped.size() >= 300
    relative_error = (observed[big] / truth[big] - 1).abs()
    assert relative_error.max() < 0.10, pd.DataFrame({"observed": observed, "truth": truth})


def _fit_poisson(y, X, offset, beta):
    for _ in range(30):
        mu = np.exp(X @ beta + offset)
        step = np.linalg.solve(X.T @ (X * mu[:, None]), X.T @ (y - mu))
        beta = beta + step
        if np.abs(step).max() < 1e-8:
            break
    return beta


def test_price_elasticities_are_recovered_from_the_transactions(sim):
    """Two-way fixed-effects Poisson on daily product lines: day effects, product intercepts, own price, promo.
    A store's day that closed with an empty shelf (the inventory table) is left out, since its sales were
    capped; the stores' share of sales left in stock is an offset."""
    tx = sim.tables["transactions"]
    tx = tx[tx["kind"] == "purchase"].assign(date=lambda f: pd.to_datetime(f["ts"]).dt.tz_localize(None).dt.normalize())
    products = sim.truth["products"].set_index("product_id")
    prices = sim.truth["prices"]
    dates, ids = np.sort(prices["date"].unique()), products.index.to_numpy()
    inventory = sim.tables["inventory"].assign(
        date=lambda f: pd.to_datetime(f["ts"]).dt.tz_localize(None).dt.normalize()
    )
    tx = tx.merge(inventory[["product_id", "store_id", "date", "on_hand"]], how="left")
    tx = tx[~(tx["on_hand"] <= 0)]
    lines = (
        tx.groupby(["product_id", "date"])
        .size()
        .unstack(fill_value=0)
        .reindex(index=ids, columns=dates, fill_value=0)
        .to_numpy(float)
    )
    size = tx["store_id"].value_counts(normalize=True)  # the web and app shops sell far more than a store
    weight = inventory["store_id"].map(size).fillna(0.0) * (inventory["on_hand"] > 0)
    stocked = weight.groupby([inventory["product_id"], inventory["date"]]).sum().unstack()
    stocked = stocked.reindex(index=ids, columns=dates).fillna(1.0).to_numpy()
    in_stock = stocked > 0
    wide = {
        c: prices.pivot(index="product_id", columns="date", values=c).reindex(ids).to_numpy()
        for c in ("list_price", "promo_depth")
    }
    season = sim.truth["category_season"].pivot(index="category", columns="date", values="choice_multiplier")
    log_season = np.log(season.reindex(products["category"]).to_numpy())
    log_rel = np.log(wide["list_price"] * (1 - wide["promo_depth"]) / products["base_price"].to_numpy()[:, None])
    promo = (wide["promo_depth"] > 0).astype(float)
    day_effect, coef = np.log(lines.sum(0) + 1), np.zeros((len(ids), 3))
    for _ in range(10):
        for j in range(len(ids)):
            X = np.column_stack([np.ones(len(dates)), log_rel[j], promo[j]])[in_stock[j]]
            offset = (day_effect + log_season[j] + np.log(np.where(in_stock[j], stocked[j], 1.0)))[in_stock[j]]
            start = (
                coef[j]
                if coef[j].any()
                else np.array([np.log(lines[j].sum() + 1) - np.log(np.exp(offset).sum()), 0, 0])
            )
            coef[j] = _fit_poisson(lines[j][in_stock[j]], X, offset, start)
        fitted = np.exp(coef[:, [0]] + coef[:, [1]] * log_rel + coef[:, [2]] * promo + log_season)
        day_effect = np.log(lines.sum(0) / fitted.sum(0))
    result = pd.DataFrame(
        {"lines": lines.sum(1), "true": products["elasticity"], "estimate": coef[:, 1], "promo": coef[:, 2]}, index=ids
    ).nlargest(40, "lines")
    assert (result["estimate"] - result["true"]).abs().median() < 0.30
    assert np.corrcoef(result["estimate"], result["true"])[0, 1] > 0.75
    assert abs(result["promo"].median() - np.log(SimulationConfig().promo_lift)) < 0.10


def test_fraud_follows_the_three_handbook_scenarios(sim):
    fraud = sim.truth["fraud"]
    assert set(fraud["scenario"].unique()) == {0, 1, 2, 3}
    assert 0.003 < fraud["is_fraud"].mean() < 0.03
    first = fraud[fraud["scenario"] == 1]
    assert (first["amount"] > first["threshold"]).all()
    card = fraud[fraud["is_fraud"]]
    assert (card["payment_method"] == "card").all()
    assert card.loc[card["scenario"] == 2, "terminal_id"].str.len().gt(0).all()


def test_campaign_effect_matches_the_true_uplift_by_group(sim):
    campaign = sim.truth["campaign"]
    for dog, sign in ((False, 1), (True, -1)):
        group = campaign[campaign["sleeping_dog"] == dog]
        treated, control = group[group["treated"]], group[~group["treated"]]
        effect = treated["purchased_in_window"].mean() - control["purchased_in_window"].mean()
        se = np.sqrt(
            treated["purchased_in_window"].var() / len(treated) + control["purchased_in_window"].var() / len(control)
        )
        assert abs(effect - group["true_uplift"].mean()) < 3 * se + 0.01
        assert np.sign(group["true_uplift"].mean()) == sign


def test_canonical_tables_are_consistent(sim):
    tx = sim.tables["transactions"]
    assert tx["event_id"].is_unique
    assert ((tx["kind"] == "purchase") == (tx["quantity"] > 0)).all()
    customers = sim.tables["customers"]
    assert set(tx["customer_id"]) <= set(customers["customer_id"])
    first = pd.to_datetime(tx.groupby("customer_id")["ts"].min())
    signup = pd.to_datetime(customers.set_index("customer_id")["signup_ts"]).reindex(first.index)
    assert (first >= signup).all()
    points = sim.tables["points"]
    balance = points.sort_values("ts").groupby("customer_id")["points"].cumsum()
    assert (balance >= 0).all()


def test_the_demand_truth_adds_up_to_the_simulated_demand(sim):
    from spend.simulate.demand_truth import DemandTruth

    truth = DemandTruth.from_truth(sim.truth, SimulationConfig().promo_lift)
    days = truth.lines.index
    expected = np.sum([truth.expected_units(day, *truth.shop_prices(day)) for day in days], axis=0)
    expected = pd.Series(expected, index=truth.products["product_id"])
    realised = sim.truth["demand"].groupby("product_id")["demand"].sum().reindex(expected.index).fillna(0.0)
    busy = realised > 2_000
    assert busy.sum() >= 20
    assert ((expected[busy] / realised[busy]) - 1).abs().median() < 0.05
    assert expected.sum() == pytest.approx(realised.sum(), rel=0.05)


def test_the_true_elasticity_is_the_slope_of_expected_units(sim):
    from spend.simulate.demand_truth import DemandTruth

    truth = DemandTruth.from_truth(sim.truth, SimulationConfig().promo_lift)
    day = truth.lines.index[100]
    price, promo = truth.shop_prices(day)
    slope = truth.elasticity(day)
    bumped = price.copy()
    for j in (0, 5, int(sim.truth["substitutes"]["substitute_id"].str[1:].astype(int).iloc[0])):
        bumped[:] = price
        bumped[j] = price[j] * 1.001
        numeric = np.log(truth.expected_units(day, bumped, promo)[j] / truth.expected_units(day, price, promo)[j])
        assert numeric / np.log(1.001) == pytest.approx(slope[j], rel=1e-2)


def test_the_shop_prices_in_reaction_to_demand(sim):
    """Dearer in season, promotions off season: what confounds a naive elasticity."""
    prices = sim.truth["prices"].merge(sim.truth["products"][["product_id", "category", "base_price"]])
    prices = prices.merge(sim.truth["category_season"], on=["category", "date"])
    relative = np.log(prices["list_price"] / prices["base_price"])
    assert np.corrcoef(relative, np.log(prices["choice_multiplier"]))[0, 1] > 0.2
    on_promo = prices["promo_depth"] > 0
    low = prices["choice_multiplier"] < 1
    assert on_promo[low].mean() > 1.3 * on_promo[~low].mean()


def test_the_offer_campaigns_truth_is_what_its_data_shows():
    """Per offer, the members' realised net margin in the window (margin less the offer's cost by its
    rule) minus control's is, within sampling error, the mean of the truth's net effect."""
    from spend.simulate.offers import OFFERS, POINT_VALUE

    sim = simulate(SimulationConfig(customers=20_000, seed=12, offer_campaign=True))
    members, truth = sim.truth["offer_campaign"], sim.truth["offer_effects"]
    tx = sim.tables["transactions"]
    tx = tx[tx["kind"] == "purchase"].assign(ts=lambda f: pd.to_datetime(f["ts"]))
    start = pd.to_datetime(sim.tables["campaigns"]["ts"]).max()
    window = tx[(tx["ts"] >= start) & (tx["ts"] < start + pd.Timedelta(days=30))]
    value = window["quantity"] * window["unit_price"] - window["discount"]
    per = pd.DataFrame(
        {"spend": value, "margin": value - window["quantity"] * window["unit_cost"], "order": window["order_id"]}
    ).groupby(window["customer_id"])
    outcome = pd.DataFrame(
        {"spend": per["spend"].sum(), "margin": per["margin"].sum(), "orders": per["order"].nunique()}
    )
    outcome = outcome.reindex(members["customer_id"]).fillna(0).to_numpy()
    ledger = sim.tables["points"]
    rate = (
        -ledger.loc[ledger["kind"] == "redeem", "points"].sum() / ledger.loc[ledger["kind"] == "earn", "points"].sum()
    )
    arm = members["arm"].to_numpy()
    control = outcome[arm == "control", 1]
    for offer in OFFERS:
        mine = outcome[arm == offer.name]
        cost = {"coupon": mine[:, 0] * offer.value / 100, "points": mine[:, 0] * (offer.value - 1) * POINT_VALUE * rate}
        net = mine[:, 1] - cost.get(offer.kind, mine[:, 2] * offer.value)
        seen = net.mean() - control.mean()
        error = np.sqrt(net.var() / len(net) + control.var() / len(control))
        expected = truth.loc[truth["offer"] == offer.name, "true_net_uplift"].mean()
        assert abs(seen - expected) < 3.5 * error, (offer.name, seen, expected, error)


def test_the_catalogue_lists_launches_after_the_history_even_in_a_shop_of_one_category():
    """The launches took the two most common categories: a shop with one category had one to give two
    launches, and the simulation stopped with pandas' "arrays must be of the same length"."""
    config = SimulationConfig(customers=50, days=30, products=1, stores=1, seed=1)
    catalogue = simulate(config).tables["products"]
    sold = simulate(config).tables["transactions"]["product_id"].unique()
    launches = catalogue[~catalogue["product_id"].isin(sold)]
    assert len(launches) == 2 and set(launches["category"]) == set(catalogue["category"])
    end = pd.Timestamp(config.start, tz="UTC") + pd.Timedelta(days=config.days)
    assert (pd.to_datetime(launches["listed_at"]) > end).all()
