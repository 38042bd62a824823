"""Open a page in headless Chromium (Debian's package, /usr/bin/chromium) and return the DOM after its
scripts ran and the console lines it logged. The flags keep Chromium off the network: this machine's
closed network refuses its background connections."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.conftest import running_in_ci


def chromium() -> str:
    """The browser's path; skips the test without it on a laptop, fails it under CI=true."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        message = "Debian's chromium is not installed (.ci/run installs it: apt-get install chromium)"
        if running_in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return found


def rendered(page: Path, wait_ms: int = 15_000) -> tuple[str, list[str]]:
    """(the DOM once the page's scripts have run, the console messages it logged)."""
    with tempfile.TemporaryDirectory() as profile:
        command = [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--enable-logging=stderr",
            "--v=0",
            f"--virtual-time-budget={wait_ms}",
            "--dump-dom",
            Path(page).resolve().as_uri(),
        ]
        run = subprocess.run(command, capture_output=True, text=True, timeout=120)
    console = [line for line in run.stderr.splitlines() if "CONSOLE" in line]
    return run.stdout, console
