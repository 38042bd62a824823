"""One gate at a time per model (training/tracking.Registry.gate_lock): two trainings at once each compared
themselves with the champion from before either registered, so both were crowned and the later won."""

from __future__ import annotations

import contextlib
import threading
import time

import pandas as pd
import pytest

from spend.core.settings import SpendSettings
from spend.training import loop
from spend.training.tracking import Registry
from tests.conftest import TEST_KEY, require_service


def _order(first: Registry, second: Registry, other_model: str) -> list[str]:
    """Who got in when: `first` holds churn's gate for 0.3 s while `second` asks for `other_model`'s."""
    order, held = [], threading.Event()

    def hold() -> None:
        with first.gate_lock("churn"):
            order.append("first in")
            held.set()
            time.sleep(0.3)
            order.append("first out")

    def ask() -> None:
        held.wait(5)
        with second.gate_lock(other_model):
            order.append("second in")

    threads = [threading.Thread(target=hold), threading.Thread(target=ask)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return order


def test_one_gate_at_a_time_per_model_on_a_local_registry(tmp_path):
    settings = SpendSettings(home=tmp_path / "home", pseudonym_key=TEST_KEY)
    a, b = Registry(settings), Registry(settings)  # two trainings: two stores, one data home
    assert _order(a, b, "churn") == ["first in", "first out", "second in"]
    assert _order(a, b, "fraud") == ["first in", "second in", "first out"]  # other models do not wait


@pytest.mark.service
def test_one_gate_at_a_time_per_model_on_a_postgresql_registry(tmp_path):
    """Production's hosts share the registry, not a data home: the lock lives in the database."""
    from tests.support.sandbox import postgres_database

    require_service("PostgreSQL", "127.0.0.1", 5432)
    with postgres_database("spend_gate") as url:
        settings = [
            SpendSettings(home=tmp_path / host, pseudonym_key=TEST_KEY, env="production", tracking_url=url)
            for host in ("host-a", "host-b")
        ]
        a, b = Registry(settings[0]), Registry(settings[1])
        assert _order(a, b, "churn") == ["first in", "first out", "second in"]
        assert _order(a, b, "fraud") == ["first in", "second in", "first out"]


@pytest.mark.slow
def test_a_training_reads_the_champion_and_moves_the_aliases_under_its_gate_lock(history, monkeypatch, tmp_path):
    """On the package's history, with a registry of the test's own (the other tests count its versions)."""
    settings, _ = history
    private = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setattr(SpendSettings, "model_tracking_uri", lambda self: private)
    held, seen = [], []
    real_lock, real_score, real_crown = Registry.gate_lock, loop._champion_score, Registry._crown

    @contextlib.contextmanager
    def recording_lock(self, model):
        with real_lock(self, model):
            held.append(model)
            try:
                yield
            finally:
                held.remove(model)

    def champion_score(*args):
        seen.append(("champion read", list(held)))
        return real_score(*args)

    def crown(self, model, version):
        seen.append(("crowned", list(held)))
        return real_crown(self, model, version)

    monkeypatch.setattr(Registry, "gate_lock", recording_lock)
    monkeypatch.setattr(loop, "_champion_score", champion_score)
    monkeypatch.setattr(Registry, "_crown", crown)
    report = loop.train(settings, "churn", pd.Timestamp("2025-12-31", tz="UTC"))
    assert report.alias == "champion" and Registry(settings).uri == private
    assert seen == [("champion read", ["churn"]), ("crowned", ["churn"])]
