"""The recall list and segments `spend publish` wrote, held in memory and reloaded when the manifest
changes (checked with the model aliases, and on an admin reload). The file names are the shared core's
(spend.core.names), which `spend publish` writes.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from spend.core.names import MANIFEST, OFFERS, RECALL_LIST, SEGMENTS
from spend.serving.schemas import RecallEntry


@dataclass(frozen=True)
class Publication:
    manifest: dict
    recall: pd.DataFrame | None  # sorted by expected saved margin, best first; None: published without one
    segment_of: dict[str, tuple[str, int]]
    stamp: float
    offers: pd.DataFrame | None = None  # indexed by customer_id; None: no assignment published


class PublishedDecisions:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.current: Publication | None = None
        self.last_error: str | None = None

    def refresh(self) -> bool:
        """Load the publication if its manifest is new; True if loaded. A broken publication leaves the
        loaded one serving and says why."""
        path = self.folder / MANIFEST
        try:
            stamp = path.stat().st_mtime
        except FileNotFoundError:
            self.last_error = "nothing published; run `spend publish`"
            return False
        if self.current is not None and stamp == self.current.stamp:
            return False
        try:
            self.current = _load(self.folder, stamp)
        except Unreadable as error:  # keep serving the previous publication
            self.last_error = (
                f"the publication cannot be loaded: its {error.part} cannot be read ({error.kind}); "
                "run `spend publish` again"
            )
            logging.getLogger("spend.serving.published").warning("%s", self.last_error)
            return False
        self.last_error = None
        return True


PARTS = {MANIFEST: "manifest", RECALL_LIST: "recall list", SEGMENTS: "segments", OFFERS: "offer assignment"}


class Unreadable(Exception):
    """A file of the publication is missing, damaged or not what `spend publish` writes."""

    def __init__(self, part: str, error: Exception) -> None:
        super().__init__(part)
        self.part, self.kind = part, type(error).__name__


def _load(folder: Path, stamp: float) -> Publication:
    try:
        return _read(folder, stamp)
    except Unreadable:
        raise
    except Exception as error:  # files that read but lack a column spend publish writes
        raise Unreadable("contents", error) from error


def _part(folder: Path, name: str):
    try:
        if name == MANIFEST:
            return json.loads((folder / name).read_text(encoding="utf-8"))
        return pd.read_parquet(folder / name)
    except Exception as error:  # missing, cut short, not Parquet or JSON: which file, then its kind
        raise Unreadable(PARTS[name], error) from error


def _read(folder: Path, stamp: float) -> Publication:
    manifest = _part(folder, MANIFEST)
    recall = None
    if "recall_list_skipped" not in manifest:  # segments published alone (no churn model): why, in the manifest
        recall = _part(folder, RECALL_LIST)
        recall = recall.sort_values("expected_saved_margin", ascending=False, kind="stable").reset_index(drop=True)
    segments = _part(folder, SEGMENTS)
    segment_of = dict(
        zip(
            segments["customer_id"],
            zip(segments["segment"].astype(str), segments["cluster"].astype(int), strict=True),
            strict=True,
        )
    )
    offers = None
    if "offers" in manifest and (folder / OFFERS).exists():
        offers = _part(folder, OFFERS).set_index("customer_id")
    return Publication(manifest, recall, segment_of, stamp, offers)


def select(
    recall: pd.DataFrame,
    segment: str | None,
    band: str | None,
    min_margin: float | None,
    erased: frozenset[str] = frozenset(),
) -> np.ndarray:
    """Row positions of the recall list passing the filters, best first, without the `erased` customers
    (erased since the list was published)."""
    keep = np.ones(len(recall), dtype=bool)
    if erased:
        keep &= ~recall["customer_id"].isin(erased).to_numpy()
    if segment is not None:
        keep &= (recall["segment"] == segment).to_numpy()
    if band is not None:
        keep &= (recall["churn_band"] == band).to_numpy()
    if min_margin is not None:
        keep &= (recall["expected_saved_margin"] >= min_margin).to_numpy()
    return np.flatnonzero(keep)


def recall_entry(row) -> RecallEntry:
    """One recall-list row as the answer's entry (uplift NaN: no estimate, None)."""
    uplift = None if row.uplift != row.uplift else float(row.uplift)  # NaN: no estimate
    return RecallEntry(
        customer_id=row.customer_id,
        churn_probability=float(row.churn_probability),
        churn_band=str(row.churn_band),
        reasons=[r for r in str(row.reasons).split(";") if r],
        segment=str(row.segment),
        clv=float(row.clv),
        uplift=uplift,
        save_rate=float(row.save_rate),
        expected_saved_margin=float(row.expected_saved_margin),
    )
