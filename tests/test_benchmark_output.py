"""Benchmarks keep stderr for their own progress lines: libraries' INFO records are off, warnings stay."""

from __future__ import annotations

import logging
import os

from tests.support.benchmarks import ROOT, benchmark_module


def test_quiet_libraries_drops_library_info_lines_and_keeps_warnings(monkeypatch):
    report = benchmark_module("report")
    monkeypatch.setenv("MLFLOW_CONFIGURE_LOGGING", "true")  # recorded, so the test's own setting is undone
    monkeypatch.delenv("MLFLOW_CONFIGURE_LOGGING")
    levels = {name: logging.getLogger(name).level for name in report.LIBRARY_LOGGERS}
    for name in report.LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO)  # as MLflow's own configuration leaves it
    try:
        report.quiet_libraries()
        assert os.environ["MLFLOW_CONFIGURE_LOGGING"] == "false"
        for name in ("mlflow.store.db.utils", "alembic.runtime.migration", "sqlalchemy.engine"):
            assert not logging.getLogger(name).isEnabledFor(logging.INFO), name
            assert logging.getLogger(name).isEnabledFor(logging.WARNING), name
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def test_every_benchmark_quiets_the_libraries_first():
    for script in sorted((ROOT / "benchmarks").glob("*.py")):
        text = script.read_text(encoding="utf-8")
        if "def main() -> None:\n" in text:
            body = text.split("def main() -> None:\n", 1)[1]
            assert body.lstrip().startswith("quiet_libraries()"), script.name
