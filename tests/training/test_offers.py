"""`spend train offers`, `spend offers evaluate` and `spend offers assign` on a simulated history with a
multi-arm offer campaign; their errors; and what a history without such a campaign says."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from spend.cli import app
from spend.core.privacy.pseudonym import pseudonymise
from spend.core.settings import SpendSettings
from tests.support.runs import assert_logged

runner = CliRunner()
AS_OF = ["--as-of", "2025-12-31"]  # the shared history's snapshots end that day


@pytest.fixture(scope="module")
def offers_home(tmp_path_factory):
    """A simulated year with a multi-arm offer campaign (the shared training history has none: a campaign
    inside the churn tests' label window would move their labels) and an offers champion."""
    import warnings

    from spend.features.ingest.pipeline import IngestOptions, ingest
    from spend.features.store.build import build_snapshots
    from spend.features.store.config import feature_store
    from spend.features.store.definitions import build_repo
    from spend.simulate.config import SimulationConfig
    from spend.simulate.run import simulate
    from spend.simulate.writer import write_simulation
    from tests.conftest import TEST_KEY

    warnings.filterwarnings("ignore", message="On demand feature view is an experimental feature")
    root = tmp_path_factory.mktemp("offers")
    settings = SpendSettings(home=root / "home", pseudonym_key=TEST_KEY)
    write_simulation(simulate(SimulationConfig(customers=2_000, days=365, seed=21, offer_campaign=True)), root / "sim")
    for table in ("customers", "transactions", "points", "campaigns"):
        ingest(root / "sim" / f"{table}.csv", IngestOptions(table), settings)
    build_snapshots(settings, pd.Timestamp("2026-01-02", tz="UTC"))  # through the day after the last purchase
    feature_store(settings).apply(build_repo(settings.paths.feature_snapshots).objects)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SPEND_HOME", str(settings.home))
        patch.setenv("SPEND_PSEUDONYM_KEY", settings.pseudonym_key.get_secret_value())
        trained = runner.invoke(app, ["train", "offers", "--json"])
    assert trained.exit_code == 0, trained.output
    return settings, json.loads(trained.stdout)


@pytest.fixture
def home(offers_home, monkeypatch):
    settings, _ = offers_home
    monkeypatch.setenv("SPEND_HOME", str(settings.home))
    monkeypatch.setenv("SPEND_PSEUDONYM_KEY", settings.pseudonym_key.get_secret_value())
    return settings


def test_training_values_every_policy_on_held_out_members_and_crowns_the_best(offers_home):
    _, report = offers_home
    table = report["comparison"]
    assert set(table) == {"spend", "best_single", "no_offer", "random"}
    for row in table.values():
        assert row["policy_value_low"] <= row["policy_value"] <= row["policy_value_high"]
    assert table["no_offer"]["policy_value"] == 0.0
    servable = {k: v["policy_value"] for k, v in table.items() if k != "random"}  # random is judged, not served
    assert report["winner"] == max(servable, key=servable.get)
    details = report["details"]
    assert details["holdout_members"] < details["members"] and set(details["arms"]) == {
        "control",
        "coupon_10",
        "coupon_20",
        "double_points",
        "free_shipping",
    }
    assert 0 < details["redemption_rate"] < 1  # the simulated ledger redeems part of what it earns
    assert_logged(offers_home[0], "offers", report["version"], {"policy_values.png"})


def test_the_offers_champion_is_monitored_for_drift_and_a_price_shock_is_flagged(offers_home):
    # The campaign members' features at assignment are the reference; today's active customers are
    # compared with it. Unchanged, nothing is flagged; with every spend figure x4, the spend features are.
    from spend.core.registry import spec
    from spend.models.drift import compare
    from spend.training.config import load_config
    from spend.training.datasets.offer_campaign import current_inputs
    from spend.training.monitoring import monitor
    from spend.training.tracking import Registry

    settings, report = offers_home
    checked = monitor(settings, ["offers"])["models"]["offers"]
    assert "features" in checked and not any("drift" in note for note in checked["notes"])
    assert not any(b.startswith("drift") for b in checked["breaches"]), checked["breaches"]
    registry = Registry(settings)
    reference = registry.reference_profile(registry.version_by_alias("offers"))
    offers = spec("offers")
    today = current_inputs(settings, offers, load_config(offers), pd.Timestamp("2025-12-31", tz="UTC"))
    money = [c for c in today.columns if "spend" in c or "value" in c]
    assert money, today.columns
    shocked = compare(reference, today.assign(**{c: today[c] * 4 for c in money}))
    assert shocked.set_index("feature").loc[money, "breach"].str.len().gt(0).any()


def test_evaluate_prints_each_policy_with_its_interval(home):
    result = runner.invoke(app, ["offers", "evaluate", "--json"])
    assert result.exit_code == 0, result.output
    evaluated = json.loads(result.stdout)
    assert set(evaluated["policies"]) == {"champion", "best_single", "no_offer", "random"}
    assert evaluated["policies"]["no_offer"]["offered_share"] == 0
    assert evaluated["policies"]["random"]["offered_share"] == 1


def test_assign_keeps_the_budget_the_stock_and_the_exclusions_and_publishes(home, tmp_path):
    from spend.serving.published import PublishedDecisions

    assert runner.invoke(app, ["train", "churn", "--as-of", "2025-12-31"]).exit_code == 0
    assert runner.invoke(app, ["publish", "--as-of", "2025-12-31"]).exit_code == 0
    everything = runner.invoke(
        app, ["offers", "assign", "--budget", "1e9", "--out", str(tmp_path / "all.csv"), *AS_OF, "--json"]
    )
    assert everything.exit_code == 0, everything.output
    unlimited = json.loads(everything.stdout)
    everyone = pd.read_csv(tmp_path / "all.csv")
    popular = max(unlimited["mix"], key=unlimited["mix"].get)
    (tmp_path / "stock.csv").write_text(f"offer,stock\n{popular},5\n")
    excluded = pseudonymise(
        pd.Series(["C0000001", "C0000002", "C0000003"]), home.pseudonym_key.get_secret_value().encode()
    )
    # a CRM's opt-out export: each row read whole was an id nobody has, and nobody was excluded
    (tmp_path / "exclude.csv").write_text("customer_id,email\nC0000001,a@x\nC0000002,b@x\nC0000003,c@x\n")
    budget = 0.2 * unlimited["expected_cost"]
    args = ["offers", "assign", "--budget", str(budget), "--stock", str(tmp_path / "stock.csv")]
    args += ["--exclude", str(tmp_path / "exclude.csv"), "--out", str(tmp_path / "offers.parquet"), *AS_OF]
    args += ["--publish", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    frame = pd.read_parquet(tmp_path / "offers.parquet")
    assert len(frame) == len(everyone) == report["members"]
    assert frame["expected_cost"].sum() <= budget + 1e-6 and report["mix"][popular] <= 5
    assert (frame.loc[frame["customer_id"].isin(excluded), "offer"] == "none").all()
    members = int(frame["customer_id"].isin(excluded).sum())
    assert members > 0 and report["excluded"] == {"listed": 3, "members": members}
    assert set(frame.loc[frame["customer_id"].isin(excluded), "reason"]) == {
        "not allowed: excluded or contacted recently"
    }
    assert (frame.loc[frame["offer"] != "none", "expected_net"] > 0).all()
    assert set(frame.loc[frame["offer"] == "none", "reason"]) <= {
        "budget or stock used up by members worth more",
        "no offer pays for itself: expected net margin <= 0",
        "not allowed: excluded or contacted recently",
    }
    decisions = PublishedDecisions(home.paths.published)
    assert decisions.refresh() and decisions.current.offers is not None
    assert decisions.current.manifest["offers"]["offered"] == report["offered"]
    # A later `spend publish` keeps the published offers.
    assert runner.invoke(app, ["publish", "--as-of", "2025-12-31"]).exit_code == 0
    assert "offers" in json.loads((home.paths.published / "manifest.json").read_text())


def test_members_contacted_within_the_contact_days_get_no_offer(home, tmp_path):
    """The simulated offer campaign went out 2025-11-07; offers.yaml allows one contact in 30 days."""
    from spend.features.ingest.store import OfflineStore

    campaigns = OfflineStore(home.paths).read("campaigns", ["customer_id", "campaign_id", "group"])
    treated = set(
        campaigns.loc[
            campaigns["campaign_id"].str.startswith("offers-") & (campaigns["group"] == "treatment"), "customer_id"
        ]
    )
    args = ["offers", "assign", "--budget", "1e9", "--out", str(tmp_path / "o.parquet"), "--as-of", "2025-11-20"]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    frame = pd.read_parquet(tmp_path / "o.parquet")
    capped = frame[frame["customer_id"].isin(treated)]
    assert len(capped) > 100 and (capped["offer"] == "none").all()
    assert set(capped["reason"]) == {"not allowed: excluded or contacted recently"}
    # the cap is theirs only: nobody else is refused for it
    assert "not allowed: excluded or contacted recently" not in set(
        frame.loc[~frame["customer_id"].isin(treated), "reason"]
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--budget", "-5"], "--budget: must be a finite number >= 0, got -5"),
        (["--budget", "10", "--stock", "{stock}"], "--stock: offer 'cashback' is not one the offers model knows"),
        (["--budget", "10", "--exclude", "{missing}"], "--exclude:"),
        # each of these was taken before: the last row's stock, a fractional or unlimited one, a crash
        (["--budget", "10", "--stock", "{twice}"], "--stock: offer 'coupon_10' is listed twice"),
        (["--budget", "10", "--stock", "{half}"], "whole number >= 0 on every row (row 1: 2.5;"),
        (["--budget", "10", "--stock", "{endless}"], "whole number >= 0 on every row (row 1: inf;"),
        (["--budget", "10", "--exclude", "{latin}"], "--exclude: latin.txt is not UTF-8 text"),
        (["--budget", "10", "--exclude", "{crm}"], "--exclude: crm.csv has no column 'customer_id' (its columns: id"),
        (["--budget", "10", "--exclude", "{gap}"], "gap.csv line(s) 3 have no customer_id; no offer was assigned"),
    ],
)
def test_bad_assign_input_is_one_error_line(home, tmp_path, args, message):
    (tmp_path / "stock.csv").write_text("offer,stock\ncashback,10\n")
    (tmp_path / "twice.csv").write_text("offer,stock\ncoupon_10,5\ncoupon_10,6\n")
    (tmp_path / "half.csv").write_text("offer,stock\ncoupon_10,2.5\n")
    (tmp_path / "endless.csv").write_text("offer,stock\ncoupon_10,inf\n")
    (tmp_path / "latin.txt").write_bytes("C\xe9\n".encode("latin-1"))
    (tmp_path / "crm.csv").write_text("id,email\nC1,a@x\n")
    (tmp_path / "gap.csv").write_text("customer_id,email\nC1,a@x\n,b@x\n")
    files = {name: tmp_path / f"{name}.csv" for name in ("stock", "twice", "half", "endless")}
    files |= {"missing": tmp_path / "nope.txt", "latin": tmp_path / "latin.txt"}
    files |= {"crm": tmp_path / "crm.csv", "gap": tmp_path / "gap.csv"}
    args = [a.format(**files) for a in args]
    result = runner.invoke(app, ["offers", "assign", *args, "--out", str(tmp_path / "o.csv")])
    assert result.exit_code != 0
    assert message in result.output and "Traceback" not in result.output
    assert result.output.count("error:") == 1
