"""`spend serve`: this process becomes the BentoML server (exec), so a signal sent to `spend serve`
(SIGTERM from a supervisor, Ctrl-C) reaches BentoML itself, which finishes in-flight requests and stops
its workers. A child process (as before) left the server running when `spend serve` was terminated."""

from __future__ import annotations

from typing import Annotated

import typer

from spend.core.console import user_errors


@user_errors
def serve_command(
    env: Annotated[str | None, typer.Option(help="local or production (default: SPEND_ENV).")] = None,
    port: Annotated[int, typer.Option(min=1, max=65535, help="HTTP port.")] = 3000,
) -> None:
    """Start the BentoML service (serving/service.py) on this machine."""
    import os

    from spend.core.errors import SpendError
    from spend.serving.launch import serve_command, serve_environment

    if env is not None and env not in ("local", "production"):
        raise SpendError(f"--env: {env!r} must be local or production")
    environment = serve_environment({"SPEND_ENV": env} if env else None)
    command = serve_command(port)
    try:
        os.execve(command[0], command, environment)  # returns only on failure
    except OSError as error:
        raise SpendError(f"cannot start the service: {error.strerror}") from error
