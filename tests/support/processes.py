"""A server the tests start as its users would (`feast ui`, `spend mlflow-ui`), waited for over HTTP."""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def answering(command: list[str], url: str, seconds: int = 90) -> Iterator[bytes]:
    """Start `command`, wait until a GET of `url` answers 200 (a second apart, `seconds` at most), yield
    the body, and stop the process whatever happens."""
    process = subprocess.Popen(command, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(seconds):
            time.sleep(1)
            try:
                with urllib.request.urlopen(url, timeout=5) as answer:
                    if answer.status == 200:
                        body = answer.read()
                        break
            except OSError:
                continue
        else:
            raise AssertionError(f"{' '.join(command[:3])} did not answer {url} within {seconds} s")
        yield body
    finally:
        process.terminate()
        process.wait(timeout=30)
