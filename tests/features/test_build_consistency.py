"""A feature build reads one history: the batches committed when it began, whatever an ingest commits
while it runs, and its manifest names exactly those batches."""

from __future__ import annotations

import json

import pandas as pd

from spend.core.privacy.pseudonym import pseudonym
from spend.features.ingest.pipeline import IngestOptions, ingest
from spend.features.store import build
from spend.features.store.definitions import SNAPSHOT_FILES
from tests.conftest import TEST_KEY
from tests.features.test_privacy import _ingest_people
from tests.features.test_validation_rules import GOOD_LINE, NOW


def test_a_build_reads_the_batches_committed_when_it_began_and_its_manifest_names_them(
    settings, write_csv, monkeypatch
):
    _ingest_people(settings, write_csv)
    before = {b.batch_id for b in build.OfflineStore(settings.paths).catalog.batches()}
    computed = build._customer_ranges
    late = GOOD_LINE | {"event_id": "e9", "order_id": "o9", "customer_id": "carol-5", "product_id": "p9"}

    def ingest_midway(store, until):  # another process commits a batch while the build runs
        chunks = list(computed(store, until))
        ingest(write_csv([late], "late.csv"), IngestOptions("transactions"), settings, now=NOW)
        yield from chunks

    monkeypatch.setattr(build, "_customer_ranges", ingest_midway)
    build.build_snapshots(settings, until=pd.Timestamp(NOW))
    folder = settings.paths.feature_snapshots
    manifest = json.loads((folder / "manifest.json").read_text())
    committed = {b.batch_id for b in build.OfflineStore(settings.paths).catalog.batches()}
    assert len(committed) == len(before) + 1 and set(manifest["batches"]) == before
    products = pd.read_parquet(folder / SNAPSHOT_FILES["product_store"], columns=["product_id"])["product_id"]
    assert "p9" not in set(products) and len(products) > 0
    customers = set(pd.read_parquet(folder / SNAPSHOT_FILES["customer"], columns=["customer_id"])["customer_id"])
    assert pseudonym("carol-5", TEST_KEY.encode()) not in customers
