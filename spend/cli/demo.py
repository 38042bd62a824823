"""`spend demo`: the main job end to end on the embedded default (local files, SQLite online store,
local MLflow store)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from spend.cli.options import default_as_of
from spend.core.console import JsonFlag, console, print_json, step_progress, user_errors
from spend.core.settings import SpendSettings
from spend.simulate.config import TABLE_ORDER


@user_errors
def demo_command(
    customers: Annotated[int, typer.Option(min=100, help="Customers to simulate.")] = 5_000,
    days: Annotated[int, typer.Option(min=90, help="Days of history.")] = 365,
    seed: Annotated[int, typer.Option(help="Simulation seed.")] = 7,
    products: Annotated[int, typer.Option(min=16, help="Products in the simulated catalogue.")] = 60,
    stores: Annotated[int, typer.Option(min=1, help="Shops (the web and app shops come on top).")] = 8,
    json_output: JsonFlag = False,
) -> None:
    """Run the main job end to end on a simulated shop, with local files and stores only.

    Simulate, ingest, score data quality, build feature snapshots, register them with Feast, materialise
    the online store, train and register the churn, fraud, demand, pricing and offers models, publish the
    recall list, segments, forecast, replenishment and an offer assignment for the service
    (SPEND_HOME/published/), write the top 500 of the recall list, the forecast, the orders and the
    offers under SPEND_HOME/reports/, run `spend monitor`, and write the report page (report.html)."""
    from spend.features.ingest.pipeline import IngestOptions, ingest
    from spend.features.quality.scorecard import DIMENSIONS, scorecard
    from spend.simulate.config import SimulationConfig
    from spend.simulate.run import simulate
    from spend.simulate.writer import write_simulation

    settings = SpendSettings()
    # The demo's history ends yesterday, as a live shop's would; `spend simulate` keeps a fixed start.
    start = date.today() - timedelta(days=days)
    out = settings.paths.home / "demo" / f"sim-{start}-{customers}-{days}-{seed}-{products}-{stores}"
    steps = (
        "simulate",
        *(f"ingest {t}" for t in TABLE_ORDER),
        "quality",
        "features",
        "train churn",
        "train fraud",
        "train demand",
        "train pricing",
        "train offers",
        "recall list",
        "forecast and replenish",
        "monitor and report",
    )
    with step_progress("demo", steps, enabled=not json_output) as step:
        step("simulate")
        write_simulation(
            simulate(
                SimulationConfig(
                    customers=customers,
                    days=days,
                    seed=seed,
                    start=start,
                    dirty_share=0.01,
                    products=products,
                    stores=stores,
                    offer_campaign=True,
                )
            ),
            out,
        )
        reports = {}
        for table in TABLE_ORDER:
            step(f"ingest {table}")
            reports[table] = ingest(Path(out / f"{table}.csv"), IngestOptions(table), settings)
        step("quality")
        card = scorecard(settings)
        step("features")
        features = _build_feature_store(settings)
        step("train churn")
        trained = _train_churn(settings)
        step("train fraud")
        fraud = _train_or_skip(settings, "fraud", "test")
        step("train demand")
        demand = _train_or_skip(settings, "demand", "backtest")
        step("train pricing")
        pricing = _train_or_skip(settings, "pricing", "holdout")
        step("train offers")
        offers = _train_or_skip(settings, "offers", "holdout")
        step("recall list")  # published after demand, so the publication carries its forecasts too
        recall = None if "skipped" in trained else _recall_list(settings, default_as_of(settings))
        if recall is not None and "skipped" not in offers:
            offers["assigned"] = _assign_offers(settings)
        step("forecast and replenish")
        supply = _forecast_and_replenish(settings) if "skipped" not in demand else None
        step("monitor and report")
        report = _monitor_and_report(settings)
    summary = {
        "home": str(settings.home),
        "simulation": str(out),
        "ingested": {
            t: {k: getattr(r, k) for k in ("received", "accepted", "quarantined", "duplicates")}
            for t, r in reports.items()
        },
        "quality": {
            t: {d: s[d]["score"] for d in DIMENSIONS} | {"overall": s["overall"]} for t, s in card["tables"].items()
        },
        "churn": trained,
        "recall_list": recall,
        "fraud": fraud,
        "demand": demand,
        "pricing": pricing,
        "offers": offers,
        "supply": None if supply is None else {k: v for k, v in supply.items() if not k.startswith("first_")},
        "report": report,
    }
    if json_output:
        print_json(summary)
        return
    table = Table("table", "received", "accepted", "quarantined", "duplicates", "quality", title="spend demo")
    for name, counts in summary["ingested"].items():
        table.add_row(name, *(f"{counts[k]:,}" for k in counts), f"{summary['quality'][name]['overall']:.1f}")
    console.print(table)
    console.print(f"feature snapshots: {', '.join(f'{k} {v:,}' for k, v in features['snapshot_rows'].items())}")
    console.print(
        f"online store ({settings.env}): {', '.join(f'{k} {v:,}' for k, v in features['online_entities'].items())}"
    )
    if "skipped" in trained:
        console.print(f"churn model and recall list skipped: {trained['skipped']}")
    else:
        console.print(_churn_scores(trained), highlight=False)
        _verdict("churn", trained)
        console.print(
            f"recall list: {recall['customers']:,} customers, expected saved margin "
            f"{recall['expected_saved_margin']:,.0f} -> {recall['file']}; published for `spend serve` in "
            f"{recall['published']}"
        )
    _show_fraud(fraud)
    _show_supply(demand, supply)
    _show_pricing(pricing)
    _show_offers(offers)
    console.print(f"monitoring: {report['monitoring']}; report ({report['charts']} charts) -> {report['file']}")
    console.print(f"state under {settings.home}; details: `spend quality`, `spend segments`, `spend models list`")


def _monitor_and_report(settings: SpendSettings) -> dict:
    """`spend monitor` on every champion, then the report page (SPEND_HOME/reports/report.html)."""
    from spend.training.monitoring import monitor
    from spend.training.report import build_report

    checked = monitor(settings)["models"]
    out = settings.paths.reports / "report.html"
    made = build_report(settings, out)
    states = ", ".join(f"{name} {_state(c)}" for name, c in checked.items()) or "no champion"
    return {"file": str(out), "charts": made["charts"], "monitoring": states}


def _state(checked: dict) -> str:
    """A model's monitoring status, with its first breach when there is one (`spend monitor` lists all)."""
    breaches = checked.get("breaches", [])
    if not breaches:
        return checked["status"]
    more = f"; {len(breaches) - 1} more: `spend monitor`" if len(breaches) > 1 else ""
    return f"{checked['status']} ({breaches[0]}{more})"


