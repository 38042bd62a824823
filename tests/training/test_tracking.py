"""The registry and its gate, in both backends: local SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from spend.core.errors import SpendError
from spend.core.names import CHALLENGER, CHAMPION, PREVIOUS
from spend.core.registry import spec
from spend.core.settings import SpendSettings
from spend.training.tracking import Gate, Registry
from tests.conftest import TEST_KEY, require_service


@pytest.fixture(params=["local", pytest.param("production", marks=pytest.mark.service)])
def registry(request, tmp_path):
    overrides = {}
    if request.param == "production":
        require_service("PostgreSQL", "127.0.0.1", 5432)
        overrides = {"env": "production", "tracking_url": "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"}
    settings = SpendSettings(home=tmp_path / "home", pseudonym_key=TEST_KEY, **overrides)
    return Registry(settings), f"test-{uuid.uuid4().hex[:8]}"


def fitted(seed: int) -> LogisticRegression:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(200, 2))
    return LogisticRegression().fit(X, (X[:, 0] + rng.normal(size=200) > 0).astype(int))


def register(registry, model, score, champion_score, service="churn_v1"):
    return registry.register(
        model,
        fitted(int(score * 100)),
        {"C": 1.0},
        {"spend_auc": score},
        {"feature_service": service, "as_of": "2025-12-31"},
        {"comparison": pd.DataFrame({"auc": [score]}, index=["spend"])},
        Gate("auc", score, champion_score, champion_score is None or score >= champion_score),
    )


def test_gate_moves_the_champion_only_for_a_better_model_and_rollback_restores_it(registry):
    registry, model = registry
    first = register(registry, model, 0.70, None)
    assert first.alias == CHAMPION and int(registry.version_by_alias(model, CHAMPION).version) == first.version

    worse = register(registry, model, 0.65, 0.70)
    assert worse.alias == CHALLENGER
    assert int(registry.version_by_alias(model, CHAMPION).version) == first.version
    assert int(registry.version_by_alias(model, CHALLENGER).version) == worse.version

    best = register(registry, model, 0.75, 0.70)
    assert best.alias == CHAMPION
    assert int(registry.version_by_alias(model, PREVIOUS).version) == first.version

    assert registry.rollback(model) == first.version
    assert int(registry.version_by_alias(model, CHAMPION).version) == first.version
    with pytest.raises(SpendError, match="no previous champion"):  # twice: no flip back to the worse one
        registry.rollback(model)
    assert int(registry.version_by_alias(model, CHAMPION).version) == first.version

    registry.promote(model, worse.version)  # a challenger crowned on purpose holds one role
    aliases = registry.versions(model).set_index("version")["aliases"]
    assert aliases[worse.version] == "champion" and "challenger" not in ",".join(aliases)

    registry.promote(model, best.version)
    assert int(registry.version_by_alias(model, CHAMPION).version) == best.version
    listed = registry.versions(model)
    assert listed["version"].tolist() == [1, 2, 3] and "champion" in listed.set_index("version").loc[3, "aliases"]


def test_loading_checks_the_feature_service_version(registry):
    registry, model = registry
    register(registry, model, 0.7, None, service="churn_v1")
    estimator, version = registry.load(model, feature_service="churn_v1")
    assert estimator.predict(np.zeros((1, 2))).shape == (1,) and version.tags["feature_service"] == "churn_v1"
    with pytest.raises(SpendError, match="trained on feature service 'churn_v1', not 'churn_v2'"):
        registry.load(model, feature_service="churn_v2")
    with pytest.raises(SpendError, match="no previous champion"):
        registry.rollback(model)
    with pytest.raises(SpendError, match="has no version 9"):
        registry.promote(model, 9)


def test_better_respects_the_metric_direction():
    better = spec("churn").better
    assert better("auc", 0.8, 0.7, 0.0) and not better("auc", 0.69, 0.7, 0.0)
    assert better("brier", 0.10, 0.12, 0.0) and not better("brier", 0.13, 0.12, 0.0)
    assert not better("auc", 0.705, 0.70, 0.01)


def test_a_signature_declares_whole_number_inputs_as_doubles_without_a_warning():
    """MLflow warned on every training whose inputs held an integer column (a count that may be missing
    when the model is called): in a notebook that trains pricing, the warning filled the cell's output."""
    import warnings

    from spend.training.tracking import _signature

    rows = pd.DataFrame({"n_days": np.array([3, 5, 7], dtype="int64"), "price": [1.0, 2.0, 3.0]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        made = _signature((rows, np.array([0.1, 0.2, 0.3])))
    types = {column.name: column.type.name for column in made["signature"].inputs.inputs}
    assert types["n_days"] == "double" and types["price"] == "double"
    assert made["input_example"]["n_days"].dtype == "float64"
