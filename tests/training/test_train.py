"""`spend train churn` end to end: register, gate, tune with nested runs, list, roll back; and its errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from spend.cli import app
from spend.training.tracking import Registry

pytestmark = pytest.mark.slow  # a minute or more of fixtures and training: scheduled first (conftest.py)

runner = CliRunner()


@pytest.fixture
def home(history, monkeypatch):
    settings, _ = history
    monkeypatch.setenv("SPEND_HOME", str(settings.home))
    monkeypatch.setenv("SPEND_PSEUDONYM_KEY", settings.pseudonym_key.get_secret_value())
    return settings


def test_train_registers_gates_lists_and_rolls_back(home):
    first = runner.invoke(app, ["train", "churn", "--as-of", "2025-12-31", "--json"])
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert report["alias"] == "champion" and report["champion_score"] is None
    assert set(report["comparison"]) == {"spend", "bgnbd", "recency"}

    second = json.loads(runner.invoke(app, ["train", "churn", "--as-of", "2025-12-31", "--json"]).stdout)
    # Same data, same seed: exactly as good as the champion (the best scorer of the first run, which
    # on this BG/NBD-generated history may be BG/NBD itself) on the same holdout, which passes the gate.
    assert report["winner"] in report["comparison"] and second["winner"] == report["winner"]
    assert second["champion_score"] == pytest.approx(report["comparison"][report["winner"]]["average_precision"])
    assert second["alias"] == "champion"

    listed = json.loads(runner.invoke(app, ["models", "list", "--json"]).stdout)["versions"]
    assert [v["version"] for v in listed if v["model"] == "churn"][-2:] == [report["version"], second["version"]]
    assert runner.invoke(app, ["models", "rollback", "churn"]).exit_code == 0
    registry = Registry(home)
    assert int(registry.version_by_alias("churn", "champion").version) == report["version"]


def test_tuning_trials_and_the_final_fit_are_nested_under_one_named_run_with_plots_and_a_signature(home):
    tuned = runner.invoke(app, ["train", "churn", "--as-of", "2025-12-31", "--tune", "2"])
    assert tuned.exit_code == 0, tuned.output
    assert "trial 1/2: validation" in tuned.output and "trial 2/2" in tuned.output  # progress per trial
    # a year of history: one line says what the churn model could not use
    assert "skipped: season index: under a year of purchases before the holdout" in tuned.output
    registry = Registry(home)
    experiment = registry.client.get_experiment_by_name("spend-churn")
    (parent,) = registry.client.search_runs(
        [experiment.experiment_id], "attributes.run_name = 'churn 2025-12-31 tuned 2 trials'"
    )
    children = registry.client.search_runs(
        [experiment.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    names = sorted(r.info.run_name for r in children)
    assert len(names) == 3 and "final fit" in names  # two trials and the final fit
    trials = [r for r in children if r.info.run_name != "final fit"]
    assert all("validation_average_precision" in r.data.metrics for r in trials)
    (final,) = [r for r in children if r.info.run_name == "final fit"]
    plots = {a.path for a in registry.client.list_artifacts(final.info.run_id, "plots")}
    assert {"plots/roc.png", "plots/precision_recall.png", "plots/calibration.png"} <= plots
    version = registry.version_by_alias("churn", "champion")
    if version.run_id == final.info.run_id and version.tags.get("scorer", "spend") == "spend":
        assert "plots/feature_importance.png" in plots  # the booster's gain
    import mlflow.models

    info = mlflow.models.get_model_info(f"models:/spend-churn/{version.version}")
    assert info.signature is not None and info.saved_input_example_info is not None
    assert "days_since_last_order" in info.signature.inputs.input_names()
    _mlflow_ui_lists("spend-churn")  # and MLflow's own UI shows them


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "churnn"], "unknown model 'churnn'"),
        (["train", "churn", "--as-of", "2026-06-01"], "runs past the history"),
        (["train", "clv", "--as-of", "2025-12-31"], "history too short: a 365-day label"),
        (["train", "churn", "--as-of", "soon"], "--as-of: 'soon' is not a date"),
        (["models", "promote", "churn", "99"], "has no version 99"),
    ],
)
def test_errors_are_one_clear_line(home, args, message):
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


def test_score_writes_every_active_customer_and_audits_reidentification(home, tmp_path):
    assert runner.invoke(app, ["train", "churn", "--as-of", "2025-12-31"]).exit_code == 0
    out = tmp_path / "scores.csv"
    result = runner.invoke(
        app, ["score", "churn", "--as-of", "2025-12-31", "--out", str(out), "--reidentify", "--json"]
    )
    assert result.exit_code == 0, result.output
    import pandas as pd

    scores = pd.read_csv(out)
    assert len(scores) == json.loads(result.stdout)["customers"] > 100
    assert scores["churn_probability"].between(0, 1).all()
    assert set(scores["churn_band"]) <= {"low", "medium", "high"}
    assert scores["original_customer_id"].str.fullmatch(r"C\d{7}").all()  # the simulator's raw ids
    audit = (home.home / "audit" / "audit.jsonl").read_text().strip().splitlines()
    record = json.loads(audit[-1])
    assert record["action"] == "score churn --reidentify" and record["customers"] == len(scores)
    assert "C0" not in audit[-1]  # the audit names counts and files, never ids

    segmented = runner.invoke(app, ["segments", "--as-of", "2025-12-31", "--json"])
    assert segmented.exit_code == 0, segmented.output
    profile = json.loads(segmented.stdout)
    assert sum(s["customers"] for s in profile["segments"].values()) == profile["customers"] == len(scores)
    assert sum(c["customers"] for c in profile["clusters"].values()) == len(scores)
    bic = profile["cluster_bic"]
    assert len(profile["clusters"]) == profile["cluster_k"] == int(min(bic, key=bic.get))
    assert all(0 < s["churn_rate"] < 1 for s in profile["segments"].values())  # expected, from the champion
    bad = runner.invoke(app, ["score", "churn", "--out", str(tmp_path / "x.txt"), "--as-of", "2025-12-31"])
    assert bad.exit_code == 2 and "must end in .csv, .parquet, .xlsx" in bad.output


def test_recall_list_ranks_by_expected_saved_margin_within_budget(home, tmp_path):
    import pandas as pd

    assert runner.invoke(app, ["train", "churn", "--as-of", "2025-12-31"]).exit_code == 0
    out = tmp_path / "recall.parquet"
    result = runner.invoke(app, ["recall-list", "--as-of", "2025-12-31", "--top", "200", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    recall = pd.read_parquet(out)
    assert len(recall) == 200 and recall["expected_saved_margin"].is_monotonic_decreasing
    assert recall["uplift_source"].str.startswith("campaign winback-").all()  # the best are all in its population
    assert (recall["clv_source"] == "bgnbd_gamma_gamma").all()  # no clv champion registered here

    everyone_out = tmp_path / "everyone.csv"
    assert runner.invoke(app, ["recall-list", "--as-of", "2025-12-31", "--out", str(everyone_out)]).exit_code == 0
    everyone = pd.read_csv(everyone_out)
    recent = everyone["uplift_source"].str.startswith("none (ordered within")
    assert 0 < recent.sum() < len(everyone)  # active customers are outside a win-back campaign's population
    assert everyone.loc[recent, "uplift"].isna().all() and (everyone.loc[recent, "save_rate"] == 0).all()
    saved = recall["churn_probability"] * recall["clv"] * recall["save_rate"]
    assert (recall["expected_saved_margin"] == saved).all() and recall["save_rate"].between(-1, 1).all()
    unclipped = recall["save_rate"].abs() < 1
    assert np.allclose(saved[unclipped], (recall["clv"] * recall["uplift"])[unclipped])
    assert {"customer_id", "segment", "churn_band", "clv", "uplift", "reasons"} <= set(recall.columns)

    budgeted = runner.invoke(
        app,
        [
            "recall-list",
            "--as-of",
            "2025-12-31",
            "--budget",
            "100",
            "--cost-per-contact",
            "5",
            "--out",
            str(tmp_path / "b.csv"),
            "--json",
        ],
    )
    assert budgeted.exit_code == 0, budgeted.output
    within = pd.read_csv(tmp_path / "b.csv")
    assert len(within) <= 20 and (within["expected_saved_margin"] > 5).all()
    report = json.loads(budgeted.stdout)  # what the budget bought, and why the list stops there
    assert report["contacts"] == len(within) and report["spend"] == 5 * len(within) and report["budget"] == 100
    assert report["measure"] == "expected saved margin"  # a randomised campaign measured a contact's effect
    assert report["expected_saved_margin"] == pytest.approx(
        within["expected_saved_margin"].sum(), abs=0.01 * len(within)
    )
    expected = "the budget buys 20 contacts" if len(within) == 20 else "save more than a contact costs"
    assert expected in report["stopped_at"]
    assert {"why", "reasons"} <= set(within.columns) and within["why"].str.len().gt(0).all()
    assert "bgnbd" not in " ".join(within["why"])  # the model's input reads as the customer's rhythm

    for args, message in (
        (["--budget", "100"], "--budget and --cost-per-contact go together"),
        (["--segment", "Heroes"], "unknown segment 'Heroes'"),
    ):
        bad = runner.invoke(app, ["recall-list", "--out", str(tmp_path / "x.csv"), *args])
        assert bad.exit_code == 2 and message in bad.output, bad.output


def test_a_clv_champion_scores_customers_and_feeds_the_recall_list_when_it_beat_the_baseline(home, tmp_path):
    # The one-year history is too short for `spend train clv` (365-day labels), so a model fitted on
    # 90-day margin labels is registered directly, as the training loop would.
    import pandas as pd

    from spend.core.experiments import CohortConfig
    from spend.core.registry import spec
    from spend.training.datasets.customer_cohorts import fit, prepare
    from spend.training.tracking import Gate

    clv = spec("clv")
    config = CohortConfig(model="clv", label={"horizon_days": 90}, baselines=("bgnbd_gamma_gamma",))
    data = prepare(home, clv, config, pd.Timestamp("2025-12-31", tz="UTC"))
    model = fit(clv, config, data.train, data.columns, {"n_estimators": 50})
    registered = Registry(home).register(
        "clv",
        model,
        {},
        {"spend_mae": 1.0, "bgnbd_gamma_gamma_mae": 2.0},
        {"feature_service": "churn_v1"},
        {},
        Gate("mae", 1.0, None, True),
    )
    assert runner.invoke(app, ["train", "churn", "--as-of", "2025-12-31"]).exit_code == 0
    out = tmp_path / "clv.csv"
    result = runner.invoke(app, ["score", "clv", "--as-of", "2025-12-31", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    scores = pd.read_csv(out)
    assert (scores["next_year_margin"] >= 0).all() and (scores["model_version"] == registered.version).all()
    summed = json.loads(result.stdout)["next_year_margin"]["sum"]
    assert summed == pytest.approx(scores["next_year_margin"].sum())

    recall_out = tmp_path / "recall.csv"
    args = ["recall-list", "--as-of", "2025-12-31", "--top", "50", "--out", str(recall_out)]
    assert runner.invoke(app, args).exit_code == 0
    assert (pd.read_csv(recall_out)["clv_source"] == f"ml clv v{registered.version}").all()


def test_publish_writes_what_the_service_serves(home):
    from spend.serving.published import PublishedDecisions

    assert runner.invoke(app, ["train", "churn", "--as-of", "2025-12-31"]).exit_code == 0
    result = runner.invoke(app, ["publish", "--as-of", "2025-12-31", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    decisions = PublishedDecisions(home.paths.published)
    assert decisions.refresh() and decisions.last_error is None
    recall = decisions.current.recall
    assert len(recall) == summary["recall_list_customers"] > 0
    assert recall["expected_saved_margin"].is_monotonic_decreasing
    assert len(decisions.current.segment_of) == summary["segmented_customers"] >= len(recall)
    assert set(recall["customer_id"]) <= set(decisions.current.segment_of)
    assert summary["churn_model_version"] == int(recall["model_version"].iloc[0])


def test_a_normal_train_prints_no_library_line_and_keeps_them_in_the_log(home):
    """The terminal is for Spend's words: MLflow's, SQLAlchemy's and Alembic's lines go to the log file."""
    import os
    import subprocess
    import sys

    command = [sys.executable, "-c", "from spend.cli import main; main()", "train", "churn", "--as-of", "2025-12-31"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=os.environ.copy())
    assert result.returncode == 0, result.stderr
    shown = (result.stdout + result.stderr).lower()
    for noise in ("mlflow", "sqlalchemy", "alembic", "successfully registered", "info ", "noload", "traceback"):
        assert noise not in shown, f"{noise!r} reached the terminal:\n{result.stderr}"
    assert "churn v" in shown and "@champion" in shown or "@challenger" in shown
    logged = (home.home / "logs" / "spend.log").read_text().lower()
    assert "alembic" in logged or "mlflow" in logged


def test_a_baseline_that_beats_the_candidate_is_registered_and_served_in_its_place(home, tmp_path):
    """The champion is the best scorer measured: a crippled candidate (one tree, two leaves, not started
    from BG/NBD) loses to BG/NBD on the gate metric, so BG/NBD is registered as the churn model, crowned,
    and scored."""
    import pandas as pd

    from spend.core.model_store import ModelStore
    from spend.core.registry import spec
    from spend.models.baselines import BgnbdChurn
    from spend.training.config import load_config
    from spend.training.loop import train

    store = ModelStore(home)
    if store.version_by_alias("churn", "champion") is not None:  # earlier tests crowned one: start with none
        store.client.delete_registered_model_alias("spend-churn", "champion")
    config = load_config(spec("churn"))
    crippled = config.model_copy(
        update={"params": {"n_estimators": 1, "num_leaves": 2, "learning_rate": 0.01, "bgnbd": False}}
    )
    report = train(home, "churn", pd.Timestamp("2025-12-31", tz="UTC"), config=crippled)
    table = report.comparison
    assert table["bgnbd"]["average_precision"] > table["spend"]["average_precision"]
    assert report.winner == "bgnbd" and report.alias == "champion"
    assert "bgnbd won on average_precision" in report.verdict and "registered as churn in its place" in report.verdict
    model, version = store.load("churn", feature_service="churn_v1")
    assert isinstance(model, BgnbdChurn) and version.tags["scorer"] == "bgnbd"

    out = tmp_path / "churn.csv"
    scored = runner.invoke(app, ["score", "churn", "--as-of", "2025-12-31", "--out", str(out), "--json"])
    assert scored.exit_code == 0, scored.output
    scores = pd.read_csv(out)
    assert scores["churn_probability"].between(0, 1).all() and (scores["model_version"] == report.version).all()
    probability, reasons = model.score(scores.head(0).assign(**{c: [] for c in model.features_}))
    assert len(probability) == 0 and reasons == []


def _mlflow_ui_lists(model: str) -> None:
    """`spend mlflow-ui` answers on the tracking store and lists the registered model."""
    import sys
    from pathlib import Path

    from spend.serving.launch import free_port
    from tests.support.processes import answering

    port = free_port()
    spend = str(Path(sys.executable).parent / "spend")
    url = f"http://127.0.0.1:{port}/ajax-api/2.0/mlflow/registered-models/search"
    with answering([spend, "mlflow-ui", "--port", str(port)], url) as body:
        assert model in {m["name"] for m in json.loads(body)["registered_models"]}


def test_a_config_file_or_set_overrides_the_yaml_and_bad_ones_name_the_key(home, tmp_path):
    from spend.core.experiments import CohortConfig, read_config

    shipped = read_config("clv", CohortConfig)
    changed = read_config("clv", CohortConfig, overrides=("label.horizon_days=180", "params.num_leaves=7"))
    assert changed.label.horizon_days == 180 and changed.params["num_leaves"] == 7
    assert changed.splits == shipped.splits  # untouched keys keep the YAML's values
    copy = tmp_path / "mine.yaml"
    copy.write_text("model: churn\nlabel: {horizon_days: 60}\n")
    result = runner.invoke(app, ["backtest", "churn", "--as-of", "2025-12-31", "--config", str(copy), "--json"])
    assert result.exit_code == 0, result.output
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("model: churn\n# r\xe9sum\xe9\n".encode("latin-1"))
    twice = tmp_path / "twice.yaml"  # safe_load kept the second silently
    twice.write_text("model: churn\nparams:\n  num_leaves: 7\n  num_leaves: 31\n")
    for args, words in (
        (["--set", "label.horizon_dayz=5"], "label.horizon_dayz"),
        (["--set", "label.horizon_days=-5"], "label.horizon_days"),
        (["--set", "oops"], "KEY=VALUE"),
        (["--config", str(tmp_path / "none.yaml")], "is not a file"),
        (["--config", str(latin)], "--config: latin.yaml is not UTF-8 text"),  # was an unexpected UnicodeDecodeError
        (["--config", str(twice)], "twice.yaml: 'num_leaves' is given twice (line 4)"),
    ):
        bad = runner.invoke(app, ["train", "churn", "--as-of", "2025-12-31", *args])
        assert bad.exit_code == 2 and bad.output.count("error:") == 1, bad.output
        assert all(w in bad.output for w in words.split()), bad.output
