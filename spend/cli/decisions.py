"""`spend segments`, `spend recall-list` and `spend publish`: the decisions marketing acts on and the
service serves."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from spend.cli.options import AsOf, OutFile, Reidentify, as_of_date, named_as_options
from spend.cli.supply import PricePlan, read_plan
from spend.core.console import JsonFlag, console, errors, print_json, styled, user_errors
from spend.core.settings import SpendSettings
from spend.core.user_tables import check_out
from spend.features.store import quiet_feast

if TYPE_CHECKING:
    import pandas as pd


def register(app: typer.Typer) -> None:
    app.command("segments")(segments_command)
    app.command("recall-list")(recall_list_command)
    app.command("publish")(publish_command)


@user_errors
def segments_command(
    as_of: AsOf = None,
    out: Annotated[
        Path | None, typer.Option(help="Also write each customer's segment and cluster (CSV, Parquet or Excel).")
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """RFM segments and learned behaviour clusters of every active customer, with a profile for each."""
    from spend.core.user_tables import write_table
    from spend.models.segmentation import segment_profiles
    from spend.training.scoring import ID, segments

    if out is not None:
        check_out(out)
    quiet_feast()
    settings = SpendSettings()
    frame, clusters = segments(settings, as_of_date(as_of, settings))
    churn = frame["churn_probability"] if "churn_probability" in frame else None
    profiles = {
        "segments": segment_profiles(frame, frame["segment"].to_numpy(), churn),
        "clusters": segment_profiles(frame, frame["cluster"].to_numpy(), churn),
    }
    profiles["clusters"].insert(0, "name", profiles["clusters"].index.map(clusters.names_))
    if out is not None:
        columns = [ID, "segment", "cluster", "cluster_name"] + (["churn_probability"] if churn is not None else [])
        write_table(frame[columns], out)
    if json_output:
        print_json(
            {
                "customers": len(frame),
                "segments": profiles["segments"].round(4).to_dict(orient="index"),
                "clusters": {str(k): v for k, v in profiles["clusters"].round(4).to_dict(orient="index").items()},
                "cluster_names": {str(k): name for k, name in clusters.names_.items()},
                "cluster_k": clusters.k_,
                "cluster_bic": {str(k): round(v, 1) for k, v in clusters.bic_.items()},
                "skipped": too_few_for_clusters(clusters, len(frame)),
            }
        )
        return
    if note := too_few_for_clusters(clusters, len(frame)):
        console.print(f"skipped: {note}", highlight=False)
    for kind, profile in profiles.items():
        chosen = "" if clusters.too_few_ else ", lowest BIC"
        title = "RFM segments" if kind == "segments" else f"behaviour clusters (k={clusters.k_}{chosen})"
        console.print(_profile_table(profile, title))


def too_few_for_clusters(clusters, customers: int) -> str | None:
    """One line when the shop had too few customers for more than one behaviour cluster."""
    from spend.models.segmentation import MIN_PER_CLUSTER

    if not clusters.too_few_:
        return None
    return (
        f"behaviour clusters: {customers:,} active customers, too few for {clusters.min_k} clusters of "
        f"{MIN_PER_CLUSTER} or more; every customer is in one cluster (RFM segments still apply)"
    )


def _profile_table(profile: pd.DataFrame, title: str) -> Table:
    churn = "churn_rate" in profile
    table = Table(
        "group", "customers", "share", "spend_365d", "orders_365d", *(["expected churn"] * churn), title=title
    )
    for name, row in profile.iterrows():
        label = f"{name}: {row['name']}" if "name" in profile else str(name)
        cells = [
            f"{int(row['customers']):,}",
            f"{row['share']:.1%}",
            f"{row['spend_365d']:.2f}",
            f"{row['orders_365d']:.2f}",
        ]
        table.add_row(label, *cells, *([f"{row['churn_rate']:.1%}"] if churn else []))
    return table


@user_errors
def recall_list_command(
    out: OutFile,
    top: Annotated[int | None, typer.Option(min=1, help="Keep the best K customers.")] = None,
    budget: Annotated[float | None, typer.Option(min=0.0, help="Money available for contacts.")] = None,
    cost_per_contact: Annotated[float | None, typer.Option(help="Cost of one contact.")] = None,
    segment: Annotated[str | None, typer.Option(help="Only customers of this RFM segment.")] = None,
    as_of: AsOf = None,
    reidentify: Reidentify = False,
    json_output: JsonFlag = False,
) -> None:
    """Whom to win back: customers ranked by expected saved margin = P(churn) x CLV x uplift of a contact."""
    from spend.core.user_tables import write_table
    from spend.training.recall import RecallOptions, ranked
    from spend.training.scoring import reidentify as add_ids

    check_out(out)
    options = RecallOptions(top, budget, cost_per_contact, segment)
    options.check()
    quiet_feast()
    settings = SpendSettings()
    frame, report = ranked(settings, as_of_date(as_of, settings), options)
    if reidentify:
        frame = add_ids(settings, frame, "recall-list --reidentify", out)
    write_table(frame, out)
    summary = {
        "out": str(out),
        "customers": len(frame),
        "uplift_source": frame["uplift_source"].iloc[0] if len(frame) else None,
    } | report
    if json_output:
        print_json(summary)
        return
    if report["uplift_warning"]:
        errors.print(styled("warning:", "bold yellow", f" {report['uplift_warning']}"), highlight=False)
    spent = f"; spend {report['spend']:,.2f} of {report['budget']:,.2f}" if report.get("budget") is not None else ""
    console.print(
        f"{len(frame):,} customers -> {out}; {report['measure']} {report['expected_saved_margin']:,.2f}"
        f"{spent}; stopped at: {report['stopped_at']} (uplift: {summary['uplift_source']})",
        highlight=False,
    )


@user_errors
def publish_command(as_of: AsOf = None, price_plan: PricePlan = None, json_output: JsonFlag = False) -> None:
    """Publish the full recall list and every customer's segment for the service (SPEND_HOME/published/), and
    the demand forecast and replenishment orders for the supply chain (planned by --price-plan if given)."""
    from spend.training.publish import publish

    quiet_feast()
    settings = SpendSettings()
    plan = read_plan(price_plan)
    with named_as_options({"prices": "--price-plan"}):
        manifest = publish(settings, as_of_date(as_of, settings), plan)
    summary = {k: v for k, v in manifest.items() if k != "profiles"} | {"folder": str(settings.paths.published)}
    if json_output:
        print_json(summary)
        return
    recall = (
        f"recall list {manifest['recall_list_customers']:,} customers"
        if "recall_list_skipped" not in manifest
        else "no recall list"
    )
    console.print(
        f"published for the service: {recall}, segments {manifest['segmented_customers']:,} customers -> "
        f"{settings.paths.published}"
    )
    for line in _publish_lines(manifest):
        console.print(line, highlight=False)


def _publish_lines(manifest: dict) -> list[str]:
    """What was published for the supply chain, and each part skipped with why (once where two share it)."""
    lines = []
    if "forecast_series" in manifest:
        lines.append(f"demand forecast: {manifest['forecast_series']:,} series from {manifest['forecast_start']}")
    if "replenishment_orders" in manifest:
        orders, as_of = manifest["replenishment_orders"], manifest["replenishment_as_of"]
        note = f" ({manifest['replenishment_note']})" if "replenishment_note" in manifest else ""
        lines.append(f"replenishment: {orders:,} orders as of {as_of}{note}")
    recall, segments = manifest.get("recall_list_skipped"), manifest.get("segments_skipped")
    if recall and recall == segments:
        lines.append(f"skipped: recall list and segments: {recall}")
    else:
        lines += [f"skipped: {what}: {why}" for what, why in (("recall list", recall), ("segments", segments)) if why]
    for what, key in (("demand forecast", "demand_skipped"), ("replenishment", "replenishment_skipped")):
        if key in manifest:
            lines.append(f"skipped: {what}: {manifest[key]}")
    return lines
