"""The `spend` command: one typer app per area, assembled here.

- data: simulate, ingest, load-example, batches, quality, dictionary (spend/cli/data.py);
- features: the Feast store (spend/cli/features.py);
- models: train, backtest, score, models list|promote|rollback (spend/cli/models.py);
- decisions: segments, recall-list, publish (spend/cli/decisions.py);
- supply: forecast, replenish (spend/cli/supply.py);
- offers: assign, evaluate (spend/cli/offers.py);
- pricing: elasticity, price-quote (spend/cli/pricing.py); experiment design|analyze|pilot-panel
  (spend/cli/experiment.py);
- governance: erase, retention apply (spend/cli/privacy.py); monitor (spend/cli/monitor.py);
  lineage model|batch (spend/cli/lineage.py); report (spend/cli/report.py);
- serve, mlflow-ui and keys (spend/cli/serve.py, spend/cli/keys.py);
- demo: the main job (spend/cli/demo.py).

Modules import their heavy dependencies inside the commands, so `spend --help` answers at once.
"""

from __future__ import annotations

from typing import Annotated

import typer

from spend.cli import (
    data,
    decisions,
    demo,
    experiment,
    features,
    keys,
    lineage,
    models,
    monitor,
    offers,
    pricing,
    privacy,
    quarantine,
    report,
    serve,
    supply,
)
from spend.core.console import configure_output

app = typer.Typer(
    name="spend",
    help="Spend: consumption history in, decisions out. State lives under SPEND_HOME (default ./.spend).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data.register(app)
app.add_typer(features.app, name="features")
models.register(app)
decisions.register(app)
supply.register(app)
pricing.register(app)
app.add_typer(offers.app, name="offers")
app.add_typer(experiment.app, name="experiment")
privacy.register(app)
app.command("quarantine")(quarantine.quarantine_command)
app.command("monitor")(monitor.monitor_command)
app.add_typer(lineage.app, name="lineage")
app.command("report")(report.report_command)
app.command("demo")(demo.demo_command)
app.command("serve")(serve.serve_command)
app.command("mlflow-ui")(serve.mlflow_ui_command)
app.add_typer(keys.app, name="keys")


def _show_version(asked: bool) -> None:
    if asked:
        from importlib.metadata import version

        typer.echo(f"spend {version('spend')}")
        raise typer.Exit()


@app.callback()
def root(
    verbose: Annotated[bool, typer.Option("--verbose", help="Also show libraries' log lines and warnings.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version and stop.")
    ] = False,
) -> None:
    """Spend: consumption history in, decisions out. State lives under SPEND_HOME (default ./.spend); libraries'
    log lines go to SPEND_HOME/logs/spend.log."""
    configure_output(verbose)


def main() -> None:
    app()
