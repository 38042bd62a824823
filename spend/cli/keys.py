"""`spend keys ...`: the service's API keys (printed once, stored hashed) and their roles."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from spend.core.console import JsonFlag, console, print_json, user_errors
from spend.core.settings import SpendSettings

app = typer.Typer(help="API keys of the service: add, list, revoke.", no_args_is_help=True)


@app.command("add")
@user_errors
def keys_add(
    name: Annotated[str, typer.Argument(help="Who the key is for (a system or a team).")],
    role: Annotated[
        str, typer.Option(help="marketing, pricing-engine, supply-chain, data-scientist, admin or monitoring.")
    ],
    json_output: JsonFlag = False,
) -> None:
    """Create a key; it is printed once (the key alone on its line, or with --json its name and role too)
    and only its hash is stored."""
    from spend.core.errors import SpendError
    from spend.serving.auth import key_store

    try:
        key = key_store(SpendSettings().paths.home).add(name, role)
    except SpendError:
        raise
    except ValueError as error:
        raise SpendError(str(error)) from error
    if json_output:
        print_json({"name": name, "role": role, "key": key})
        return
    print(key)


@app.command("list")
@user_errors
def keys_list(json_output: JsonFlag = False) -> None:
    """Key names and roles."""
    from spend.serving.auth import key_store

    entries = key_store(SpendSettings().paths.home).list()
    if json_output:
        print_json({"keys": entries})
        return
    table = Table("name", "role", title="API keys")
    for entry in entries:
        table.add_row(entry["name"], entry["role"])
    console.print(table)


@app.command("revoke")
@user_errors
def keys_revoke(name: Annotated[str, typer.Argument(help="The key's name.")]) -> None:
    """Revoke a key by name."""
    from spend.core.errors import SpendError
    from spend.serving.auth import key_store

    if not key_store(SpendSettings().paths.home).revoke(name):
        raise SpendError(f"no key named {name!r}")
    console.print(f"revoked {name}")
