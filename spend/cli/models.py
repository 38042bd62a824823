"""`spend train|backtest|score NAME` and `spend models ...`, for every model the registry declares
(spend.core.registry): train and register, compare without registering, score with the champion, list
versions, promote, roll back."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from spend.cli.options import AsOf, OutFile, Reidentify, as_of_date
from spend.core.console import JsonFlag, console, errors, print_json, print_summary, step_progress, user_errors
from spend.core.settings import SpendSettings
from spend.core.user_tables import check_out
from spend.features.store import quiet_feast

models_app = typer.Typer(
    help="Declared models and their registered versions: list, promote, roll back.", no_args_is_help=True
)
ModelName = Annotated[str, typer.Argument(help="A declared model (`spend models list`): churn, clv, fraud, ...")]
ConfigFile = Annotated[Path | None, typer.Option("--config", help="Use this YAML instead of experiments/MODEL.yaml.")]
Overrides = Annotated[
    list[str] | None, typer.Option("--set", help="Override one key, e.g. --set label.horizon_days=90 (repeat).")
]


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)
    app.command("backtest")(backtest_command)
    app.command("score")(score_command)
    app.add_typer(models_app, name="models")


def _as_of_for(model: str, text: str | None, settings: SpendSettings):
    """Customer models work as of a date (default: the day after the last purchase); demand uses the
    history before the date if one is given; the fraud protocol takes its weeks from its YAML."""
    from spend.core.registry import spec

    dataset = spec(model).dataset
    if dataset == "customer_cohorts" or (dataset == "series_backtest" and text is not None):
        return as_of_date(text, settings)
    return None


@user_errors
def train_command(
    model: ModelName,
    as_of: AsOf = None,
    tune: Annotated[int, typer.Option(min=0, help="Optuna trials before the final fit (0: configured params).")] = 0,
    config_file: ConfigFile = None,
    overrides: Overrides = None,
    json_output: JsonFlag = False,
) -> None:
    """Train by the model's dataset strategy, compare with its baselines, register, and gate the champion."""
    from dataclasses import asdict

    from spend.core.registry import spec
    from spend.training.config import load_config
    from spend.training.loop import steps, train

    quiet_feast()
    settings = SpendSettings()
    when = _as_of_for(model, as_of, settings)

    def on_trial(number: int, total: int, value: float, best: float) -> None:
        if not json_output:
            errors.print(f"  trial {number}/{total}: validation {value:.4f} (best so far {best:.4f})", highlight=False)

    config = load_config(spec(model), config_file, tuple(overrides or ()))
    with step_progress(f"train {model}", steps(model), enabled=not json_output) as step:
        report = train(settings, model, when, tune, progress=step, config=config, on_trial=on_trial)
    if json_output:
        print_json(asdict(report))
        return
    title = f"{report.model} v{report.version} -> @{report.alias}"
    console.print(_comparison(report.comparison, title))
    console.print(report.verdict, highlight=False)
    season = report.details.get("season_index")
    if season:
        console.print(
            f"season index of the holdout's window: {season['holdout']:.2f} (its purchase days against an average "
            "stretch of the year, read from the same days a year earlier)",
            highlight=False,
        )
    if report.details.get("skipped"):
        console.print(f"skipped: {report.details['skipped']}", highlight=False)


@user_errors
def backtest_command(
    model: ModelName,
    as_of: AsOf = None,
    config_file: ConfigFile = None,
    overrides: Overrides = None,
    json_output: JsonFlag = False,
) -> None:
    """The model and its baselines on the holdout, by its dataset strategy, without registering anything."""
    from spend.core.registry import spec
    from spend.training.config import load_config
    from spend.training.loop import evaluate, steps

    quiet_feast()
    settings = SpendSettings()
    when = _as_of_for(model, as_of, settings)
    with step_progress(f"backtest {model}", steps(model)[:-1], enabled=not json_output) as step:
        config = load_config(spec(model), config_file, tuple(overrides or ()))
        _, _, _, result = evaluate(settings, model, when, progress=step, config=config)
    comparison = result.table.to_dict(orient="index")
    if json_output:
        print_json({"model": model, "comparison": comparison, "details": result.details})
        return
    console.print(_comparison(comparison, f"{model} backtest"))


