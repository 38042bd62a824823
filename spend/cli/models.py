"""`spend train`, `spend backtest`, `spend score` and `spend models ...`: train and register models, list
versions, promote, roll back."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from spend.cli.options import AsOf, OutFile, Reidentify, as_of_date, check_out
from spend.core.console import JsonFlag, console, print_json, step_progress, user_errors
from spend.core.errors import SpendError
from spend.core.settings import SpendSettings
from spend.features.store import quiet_feast

TRAINABLE = ("churn", "clv", "fraud")
models_app = typer.Typer(help="Registered models: list, promote, roll back.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    from spend.cli import fraud

    app.command("train")(train_command)
    app.command("backtest")(fraud.backtest_command)
    app.command("score")(score_command)
    app.add_typer(models_app, name="models")


@user_errors
def train_command(
    model: Annotated[str, typer.Argument(help="Model to train: churn, clv or fraud.")],
    as_of: AsOf = None,
    tune: Annotated[int, typer.Option(min=0, help="Optuna trials before the final fit (0: configured params).")] = 0,
    json_output: JsonFlag = False,
) -> None:
    """Train on point-in-time cohorts, compare with the baselines, register, and gate the champion."""
    from spend.training.train import TRAIN_STEPS, train_model

    if model not in TRAINABLE:
        raise SpendError(f"unknown model {model!r}; trainable: {', '.join(TRAINABLE)}")
    if model == "fraud":
        from spend.cli import fraud as fraud_commands

        fraud_commands.train(tune, json_output)
        return
    quiet_feast()
    settings = SpendSettings()
    with step_progress(f"train {model}", TRAIN_STEPS, enabled=not json_output) as step:
        report = train_model(settings, model, as_of_date(as_of, settings), tune, progress=step)
    if json_output:
        print_json(asdict(report))
        return
    names = list(next(iter(report.comparison.values())))
    table = Table(
        "scorer",
        *names,
        title=f"{report.model} v{report.version} -> @{report.alias} (holdout {report.holdout_rows:,} customers)",
    )
    for name, row in report.comparison.items():
        table.add_row(name, *(f"{row[k]:.4f}" for k in names))
    console.print(table)
    if report.champion_score is not None:
        console.print(f"gate on {report.gate_metric}: previous champion scored {report.champion_score:.4f}")


@models_app.command("list")
@user_errors
def list_command(json_output: JsonFlag = False) -> None:
    """Every registered version with its aliases, gate result and feature service."""
    from spend.training.tracking import Registry

    versions = Registry(SpendSettings()).versions()
    if json_output:
        print_json({"versions": versions.to_dict(orient="records")})
        return
    table = Table("model", "version", "aliases", "feature service", title="registered models")
    for row in versions.itertuples():
        table.add_row(row.model, str(row.version), row.aliases, row.feature_service)
    console.print(table)


@models_app.command("promote")
@user_errors
def promote_command(model: str, version: int) -> None:
    """Make a version the champion (the former champion becomes @previous-champion)."""
    from spend.training.tracking import Registry

    Registry(SpendSettings()).promote(model, version)
    console.print(f"spend-{model} v{version} is now @champion")


@models_app.command("rollback")
@user_errors
def rollback_command(model: str) -> None:
    """Restore the previous champion."""
    from spend.training.tracking import Registry

    version = Registry(SpendSettings()).rollback(model)
    console.print(f"spend-{model} v{version} is @champion again")


@user_errors
def score_command(
    model: Annotated[str, typer.Argument(help="Model to score with: churn, clv or fraud.")],
    out: OutFile,
    transactions: Annotated[Path | None, typer.Option(help="fraud: the card payments to score.")] = None,
    as_of: AsOf = None,
    reidentify: Reidentify = False,
    json_output: JsonFlag = False,
) -> None:
    """Score every active customer with the registered @champion."""
    from spend.training.scoring import reidentify as add_ids
    from spend.training.scoring import score_churn, score_clv, write_table

    if model not in TRAINABLE:
        raise SpendError(f"unknown model {model!r}; scorable: {', '.join(TRAINABLE)}")
    check_out(out)
    if model == "fraud":
        from spend.cli import fraud as fraud_commands

        fraud_commands.score(transactions, out, json_output)
        return
    quiet_feast()
    settings = SpendSettings()
    scores = (score_churn if model == "churn" else score_clv)(settings, as_of_date(as_of, settings))
    if reidentify:
        scores = add_ids(settings, scores, f"score {model} --reidentify", out)
    write_table(scores, out)
    summary = {
        "out": str(out),
        "customers": len(scores),
        "reidentified": reidentify,
    }
    if model == "churn":
        summary["bands"] = scores["churn_band"].value_counts().to_dict()
    else:
        summary["next_year_margin"] = float(scores["next_year_margin"].sum())
    if json_output:
        print_json(summary)
    else:
        detail = summary.get("bands", f"total next-year margin {summary.get('next_year_margin', 0):,.0f}")
        console.print(f"{len(scores):,} customers scored -> {out} ({detail})")
