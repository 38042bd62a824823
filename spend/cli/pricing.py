"""`spend elasticity`: own-price elasticities per product with confidence intervals, for the pricing team."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from spend.core.console import JsonFlag, console, count_progress, print_json, print_summary, user_errors
from spend.core.settings import SpendSettings
from spend.core.user_tables import check_out, read_table
from spend.features.store import quiet_feast

JSON_COLUMNS = ("product_id", "elasticity", "ci_low", "ci_high", "method", "n_days", "note")


def register(app: typer.Typer) -> None:
    app.command("elasticity")(elasticity_command)
    app.command("price-quote")(price_quote_command)


@user_errors
def elasticity_command(
    product: Annotated[list[str] | None, typer.Option(help="Product id (repeat for several; default: all).")] = None,
    method: Annotated[
        str | None,
        typer.Option(
            help="Fit on the history now with dml, ols or ols_controls (default: the pricing champion's, "
            "which price quotes use; dml fitted now without one)."
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Write every row (CSV, Parquet or Excel) instead of a table.")
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Own-price elasticity per product with a 90% interval: the pricing champion's, or fitted now
    (double machine learning, docs/pricing.md)."""
    from spend.core.user_tables import write_table
    from spend.training.pricing import elasticities

    if out is not None:
        check_out(out)
    quiet_feast()
    with count_progress("elasticities", enabled=not json_output) as done:
        frame, summary = elasticities(SpendSettings(), product, method, progress=done)
    if out is not None:
        write_table(frame, out)
        summary |= {"out": str(out)}
    if json_output:
        columns = [*JSON_COLUMNS, *(["category"] if "category" in frame else [])]
        rows = [] if out is not None else frame[columns].round(4).to_dict("records")
        print_json(summary | ({} if out is not None else {"elasticities": rows}))
        return
    cross = summary.pop("cross_effects", [])
    print_summary(summary)
    table = Table("product", "elasticity", "90% interval", "method", "days", "note", title="elasticities")
    if "category" in frame:
        table.add_column("category")
    for row in frame.head(20).itertuples(index=False):
        table.add_row(
            row.product_id,
            f"{row.elasticity:.2f}",
            f"{row.ci_low:.2f} to {row.ci_high:.2f}",
            row.method,
            str(row.n_days),
            row.note,
            *([str(row.category)] if "category" in frame else []),
        )
    console.print(table)
    if cross:
        _print_cross(cross)


def _print_cross(cross: list[dict]) -> None:
    """The cross-price effects of the substitute groups: a substitute's price up 1%, the product's units
    up by the effect, in %."""
    table = Table("product", "substitute", "cross elasticity", "90% interval", title="cross-price effects")
    for row in cross[:20]:
        interval = f"{row['ci_low']:.2f} to {row['ci_high']:.2f}"
        table.add_row(row["product_id"], row["substitute_id"], f"{row['cross_elasticity']:.2f}", interval)
    console.print(table)


@user_errors
def price_quote_command(
    products: Annotated[
        Path, typer.Option(help="CSV, Parquet or Excel of product_id, price, cost (optional floor, cap).")
    ],
    out: Annotated[Path, typer.Option(help="CSV, Parquet or Excel file to write.")],
    objective: Annotated[str, typer.Option(help="margin (default) or revenue.")] = "margin",
    constraints: Annotated[
        Path | None,
        typer.Option(help="YAML/JSON rules: margin_floor, max_change, endings, max_volume_loss, max_interval_width."),
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Prices that maximise expected margin (or revenue) within the rules, with intervals and the binding rule."""
    from spend.core.user_tables import write_table
    from spend.training.pricing import price_quotes

    check_out(out)
    quiet_feast()
    frame = _read_products(products)
    rules = _read_rules(constraints) if constraints is not None else None
    with count_progress("elasticities", enabled=not json_output) as done:
        quoted, summary = price_quotes(SpendSettings(), frame, rules, objective, progress=done)
    write_table(quoted, out)
    summary |= {"out": str(out)}
    if json_output:
        print_json(summary)
        return
    print_summary(summary)
    table = Table("product", "now", "quote", "units/day", "margin/day", "binding", title="price quotes")
    for row in quoted.head(20).itertuples(index=False):
        table.add_row(
            row.product_id,
            f"{row.current_price:.2f}",
            f"{row.price:.2f}",
            f"{row.expected_units:.1f} ({row.units_low:.1f}-{row.units_high:.1f})",
            f"{row.expected_margin:.2f}",
            row.binding,
        )
    console.print(table)


def _read_products(path: Path):
    import pandas as pd

    from spend.core.errors import SpendError
    from spend.models.price_quotes import QuoteError, product_ids

    frame = read_table(path, "--products", names=("product_id", "price", "cost", "floor", "cap"))
    missing = [c for c in ("product_id", "price", "cost") if c not in frame.columns]
    if missing:
        found = ", ".join(map(str, frame.columns)) or "none"
        raise SpendError(f"--products: {path.name} lacks column(s) {', '.join(missing)} (found {found}): rename them")
    if frame.empty:
        raise SpendError(f"--products: {path.name} lists no products")
    try:
        product_ids(frame["product_id"])
    except QuoteError as error:
        raise SpendError(f"--products: {error}") from None
    for column in ("price", "cost", "floor", "cap"):
        if column in frame.columns and not pd.api.types.is_numeric_dtype(frame[column]):
            raise SpendError(f"--products: column {column} of {path.name} is not numeric")
    return frame


def _read_rules(path: Path) -> dict:

    from spend.core.errors import SpendError
    from spend.core.files import load_yaml, user_text

    rules = load_yaml(user_text(path, "--constraints"), f"--constraints: {path.name}", "YAML or JSON")
    if not isinstance(rules, dict):
        raise SpendError(f"--constraints: {path.name} must map rule names to values")
    return rules
