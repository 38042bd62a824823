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


def test_a_second_build_waits_for_the_first_instead_of_sharing_its_staging_files(settings, write_csv, monkeypatch):
    """Two `spend features build` at once wrote the same staging files, and one failed (file not found)."""
    import threading

    _ingest_people(settings, write_csv)
    computed, inside, second_waits = build._customer_ranges, threading.Event(), threading.Event()

    def held_open(store, until):  # the first build stays here until the second is waiting for it
        inside.set()
        second_waits.wait(timeout=5)
        yield from computed(store, until)

    monkeypatch.setattr(build, "_customer_ranges", held_open)
    reports, errors = [], []

    def run(waiting=None) -> None:
        try:
            reports.append(build.build_snapshots(settings, until=pd.Timestamp(NOW), waiting=waiting))
        except Exception as error:  # noqa: BLE001 - asserted below
            errors.append(error)

    first = threading.Thread(target=run)
    first.start()
    assert inside.wait(timeout=30)
    second = threading.Thread(target=run, kwargs={"waiting": second_waits.set})
    second.start()
    first.join(timeout=60)
    second.join(timeout=60)
    assert second_waits.is_set() and not errors and len(reports) == 2
    assert reports[0].rows == reports[1].rows and reports[0].rows["customer"] > 0
