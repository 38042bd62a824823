"""Any command on a home that lacks what it needs ends in one `error:` line naming the command to run
first, never a traceback; under --json the error is a JSON object too."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from spend.cli import app

runner = CliRunner()
COMMANDS = [
    ["quality"],
    ["features", "build"],
    ["features", "materialize"],
    ["features", "get", "customer", "C1"],
    ["train", "churn"],
    ["train", "clv"],
    ["train", "demand"],
    ["train", "pricing"],
    ["train", "fraud"],
    ["train", "offers"],
    ["offers", "assign", "--budget", "5", "--out", "x.csv"],
    ["offers", "evaluate"],
    ["score", "churn", "--out", "x.csv"],
    ["segments"],
    ["recall-list", "--out", "x.csv"],
    ["publish"],
    ["forecast"],
    ["replenish", "--out", "x.csv"],
    ["elasticity"],
    ["backtest", "churn"],
    ["experiment", "design", "--lift", "0.1"],
    ["monitor"],
    ["lineage", "model", "churn"],
    ["lineage", "batch", "transactions-1"],
]


# Past ingestion, the steps after it: these need the feature build (and then the Feast registry).
AFTER_INGEST = [c for c in COMMANDS if c[0] not in ("quality", "lineage") and c[:2] != ["features", "build"]]
NEED_SNAPSHOTS = {"train churn", "recall-list --out x.csv", "segments", "backtest churn"}


@pytest.fixture(scope="module")
def stages(tmp_path_factory, empty_model_store) -> dict[str, Path]:
    """Two homes of the same small shop: ingested only, and ingested and built but not applied."""
    import shutil

    from spend.core.settings import SpendSettings
    from spend.features.ingest.pipeline import IngestOptions, ingest
    from spend.features.store.build import build_snapshots
    from spend.simulate.config import SimulationConfig
    from spend.simulate.run import simulate
    from spend.simulate.writer import TABLE_ORDER, write_simulation
    from tests.conftest import TEST_KEY, with_model_store

    root = tmp_path_factory.mktemp("stages")
    write_simulation(simulate(SimulationConfig(customers=400, days=300, seed=2, products=16, stores=2)), root / "sim")
    ingested = SpendSettings(home=with_model_store(root / "ingested", empty_model_store), pseudonym_key=TEST_KEY)
    for table in TABLE_ORDER:
        ingest(root / "sim" / f"{table}.csv", IngestOptions(table), ingested)
    shutil.copytree(ingested.home, root / "built")
    build_snapshots(SpendSettings(home=root / "built", pseudonym_key=TEST_KEY))
    return {"ingested": ingested.home, "built": root / "built"}


# Once built, these run: they read the snapshots, not Feast (tried once: they train; not repeated here).
RUN_ONCE_BUILT = {"train demand", "train pricing", "elasticity"}
STAGED = [
    pytest.param(stage, args, id=f"{' '.join(args)}-{stage}")
    for stage in ("ingested", "built")
    for args in AFTER_INGEST
    if not (stage == "built" and " ".join(args) in RUN_ONCE_BUILT)
]


@pytest.mark.parametrize(("stage", "args"), STAGED)
def test_a_command_run_before_its_step_names_the_step(stages, stage, args, monkeypatch, tmp_path):
    """Ingested but not built, or built but not applied: a command either runs (demand and pricing read
    the snapshots, not Feast) or ends in one `error:` line saying what to do, never an unexpected error
    (`spend train churn` after ingestion alone was a FileNotFoundError)."""
    import shutil

    from tests.conftest import TEST_KEY

    home = tmp_path / "home"
    shutil.copytree(stages[stage], home)
    monkeypatch.setenv("SPEND_HOME", str(home))
    monkeypatch.setenv("SPEND_PSEUDONYM_KEY", TEST_KEY)
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, args)
    assert result.exit_code in (0, 2), result.output
    assert "unexpected" not in result.output and "Traceback" not in result.output, result.output
    if result.exit_code == 2:
        assert result.output.count("error:") == 1, result.output
    if stage == "ingested" and " ".join(args) in NEED_SNAPSHOTS:
        assert "`spend features build` first" in result.output, result.output
    if stage == "built" and " ".join(args) in NEED_SNAPSHOTS:  # built: the store is not empty, only unregistered
        assert "run `spend features apply`" in result.output and "empty" not in result.output, result.output


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_a_command_on_an_empty_home_names_the_step_to_run_first(settings, args):
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.output.count("error:") == 1 and "Traceback" not in result.output, result.output
    assert "`spend " in result.output, result.output  # the command to run first, quoted


def test_an_error_under_json_is_a_json_object_on_stdout(settings):
    result = runner.invoke(app, ["segments", "--json"])
    assert result.exit_code == 2
    assert "spend ingest" in json.loads(result.stdout)["error"]


def test_model_names_are_one_form_in_errors(settings):
    promote = runner.invoke(app, ["models", "promote", "churn", "2"])
    assert promote.exit_code == 2 and "churn has no version 2 (versions: none yet)" in promote.output
    assert "spend-churn" not in promote.output
    forecast = runner.invoke(app, ["forecast"])
    assert "no demand@champion; train one with `spend train demand`" in forecast.output


def test_version_is_printed(settings):
    from importlib.metadata import version

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"spend {version('spend')}"


def test_a_history_without_a_churn_model_publishes_its_segments_alone(stages, monkeypatch, tmp_path):
    """`spend publish` ended in "no churn@champion" for a shop whose history is too short to train churn,
    so its segments never reached the service. Now they do; the manifest, the command and the report say
    why there is no recall list, and an old list is not left to be served."""
    import shutil

    from tests.conftest import TEST_KEY

    home = tmp_path / "home"
    shutil.copytree(stages["built"], home)
    monkeypatch.setenv("SPEND_HOME", str(home))
    monkeypatch.setenv("SPEND_PSEUDONYM_KEY", TEST_KEY)
    (home / "published").mkdir(exist_ok=True)
    (home / "published" / "recall_list.parquet").write_text("an old list")
    assert runner.invoke(app, ["features", "apply"]).exit_code == 0
    result = runner.invoke(app, ["publish", "--json"])
    assert result.exit_code == 0, result.output
    manifest = json.loads(result.stdout)
    assert manifest["recall_list_skipped"].startswith("no churn@champion; train one with `spend train churn`")
    assert manifest["segmented_customers"] > 0 and manifest["recall_list_customers"] == 0
    assert not (home / "published" / "recall_list.parquet").exists()
    report = json.loads(runner.invoke(app, ["report", "--out", str(tmp_path / "r.html"), "--json"]).stdout)
    assert report["sections"]["Recall list"].startswith("published without a recall list: no churn@champion")
