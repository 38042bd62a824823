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


def _one_error_line(capsys, failing) -> str:
    import typer

    from spend.core.console import user_errors

    @user_errors
    def command(json_output: bool = False) -> None:
        failing()

    with pytest.raises(typer.Exit):
        command()
    (line,) = capsys.readouterr().err.strip().splitlines()
    return line


def test_a_damaged_model_registry_database_is_one_line_saying_what_it_is(tmp_path, capsys):
    """MLflow's SQLite store cut short was SQLAlchemy's message over three lines, SQL and a web link included."""
    import sqlalchemy

    database = tmp_path / "mlflow.db"
    database.write_bytes(b"SQLite format 3\x00" + b"\x01" * 3000)
    engine = sqlalchemy.create_engine(f"sqlite:///{database}")

    def failing():
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text("SELECT name FROM registered_models"))

    line = _one_error_line(capsys, failing)
    assert line.startswith("error: the model registry's database cannot be read (") and "mlflow.db" in line


def test_a_damaged_feature_registry_is_one_line_saying_how_to_write_it_again(capsys):
    from feast.protos.feast.core.Registry_pb2 import Registry

    line = _one_error_line(capsys, lambda: Registry().ParseFromString(b"junk that is not a registry"))
    assert "the feature registry" in line and "spend features apply" in line


def test_an_unexpected_error_is_one_line_whatever_its_message(capsys):
    def failing():
        raise RuntimeError("first line\nsecond line\n(Background on this error at: https://example.org)")

    line = _one_error_line(capsys, failing)
    assert line.startswith("error: unexpected RuntimeError: first line (the details are in ")


def test_a_summary_for_people_is_one_line_of_words_not_a_python_dict(capsys):
    """`spend score`, `spend price-quote`, `spend elasticity` and `spend experiment` printed `{'out': ...}`."""
    import math

    from spend.core.console import print_summary

    print_summary(
        {"out": "s.csv", "reidentified": False, "customers": 1234, "variants": {"A": 2}, "share": 0.25, "x": math.nan}
    )
    assert (
        capsys.readouterr().out.strip()
        == "out: s.csv; reidentified: no; customers: 1,234; variants: A 2; share: 0.25; x: -"
    )


def test_brackets_in_a_users_words_are_printed_as_written_never_read_as_markup(tmp_path):
    """A header `[/foo]` (rich's closing tag) ended `spend ingest` in a MarkupError traceback, raised again
    by the `error:` line itself; `[bold red]x` was swallowed as a style."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    export = tmp_path / "sales [final].csv"
    export.write_text(
        "event_id,order_id,customer_id,ts,kind,product_id,quantity,unit_price,currency,channel,[/foo],[bold red]x\n"
        "e1,o1,C1,2025-03-01T10:00:00Z,purchase,P1,2,9.99,GBP,pos,a,b\n"
    )
    env = os.environ | {"SPEND_HOME": str(tmp_path / "home"), "SPEND_PSEUDONYM_KEY": "k" * 32}
    spend = str(Path(sys.executable).parent / "spend")
    run = subprocess.run(
        [spend, "ingest", str(export), "--table", "transactions"], capture_output=True, text=True, env=env
    )
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    assert "not stored: [/foo], [bold red]x" in run.stdout
    assert "ingest sales [final].csv" in run.stderr
    missing = subprocess.run(
        [spend, "ingest", str(tmp_path / "[/x]"), "--table", "transactions"], capture_output=True, text=True, env=env
    )
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert missing.stderr.strip().endswith("[/x]: no such file")


def test_work_that_counted_nothing_leaves_no_empty_bar(monkeypatch):
    """`spend elasticity` read from the champion (nothing fitted, nothing counted) left "0/None" on screen."""
    import io

    from rich.console import Console

    from spend.core import console

    for counted in (False, True):
        screen = io.StringIO()
        monkeypatch.setattr(console, "errors", Console(file=screen, force_terminal=False, width=100))  # final frame
        with console.count_progress("elasticities") as done:
            if counted:
                done(3, 3)
        shown = screen.getvalue()
        assert ("3/3" in shown) is counted and "None" not in shown


def test_work_that_fails_before_counting_leaves_no_empty_bar(monkeypatch):
    """`spend price-quote` refusing a row before any elasticity was counted left "0/None" above its error."""
    import io

    from rich.console import Console

    from spend.core import console

    screen = io.StringIO()
    monkeypatch.setattr(console, "errors", Console(file=screen, force_terminal=False, width=100))
    with pytest.raises(ValueError), console.count_progress("elasticities"):
        raise ValueError("a bad row")
    assert "None" not in screen.getvalue()
