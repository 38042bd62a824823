"""Any command on a home that lacks what it needs ends in one `error:` line naming the command to run
first, never a traceback; under --json the error is a JSON object too."""

from __future__ import annotations

import json

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
