"""A feature build or a materialisation that read a customer before an erasure and writes after it does not
bring them back: the build's snapshots are swapped in without anyone erased meanwhile, and a customer
view is read and written under the lock an erasure holds (features/governance/after_erasure.py)."""

from __future__ import annotations

import threading
import time

import pandas as pd

from spend.core.privacy.pseudonym import pseudonym
from spend.features.governance.erasure import erase_customers
from spend.features.store import build, materialize
from spend.features.store.config import apply_repo, feature_store
from spend.features.store.definitions import SNAPSHOT_FILES
from tests.conftest import TEST_KEY
from tests.features.test_privacy import _ingest_people
from tests.features.test_validation_rules import NOW

ALICE, BOB = (pseudonym(raw, TEST_KEY.encode()) for raw in ("alice-77", "bob-12"))
ACTIVITY = ["customer_activity:spend_90d"]


def _snapshot_customers(settings) -> set[str]:
    path = settings.paths.feature_snapshots / SNAPSHOT_FILES["customer"]
    return set(pd.read_parquet(path, columns=["customer_id"])["customer_id"])


def test_a_build_that_read_a_customer_before_their_erasure_swaps_in_snapshots_without_them(
    settings, write_csv, monkeypatch
):
    _ingest_people(settings, write_csv)
    computed = build._customer_ranges

    def erased_midway(store, until):  # the history is read, then the customer is erased, then it is written
        chunks = list(computed(store, until))
        erase_customers(settings, ["bob-12"])
        yield from chunks

    monkeypatch.setattr(build, "_customer_ranges", erased_midway)
    report = build.build_snapshots(settings, until=pd.Timestamp(NOW))
    assert _snapshot_customers(settings) == {ALICE}
    path = settings.paths.feature_snapshots / SNAPSHOT_FILES["customer"]
    assert report.rows["customer"] == len(pd.read_parquet(path)) > 0


def test_a_materialisation_waits_for_an_erasure_that_began_after_its_read_so_the_customer_is_not_online(
    settings, write_csv, monkeypatch
):
    _ingest_people(settings, write_csv)
    build.build_snapshots(settings, until=pd.Timestamp(NOW))
    apply_repo(settings)
    assert _snapshot_customers(settings) == {ALICE, BOB}
    read = materialize.latest_rows
    eraser = threading.Thread(target=erase_customers, args=(settings, ["bob-12"]))

    def erasure_during_the_write(view, start, end):
        rows = read(view, start, end)
        if view.name == "customer_activity" and not eraser.is_alive():
            eraser.start()  # the erasure scrubs the snapshots and the online store while these rows are written
            time.sleep(0.5)
        return rows

    monkeypatch.setattr(materialize, "latest_rows", erasure_during_the_write)
    written = materialize.materialize(settings, end=NOW)
    eraser.join(10)
    assert written["customer_activity"] == 2 and not eraser.is_alive()
    online = feature_store(settings).get_online_features(
        features=ACTIVITY, entity_rows=[{"customer_id": ALICE}, {"customer_id": BOB}]
    )
    alice, bob = online.to_dict()["spend_90d"]
    assert alice is not None and bob is None
    assert _snapshot_customers(settings) == {ALICE}
