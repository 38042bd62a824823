"""Win-back campaigns pooled across waves: each wave's outcome is its own, a campaign whose outcome window
is still open is left out, and cross-fitting never scores a customer with a model that saw another of
their waves. The simulator's waves behave like a shop's monthly mailing."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd
import pytest

from spend.core.names import CUSTOMER_ID as ID
from spend.features.ingest.store import OfflineStore
from spend.simulate.config import SimulationConfig
from spend.simulate.run import simulate
from spend.training import campaigns as campaigns_module
from spend.training.campaigns import CAMPAIGN_WINDOW_DAYS, Campaign, campaign_frame, winback_campaigns
from spend.training.dataset import order_lines


def test_a_customer_in_two_waves_has_each_waves_own_outcome(history):
    settings, _ = history
    lines = order_lines(OfflineStore(settings.paths))
    bought = lines[lines["kind"] == "purchase"].sort_values("ts")
    window = pd.Timedelta(days=CAMPAIGN_WINDOW_DAYS)
    # A customer with a purchase on day D and none in the window of a wave 40 days later.
    chosen = None
    for customer, days in bought.groupby(ID)["ts"]:
        d = days.iloc[len(days) // 2].normalize()
        later = d + pd.Timedelta(days=40)
        if d > days.iloc[0] and not ((days >= later) & (days < later + window)).any():
            chosen, responded_day, quiet_day = customer, d - pd.Timedelta(days=10), later
            break
    assert chosen is not None
    assigned = pd.DataFrame(
        {
            ID: [chosen, chosen],
            "campaign_id": ["wave-1", "wave-2"],
            "ts": [responded_day + pd.Timedelta(hours=9), quiet_day + pd.Timedelta(hours=9)],
            "group": ["treatment", "control"],
        }
    )
    campaign = campaign_frame(settings, assigned, lines, "churn_v1")
    assert campaign.frame["responded"].tolist() == [1, 0]  # not "bought in any wave's window"
    assert campaign.frame["treated"].tolist() == [1, 0]
    assert campaign.frame["campaign_id"].tolist() == ["wave-1", "wave-2"]
    assert campaign.name == "2 campaigns pooled (wave-1 to wave-2)"
    assert "campaign_id" not in campaign.columns and "responded" not in campaign.columns
    # Features as of each wave's own day: the later wave sees the purchase the earlier did not.
    assert campaign.frame["days_since_last_order"].iloc[1] < 40 + 1


def test_a_campaign_whose_window_is_open_is_left_out_and_said(history):
    settings, _ = history
    lines = order_lines(OfflineStore(settings.paths))
    assigned_at = OfflineStore(settings.paths).read("campaigns", ["ts"])["ts"].max()
    too_soon = winback_campaigns(settings, lines, "churn_v1", as_of=assigned_at + pd.Timedelta(days=10))
    assert isinstance(too_soon, str)
    assert too_soon.startswith(f"no randomised campaign whose {CAMPAIGN_WINDOW_DAYS}-day outcome window has closed")
    closed = winback_campaigns(settings, lines, "churn_v1", as_of=assigned_at + pd.Timedelta(days=31))
    assert isinstance(closed, Campaign) and closed.skipped is None
    assert closed.name.startswith("campaign winback-") and len(closed.frame) > 100


def test_cross_fitting_never_scores_a_customer_with_a_model_that_saw_them(monkeypatch):
    rng = np.random.default_rng(0)
    customers = np.repeat([f"c{i}" for i in range(300)], 3)  # each customer in three waves
    frame = pd.DataFrame({ID: customers, "x": rng.normal(size=len(customers))})
    frame = frame.sample(frac=1.0, random_state=1).reset_index(drop=True)
    seen: list[tuple[set, set]] = []

    def fit(campaign, rows):
        return set(campaign.frame.loc[rows, ID])

    def score(trained_on, part):
        seen.append((trained_on, set(part[ID])))
        return np.zeros(len(part))

    monkeypatch.setattr(campaigns_module, "_fit", fit)
    monkeypatch.setattr(campaigns_module, "contact_uplift", score)
    out = campaigns_module.cross_fitted_uplift(Campaign("test", frame, ["x"]), folds=5)
    assert len(out) == len(frame) and len(seen) == 5
    for trained_on, scored in seen:
        assert scored and not trained_on & scored


def test_simulated_waves_are_separate_randomised_campaigns():
    config = SimulationConfig(
        customers=1_500, days=540, seed=4, start=date(2023, 1, 1), campaign_day=420, campaign_waves=3
    )
    sim = simulate(config)
    table, truth = sim.tables["campaigns"], sim.truth["campaign"]
    assert table["campaign_id"].nunique() == 3 and table["event_id"].is_unique
    assert table.groupby("campaign_id")["ts"].nunique().eq(1).all()
    assert sorted(truth["campaign_day"].unique()) == [420, 450, 480]
    assert (table["campaign_id"].to_numpy() == truth["campaign_id"].to_numpy()).all()
    assert truth.groupby("campaign_id")["treated"].mean().between(0.4, 0.6).all()
    # A customer who bought in one wave's window is not lapsed at the next one, 30 days later.
    first, second = (truth[truth["campaign_day"] == d].set_index("customer_id") for d in (420, 450))
    both = first.index.intersection(second.index)
    assert len(both) > 0 and not first.loc[both, "purchased_in_window"].any()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"campaign_every_days": 20}, "campaign_every_days \\(20\\) must be at least the 30-day window"),
        ({"campaign_day": 500}, "last win-back wave's 30-day window must end inside the 540-day history"),
        ({"campaign_waves": 0}, "campaign_waves must be at least 1"),
    ],
)
def test_waves_that_cannot_be_measured_are_refused(changes, message):
    config = SimulationConfig(customers=200, days=540, seed=4, start=date(2023, 1, 1), campaign_day=420)
    config = replace(config, **{"campaign_waves": 3, **changes})
    with pytest.raises(ValueError, match=message):
        simulate(config)