def _train_or_skip(settings: SpendSettings, model: str, comparison: str) -> dict:
    """Train and register `model` as `spend train` does; a history that cannot feed it (too short, no
    card payments) skips it and says why. `comparison` names its table in the summary."""
    from spend.core.errors import SpendError
    from spend.training.loop import train

    try:
        trained = train(settings, model)
    except SpendError as error:
        return {"skipped": str(error)}
    return _trained(trained, comparison)


def _churn_scores(trained: dict) -> str:
    """The holdout's scores on the gate's metric first (what crowned the winner), then AUC: AUC alone
    showed a champion a hair behind BG/NBD on a line above the verdict saying it won."""
    metric = trained.get("gate_metric", "auc")
    names = {"average_precision": "average precision", "auc": "AUC"}
    shown = [metric, *(["auc"] if metric != "auc" else [])]
    parts = [
        f"{names.get(m, m)}{' (the gate)' if m == metric else ''} "
        + ", ".join(f"{name} {row[m]:.3f}" for name, row in trained["holdout"].items() if m in row)
        for m in shown
    ]
    return f"churn v{trained['version']} @{trained['alias']}: holdout {'; '.join(parts)}"


def _show_fraud(fraud: dict) -> None:
    if "skipped" in fraud:
        console.print(f"fraud model skipped: {fraud['skipped']}")
        return
    ap = ", ".join(f"{name} {row['average_precision']:.3f}" for name, row in fraud["test"].items())
    console.print(f"fraud v{fraud['version']} @{fraud['alias']}: test average precision {ap}", highlight=False)
    _verdict("fraud", fraud)


def _show_pricing(pricing: dict) -> None:
    if "skipped" in pricing:
        console.print(f"price elasticities skipped: {pricing['skipped']}")
        return
    rmse = ", ".join(f"{name} {row['response_rmse']:.3f}" for name, row in pricing["holdout"].items())
    console.print(f"pricing v{pricing['version']} @{pricing['alias']}: holdout response RMSE {rmse}")
    _verdict("pricing", pricing, "  (`spend elasticity`, `spend price-quote`)")


DEMO_OFFER_BUDGET = 2.0  # per active member: enough for some members' offers, not everyone's


def _assign_offers(settings: SpendSettings) -> dict:
    """Offers for today's members within the demo's budget, written under reports/ and published."""
    import json

    from spend.core.names import MANIFEST
    from spend.core.user_tables import write_table
    from spend.training.offers import AssignOptions, assign_offers, publish_offers

    # the active members the publication segmented (the offers' members too), read, not recomputed
    members = json.loads((settings.paths.published / MANIFEST).read_text(encoding="utf-8"))["segmented_customers"]
    frame, report = assign_offers(settings, AssignOptions(DEMO_OFFER_BUDGET * members, as_of=default_as_of(settings)))
    out = settings.paths.reports / "offers.csv"
    write_table(frame, out)
    publish_offers(settings, frame, report)
    return {k: report[k] for k in ("members", "offered", "mix", "budget", "expected_cost", "expected_net_margin")} | {
        "file": str(out)
    }


