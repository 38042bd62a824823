"""The promotion outlook: a day no plan speaks for is forecast at its series' chance of a promotion."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spend.models.demand import DemandForecaster
from spend.models.promotions import promotion_outlook
from spend.models.replenishment import cover_demand

DAYS = pd.date_range("2025-06-01", "2026-12-04", freq="D")


def _runs(length: int, every: int, offset: int = 0) -> np.ndarray:
    """Promoted for `length` days out of every `every`."""
    return (((np.arange(len(DAYS)) + offset) % every) < length).astype(float)


def _recent(promo: dict[str, np.ndarray]) -> pd.DataFrame:
    return pd.concat(
        [pd.DataFrame({"unique_id": uid, "ds": DAYS, "promo": on}) for uid, on in promo.items()], ignore_index=True
    )


def test_runs_of_promotion_persist_and_fade_to_the_series_share():
    # A promoted on the last day (its run began 2 days before), B not, C never
    on_a, on_b = _runs(9, 36, offset=(36 - len(DAYS) % 36 + 3) % 36), _runs(9, 36, offset=18)
    assert on_a[-1] == 1 and on_b[-1] == 0
    outlook = promotion_outlook(_recent({"A": on_a, "B": on_b, "C": np.zeros(len(DAYS))}))
    assert outlook.persistence == pytest.approx(1 - 1 / 9 - 1 / 27, abs=0.02)  # 9-day runs, 27-day gaps
    ids = pd.Series(["A", "B", "C"])
    tomorrow, far = outlook.chance(ids, np.ones(3)), outlook.chance(ids, np.full(3, 200))
    assert tomorrow[0] > 0.8 and tomorrow[1] < 0.15 and tomorrow[2] == 0
    assert far[:2] == pytest.approx(outlook.share[["A", "B"]].to_numpy(), abs=1e-3)
    assert 0.15 < outlook.share["A"] < 0.35


def test_no_outlook_where_nothing_was_promoted():
    assert promotion_outlook(_recent({"A": np.zeros(len(DAYS))})) is None


def _history(promo: np.ndarray) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "product_id": "P1",
            "store_id": "S1",
            "date": DAYS,
            "units": rng.poisson(4.0 + 12.0 * promo).astype(float),
            "price": 9.5,
            "promo": promo,
        }
    )


def test_an_unplanned_day_is_forecast_between_no_promotion_and_a_promotion():
    """Before, a day without a plan was forecast unpromoted: a shop promoting a quarter of its days was
    forecast, and stocked, short of every promotion's lift."""
    promo = _runs(9, 36, offset=18)  # not promoted on the last day: the chance rises to the share
    model = DemandForecaster(horizon=28, n_estimators=60, min_child_samples=20).fit(_history(promo))
    days = pd.date_range(model.last_date_ + pd.Timedelta(days=1), periods=28).date
    flat = {v: pd.DataFrame({"product_id": "P1", "date": days, "promo": v}) for v in (0, 1)}
    outlook, without, promoted = model.predict(28), model.predict(28, plan=flat[0]), model.predict(28, plan=flat[1])
    assert without["promo_chance"].eq(0).all() and promoted["promo_chance"].eq(0).all()  # planned days
    chance = outlook["promo_chance"].to_numpy()
    assert (0 < chance).all() and (chance < 1).all() and chance[-1] > chance[0]
    assert without["mean"].sum() < outlook["mean"].sum() < promoted["mean"].sum()
    assert (outlook["p10"] <= outlook["p50"]).all() and (outlook["p50"] <= outlook["p90"]).all()
    mid = chance * (promoted["mean"] - without["mean"]).to_numpy()
    assert outlook["promo_lift"].to_numpy() == pytest.approx((promoted["mean"] - without["mean"]).to_numpy(), rel=0.05)
    assert (outlook["mean"] - without["mean"]).to_numpy() == pytest.approx(mid, rel=0.05)
    # derived once at fit and kept with the model: a stored one answers the same
    stored = DemandForecaster.__new__(DemandForecaster)
    stored.__setstate__(model.__getstate__())
    pd.testing.assert_frame_equal(stored.predict(28), outlook)


def test_an_uncertain_promotion_widens_the_cover_period_as_one_draw():
    day = {"product_id": "P1", "store_id": "S1", "p10": 1.0, "p50": 3.0, "p90": 6.0, "mean": 3.2}
    days = pd.DataFrame([day | {"date": d} for d in pd.date_range("2026-12-05", periods=4)])
    cover = pd.Series([4], index=pd.MultiIndex.from_tuples([("P1", "S1")], names=["product_id", "store_id"]))
    plain = cover_demand(days, cover).iloc[0]
    uncertain = cover_demand(days.assign(promo_chance=0.25, promo_lift=2.0), cover).iloc[0]
    assert uncertain["mean"] == plain["mean"]
    assert uncertain["sd"] ** 2 == pytest.approx(plain["sd"] ** 2 + 0.25 * 0.75 * 8.0**2)


def test_a_launchs_planned_promotion_moves_its_forecast_from_its_categorys():
    """A launch is forecast from its category's products; a plan promoting it (or not) was ignored, so a
    launch promotion was stocked at the category's usual chance of one."""
    history = pd.concat(
        [_history(_runs(9, 36, offset=18 + 5 * i)).assign(product_id=f"P{i}", category="c") for i in range(3)],
        ignore_index=True,
    )
    last = history["date"].max()
    launches = pd.DataFrame({"product_id": ["L"], "category": ["c"], "ds": [last + pd.Timedelta(days=1)]})
    model = DemandForecaster(horizon=14, n_estimators=60, min_child_samples=20).fit(history, launches=launches)
    days = pd.date_range(last + pd.Timedelta(days=1), periods=14).date
    series = pd.DataFrame({"product_id": ["L"], "store_id": ["S1"]})

    def launch(promo=None):
        plan = None if promo is None else pd.DataFrame({"product_id": "L", "date": days, "promo": promo})
        return model.predict(14, plan=plan, series=series)

    usual, promoted, plain = launch(), launch(1.0), launch(0.0)
    assert set(usual["method"]) == {"category fallback"}
    assert plain["mean"].sum() < usual["mean"].sum() < promoted["mean"].sum()
    assert promoted["mean"].sum() > 2 * plain["mean"].sum()  # the category's promotions triple its units
    assert (promoted["p10"] <= promoted["p50"]).all() and (promoted["p50"] <= promoted["p90"]).all()
    half = launch(0.5)
    assert half["mean"].to_numpy() == pytest.approx(((plain["mean"] + promoted["mean"]) / 2).to_numpy())
