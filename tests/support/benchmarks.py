"""Importing a script under benchmarks/ from a test: the folder is not part of the installed package."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def benchmark_module(name: str) -> ModuleType:
    """`benchmarks.<name>`, imported with the project's root on the path for that import only."""
    sys.path.insert(0, str(ROOT))
    try:
        return importlib.import_module(f"benchmarks.{name}")
    finally:
        sys.path.remove(str(ROOT))
