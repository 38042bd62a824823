"""The `spend` command end to end: demo, simulate, load-example, and errors that stay one line."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from spend.cli import app
from spend.core.settings import SpendSettings
from spend.features.ingest.catalog import BatchCatalog
from tests.conftest import TEST_KEY

pytestmark = pytest.mark.slow  # a minute or more of fixtures and training: scheduled first (conftest.py)

runner = CliRunner()


SMALL_SHOP = ["--products", "16", "--stores", "2"]  # 64 demand series: the demand model trains in seconds


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory) -> dict:
    """One demo for the tests that read what it left (a demo is the suite's longest command)."""
    home = tmp_path_factory.mktemp("demo") / "home"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SPEND_HOME", str(home))
        patch.setenv("SPEND_PSEUDONYM_KEY", TEST_KEY)
        result = runner.invoke(app, ["demo", "--customers", "400", "--days", "300", *SMALL_SHOP, "--json"])
    return {"home": home, "result": result}


@pytest.fixture
def demo(demo_home, monkeypatch) -> tuple:
    """The demo's output and settings on its home; the environment points there too."""
    monkeypatch.setenv("SPEND_HOME", str(demo_home["home"]))
    monkeypatch.setenv("SPEND_PSEUDONYM_KEY", TEST_KEY)
    return demo_home["result"], SpendSettings(home=demo_home["home"], pseudonym_key=TEST_KEY)


def test_demo_runs_end_to_end_and_reports_counts_that_add_up(demo):
    result, settings = demo
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    for table, counts in summary["ingested"].items():
        assert counts["accepted"] + counts["quarantined"] + counts["duplicates"] == counts["received"], table
    assert summary["ingested"]["transactions"]["quarantined"] > 0  # the demo's export is dirty on purpose
    tables = {"customers", "transactions", "points", "membership", "campaigns", "fraud_labels", "inventory", "products"}
    assert set(summary["quality"]) == tables
    assert len(BatchCatalog(settings.paths.catalog).batches()) == len(tables)
    assert (settings.paths.reports / "quality.json").exists()
    assert summary["churn"]["alias"] == "champion" and {"spend", "bgnbd", "recency"} == set(summary["churn"]["holdout"])
    # 300 days: no year before the holdout to read its season from, and the demo says so as `spend train`
    assert summary["churn"]["history_skipped"] == "season index: under a year of purchases before the holdout"
    recall = pd.read_csv(summary["recall_list"]["file"])
    assert len(recall) == summary["recall_list"]["customers"] > 0 and recall["customer_id"].str.startswith("c_").all()
    published = json.loads((settings.paths.published / "manifest.json").read_text())
    assert published["churn_model_version"] == summary["churn"]["version"]
    full = pd.read_parquet(settings.paths.published / "recall_list.parquet")
    assert published["recall_list_customers"] == len(full) >= len(recall)
    assert full["customer_id"].head(len(recall)).tolist() == recall["customer_id"].tolist()  # the CSV is its top

    listed = runner.invoke(app, ["batches", "--table", "transactions", "--json"])
    assert listed.exit_code == 0, listed.output
    (batch,) = json.loads(listed.stdout)["batches"]
    assert batch["received"] == summary["ingested"]["transactions"]["received"]
    assert runner.invoke(app, ["batches", "--table", "orders"]).exit_code == 2

    # 400 customers pay by card too rarely to learn fraud from: the demo says so and goes on.
    assert "frauds in the labelled history are too few" in summary["fraud"]["skipped"]
    demand = summary["demand"]
    assert {"spend", "seasonal_naive", "auto_ets", "croston_optimized"} == set(demand["backtest"])
    forecast = pd.read_csv(summary["supply"]["forecast"]["file"])
    assert len(forecast) == summary["supply"]["forecast"]["series"] * 28 and (forecast["p10"] <= forecast["p90"]).all()
    orders = pd.read_csv(summary["supply"]["replenishment"]["file"])
    assert len(orders) == summary["supply"]["replenishment"]["series"] and (orders["suggested_order"] >= 0).all()
    assert summary["report"]["charts"] >= 8 and Path(summary["report"]["file"]).stat().st_size > 1_000_000
    _assert_monitoring_line(summary["report"]["monitoring"])


def _assert_monitoring_line(line: str) -> None:
    """One verdict per champion; a breach names figures past their thresholds. Whether churn drifts
    depends on the date: the demo's history ends today, and a simulated summer's 30-day spend drifts
    from the spring its training cohorts saw (a breach seen on a 2027-06-15 run); tests/training/
    test_monitoring.py holds that an unchanged shop passes."""
    parts = re.split(r", (?=[a-z]+ (?:ok|breach))", line)
    states = dict(part.split(" ", 1) for part in parts)
    assert set(states) == {"churn", "demand", "offers", "pricing"}, line
    for state in states.values():
        assert state == "ok" or state.startswith("breach ("), line
        for seen, allowed in re.findall(r"([0-9.]+) > ([0-9.]+)", state):
            assert float(seen) > float(allowed), line


def test_a_demo_too_short_for_the_churn_label_says_so(settings):
    result = runner.invoke(app, ["demo", "--customers", "200", "--days", "120", *SMALL_SHOP, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["churn"]["skipped"].startswith("history too short") and summary["recall_list"] is None


def test_simulate_writes_the_tables_and_ground_truth(settings, tmp_path):
    out = tmp_path / "sim"
    result = runner.invoke(app, ["simulate", "--customers", "200", "--days", "60", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["rows"]
    assert rows["transactions"] == len(pd.read_csv(out / "transactions.csv"))
    assert (out / "ground_truth" / "parameters.json").exists()
    assert "note" not in json.loads(result.stdout)  # 2025-01-01 plus 60 days: in the past


def test_simulate_a_small_shop_with_the_smallest_catalog_and_one_store(settings, tmp_path):
    """The smallest catalog the command allows ended in an unexpected ValueError: a category of one
    product was asked for a pair of substitutes."""
    out = tmp_path / "sim"
    args = ["simulate", "--customers", "150", "--days", "120", "--products", "8", "--stores", "1", "--seed", "3"]
    result = runner.invoke(app, [*args, "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(out / "transactions.csv")) > 0
    products = pd.read_parquet(out / "ground_truth" / "products.parquet").set_index("product_id")["category"]
    pairs = pd.read_parquet(out / "ground_truth" / "substitutes.parquet")
    assert (pairs["product_id"].map(products) == pairs["substitute_id"].map(products)).all()  # within a category


def test_a_simulated_history_running_past_today_says_so_and_how_to_end_it_today(settings, tmp_path):
    """2,612 of a 900-customer, 800-day simulation's lines were quarantined as in the future, unannounced."""
    start = (date.today() - timedelta(days=29)).isoformat()  # 60 days from here: 30 of them after today
    argv = ["simulate", "--customers", "50", "--days", "60", "--start", start, "--out", str(tmp_path / "sim")]
    result = runner.invoke(app, argv)
    assert result.exit_code == 0, result.output
    ends_today = (date.today() - timedelta(days=59)).isoformat()
    assert "after today: `spend ingest` quarantines lines in the future" in result.output
    assert f"--start {ends_today} ends it today" in result.output


def test_simulate_runs_monthly_winback_waves_up_to_the_end(settings, tmp_path):
    out = tmp_path / "sim"
    argv = ["simulate", "--customers", "300", "--days", "240", "--winback-waves", "3", "--no-offers", "--out", str(out)]
    result = runner.invoke(app, argv)
    assert result.exit_code == 0, result.output
    campaigns = pd.read_csv(out / "campaigns.csv", parse_dates=["ts"])
    days = campaigns.groupby("campaign_id")["ts"].first().sort_values().dt.normalize()
    assert len(days) == 3 and (days.diff().dropna() == pd.Timedelta(days=30)).all()
    assert days.iloc[-1] == pd.Timestamp("2025-01-01", tz="UTC") + pd.Timedelta(days=210)  # its window ends the history
    too_many = runner.invoke(app, ["simulate", "--days", "240", "--winback-waves", "6", "--out", str(tmp_path / "x")])
    assert too_many.exit_code == 2 and "--winback-waves 6 do not fit in 240 days" in too_many.output
    assert "Traceback" not in too_many.output


def test_simulate_rejects_a_bad_start_date_in_one_line(settings, tmp_path):
    result = runner.invoke(app, ["simulate", "--start", "2025-02-30", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "--start: '2025-02-30' is not a date" in result.output and "Traceback" not in result.output


def test_an_unknown_example_is_a_clear_error(settings):
    result = runner.invoke(app, ["load-example", "iris"])
    assert result.exit_code == 2 and "unknown example 'iris'" in result.output


@pytest.mark.parametrize("args", [["models", "rollback", "nosuch"], ["models", "promote", "nosuch", "1"]])
def test_an_unknown_model_is_named_as_unknown(settings, args):
    # rollback used to answer "spend-nosuch has no previous champion to roll back to"
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and result.output.count("error:") == 1
    assert "unknown model 'nosuch'; known: churn, clv" in result.output


@pytest.mark.parametrize(
    ("variables", "words"),
    [
        ({"SPEND_MAX_LINE_AMOUNT": "-5"}, "SPEND_MAX_LINE_AMOUNT"),
        # accepted before: found only when a time without offset needed the zone
        ({"SPEND_TIMEZONE": "Mars/Base"}, "timezone 'Mars/Base' is not an IANA time zone"),
        ({"SPEND_CURRENCIES": '["GBP", "EURO"]'}, "currencies 'EURO' are not ISO 4217 codes"),
        ({"SPEND_CURRENCIES": "[]"}, "must name at least one"),
        # every line without a currency would have been quarantined
        ({"SPEND_CURRENCIES": '["EUR"]'}, "default_currency 'GBP' is not among SPEND_CURRENCIES"),
        # the hint's example was SPEND_RETENTION_DAYS's mapping
        (
            {"SPEND_CURRENCIES": "EUR,GBP"},
            """SPEND_CURRENCIES: not valid JSON (Expecting value: line 1 column 1 \
(char 0)); give it as JSON, e.g. SPEND_CURRENCIES='["GBP", "EUR"]'""",
        ),
    ],
)
def test_a_bad_setting_is_a_clear_error(settings, monkeypatch, variables, words):
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    result = runner.invoke(app, ["quality"])
    assert result.exit_code == 2 and result.output.count("error:") == 1, result.output
    assert words in " ".join(result.output.split()) and "Traceback" not in result.output


def test_a_home_that_cannot_be_made_is_one_error_line_naming_it(tmp_path, monkeypatch):
    """A file where the home should be: the command's error was a traceback, because the log file could
    not be opened while logging it."""
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("x")
    monkeypatch.setenv("SPEND_HOME", str(blocked))
    monkeypatch.setenv("SPEND_PSEUDONYM_KEY", TEST_KEY)
    result = runner.invoke(app, ["quality"])
    assert result.exit_code == 2, result.output
    assert result.output.count("error:") == 1 and f"SPEND_HOME is {blocked}" in result.output, result.output


def test_a_setting_that_is_not_json_is_a_clear_error(settings, monkeypatch):
    """A mapping setting given as plain text was an unexpected SettingsError."""
    monkeypatch.setenv("SPEND_RETENTION_DAYS", "two years")
    result = runner.invoke(app, ["retention", "apply"])
    assert result.exit_code == 2 and result.output.count("error:") == 1, result.output
    assert "setting SPEND_RETENTION_DAYS: not valid JSON" in result.output and "unexpected" not in result.output


def test_features_commands_after_the_demo(demo):
    result, settings = demo
    assert result.exit_code == 0, result.output
    snaps = pd.read_parquet(settings.paths.feature_snapshots / "customer_snapshots.parquet")
    latest = snaps[snaps["event_timestamp"] == snaps["event_timestamp"].max()]
    customer = latest["customer_id"].iloc[0]
    result = runner.invoke(app, ["features", "get", "customer", customer, "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["customer_activity"]["found"] is True
    assert shown["customer_activity"]["features"]["spend_365d"] == pytest.approx(latest["spend_365d"].iloc[0])

    raw = runner.invoke(app, ["features", "get", "customer", "C9999999", "--json"])  # raw id: pseudonymised
    assert raw.exit_code == 0 and json.loads(raw.stdout)["customer_activity"]["found"] is False
    assert json.loads(raw.stdout)["customer_id"].startswith("c_")

    for args, message in (
        (["features", "get", "galaxy", "x"], "unknown entity 'galaxy'"),
        (["features", "get", "product-store", "P1"], "product-store takes 2 id(s)"),
        (["features", "build", "--until", "someday"], "--until: 'someday' is not a date"),
    ):
        bad = runner.invoke(app, args)
        assert bad.exit_code == 2 and message in bad.output, bad.output

    # Feast's own tools on Spend's store: the repository the apply wrote, then `spend features repo`.
    import subprocess
    import sys

    from spend.serving.launch import free_port
    from tests.support.processes import answering

    assert (settings.paths.feast / "feature_store.yaml").exists()  # the demo's apply wrote it
    written = json.loads(runner.invoke(app, ["features", "repo", "--json"]).stdout)["feature_store_yaml"]
    feast = str(Path(sys.executable).parent / "feast")
    listed = subprocess.run(
        [feast, "-c", str(Path(written).parent), "feature-views", "list"], capture_output=True, text=True, timeout=120
    )
    assert listed.returncode == 0, listed.stderr[-500:]
    for view in ("customer_activity", "customer_spending", "terminal_risk", "product_store_demand"):
        assert view in listed.stdout
    port = free_port()
    with answering([feast, "-c", str(Path(written).parent), "ui", "--port", str(port)], f"http://127.0.0.1:{port}/"):
        pass  # feast ui answered 200


def test_the_demo_names_a_models_first_breach():
    from spend.cli.demo import _state

    assert _state({"status": "ok", "breaches": []}) == "ok"
    checked = {"status": "breach", "breaches": ["drift: terminal_nb_tx_30d (PSI 1.08 > 0.84)", "live quality: x"]}
    assert _state(checked) == "breach (drift: terminal_nb_tx_30d (PSI 1.08 > 0.84); 1 more: `spend monitor`)"


def test_the_demos_churn_line_leads_with_the_gates_metric():
    """The line said only AUC (spend 0.790, bgnbd 0.791) above a verdict that spend won, on average
    precision: it read as the issue's "a champion that lost to its own baseline"."""
    from spend.cli.demo import _churn_scores

    holdout = {
        "spend": {"auc": 0.790, "average_precision": 0.7404},
        "bgnbd": {"auc": 0.791, "average_precision": 0.7387},
    }
    trained = {"version": 1, "alias": "champion", "gate_metric": "average_precision", "holdout": holdout}
    assert _churn_scores(trained) == (
        "churn v1 @champion: holdout average precision (the gate) spend 0.740, bgnbd 0.739; "
        "AUC spend 0.790, bgnbd 0.791"
    )


def test_ingest_names_every_table_it_takes(settings):
    """Its help listed five of the seven (no fraud_labels, no inventory); an unknown table names them all."""
    from spend.features.schema.tables import TABLES

    shown = " ".join(runner.invoke(app, ["ingest", "--help"], terminal_width=400).output.split())
    refused = runner.invoke(app, ["ingest", "x.csv", "--table", "stock"])
    assert refused.exit_code != 0 and refused.output.count("error:") == 1
    for table in TABLES:
        assert table in shown and table in refused.output, table


def test_every_setting_read_as_json_has_an_example_of_its_own_kind():
    """A bad SPEND_TIERS was shown SPEND_RETENTION_DAYS's example: each JSON setting names its own."""
    from typing import get_origin

    from spend.core.console import JSON_EXAMPLES
    from spend.core.settings import SpendSettings

    read_as_json = {
        f"SPEND_{name.upper()}"
        for name, field in SpendSettings.model_fields.items()
        if get_origin(field.annotation) in (dict, list, tuple, set, frozenset)
    }
    assert read_as_json == set(JSON_EXAMPLES)


def test_segments_without_a_churn_model_print_their_profiles():
    """A shop whose history is too short for churn got "unexpected KeyError: 'churn_rate'" from
    `spend segments`: the expected-churn cell was built whether the column existed or not."""
    from spend.cli.decisions import _profile_table

    profile = pd.DataFrame(
        {"name": ["loyal"], "customers": [12], "share": [0.5], "spend_365d": [10.0], "orders_365d": [2.0]},
        index=[0],
    )
    table = _profile_table(profile, "behaviour clusters")
    assert [c.header for c in table.columns] == ["group", "customers", "share", "spend_365d", "orders_365d"]
    with_churn = _profile_table(profile.assign(churn_rate=[0.25]), "behaviour clusters")
    assert with_churn.columns[-1].header == "expected churn" and list(with_churn.columns[-1].cells) == ["25.0%"]
