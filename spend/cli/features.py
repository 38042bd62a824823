"""`spend features ...`: build snapshots, apply declarations, materialise, read what serving would read."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from spend.cli.options import parse_time
from spend.core.console import JsonFlag, console, errors, print_json, step_progress, user_errors
from spend.core.errors import SpendError
from spend.core.settings import SpendSettings
from spend.features.store import quiet_feast

if TYPE_CHECKING:
    import pandas as pd

app = typer.Typer(help="The Feast feature store over the ingested history.", no_args_is_help=True)
ENTITY_VIEWS = {
    "customer": (("customer_id",), ("customer_activity", "customer_spending")),
    "terminal": (("terminal_id",), ("terminal_risk",)),
    "product": (("product_id",), ("product_pricing",)),
    "product-store": (("product_id", "store_id"), ("product_store_demand",)),
}


def _until(until: str | None) -> pd.Timestamp:
    import pandas as pd

    if until is None:
        return pd.Timestamp.now(tz="UTC")
    return parse_time(until, "--until", "a date or time")


@app.command("build")
@user_errors
def build_command(
    until: Annotated[str | None, typer.Option(help="Last cut-off (default: now).")] = None,
    json_output: JsonFlag = False,
) -> None:
    """Compute daily snapshots of every feature group from the ingested history."""
    from spend.features.store.build import BUILD_STEPS, build_snapshots

    with step_progress("features build", BUILD_STEPS, enabled=not json_output) as step:
        report = build_snapshots(
            SpendSettings(),
            _until(until),
            progress=step,
            waiting=lambda: errors.print("another features build is running in this data home: waiting for it"),
        )
    if json_output:
        print_json(
            {
                "until": report.until,
                "rows": report.rows,
                "batches": len(report.batches),
                "skipped": report.skipped,
                "kept_since": report.kept_since,
                "store_zones": report.store_zones,
            }
        )
        return
    table = Table("snapshots", "rows", title=f"feature snapshots up to {report.until}")
    for name, rows in report.rows.items():
        table.add_row(name, f"{rows:,}")
    console.print(table)
    for group, why in report.skipped.items():
        console.print(f"skipped {group}: {why}", highlight=False)
    if report.store_zones:
        own = ", ".join(f"{store} ({zone})" for store, zone in list(report.store_zones.items())[:10])
        more = f" and {len(report.store_zones) - 10} more" if len(report.store_zones) > 10 else ""
        console.print(f"stores counting days from their own midnight: {own}{more}", highlight=False)
    if report.kept_since:
        console.print(
            f"snapshots kept from {report.kept_since[:10]}: `spend retention apply` deleted the older ones, "
            "which are not written again",
            highlight=False,
        )


@app.command("apply")
@user_errors
def apply_command(json_output: JsonFlag = False) -> None:
    """Register entities, sources, views and feature services with Feast (and create online tables)."""
    from spend.features.store.config import apply_repo, backend_errors

    quiet_feast()
    settings = SpendSettings()
    with backend_errors(settings):
        repo = apply_repo(settings)
    summary = {
        "env": settings.env,
        "views": [v.name for v in repo.views],
        "on_demand": [v.name for v in repo.on_demand],
        "services": [s.name for s in repo.services],
    }
    if json_output:
        print_json(summary)
    else:
        console.print(
            f"applied to {settings.env}: {', '.join(summary['views'])}; services {', '.join(summary['services'])}"
        )


@app.command("repo")
@user_errors
def repo_command(json_output: JsonFlag = False) -> None:
    """Write feature_store.yaml under SPEND_HOME/feast, so Feast's own commands work on Spend's store."""
    from spend.features.store.config import write_repo_yaml

    path = write_repo_yaml(SpendSettings())
    summary = {"feature_store_yaml": str(path), "try": f"feast -c {path.parent} feature-views list"}
    if json_output:
        print_json(summary)
        return
    console.print(f"wrote {path}; try `{summary['try']}` or `feast -c {path.parent} ui`", highlight=False)


@app.command("materialize")
@user_errors
def materialize_command(
    incremental: Annotated[bool, typer.Option(help="Only what arrived since the last materialisation.")] = False,
    until: Annotated[str | None, typer.Option(help="End of the window (default: now).")] = None,
    overwrite: Annotated[
        bool, typer.Option(help="Replace online values even where they are newer than the snapshots.")
    ] = False,
    json_output: JsonFlag = False,
) -> None:
    """Load the latest snapshot of each entity into the online store (SQLite locally, Redis in production).
    An entity whose online values are newer (a payment's push since) keeps them unless --overwrite."""
    from spend.features.store.config import backend_errors, feature_store
    from spend.features.store.materialize import materialize, why_empty

    quiet_feast()
    settings = SpendSettings()
    with backend_errors(settings):
        views = [v.name for v in feature_store(settings).list_feature_views()]
        if not views:
            raise SpendError("no feature views registered; run `spend features apply` first")
        end = _until(until).to_pydatetime()
        with step_progress("materialize", views, enabled=not json_output) as step:
            written = materialize(settings, end, incremental, step, overwrite)
        empty = {} if incremental else why_empty(settings, written, end)  # incremental: nothing new is normal
    if json_output:
        print_json({"written": written, "empty": empty})
    else:
        for view, rows in written.items():
            why = f": {empty[view]}" if view in empty else ""
            console.print(f"{view}: {rows:,} entities{why}", highlight=False)


@app.command("get")
@user_errors
def get_command(
    entity: Annotated[str, typer.Argument(help="customer, terminal, product or product-store.")],
    ids: Annotated[list[str], typer.Argument(help="The id (two for product-store: product then store).")],
    json_output: JsonFlag = False,
) -> None:
    """Show what the online store returns for one entity, with feature timestamps."""
    from spend.core.privacy.pseudonym import PREFIX, pseudonym
    from spend.features.store.config import backend_errors, feature_store
    from spend.features.store.reader import BatchReader

    if entity not in ENTITY_VIEWS:
        raise SpendError(f"unknown entity {entity!r}; expected one of {', '.join(ENTITY_VIEWS)}")
    keys, views = ENTITY_VIEWS[entity]
    if len(ids) != len(keys):
        raise SpendError(f"{entity} takes {len(keys)} id(s): {', '.join(keys)}")
    settings = SpendSettings()
    values = list(ids)
    if entity == "customer" and not (values[0].startswith(PREFIX) and len(values[0]) == len(PREFIX) + 32):
        values[0] = pseudonym(values[0], settings.pseudonym_key.get_secret_value().encode("utf-8"))
    quiet_feast()
    with backend_errors(settings):
        store = feature_store(settings)
        features = [f"{v}:{f.name}" for v in views for f in store.get_feature_view(v).features]
        row = BatchReader(store, features=features).read({k: [v] for k, v in zip(keys, values, strict=True)})
    result = {k: v for k, v in zip(keys, values, strict=True)}
    for view in views:
        seconds = row[f"{view}__event_seconds"][0]
        result[view] = {
            "found": bool(row[f"{view}__found"][0]),
            "event_timestamp": None if math.isnan(seconds) else datetime.fromtimestamp(seconds, UTC).isoformat(),
            "features": {f.name: _plain(row[f.name][0]) for f in store.get_feature_view(view).features},
        }
    if json_output:
        print_json(result)
        return
    for view in views:
        block = result[view]
        table = Table("feature", "value", title=f"{view} (found: {block['found']}, as of {block['event_timestamp']})")
        for name, value in block["features"].items():
            table.add_row(name, "-" if value is None else str(value))
        console.print(table)


def _plain(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value.item() if hasattr(value, "item") else value
