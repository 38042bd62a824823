"""`spend serve`: the BentoML service as a child process (spend.serving.launch)."""

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
    import subprocess

    from spend.core.errors import SpendError
    from spend.serving.launch import serve_command, serve_environment

    if env is not None and env not in ("local", "production"):
        raise SpendError(f"--env: {env!r} must be local or production")
    environment = serve_environment({"SPEND_ENV": env} if env else None)
    raise typer.Exit(subprocess.call(serve_command(port), env=environment))
