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


@pytest.mark.parametrize(
    ("folder", "advice"),
    [("features", "spend features build"), ("offline", "spend doctor"), ("published", "spend publish")],
)
def test_a_damaged_parquet_file_of_the_home_is_one_line_saying_what_writes_it_again(
    tmp_path, monkeypatch, capsys, folder, advice
):
    """Was `unexpected ArrowInvalid: Error creating dataset. Could not read schema ...` and Arrow's whole text."""
    import pyarrow.dataset as ds

    from spend.core.console import user_errors

    monkeypatch.setenv("SPEND_HOME", str(tmp_path))
    part = tmp_path / folder / "customer_snapshots.parquet" / "part-00000.parquet"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"PAR1 cut short")

    @user_errors
    def command(json_output: bool = False) -> None:
        ds.dataset(part.parent).to_table()

    import typer

    with pytest.raises(typer.Exit):
        command()
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "cannot be read" in line and advice in line and line.endswith(f"({folder}/{part.parent.name}/{part.name})")
    assert "unexpected" not in line
