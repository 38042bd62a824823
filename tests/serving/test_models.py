"""Model slots: load the champion, swap when the alias moves, keep serving when the registry is gone."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from spend.core.errors import SpendError
from spend.serving.models import ModelSlot
from spend.training.tracking import Gate, Registry


def _register(registry: Registry, seed: int) -> int:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=50)})
    model = LogisticRegression().fit(X, (X["a"] > 0).astype(int))
    tags = {"feature_service": "churn_v1"}
    gate = Gate("auc", 0.5 + seed / 100, None, True)
    return registry.register("slot", model, {}, {"spend_auc": 0.5 + seed / 100}, tags, {}, gate).version


def test_a_missing_model_says_what_its_training_learns_from(settings):
    """A transactions-only shop was told to `spend train fraud`, which its exports cannot give."""
    from spend.core.registry import LEARNS_FROM, specs

    assert {s.dataset for s in specs().values()} <= set(LEARNS_FROM)  # a new kind of data says what it needs
    empty = ModelSlot(settings, "fraud", "fraud_v1")
    assert not empty.refresh()
    assert empty.last_error == (
        "no fraud@champion in the registry; train one with `spend train fraud` "
        "(it learns from card payments and fraud labels)"
    )


def test_the_slot_swaps_when_the_alias_moves_and_keeps_serving_without_a_registry(settings, monkeypatch):
    registry = Registry(settings)
    empty = ModelSlot(settings, "slot", "churn_v1")
    assert not empty.refresh() and empty.current is None
    assert empty.last_error == "no slot@champion in the registry; train one with `spend train slot`"
    first = _register(registry, 1)
    slot = ModelSlot(settings, "slot", "churn_v1")
    assert slot.refresh() and slot.current.version == first and not slot.refresh()
    second = _register(registry, 2)  # no champion score: the gate crowns it
    assert slot.refresh() and slot.current.version == second
    registry.rollback("slot")
    assert slot.refresh() and slot.current.version == first

    def unreachable(*args, **kwargs):
        raise ConnectionError("registry at db.internal:5432 unreachable")

    monkeypatch.setattr(slot.store.client, "get_model_version_by_alias", unreachable)
    assert not slot.refresh()
    assert slot.current.version == first
    assert slot.last_error == "the model registry cannot be reached (ConnectionError)"  # what, not where


def test_a_model_for_another_feature_service_is_refused(settings):
    _register(Registry(settings), 1)
    slot = ModelSlot(settings, "slot", "churn_v2")
    assert not slot.refresh() and slot.current is None
    assert slot.last_error == "slot v1 cannot be loaded (SpendError)"
    with pytest.raises(SpendError, match="cannot be loaded"):
        slot.load()


def test_a_postgresql_registry_gets_a_connect_timeout(settings):
    from spend.core.model_store import _with_connect_timeout

    url = "postgresql+psycopg://postgres@127.0.0.1:5432/spend"
    assert _with_connect_timeout(url, 3) == url + "?connect_timeout=3"
    assert _with_connect_timeout(url + "?sslmode=off", 0.5) == url + "?sslmode=off&connect_timeout=2"
    assert _with_connect_timeout("sqlite:///x.db", 3) == "sqlite:///x.db"
