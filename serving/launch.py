"""How the service process is started: `spend serve`, and the tests and the benchmark, which also wait
for it to be ready.

PYTHONOPTIMIZE=1: Feast decorates its classes with typeguard's @typechecked, which recompiles their
source at import (most of Feast's import time: docs/serving.md); typeguard documents
optimised mode as the way to turn the instrumentation off. It also skips `assert` statements, which
Spend never uses to check input.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

SERVICE = "spend.serving.service:Spend"


def serve_command(port: int, target: str = SERVICE) -> list[str]:
    return [sys.executable, "-m", "bentoml", "serve", target, "--port", str(port)]


def serve_environment(overrides: dict[str, str] | None = None) -> dict[str, str]:
    """The service process's environment; under SPEND_ENV=cluster the service runs as production (the same
    online store and registry; Spark is for batch jobs). BENTOML_HOME goes under the data home: BentoML keeps its
    Prometheus multiprocess files in BENTOML_HOME, so two services on one machine (two homes, or the
    tests' services) would otherwise merge each other's metrics."""
    environment = os.environ | {"PYTHONOPTIMIZE": "1"} | (overrides or {})
    if environment.get("SPEND_ENV") == "cluster":  # the service reads Redis and the registry, never Spark
        environment["SPEND_ENV"] = "production"
    home = Path(environment.get("SPEND_HOME", ".spend")).resolve()
    return {"BENTOML_HOME": str(home / "bentoml")} | environment if "BENTOML_HOME" not in os.environ else environment


def port_taken(port: int) -> bool:
    """Whether another program listens on `port` (BentoML binds every address; binding it first found out
    only in its own traceback)."""
    import socket

    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does: TIME_WAIT is no owner
        try:
            probe.bind(("0.0.0.0", port))
        except OSError:
            return True
    return False


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(
    environment: dict[str, str],
    log: Path,
    timeout: float = 90,
    target: str = SERVICE,
    probe: tuple[str, dict] = ("/v1/ready", {}),
) -> tuple[subprocess.Popen, str, float]:
    """Start a BentoML service (Spend unless `target` says otherwise) on a free port, logging to `log` (a
    pipe nobody reads would block the server), and wait until POSTing `probe`'s body to its path answers
    200; returns the process, its URL and the seconds from start to ready."""
    import httpx

    port = free_port()
    handle = open(log, "wb")  # noqa: SIM115 - the process holds it until it ends
    started = time.monotonic()
    server = subprocess.Popen(serve_command(port, target), env=environment, stdout=handle, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    path, body = probe
    while time.monotonic() - started < timeout:
        try:
            if httpx.post(f"{url}{path}", json=body, timeout=2).status_code == 200:
                return server, url, time.monotonic() - started
        except httpx.HTTPError:
            pass
        if server.poll() is not None:
            raise RuntimeError(f"the service exited: {Path(log).read_text()[-3000:]}")
        time.sleep(0.05)
    server.kill()
    raise RuntimeError(f"the service was not ready in {timeout:.0f} s: {Path(log).read_text()[-3000:]}")


def stop(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()


def environment_for(settings) -> dict[str, str]:
    """The environment that makes a service process see the same data home, stores and registry as
    `settings` (a SpendSettings)."""
    return serve_environment(
        {
            "SPEND_HOME": str(settings.home),
            "SPEND_PSEUDONYM_KEY": settings.pseudonym_key.get_secret_value(),
            "SPEND_ENV": settings.env,
            "SPEND_REDIS_URL": settings.redis_url,
            "SPEND_REGISTRY_URL": settings.registry_url,
            "SPEND_TRACKING_URL": settings.tracking_url,
            "SPEND_FEATURE_PROJECT": settings.feature_project,
        }
    )
