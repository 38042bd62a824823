"""Adding a model costs one file and one YAML: a toy customer model declared outside the package (a
spec whose estimator predicts the training base rate) is trained, gated and registered, scored from
the CLI, listed, and answered over HTTP with its role enforced, with nothing else changed.

The two files are written here, into a folder of the test's own: SPEND_MODEL_MODULES names the module,
SPEND_EXPERIMENTS the folder holding its YAML (docs/architecture.md, "Adding a model").
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from spend.cli import app
from spend.core.settings import SpendSettings
from spend.serving.launch import environment_for, start, stop
from tests.conftest import TEST_KEY
from tests.serving.conftest import post
from tests.support.sample_home import feature_home

MODEL_FILE = '''"""A toy customer model: everyone churns at the training base rate."""

import numpy as np
from sklearn.base import BaseEstimator

from spend.core.experiments import CohortConfig
from spend.core.registry import ModelSpec, ServingSpec
from spend.features.compute.orders import churned
from spend.models.metrics import probability_metrics


class BaseRate(BaseEstimator):
    def fit(self, X, y):
        self.features_ = list(X.columns)
        self.rate_ = float(np.mean(y))
        return self

    def predict_proba(self, X):
        return np.full(len(X), self.rate_)


SPEC = ModelSpec(
    name="toy",
    summary="the training base rate of churn, for everyone",
    estimator=BaseRate,
    config=CohortConfig,
    feature_service="churn_v1",
    dataset="customer_cohorts",
    label="churned",
    make_label=churned,
    metrics=probability_metrics,
    metric_names=("auc", "average_precision", "brier", "calibration_error"),
    lower_is_better=frozenset({"brier", "calibration_error"}),
    gate_metric="brier",
    predict=lambda model, X: model.predict_proba(X),
    score_column="toy_probability",
    serving=ServingSpec(roles=("marketing",), routes={"/v1/toy/score": None}),
)
'''
YAML_FILE = "model: toy\nlabel:\n  horizon_days: 90\nsplits:\n  train_cutoffs: 2\n"
runner = CliRunner()


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy")
    plugin = root / "plugin"
    plugin.mkdir()
    (plugin / "toy_model.py").write_text(MODEL_FILE)
    (plugin / "toy.yaml").write_text(YAML_FILE)
    settings = SpendSettings(home=root / "home", pseudonym_key=TEST_KEY)
    as_of = feature_home(settings, root, customers=800)
    return settings, plugin, as_of


@pytest.fixture
def declared(toy, monkeypatch):
    from spend.core.registry import _registry
    from spend.serving.auth import permissions
    from spend.serving.middleware import route_permissions

    settings, plugin, as_of = toy
    monkeypatch.syspath_prepend(str(plugin))
    for name, value in {
        "SPEND_MODEL_MODULES": "toy_model",
        "SPEND_EXPERIMENTS": str(plugin),
        "SPEND_HOME": str(settings.home),
        "SPEND_PSEUDONYM_KEY": TEST_KEY,
    }.items():
        monkeypatch.setenv(name, value)
    caches = (_registry, permissions, route_permissions)
    for cache in caches:
        cache.cache_clear()
    yield settings, plugin, as_of
    for cache in caches:
        cache.cache_clear()


def test_a_model_declared_in_one_file_trains_gates_scores_and_serves_with_its_role(declared, tmp_path):
    settings, plugin, as_of = declared
    day = f"{as_of - pd.Timedelta(days=1):%Y-%m-%d}"
    listed = json.loads(runner.invoke(app, ["models", "list", "--json"]).stdout)
    assert {"churn", "clv", "fraud", "toy"} <= {m["name"] for m in listed["models"]}

    first = runner.invoke(app, ["train", "toy", "--as-of", day, "--json"])
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert (report["model"], report["alias"], report["champion_score"]) == ("toy", "champion", None)
    assert report["comparison"]["spend"]["auc"] == pytest.approx(0.5)  # one value for everyone: no ranking
    second = json.loads(runner.invoke(app, ["train", "toy", "--as-of", day, "--json"]).stdout)
    assert second["champion_score"] == pytest.approx(report["comparison"]["spend"]["brier"])  # the gate ran
    assert second["alias"] == "champion"  # as good as the champion on the same holdout: passes

    out = tmp_path / "toy.parquet"
    scored = runner.invoke(app, ["score", "toy", "--as-of", day, "--out", str(out), "--json"])
    assert scored.exit_code == 0, scored.output
    scores = pd.read_parquet(out)  # every digit: the CSV is rounded for people
    assert scores["toy_probability"].nunique() == 1 and 0 < scores["toy_probability"].iloc[0] < 1
    assert (scores["model_version"] == second["version"]).all()

    from spend.serving.auth import key_store

    keys = key_store(settings.home)
    marketing, pricing = keys.add("crm", "marketing"), keys.add("pricer", "pricing-engine")
    environment = environment_for(settings) | {
        "SPEND_MODEL_MODULES": "toy_model",
        "SPEND_EXPERIMENTS": str(plugin),
        "PYTHONPATH": str(plugin),
    }
    server, url, _ = start(environment, tmp_path / "service.log", probe=("/v1/health", {}))
    try:
        customers = scores["customer_id"].head(5).tolist() + ["c_unknown"]
        answer = post(url, "/v1/toy/score", {"customer_ids": customers}, marketing)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert (body["model"], body["version"]) == ("toy", second["version"])
        assert [s["found"] for s in body["scores"]] == [True] * 5 + [False]
        assert [s["score"] for s in body["scores"][:5]] == pytest.approx([scores["toy_probability"].iloc[0]] * 5)
        refused = post(url, "/v1/toy/score", {"customer_ids": customers}, pricing)
        assert refused.status_code == 403 and "may not call toy" in refused.json()["error"]
        assert post(url, "/v1/toy/score", {"customer_ids": customers}).status_code == 401
    finally:
        stop(server)
