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
    from spend.core.files import user_text

    if path is None:
        return []
    if path.suffix.lower() in (".xlsx", ".parquet"):
        return _ids_in_table(path, column)
    lines = [line for line in user_text(path, "--from-file").splitlines() if line.strip()]
    if not any(mark in line for line in lines for mark in DELIMITERS):
        ids = [line.strip() for line in lines]
        return ids[1:] if ids[:1] == [column] else ids  # a one-column CSV's header is no id
    return _ids_in_csv(lines, column, path.name)


# No customer id holds one of these (the id's pattern, docs/data-dictionary.md), so a line holding one is a
# CSV row: read whole, it would be an id nobody has and the customer would stay, "unknown" in the receipt.
DELIMITERS = (",", ";", "\t")


def _ids_in_csv(lines: list[str], column: str, name: str) -> list[str]:
    import csv

    from spend.core.errors import SpendError

    delimiter = next((mark for mark in DELIMITERS if mark in lines[0]), None)
    if delimiter is None:
        raise SpendError(
            f"--from-file: {name} holds a ',', ';' or tab after its first line, which no customer id holds: "
            f"give one id per line, or a CSV whose first line names its columns ({column} among them)"
        )
    rows = list(csv.reader(lines, delimiter=delimiter))
    header = [cell.strip() for cell in rows[0]]
    at = _column_at(header, column, name)
    return _every_id([row[at] if at < len(row) else "" for row in rows[1:]], column, name)


def _ids_in_table(path: Path, column: str) -> list[str]:
    """The ids of an Excel sheet's or a Parquet file's column, as text (an id typed as a number is 12345,
    never 12345.0, which nobody has)."""
    from spend.core.user_tables import read_table

    frame = read_table(path, "--from-file", as_text=True)
    at = _column_at([str(c).strip() for c in frame.columns], column, path.name)
    return _every_id([_text(value) for value in frame.iloc[:, at]], column, path.name)


def _text(value) -> str:
    if value is None or value != value:  # empty, or NaN
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _column_at(header: list[str], column: str, name: str) -> int:
    from spend.core.errors import SpendError

    if column not in header:
        raise SpendError(
            f"--from-file: {name} has no column {column!r} (its columns: {', '.join(header)}); "
            "name the one holding the customer ids with --column"
        )
    return header.index(column)


def _every_id(values: list[str], column: str, name: str) -> list[str]:
    """Every row's id, or one error naming the lines (the header is line 1) without one: nothing is erased
    from a list that cannot be read whole."""
    from spend.core.errors import SpendError

    blank = [n for n, value in enumerate(values, start=2) if not value.strip()]
    if blank:
        shown = ", ".join(map(str, blank[:10])) + (" ..." if len(blank) > 10 else "")
        raise SpendError(
            f"--from-file: {name} line(s) {shown} have no {column}; nothing was erased: fix or remove them"
        )
    return [value.strip() for value in values]


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
