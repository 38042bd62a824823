"""The collector after the service's start-up (serving/collector.py), checked in a fresh interpreter so
the test process keeps its own settings."""

from __future__ import annotations

import json
import subprocess
import sys

from spend.serving.collector import FULL_EVERY


def test_start_up_objects_are_frozen_and_full_collections_are_rarer():
    code = (
        "import gc, json; kept = [[i] for i in range(10_000)]; before = gc.get_threshold();"
        "from spend.serving.collector import settle; settle();"
        "print(json.dumps([before, gc.get_threshold(), gc.get_freeze_count(), len(gc.get_objects(2))]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    before, after, frozen, oldest = json.loads(out)
    assert after == [before[0], before[1], FULL_EVERY] and FULL_EVERY > before[2]
    assert frozen >= 10_000 and oldest < 1_000  # the kept lists left the generations the collector walks
