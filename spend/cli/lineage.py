"""`spend lineage model|batch`: what produced a model version, and what a batch went into."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from spend.core.console import JsonFlag, console, print_json, user_errors
from spend.core.settings import SpendSettings

app = typer.Typer(help="What produced a model, and what a batch of data went into.", no_args_is_help=True)


@app.command("model")
@user_errors
def model_command(
    model: Annotated[str, typer.Argument(help="A declared model: churn, clv, fraud, demand, pricing.")],
    version: Annotated[int | None, typer.Argument(help="A registered version (default: the champion).")] = None,
    json_output: JsonFlag = False,
) -> None:
    """The ingestion batches (file SHA-256), snapshot build, feature service, code commit, parameters and
    gate results behind a model version."""
    from spend.training.lineage import model_lineage

    found = model_lineage(SpendSettings(), model, version)
    if json_output:
        print_json(found)
        return
    gate = found["gate"] or {}
    facts = Table("", "", show_header=False, title=f"{found['model']} v{found['version']} {' '.join(found['aliases'])}")
    for label, value in (
        ("feature service", found["feature_service"]),
        ("code commit", found["code_commit"]),
        ("trained as of", found["trained_as_of"]),
        ("snapshots built", f"{found['snapshots_built_at']} (until {found['snapshots_until']})"),
        ("served scorer", found["served_scorer"]),
        ("gate", _gate(gate)),
        ("parameters", ", ".join(f"{k}={v}" for k, v in sorted(found["params"].items())) or "-"),
    ):
        facts.add_row(label, str(value))
    console.print(facts)
    _batches(found["batches"])


@app.command("batch")
@user_errors
def batch_command(
    batch_id: Annotated[str, typer.Argument(help="A batch id (`spend batches` lists them).")],
    json_output: JsonFlag = False,
) -> None:
    """The snapshot build, model versions and publication that used a batch."""
    from spend.training.lineage import batch_lineage

    found = batch_lineage(SpendSettings(), batch_id)
    if json_output:
        print_json(found)
        return
    _batches([found["batch"]])
    snapshots = found["snapshots"]
    console.print(f"feature snapshots: {'built ' + snapshots['built_at'] if snapshots else 'not in the current build'}")
    models = ", ".join(f"{m['model']} v{m['version']} {' '.join(m['aliases'])}".strip() for m in found["models"])
    console.print(f"models: {models or 'none'}")
    published = found["publications"]
    console.print(f"publication: {published[0]['published_at'] if published else 'not in the current publication'}")


def _gate(gate: dict) -> str:
    if not gate:
        return "-"
    champion = gate.get("champion_score")
    verdict = "passed" if gate.get("passed") else f"blocked: {gate['blocked']}" if gate.get("blocked") else "lost"
    against = f" against the champion's {champion:.4f}" if champion is not None else ""
    return f"{gate['metric']} {gate['score']:.4f}{against}: {verdict}"


def _batches(batches: list[dict]) -> None:
    table = Table("batch", "table", "source file", "SHA-256", "committed", "accepted", title="ingestion batches")
    for b in batches:
        table.add_row(
            b["batch_id"],
            b.get("table", ""),
            b.get("source", b.get("note", "")),
            b.get("file_sha256", "")[:16],
            b.get("committed_at", "")[:19],
            f"{b['accepted']:,}" if "accepted" in b else "",
        )
    console.print(table)
