"""`spend serve` under a supervisor: SIGTERM stops the server and its workers, nothing left listening."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

from spend.serving.launch import free_port, serve_environment
from tests.conftest import TEST_KEY


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_sigterm_to_spend_serve_stops_the_server_and_its_workers(tmp_path):
    port = free_port()
    env = serve_environment({"SPEND_HOME": str(tmp_path / "home"), "SPEND_PSEUDONYM_KEY": TEST_KEY})
    spend = Path(sys.executable).with_name("spend")
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 - held by the process
    process = subprocess.Popen([str(spend), "serve", "--port", str(port)], env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise AssertionError((tmp_path / "serve.log").read_text()[-3000:])
        # An empty home serves nothing yet: ready says so (503) while health is up.
        assert httpx.get(f"http://127.0.0.1:{port}/v1/ready", timeout=5).status_code == 503
        tree = psutil.Process(process.pid).children(recursive=True)
        assert tree, "BentoML runs its workers as child processes"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) is not None
        _, alive = psutil.wait_procs(tree, timeout=15)
        assert alive == [] and not _listening(port)
    finally:
        if process.poll() is None:
            for child in psutil.Process(process.pid).children(recursive=True):
                child.kill()
            process.kill()


def test_the_service_runs_as_production_under_the_cluster_environment(tmp_path):
    """Spark is for batch jobs: the service needs only the online store and the registry (and no pyspark)."""
    env = serve_environment({"SPEND_HOME": str(tmp_path / "home"), "SPEND_ENV": "cluster"})
    assert env["SPEND_ENV"] == "production"
    assert serve_environment({"SPEND_HOME": str(tmp_path / "home"), "SPEND_ENV": "local"})["SPEND_ENV"] == "local"


def test_a_port_in_use_is_one_line_naming_the_option_not_bentomls_traceback(settings):
    """`spend serve --port N` with N taken printed BentoML's 50-line traceback ending in 'Address already in use'."""
    from typer.testing import CliRunner

    from spend.cli import app

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(app, ["serve", "--port", str(port)])
        ui = CliRunner().invoke(app, ["mlflow-ui", "--port", str(port)])
    assert result.exit_code == 2 and f"--port: {port} is in use on this machine" in result.output
    assert "Traceback" not in result.output
    assert ui.exit_code == 2 and f"--port: {port} is in use on this machine" in ui.output
