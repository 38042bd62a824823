"""A publication computed before an erasure and written after it leaves the erased customers out, and
it is written under the data home's lock, which an erasure holds from its first store to its deny list."""

from __future__ import annotations

import json
import threading
import time
from types import SimpleNamespace

import pandas as pd

from spend.core.names import MANIFEST, OFFERS, RECALL_LIST, SEGMENTS
from spend.core.privacy.vault import IdentityVault
from spend.core.settings import SpendSettings
from spend.features.ingest.lock import ledger_lock
from spend.training import publish
from spend.training.offers import publish_offers
from tests.conftest import TEST_KEY


def _settings(tmp_path) -> SpendSettings:
    settings = SpendSettings(home=tmp_path / "home", pseudonym_key=TEST_KEY)
    settings.paths.published.mkdir(parents=True)
    return settings


def test_the_recall_list_and_segments_leave_out_a_customer_erased_after_they_were_computed(tmp_path):
    settings = _settings(tmp_path)
    recall = pd.DataFrame(
        {"customer_id": ["c_a", "c_gone"], "model_version": 1, "clv_source": "clv", "uplift_source": "none"}
    )
    segment_of = pd.DataFrame({"customer_id": ["c_a", "c_gone", "c_b"], "segment": "loyal", "cluster": 0})
    IdentityVault(settings.paths.vault, TEST_KEY.encode()).erase(["c_gone"])  # landed during the computation
    clusters = SimpleNamespace(k_=1, names_={0: "all"})
    segmented = publish._Segmented(segment_of, clusters)
    manifest = publish._commit(settings, pd.Timestamp("2026-01-01", tz="UTC"), recall, None, segmented, {})
    folder = settings.paths.published
    assert pd.read_parquet(folder / RECALL_LIST)["customer_id"].tolist() == ["c_a"]
    assert pd.read_parquet(folder / SEGMENTS)["customer_id"].tolist() == ["c_a", "c_b"]
    assert (manifest["recall_list_customers"], manifest["segmented_customers"]) == (1, 2)
    assert json.loads((folder / MANIFEST).read_text())["recall_list_customers"] == 1


def test_an_offer_assignment_waits_for_an_erasure_and_leaves_its_customer_out(tmp_path):
    settings = _settings(tmp_path)
    (settings.paths.published / MANIFEST).write_text(json.dumps({"published_at": "2026-01-01"}))
    assignment = pd.DataFrame(
        {
            "customer_id": ["c_a", "c_gone"],
            "offer": "coupon_10",
            "expected_margin": 3.0,
            "expected_cost": 1.0,
            "expected_net": 2.0,
            "reason": "best net margin within the budget",
            "as_of": "2026-01-01",
            "model_version": 1,
        }
    )
    report = {"model": "offers v1", "as_of": "2026-01-01", "members": 2, "offered": 2, "mix": {}, "budget": 10.0}
    report["expected_cost"] = 2.0
    erasing = threading.Event()

    def erasure() -> None:  # holds the lock as `spend erase` does, denying the customer at its end
        with ledger_lock(settings.paths.home):
            erasing.set()
            time.sleep(0.3)
            IdentityVault(settings.paths.vault, TEST_KEY.encode()).erase(["c_gone"])

    thread = threading.Thread(target=erasure)
    thread.start()
    erasing.wait(5)
    publish_offers(settings, assignment, report)
    thread.join(5)
    published = settings.paths.published
    assert pd.read_parquet(published / OFFERS)["customer_id"].tolist() == ["c_a"]
    assert json.loads((published / MANIFEST).read_text())["offers"]["model"] == "offers v1"
