"""`spend offers assign` and `spend offers evaluate`: which offer for which member, within a budget, and
what each policy is worth on the held-out part of the pooled offer campaigns. `spend train offers` trains
the effects (spend/cli/models.py, like every declared model)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from spend.cli.options import AsOf, OutFile, Reidentify
from spend.core.console import JsonFlag, console, print_json, user_errors
from spend.core.settings import SpendSettings
from spend.core.user_tables import check_out
from spend.features.store import quiet_feast

app = typer.Typer(help="Offer targeting: which coupon or points offer for which member.", no_args_is_help=True)


@app.command("assign")
@user_errors
def assign_command(
    budget: Annotated[float, typer.Option(help="Money available for the offers' expected cost.")],
    out: OutFile,
    stock: Annotated[Path | None, typer.Option(help="CSV/Parquet/Excel with columns offer, stock.")] = None,
    exclude: Annotated[
        Path | None,
        typer.Option(
            help="The shop's customer ids never to send to: one per line, or a CSV, Excel or Parquet file's "
            "--exclude-column."
        ),
    ] = None,
    exclude_column: Annotated[str, typer.Option(help="The --exclude table's column of customer ids.")] = "customer_id",
    as_of: AsOf = None,
    publish: Annotated[bool, typer.Option(help="Also publish the assignment for the service.")] = False,
    reidentify: Reidentify = False,
    json_output: JsonFlag = False,
) -> None:
    """One offer or none per active member: the most expected net margin within the budget, each offer's
    stock, the contact cap (offers.yaml contact_days) and the exclusion list, solved exactly (an LP)."""
    from spend.cli.options import as_of_date
    from spend.core.user_tables import write_table
    from spend.training.offers import AssignOptions, assign_offers, publish_offers
    from spend.training.scoring import reidentify as add_ids

    check_out(out)
    options = AssignOptions(budget, stock, exclude, exclude_column=exclude_column)
    options.check()
    quiet_feast()
    settings = SpendSettings()
    options.as_of = as_of_date(as_of, settings)
    frame, report = assign_offers(settings, options)
    if publish:
        report["published"] = publish_offers(settings, frame, report)["published_at"]
    if reidentify:
        frame = add_ids(settings, frame, "offers assign --reidentify", out)
    write_table(frame, out)
    report["out"] = str(out)
    if json_output:
        print_json(report)
        return
    table = Table("offer", "members", title=f"offer mix ({report['model']}, as of {report['as_of']})")
    for offer, count in report["mix"].items():
        table.add_row(offer, f"{count:,}")
    table.add_row("none", f"{report['members'] - report['offered']:,}")
    console.print(table)
    console.print(
        f"{report['offered']:,} of {report['members']:,} members get an offer -> {out}; expected cost "
        f"{report['expected_cost']:,.2f} of {_money(report['budget'])}, expected net margin "
        f"{report['expected_net_margin']:,.2f}",
        highlight=False,
    )
    for reason, count in report["why_none"].items():
        console.print(f"  none, {reason}: {count:,}", highlight=False)
    if exclude is not None:
        listed, members = report["excluded"]["listed"], report["excluded"]["members"]
        console.print(f"exclusion list: {listed:,} id(s), {members:,} of them active members", highlight=False)


def _money(value: float) -> str:
    """Grouped to the cent, or three significant digits when astronomical (--budget 1e308 printed 309 digits)."""
    return f"{value:,.2f}" if abs(value) < 1e12 else f"{value:.3g}"


@app.command("evaluate")
@user_errors
def evaluate_command(json_output: JsonFlag = False) -> None:
    """What each policy adds per member against sending nothing, estimated doubly robustly on the held-out
    members of the pooled offer campaigns: the champion's, the best single offer, random and none."""
    from spend.training.offer_evaluation import evaluate_policies

    quiet_feast()
    result = evaluate_policies(SpendSettings())
    if json_output:
        print_json(result)
        return
    table = Table("policy", "net margin per member", "90% interval", "offered", title=result["title"])
    for name, row in result["policies"].items():
        table.add_row(
            name, f"{row['value']:,.3f}", f"{row['low']:,.3f} to {row['high']:,.3f}", f"{row['offered_share']:.0%}"
        )
    console.print(table)
    for note in result["notes"]:
        console.print(note, highlight=False)
