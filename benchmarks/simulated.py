"""Shared by the benchmarks: a simulated history written by a separate `spend simulate` process, so the
measuring process does not carry the generator's heap (as a user's later `spend` commands would not)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def simulate_history(
    out: Path, customers: int, seed: int, dirty_share: float = 0.0, options: tuple[str, ...] = ()
) -> dict[str, int]:
    """Write the canonical CSVs under `out` (`options`: more `spend simulate` options); returns the row
    count of each table."""
    command = [
        sys.executable,
        "-c",
        "from spend.cli import main; main()",
        "simulate",
        "--customers",
        str(customers),
        "--seed",
        str(seed),
        "--dirty-share",
        str(dirty_share),
        "--out",
        str(out),
        *options,
        "--json",
    ]
    return json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)["rows"]
