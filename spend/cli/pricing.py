"""`spend elasticity`: own-price elasticities per product with confidence intervals, for the pricing team."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from spend.cli.options import check_out
from spend.core.console import JsonFlag, console, count_progress, print_json, user_errors
from spend.core.settings import SpendSettings
from spend.features.store import quiet_feast

JSON_COLUMNS = ("product_id", "elasticity", "ci_low", "ci_high", "method", "n_days", "note")


def register(app: typer.Typer) -> None:
    app.command("elasticity")(elasticity_command)


@user_errors
def elasticity_command(
    product: Annotated[list[str] | None, typer.Option(help="Product id (repeat for several; default: all).")] = None,
    method: Annotated[str, typer.Option(help="dml (default), or ols / ols_controls for comparison.")] = "dml",
    out: Annotated[Path | None, typer.Option(help="Write every row (CSV or Parquet) instead of a table.")] = None,
    json_output: JsonFlag = False,
) -> None:
    """Own-price elasticity per product with a 90% interval (double machine learning, docs/pricing.md)."""
    from spend.training.pricing import elasticities
    from spend.training.scoring import write_table

    if out is not None:
        check_out(out)
    quiet_feast()
    with count_progress("elasticities", enabled=not json_output) as done:
        frame, summary = elasticities(SpendSettings(), product, method, progress=done)
    if out is not None:
        write_table(frame, out)
        summary |= {"out": str(out)}
    if json_output:
        rows = [] if out is not None else frame[list(JSON_COLUMNS)].round(4).to_dict("records")
        print_json(summary | ({} if out is not None else {"elasticities": rows}))
        return
    console.print(summary, highlight=False)
    table = Table("product", "elasticity", "90% interval", "method", "days", "note", title="elasticities")
    for row in frame.head(20).itertuples(index=False):
        table.add_row(
            row.product_id,
            f"{row.elasticity:.2f}",
            f"{row.ci_low:.2f} to {row.ci_high:.2f}",
            row.method,
            str(row.n_days),
            row.note,
        )
    console.print(table)
