"""Offer campaigns pooled across waves: each assignment's outcome and cost are its own wave's, a campaign
whose window is still open is left out and said, and the simulator's offer waves are separate randomised
campaigns whose basket effects stay inside their own windows."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from spend.cli import app
from spend.core.errors import SpendError
from spend.core.experiments import OffersConfig, read_config
from spend.core.names import CUSTOMER_ID as ID
from spend.features.ingest.store import OfflineStore
from spend.simulate.config import SimulationConfig
from spend.simulate.offers import basket_factors, points_multiplier
from spend.simulate.run import simulate
from spend.training.dataset import order_lines
from spend.training.datasets import offer_campaign

WINDOW = pd.Timedelta(days=30)


def _bought_then_quiet(lines: pd.DataFrame):
    """A customer with a purchase on some day and none in the 30 days from 40 days later."""
    bought = lines[lines["kind"] == "purchase"].sort_values("ts")
    for customer, days in bought.groupby(ID)["ts"]:
        d = days.iloc[len(days) // 2].normalize()
        later = d + pd.Timedelta(days=40)
        if d > days.iloc[0] and not ((days >= later) & (days < later + WINDOW)).any():
            return customer, d - pd.Timedelta(days=10), later
    raise AssertionError("no such customer in the history")


def _waves(customer, first: pd.Timestamp, second: pd.Timestamp) -> pd.DataFrame:
    return pd.DataFrame(
        {
            ID: [customer, customer],
            "campaign_id": ["wave-1", "wave-2"],
            "ts": [first + pd.Timedelta(hours=9), second + pd.Timedelta(hours=9)],
            "group": ["treatment", "treatment"],
            "offer": ["coupon_10", "coupon_20"],
        }
    )


def test_a_member_in_two_offer_waves_has_each_waves_own_outcome_and_cost(history):
    settings, _ = history
    config = read_config("offers", OffersConfig)
    lines = order_lines(OfflineStore(settings.paths))
    customer, first, second = _bought_then_quiet(lines)
    data = offer_campaign._frame(settings, config, _waves(customer, first, second), lines)
    frame = data.frame
    mine = lines[(lines[ID] == customer) & (lines["kind"] == "purchase")]
    in_first = mine[
        (mine["ts"] >= first + pd.Timedelta(hours=9)) & (mine["ts"] < first + pd.Timedelta(hours=9) + WINDOW)
    ]
    assert frame["spend"].iloc[0] == pytest.approx(in_first["net"].sum()) and frame["spend"].iloc[0] > 0
    assert frame["orders"].tolist() == [in_first["order_id"].nunique(), 0]  # not "bought in any wave's window"
    assert frame["cost"].iloc[0] == pytest.approx(0.10 * frame["spend"].iloc[0]) and frame["cost"].iloc[1] == 0
    assert frame["arm"].tolist() == ["coupon_10", "coupon_20"]
    assert frame["campaign_id"].tolist() == ["wave-1", "wave-2"]
    assert frame["holdout"].nunique() == 1  # a member's waves are held out together
    assert data.name == "2 campaigns pooled (wave-1 to wave-2)"
    assert "campaign_id" not in data.columns and "net" not in data.columns
    # Features as of each wave's own day: the later wave sees the purchase the earlier did not.
    assert frame["days_since_last_order"].iloc[1] <= 40


def test_an_offer_campaign_whose_window_is_open_is_left_out_and_said(history, monkeypatch):
    settings, _ = history
    lines = order_lines(OfflineStore(settings.paths))
    customers = lines[ID].drop_duplicates().head(400).to_numpy()
    end = lines["ts"].max().normalize()
    early, late = end - pd.Timedelta(days=90), end - pd.Timedelta(days=10)
    rows = pd.concat(
        [
            pd.DataFrame(
                {
                    ID: customers,
                    "campaign_id": name,
                    "ts": at + pd.Timedelta(hours=9),
                    "group": np.where(np.arange(len(customers)) % 2, "treatment", "control"),
                    "offer": np.where(np.arange(len(customers)) % 2, "coupon_10", None),
                }
            )
            for name, at in (("offers-early", early), ("offers-late", late))
        ],
        ignore_index=True,
    )
    monkeypatch.setattr(offer_campaign, "offer_campaigns", lambda settings, config: rows)
    config = read_config("offers", OffersConfig)
    data = offer_campaign.read_campaign(settings, config)
    assert data.name == "campaign offers-early" and len(data.frame) == len(customers)
    assert "1 offer campaign(s) still inside their window left out" in data.notes
    both = offer_campaign.read_campaign(settings, config, as_of=late + pd.Timedelta(days=31))
    assert both.name == "2 campaigns pooled (offers-early to offers-late)" and len(both.frame) == 2 * len(customers)
    assert not any("still inside" in n for n in both.notes)


def test_an_offer_campaign_without_a_control_group_is_left_out_and_said(history, monkeypatch):
    """A campaign that sent every member an offer was pooled: its members had no chance of the control arm,
    and the policy values divided by that chance (a candidate crowned at 0.23 against no offer's 0)."""
    settings, _ = history
    lines = order_lines(OfflineStore(settings.paths))
    customers = lines[ID].drop_duplicates().head(400).to_numpy()
    at = lines["ts"].max().normalize() - pd.Timedelta(days=90) + pd.Timedelta(hours=9)
    half = np.arange(len(customers)) % 2 == 1

    def campaign(name: str, control: bool) -> pd.DataFrame:
        group = np.where(half | (not control), "treatment", "control")
        offer = np.where(group == "treatment", np.where(half, "coupon_10", "coupon_20"), None)
        return pd.DataFrame({ID: customers, "campaign_id": name, "ts": at, "group": group, "offer": offer})

    config = read_config("offers", OffersConfig)
    rows = pd.concat([campaign("offers-randomised", True), campaign("offers-everyone", False)], ignore_index=True)
    monkeypatch.setattr(offer_campaign, "offer_campaigns", lambda settings, config: rows)
    data = offer_campaign.read_campaign(settings, config)
    assert data.name == "campaign offers-randomised" and (data.frame["arm"] == "control").sum() == (~half).sum()
    assert any(n.startswith("offer campaign(s) offers-everyone left out: no control group") for n in data.notes)
    alone = rows[rows["campaign_id"] == "offers-everyone"]
    monkeypatch.setattr(offer_campaign, "offer_campaigns", lambda settings, config: alone)
    with pytest.raises(SpendError, match="no randomised offer campaign: cannot estimate offer effects .offer"):
        offer_campaign.read_campaign(settings, config)


def test_simulated_offer_waves_are_separate_randomised_campaigns():
    sim = simulate(SimulationConfig(customers=1_500, days=365, seed=4, offer_campaign=True, offer_waves=3))
    table = sim.tables["campaigns"]
    table = table[table["campaign_id"].str.startswith("offers-")]
    members, effects = sim.truth["offer_campaign"], sim.truth["offer_effects"]
    assert table["campaign_id"].nunique() == 3 and table["event_id"].is_unique
    assert sorted(members["campaign_day"].unique()) == [250, 280, 310]
    assert (table["campaign_id"].to_numpy() == members["campaign_id"].to_numpy()).all()
    assert members.groupby("campaign_id")["arm"].value_counts(normalize=True).between(0.12, 0.28).all()
    per_wave = effects.groupby("campaign_id")["customer_id"].size()
    assert (per_wave == members.groupby("campaign_id").size() * 4).all()  # four offers per member and wave
    assert members.groupby("campaign_id")["order_spend"].nunique().eq(1).all()


def test_a_waves_basket_factor_and_points_stay_inside_its_own_window():
    config = SimulationConfig(customers=10, days=365, offer_campaign=True, offer_waves=2)
    first, second = config.offer_wave_days
    assignment = pd.DataFrame(
        {
            "customer_index": [0, 0],
            "arm": ["free_shipping", "double_points"],
            "campaign_day": [first, second],
            **{f"g_{o}": [1.25, 1.2] for o in ("coupon_10", "coupon_20", "double_points", "free_shipping")},
        }
    )
    days = config.days + np.array([first + 5, second + 5, second + 40])
    orders = pd.DataFrame({"customer": [0, 0, 0], "day_index": days})
    assert basket_factors(orders, assignment, config).tolist() == [1.25, 1.2, 1.0]
    assert points_multiplier(orders, assignment, config).tolist() == [1.0, 2.0, 1.0]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"offer_every_days": 20}, "offer_every_days \\(20\\) must be at least the 30-day window"),
        ({"offer_waves": 0}, "offer_waves must be at least 1"),
        ({"offer_waves": 12}, "would start before the history"),
    ],
)
def test_offer_waves_that_cannot_be_measured_are_refused(changes, message):
    config = replace(SimulationConfig(customers=200, days=365, seed=4, offer_campaign=True, offer_waves=3), **changes)
    with pytest.raises(ValueError, match=message):
        simulate(config)


def test_simulate_refuses_offer_waves_that_do_not_fit_in_one_line(tmp_path):
    result = CliRunner().invoke(app, ["simulate", "--customers", "50", "--offer-waves", "12", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: --offer-waves 12 do not fit in 365 days: the first would go out on day -20, before 90 days of history"
    ]
