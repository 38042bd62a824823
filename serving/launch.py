"""How the service process is started, shared by `spend serve`, the tests and the benchmark.

PYTHONOPTIMIZE=1: Feast decorates its classes with typeguard's @typechecked, which recompiles their
source at import (measured: 9.5 s of Feast's 13 s import on the 2-core machine); typeguard documents
optimised mode as the way to turn the instrumentation off. It also skips `assert` statements, which
Spend never uses to check input.
"""

from __future__ import annotations

import os
import sys


def serve_command(port: int) -> list[str]:
    return [sys.executable, "-m", "bentoml", "serve", "serving.service:Spend", "--port", str(port)]


def serve_environment(overrides: dict[str, str] | None = None) -> dict[str, str]:
    return os.environ | {"PYTHONOPTIMIZE": "1"} | (overrides or {})
