"""Data-protection commands: `spend erase` (right to erasure) and `spend retention apply`."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from spend.core.console import JsonFlag, console, print_json, styled, user_errors
from spend.core.settings import SpendSettings

retention_app = typer.Typer(help="Delete what is older than each table's retention period.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("erase")(erase_command)
    app.add_typer(retention_app, name="retention")


@user_errors
def erase_command(
    customer_ids: Annotated[
        list[str] | None, typer.Argument(help="The shop's own customer ids (as in its exports).", show_default=False)
    ] = None,
    from_file: Annotated[
        Path | None,
        typer.Option(
            "--from-file",
            help="A text file with one customer id per line, or a CSV (comma, semicolon or tab), Excel (.xlsx) "
            "or Parquet file whose --column holds the ids.",
        ),
    ] = None,
    column: Annotated[
        str, typer.Option("--column", help="The --from-file table's column of customer ids.")
    ] = "customer_id",
    reason: Annotated[str, typer.Option(help="Why (kept in the audit trail; ids in it are blanked).")] = "",
    json_output: JsonFlag = False,
) -> None:
    """Erase customers from every store under SPEND_HOME, the online store and the vault, and refuse their
    ids from now on. Prints a receipt: what each store removed."""
    from spend.features.governance.erasure import erase_customers

    ids = list(customer_ids or []) + _ids_in(from_file, column)
    receipt = erase_customers(SpendSettings(), ids, reason, getpass.getuser())
    if json_output:
        print_json(receipt.as_dict())
        return
    table = Table("store", "removed", title=f"erasure receipt {receipt.request}")
    for store, count in receipt.removed.items():
        table.add_row(store, f"{count:,}")
    console.print(table)
    console.print(
        f"{receipt.customers:,} customer(s) asked: {receipt.found:,} found and erased, "
        f"{receipt.already_erased:,} already erased, {receipt.unknown:,} unknown (nothing stored)"
    )
    if receipt.unknown_ids:
        console.print(f"unknown: {', '.join(receipt.unknown_ids[:20])}", highlight=False)
    for path in receipt.not_removed:
        console.print(styled("mentions an erased customer, not edited:", "yellow", f" {path}"), highlight=False)


def _ids_in(path: Path | None, column: str) -> list[str]:
    from spend.core.id_lists import read_id_list

    return [] if path is None else read_id_list(path, "--from-file", column, "--column", "nothing was erased")


@retention_app.command("apply")
@user_errors
def retention_apply_command(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count what would be deleted; change nothing.")] = False,
    as_of: Annotated[str | None, typer.Option(help="Measure ages from this date (default: now).")] = None,
    json_output: JsonFlag = False,
) -> None:
    """Delete rows older than each table's retention period (SPEND_RETENTION_DAYS) from the offline store,
    the quarantine and the feature snapshots, and say how many per table."""
    from datetime import UTC, datetime

    from spend.cli.options import parse_time
    from spend.core.audit import command_audit
    from spend.features.governance.retention import apply_retention

    settings = SpendSettings()
    when = datetime.now(UTC) if as_of is None else parse_time(as_of, "--as-of")
    report = apply_retention(settings, when, dry_run)
    if not dry_run:
        command_audit(settings.paths.home).write(user=getpass.getuser(), action="retention", **report.as_dict())
    if json_output:
        print_json(report.as_dict())
        return
    verb = "would delete" if dry_run else "deleted"
    table = Table("table", "deleted before", verb, "kept", title=f"retention as of {report.as_of[:10]}")
    for name, cutoff in report.cutoffs.items():
        deleted, kept = report.deleted.get(name, 0), report.kept.get(name, 0)
        table.add_row(name, cutoff[:10], f"{deleted:,}", f"{kept:,}")
    console.print(table)
    if not dry_run:
        console.print(f"{report.files_removed:,} file(s) removed, {report.files_rewritten:,} rewritten")
