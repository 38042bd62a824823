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
