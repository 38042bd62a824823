"""The feature build's manifest (SPEND_HOME/feature_snapshots/manifest.json): when the snapshots were
built and up to when, from which ingestion batches, what was skipped, and which stores keep their own
clock. build.py writes it; training, publishing, lineage and materialisation read it here."""

from __future__ import annotations

import json
from pathlib import Path

from spend.core.settings import SpendSettings

FILE = "manifest.json"


def manifest_path(settings: SpendSettings) -> Path:
    return settings.paths.feature_snapshots / FILE


def read_manifest(settings: SpendSettings) -> dict:
    """The last build's manifest; empty before any build."""
    path = manifest_path(settings)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