def _show_offers(offers: dict) -> None:
    if "skipped" in offers:
        console.print(f"offer targeting skipped: {offers['skipped']}")
        return
    value = ", ".join(f"{name} {row['policy_value']:.2f}" for name, row in offers["holdout"].items())
    console.print(f"offers v{offers['version']} @{offers['alias']}: held-out net margin per member {value}")
    _verdict("offers", offers)
    if "assigned" in offers:
        a = offers["assigned"]
        mix = ", ".join(f"{name} {count:,}" for name, count in a["mix"].items())
        console.print(
            f"offer mix: {a['offered']:,} of {a['members']:,} members ({mix}); expected cost "
            f"{a['expected_cost']:,.0f} of {a['budget']:,.0f} -> {a['file']}; published for `spend serve`",
            highlight=False,
        )
        if a["offered"] == 0:
            console.print(
                f"no member gets an offer: {offers['winner']} is served, and on the campaign's held-out members "
                "no offer paid for itself (`spend offers evaluate` shows each policy's value)",
                highlight=False,
            )


def _trained(report, comparison: str) -> dict:
    """What the demo reports of a training run; `comparison` names its table (churn's holdout, demand's
    backtest)."""
    return {
        "version": report.version,
        "alias": report.alias,
        "winner": report.winner,
        "gate_metric": report.gate_metric,
        "verdict": report.verdict,
        "history_skipped": report.details.get("skipped"),  # what the history could not give the model
        comparison: report.comparison,
    }


def _verdict(name: str, trained: dict, suffix: str = "") -> None:
    """The training's verdict, then what the history could not give it, in one line as `spend train`."""
    console.print(f"{name}: {trained['verdict']}{suffix}", highlight=False)
    if trained.get("history_skipped"):
        console.print(f"{name}: skipped {trained['history_skipped']}", highlight=False)


def _forecast_and_replenish(settings: SpendSettings) -> dict:
    """Every series' forecast and the replenishment orders, written under reports/."""
    from spend.core.user_tables import write_table
    from spend.training.forecasting import forecast
    from spend.training.replenishment import suggest

    frame, summary = forecast(settings)
    orders, ordered = suggest(settings)
    files = {
        "forecast": settings.paths.reports / "demand-forecast.csv",
        "orders": settings.paths.reports / "replenishment.csv",
    }
    write_table(frame, files["forecast"])
    write_table(orders, files["orders"])
    return {
        "forecast": summary | {"file": str(files["forecast"])},
        "replenishment": ordered | {"file": str(files["orders"])},
        "first_forecast": frame.head(5),
        "first_orders": orders.sort_values("suggested_order", ascending=False).head(5),
    }


def _show_supply(demand: dict, supply: dict | None) -> None:
    from spend.cli.supply import launch_line

    if supply is None:
        console.print(f"demand forecast and replenishment skipped: {demand['skipped']}")
        return
    wape = ", ".join(f"{name} {row['wape']:.3f}" for name, row in demand["backtest"].items())
    console.print(f"demand v{demand['version']} @{demand['alias']}: backtest WAPE {wape}")
    _verdict("demand", demand)
    console.print(f"demand forecast -> {supply['forecast']['file']} (first rows):")
    console.print(supply["first_forecast"].round(2).to_string(index=False), highlight=False)
    if supply["forecast"].get("launches"):
        console.print(launch_line(supply["forecast"]["launches"]), highlight=False)
    console.print(f"replenishment -> {supply['replenishment']['file']} (largest orders):")
    columns = [
        "product_id",
        "store_id",
        "on_hand",
        "on_order",
        "cover_p50",
        "target_stock",
        "suggested_order",
        "reason",
    ]
    console.print(supply["first_orders"][columns].round(2).to_string(index=False), highlight=False)
    if supply["replenishment"].get("skipped"):
        console.print(f"skipped: {supply['replenishment']['skipped']}", highlight=False)


def _train_churn(settings: SpendSettings) -> dict:
    """Train and register the churn model; a history too short for the churn label (a demo of a few
    months) skips it and the recall list, and says why."""
    from spend.core.errors import SpendError
    from spend.training.loop import train

    as_of = default_as_of(settings)
    try:
        trained = train(settings, "churn", as_of)
    except SpendError as error:
        if "history too short" not in str(error):
            raise
        return {"skipped": str(error)}
    return _trained(trained, "holdout")


def _recall_list(settings: SpendSettings, as_of) -> dict:
    """Publish the recall list and segments for the service, and write the 500 customers most worth
    winning back as a CSV, pseudonymous (`spend recall-list --reidentify` for ids)."""
    import pandas as pd

    from spend.core.names import RECALL_LIST
    from spend.core.user_tables import write_table
    from spend.training.publish import publish

    publish(settings, as_of)
    frame = pd.read_parquet(settings.paths.published / RECALL_LIST).head(500)
    out = settings.paths.reports / "recall-list.csv"
    write_table(frame, out)
    return {
        "customers": len(frame),
        "expected_saved_margin": float(frame["expected_saved_margin"].sum()),
        "file": str(out),
        "published": str(settings.paths.published),
    }


def _build_feature_store(settings: SpendSettings) -> dict:
    """Build snapshots, apply the Feast declarations and materialise the online store."""
    from spend.features.store import quiet_feast
    from spend.features.store.build import build_snapshots
    from spend.features.store.config import apply_repo
    from spend.features.store.materialize import materialize

    quiet_feast()
    report = build_snapshots(settings)
    apply_repo(settings)
    return {"snapshot_rows": report.rows, "online_entities": materialize(settings)}
