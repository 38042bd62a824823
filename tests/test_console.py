"""The terminal helpers: each step of a multi-step command leaves its seconds in the log."""

from __future__ import annotations

import logging

import pytest

from spend.core.console import step_progress


@pytest.mark.parametrize("bar", [True, False])
def test_each_step_logs_its_seconds_once_it_ends(caplog, bar):
    caplog.set_level(logging.INFO, logger="spend.steps")
    with step_progress("job", ["read", "write"], enabled=bar) as step:
        step("read")
        assert not caplog.records  # a step is logged when it ends, with its time
        step("write")
    lines = [r.getMessage() for r in caplog.records]
    assert [line.split(" took ")[0] for line in lines] == ["job: read", "job: write"]
    assert all(line.endswith(" s") and float(line.split(" took ")[1][:-2]) >= 0 for line in lines)


def test_help_and_long_lines_piped_to_a_file_are_not_cut(tmp_path):
    """Piped, `--help` was cut at 80 columns (`--cost-per-cont…`) and long result lines wrapped mid-word."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = os.environ | {"SPEND_HOME": str(tmp_path)}
    env.pop("TERMINAL_WIDTH", None)
    env.pop("COLUMNS", None)
    run = [str(Path(sys.executable).parent / "spend"), "recall-list", "--help"]
    out = subprocess.run(run, capture_output=True, text=True, env=env, check=True).stdout
    assert "--cost-per-contact " in out and "…" not in out
    script = "from spend.core.console import configure_output, console; configure_output(); console.print('word ' * 80)"
    printed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env).stdout
    assert printed.count("\n") == 1
