"""A small simulated history, ingested, built and applied, shared by the training tests."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

from spend.core.settings import SpendSettings
from spend.features.ingest.pipeline import IngestOptions, ingest
from spend.features.store.build import build_snapshots
from spend.features.store.config import feature_store
from spend.features.store.definitions import build_repo
from spend.simulate.config import SimulationConfig
from spend.simulate.run import simulate
from spend.simulate.writer import TABLE_ORDER, write_simulation
from tests.conftest import TEST_KEY


@pytest.fixture(scope="package")
def history(tmp_path_factory):
    warnings.filterwarnings("ignore", message="On demand feature view is an experimental feature")
    root = tmp_path_factory.mktemp("churn")
    settings = SpendSettings(home=root / "home", pseudonym_key=TEST_KEY)
    write_simulation(simulate(SimulationConfig(customers=4_000, days=365, seed=21)), root / "sim")
    for table in TABLE_ORDER:
        ingest(root / "sim" / f"{table}.csv", IngestOptions(table), settings)
    build_snapshots(settings, pd.Timestamp("2025-12-31", tz="UTC"))
    store = feature_store(settings)
    store.apply(build_repo(settings.paths.feature_snapshots).objects)
    return settings, store
