"""The service's view of `spend publish`: nothing published says what to run, a new manifest is loaded,
and a broken publication leaves the last good one serving."""

from __future__ import annotations

import json
import os

import pandas as pd

from spend.core import names as writer
from spend.serving.published import PublishedDecisions, select


def _write(folder, margin: float, stamp: float) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    recall = pd.DataFrame(
        {
            "customer_id": ["c_a", "c_b", "c_c"],
            "segment": ["Loyal", "At risk", "Loyal"],
            "churn_band": ["low", "high", "high"],
            "expected_saved_margin": [1.0, margin, 3.0],
        }
    )
    recall.to_parquet(folder / writer.RECALL_LIST)
    pd.DataFrame({"customer_id": ["c_a"], "segment": ["Loyal"], "cluster": [2]}).to_parquet(folder / writer.SEGMENTS)
    (folder / writer.MANIFEST).write_text(json.dumps({"published_at": str(stamp)}))
    os.utime(folder / writer.MANIFEST, (stamp, stamp))


def test_publications_are_loaded_when_new_and_a_broken_one_keeps_the_last(tmp_path):
    decisions = PublishedDecisions(tmp_path / "published")
    assert not decisions.refresh() and "spend publish" in decisions.last_error
    _write(tmp_path / "published", margin=5.0, stamp=1_000)
    assert decisions.refresh() and not decisions.refresh()  # unchanged manifest: not reloaded
    recall = decisions.current.recall
    assert recall["customer_id"].tolist() == ["c_b", "c_c", "c_a"]  # best first
    assert decisions.current.segment_of == {"c_a": ("Loyal", 2)}
    assert recall["customer_id"].iloc[select(recall, "Loyal", "high", None)].tolist() == ["c_c"]
    assert recall["customer_id"].iloc[select(recall, None, None, 2.0)].tolist() == ["c_b", "c_c"]
    (tmp_path / "published" / writer.RECALL_LIST).write_text("not parquet")
    os.utime(tmp_path / "published" / writer.MANIFEST, (2_000, 2_000))
    assert not decisions.refresh() and decisions.last_error == (
        "the publication cannot be loaded: its recall list cannot be read (ArrowInvalid); run `spend publish` again"
    )
    assert decisions.current.recall["customer_id"].tolist() == ["c_b", "c_c", "c_a"]
    (tmp_path / "published" / writer.MANIFEST).write_text("{")
    assert not decisions.refresh() and "its manifest cannot be read (JSONDecodeError)" in decisions.last_error


def test_segments_published_without_a_recall_list_are_served_and_the_list_says_why(tmp_path):
    """A shop whose history is too short for a churn model publishes its segments alone: the manifest
    says why, and no recall list (not even an old one) is read."""
    folder = tmp_path / "published"
    _write(folder, margin=5.0, stamp=1_000)
    (folder / writer.RECALL_LIST).unlink()
    reason = "no churn@champion; train one with `spend train churn`"
    (folder / writer.MANIFEST).write_text(json.dumps({"published_at": "2", "recall_list_skipped": reason}))
    decisions = PublishedDecisions(folder)
    assert decisions.refresh(), decisions.last_error
    assert decisions.current.recall is None and decisions.current.segment_of == {"c_a": ("Loyal", 2)}
