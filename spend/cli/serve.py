"""`spend serve`: this process becomes the BentoML server (exec), so a signal sent to `spend serve`
(SIGTERM from a supervisor, Ctrl-C) reaches BentoML itself, which finishes in-flight requests and stops
its workers. A child process (as before) left the server running when `spend serve` was terminated."""

from __future__ import annotations

from typing import Annotated

import typer

from spend.core.console import user_errors


@user_errors
def serve_command(
    env: Annotated[str | None, typer.Option(help="local, production or cluster (default: SPEND_ENV).")] = None,
    port: Annotated[int, typer.Option(min=1, max=65535, help="HTTP port.")] = 3000,
) -> None:
    """Start the BentoML service (serving/service.py) on this machine."""
    import os

    from spend.core.errors import SpendError
    from spend.serving.launch import port_taken, serve_command, serve_environment

    if env is not None and env not in ("local", "production", "cluster"):
        raise SpendError(f"--env: {env!r} must be local, production or cluster")
    if port_taken(port):
        raise SpendError(f"--port: {port} is in use on this machine (another `spend serve`?); choose another --port")
    environment = serve_environment({"SPEND_ENV": env} if env else None)
    command = serve_command(port)
    try:
        os.execve(command[0], command, environment)  # returns only on failure
    except OSError as error:
        raise SpendError(f"cannot start the service: {error.strerror}") from error


@user_errors
def mlflow_ui_command(
    port: Annotated[int, typer.Option(min=1, max=65535, help="HTTP port.")] = 5000,
    host: Annotated[str, typer.Option(help="Address to listen on (127.0.0.1: this machine only).")] = "127.0.0.1",
) -> None:
    """Open MLflow's UI on Spend's tracking store (runs, plots, registered models and their aliases)."""
    import os
    import shutil
    import sys
    from pathlib import Path

    from spend.core.errors import SpendError
    from spend.core.settings import SpendSettings
    from spend.serving.launch import port_taken

    if port_taken(port):
        raise SpendError(f"--port: {port} is in use on this machine; choose another --port")
    settings = SpendSettings()
    mlflow = shutil.which("mlflow") or str(Path(sys.executable).parent / "mlflow")
    command = [mlflow, "ui", "--backend-store-uri", settings.model_tracking_uri(), "--host", host, "--port", str(port)]
    typer.echo(f"MLflow UI on http://{host}:{port} (Ctrl-C stops it)", err=True)
    try:
        os.execv(command[0], command)  # returns only on failure
    except OSError as error:
        raise SpendError(f"cannot start MLflow's UI: {error.strerror}") from error
