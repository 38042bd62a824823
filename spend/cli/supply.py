"""`spend forecast` and `spend replenish`: demand quantiles per product, store and day, and the orders
that cover them, for buyers and the supply chain."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from spend.cli.options import AsOf, OutFile, named_as_options
from spend.core.console import JsonFlag, console, print_json, user_errors
from spend.core.errors import SpendError
from spend.core.settings import SpendSettings
from spend.core.user_tables import check_out, read_table
from spend.features.store import quiet_feast

PLAN_COLUMNS = ("product_id", "store_id", "date", "price", "promo")
PricePlan = Annotated[
    Path | None,
    typer.Option(
        help="CSV/Parquet of planned prices and promotions: product_id, store_id (optional), date, price "
        "and/or promo (1 or yes on a promotion day; a blank price keeps the last one). Days without a plan keep "
        "the last price and are forecast at their series' chance of a promotion."
    ),
]


def register(app: typer.Typer) -> None:
    app.command("forecast")(forecast_command)
    app.command("replenish")(replenish_command)


@user_errors
def forecast_command(
    product: Annotated[list[str] | None, typer.Option(help="Product id (repeat for several; default: all).")] = None,
    store: Annotated[list[str] | None, typer.Option(help="Store id (repeat for several; default: all).")] = None,
    horizon: Annotated[int | None, typer.Option(help="Days ahead (default: demand.yaml's horizon_days).")] = None,
    price_plan: PricePlan = None,
    out: Annotated[
        Path | None, typer.Option(help="Write every row (CSV, Parquet or Excel) instead of showing the first.")
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Demand forecasts (P10, P50, P90 units per product, store and day) from the registered demand champion."""
    from spend.core.user_tables import write_table
    from spend.training.forecasting import forecast

    if out is not None:
        check_out(out)
    quiet_feast()
    plan = read_plan(price_plan)
    with named_as_options(
        {"product": "--product", "store": "--store", "horizon": "--horizon", "prices": "--price-plan"}
    ):
        frame, summary = forecast(SpendSettings(), product, store, horizon, plan)
    if out is not None:
        write_table(frame, out)
        summary |= {"out": str(out), "rows": len(frame)}
    if json_output:
        rows = (
            [] if out is not None else frame.assign(date=frame["date"].dt.date.astype(str)).round(3).to_dict("records")
        )
        print_json(summary | {"forecasts": rows} if out is None else summary)
        return
    if out is None:
        console.print(_table(frame.head(20)))
    shown = f" -> {out}" if out is not None else " (first 20 rows above; --out writes every one)"
    fallback = f", {summary['fallback_series']:,} by the fallback" if summary.get("fallback_series") else ""
    console.print(
        f"{summary['series']:,} series x {summary['days']} days from {summary['from']} ({summary['model']}"
        f"{fallback}){shown}",
        highlight=False,
    )
    if summary.get("launches"):
        console.print(launch_line(summary["launches"]), highlight=False)
    if summary.get("skipped"):
        console.print(f"skipped: {summary['skipped']}", highlight=False)


def read_plan(path: Path | None):
    return None if path is None else read_table(path, "--price-plan", names=PLAN_COLUMNS)


def launch_line(launches: list[str]) -> str:
    more = f" and {len(launches) - 5:,} more" if len(launches) > 5 else ""
    return (
        f"catalogued launches, not sold yet, forecast from their category from their listing day: "
        f"{', '.join(launches[:5])}{more}"
    )


def _table(frame) -> Table:
    promoted = "promo_chance" in frame.columns and bool(frame["promo_chance"].gt(0).any())
    chance = ["promo chance"] if promoted else []  # the outlook's, where no plan said (docs/demand.md)
    table = Table(
        "product", "store", "date", "P10", "P50", "P90", *chance, "method", title="demand forecast (first rows)"
    )
    for row in frame.itertuples(index=False):
        shown = [f"{row.promo_chance:.0%}"] if promoted else []
        table.add_row(
            row.product_id,
            row.store_id,
            str(row.date.date()),
            f"{row.p10:.1f}",
            f"{row.p50:.1f}",
            f"{row.p90:.1f}",
            *shown,
            row.method,
        )
    return table


@user_errors
def replenish_command(
    out: OutFile,
    product: Annotated[list[str] | None, typer.Option(help="Product id (repeat for several; default: all).")] = None,
    store: Annotated[
        list[str] | None, typer.Option(help="Store id (repeat for several; default: all, each needs a count).")
    ] = None,
    as_of: AsOf = None,
    service_level: Annotated[
        float, typer.Option(help="Target probability of not running out over the cover period.")
    ] = 0.95,
    review_days: Annotated[int, typer.Option(help="Days until the next chance to order.")] = 7,
    lead_time_days: Annotated[
        float | None,
        typer.Option(
            help="Days from order to delivery for every series, in place of the stock counts' own; required "
            "without inventory, which gives target stock levels only."
        ),
    ] = None,
    price_plan: PricePlan = None,
    json_output: JsonFlag = False,
) -> None:
    """Order-up-to suggestions per product x store from the demand champion and the latest stock counts;
    without stock counts, the target stock levels alone (--lead-time-days)."""
    import pandas as pd

    from spend.core.user_tables import write_table
    from spend.training.replenishment import suggest

    check_out(out)
    quiet_feast()
    try:
        when = None if as_of is None else pd.Timestamp(as_of)
    except ValueError as error:
        raise SpendError(f"--as-of: {as_of!r} is not a date") from error
    fields = {"service_level": "--service-level", "review_days": "--review-days", "lead_time_days": "--lead-time-days"}
    fields |= {"product": "--product", "store": "--store", "prices": "--price-plan"}
    plan = read_plan(price_plan)
    with named_as_options(fields):
        frame, summary = suggest(
            SpendSettings(), when, service_level, review_days, lead_time_days, product, store, plan
        )
    write_table(frame, out)
    summary |= {"out": str(out)}
    if json_output:
        print_json(summary)
        return
    console.print(_suggestions_table(frame))
    console.print(
        f"{summary['series']:,} series as of {summary['as_of']} ({summary['model']}, service level "
        f"{service_level:g}, review every {review_days} days): {summary['orders']:,} orders, "
        f"{summary['units']:,.0f} units -> {out}",
        highlight=False,
    )
    if "skipped" in summary:
        console.print(f"skipped: {summary['skipped']}", highlight=False)


def _suggestions_table(frame) -> Table:
    """The ten largest orders (or targets, without stock counts); an unknown number shows as -."""
    table = Table("product", "store", "on hand", "on order", "cover P50", "target", "order", "fill", "reason")
    order = "target_stock" if frame["suggested_order"].isna().all() else "suggested_order"
    for row in frame.sort_values(order, ascending=False).head(10).itertuples(index=False):
        table.add_row(
            row.product_id,
            row.store_id,
            _shown(row.on_hand, ".0f"),
            _shown(row.on_order, ".0f"),
            f"{row.cover_p50:.1f}",
            f"{row.target_stock:.0f}",
            _shown(row.suggested_order, ".0f"),
            _shown(row.expected_fill_rate, ".3f"),
            row.reason,
        )
    return table


def _shown(value: float, spec: str) -> str:
    return "-" if value != value else format(value, spec)  # NaN: not known
