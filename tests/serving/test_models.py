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


def test_the_slot_swaps_when_the_alias_moves_and_keeps_serving_without_a_registry(settings, monkeypatch):
    registry = Registry(settings)
    with pytest.raises(SpendError, match="no spend-slot@champion"):
        ModelSlot(settings, "slot", "churn_v1").load()
    first = _register(registry, 1)
    slot = ModelSlot(settings, "slot", "churn_v1")
    assert slot.load().version == first and not slot.refresh()
    second = _register(registry, 2)  # no champion score: the gate crowns it
    assert slot.refresh() and slot.current.version == second
    registry.rollback("slot")
    assert slot.refresh() and slot.current.version == first

    def unreachable(*args, **kwargs):
        raise ConnectionError("registry unreachable")

    monkeypatch.setattr(slot.store.client, "get_model_version_by_alias", unreachable)
    assert not slot.refresh()
    assert slot.current.version == first and slot.last_error is not None


def test_a_model_for_another_feature_service_is_refused(settings):
    _register(Registry(settings), 1)
    with pytest.raises(SpendError, match="trained on feature service 'churn_v1', not 'churn_v2'"):
        ModelSlot(settings, "slot", "churn_v2").load()