def _comparison(comparison: dict, title: str) -> Table:
    names = list(next(iter(comparison.values())))
    table = Table("scorer", *names, title=title)
    for name, row in comparison.items():
        table.add_row(name, *(f"{row[k]:.4f}" for k in names))
    return table


@user_errors
def score_command(
    model: ModelName,
    out: OutFile,
    transactions: Annotated[Path | None, typer.Option(help="fraud: the card payments to score.")] = None,
    as_of: AsOf = None,
    reidentify: Reidentify = False,
    json_output: JsonFlag = False,
) -> None:
    """Score with the registered @champion: every active customer, or (fraud) a file of card payments."""
    from spend.core.registry import spec
    from spend.core.user_tables import write_table
    from spend.training.datasets import strategy
    from spend.training.scoring import reidentify as add_ids

    declared = spec(model)
    check_out(out)
    quiet_feast()
    settings = SpendSettings()
    when = _as_of_for(declared.name, as_of, settings)
    frame, summary = strategy(declared.dataset).score(settings, declared, when, transactions=transactions)
    if reidentify:
        frame = add_ids(settings, frame, f"score {declared.name} --reidentify", out)
    write_table(frame, out)
    summary = {"out": str(out), "reidentified": reidentify} | summary
    if json_output:
        print_json(summary)
    else:
        console.print(f"{len(frame):,} rows scored by {declared.name} -> {out}")
        print_summary(summary)


@models_app.command("list")
@user_errors
def list_command(json_output: JsonFlag = False) -> None:
    """Every declared model (name, dataset, feature service, route) and its registered versions."""
    from spend.core.names import registered_name
    from spend.core.registry import specs
    from spend.training.tracking import Registry

    declared = specs()
    versions = Registry(SpendSettings()).versions()
    if json_output:
        print_json(
            {
                "models": [
                    {
                        "name": s.name,
                        "registered_name": registered_name(s.name),
                        "summary": s.summary,
                        "dataset": s.dataset,
                        "feature_service": s.feature_service,
                        "routes": list(s.serving.routes) if s.serving else [],
                    }
                    for s in declared.values()
                ],
                "versions": versions.to_dict(orient="records"),
            }
        )
        return
    table = Table("model", "dataset", "feature service", "routes", "versions", "aliases", title="models")
    for s in declared.values():
        mine = versions[versions["model"] == s.name] if len(versions) else versions
        aliases = "; ".join(f"v{r.version} {r.aliases}" for r in mine.itertuples() if r.aliases) if len(mine) else ""
        routes = ", ".join(s.serving.routes) if s.serving else "batch only"
        table.add_row(s.name, s.dataset, s.feature_service, routes, str(len(mine)), aliases)
    console.print(table)


@models_app.command("promote")
@user_errors
def promote_command(
    model: ModelName,
    version: int,
    force: Annotated[bool, typer.Option("--force", help="Promote even if today's data has drifted.")] = False,
) -> None:
    """Make a version the champion (the former champion becomes @previous-champion), unless today's inputs
    have drifted from its training inputs beyond its YAML's `monitor` limits."""
    from spend.core.names import model_name
    from spend.core.registry import spec
    from spend.training.config import load_config
    from spend.training.monitoring import promotion_blocker
    from spend.training.tracking import Registry

    settings = SpendSettings()
    registry = Registry(settings)
    declared = spec(model_name(model))

    def drifted(found) -> str | None:
        reason = promotion_blocker(settings, declared, load_config(declared), registry.reference_profile(found), None)
        if reason is None or force:
            return None
        return (
            f"{declared.name} v{version} is not promoted: today's inputs have drifted from its training inputs: "
            f"{reason}; `spend monitor` shows every feature, --force promotes anyway"
        )

    registry.promote(model, version, check=drifted)
    console.print(f"{model_name(model)} v{version} is now @champion")


@models_app.command("rollback")
@user_errors
def rollback_command(model: ModelName) -> None:
    """Restore the previous champion."""
    from spend.core.names import model_name
    from spend.core.registry import spec
    from spend.training.tracking import Registry

    spec(model_name(model))  # an unknown model is named as such, not as one without a previous champion
    version = Registry(SpendSettings()).rollback(model)
    console.print(f"{model_name(model)} v{version} is @champion again")
