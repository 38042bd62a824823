"""`spend train` and `spend models ...`: train and register models, list versions, promote, roll back."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.table import Table

from spend.core.console import JsonFlag, console, print_json, step_progress, user_errors
from spend.core.errors import SpendError
from spend.core.settings import SpendSettings
from spend.features.store import quiet_feast

models_app = typer.Typer(help="Registered models: list, promote, roll back.", no_args_is_help=True)
TRAINABLE = ("churn", "clv", "fraud")
AsOf = Annotated[str | None, typer.Option(help="As of this date (default: the day after the last purchase).")]
OutFile = Annotated[Path, typer.Option(help="CSV or Parquet file to write.")]
Reidentify = Annotated[bool, typer.Option(help="Add original customer ids from the vault (audited).")]


def _check_out(out: Path) -> None:
    # Before any work, and before any audit record of an export that would then fail.
    if out.suffix.lower() not in (".csv", ".parquet"):
        raise SpendError(f"--out: {out.name} must end in .csv or .parquet")


def default_as_of(settings: SpendSettings) -> pd.Timestamp:
    """The day after the last purchase: every label that can be complete, is."""
    from spend.features.ingest.store import OfflineStore
    from spend.training.dataset import purchase_times

    return purchase_times(OfflineStore(settings.paths))["ts"].max().normalize() + pd.Timedelta(days=1)


def _as_of(text: str | None, settings: SpendSettings) -> pd.Timestamp:
    if text is None:
        return default_as_of(settings)
    try:
        stamp = pd.Timestamp(text)
    except ValueError as error:
        raise SpendError(f"--as-of: {text!r} is not a date") from error
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


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
        report = train_model(settings, model, _as_of(as_of, settings), tune, progress=step)
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
    _check_out(out)
    if model == "fraud":
        from spend.cli import fraud as fraud_commands

        fraud_commands.score(transactions, out, json_output)
        return
    quiet_feast()
    settings = SpendSettings()
    scores = (score_churn if model == "churn" else score_clv)(settings, _as_of(as_of, settings))
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


@user_errors
def segments_command(
    as_of: AsOf = None,
    out: Annotated[
        Path | None, typer.Option(help="Also write each customer's segment and cluster (CSV/Parquet).")
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """RFM segments and learned behaviour clusters of every active customer, with a profile for each."""
    from spend.models.segmentation import segment_profiles
    from spend.training.scoring import ID, segments, write_table

    if out is not None:
        _check_out(out)
    quiet_feast()
    settings = SpendSettings()
    frame, clusters = segments(settings, _as_of(as_of, settings))
    churn = frame["churn_probability"] if "churn_probability" in frame else None
    profiles = {
        "segments": segment_profiles(frame, frame["segment"].to_numpy(), churn),
        "clusters": segment_profiles(frame, frame["cluster"].to_numpy(), churn),
    }
    if out is not None:
        write_table(frame[[ID, "segment", "cluster"] + (["churn_probability"] if churn is not None else [])], out)
    if json_output:
        print_json(
            {
                "customers": len(frame),
                "segments": profiles["segments"].round(4).to_dict(orient="index"),
                "clusters": {str(k): v for k, v in profiles["clusters"].round(4).to_dict(orient="index").items()},
                "cluster_k": clusters.k_,
                "cluster_bic": {str(k): round(v, 1) for k, v in clusters.bic_.items()},
            }
        )
        return
    for kind, profile in profiles.items():
        title = "RFM segments" if kind == "segments" else f"behaviour clusters (k={clusters.k_}, lowest BIC)"
        console.print(_profile_table(profile, title))


def _profile_table(profile: pd.DataFrame, title: str) -> Table:
    churn = "churn_rate" in profile
    table = Table(
        "group", "customers", "share", "spend_365d", "orders_365d", *(["expected churn"] * churn), title=title
    )
    for name, row in profile.iterrows():
        cells = [
            f"{int(row['customers']):,}",
            f"{row['share']:.1%}",
            f"{row['spend_365d']:.2f}",
            f"{row['orders_365d']:.2f}",
        ]
        table.add_row(str(name), *cells, *([f"{row['churn_rate']:.1%}"] * churn))
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
    from spend.training.recall import RecallOptions, recall_list
    from spend.training.scoring import reidentify as add_ids
    from spend.training.scoring import write_table

    _check_out(out)
    options = RecallOptions(top, budget, cost_per_contact, segment)
    options.check()
    quiet_feast()
    settings = SpendSettings()
    frame = recall_list(settings, _as_of(as_of, settings), options)
    if reidentify:
        frame = add_ids(settings, frame, "recall-list --reidentify", out)
    write_table(frame, out)
    summary = {
        "out": str(out),
        "customers": len(frame),
        "expected_saved_margin": round(float(frame["expected_saved_margin"].sum()), 2),
        "uplift_source": frame["uplift_source"].iloc[0] if len(frame) else None,
    }
    if json_output:
        print_json(summary)
    else:
        console.print(
            f"{len(frame):,} customers -> {out}; expected saved margin {summary['expected_saved_margin']:,.2f} "
            f"(uplift: {summary['uplift_source']})"
        )


@user_errors
def publish_command(as_of: AsOf = None, json_output: JsonFlag = False) -> None:
    """Publish the full recall list and every customer's segment for the service (SPEND_HOME/published/)."""
    from spend.training.publish import publish

    quiet_feast()
    settings = SpendSettings()
    manifest = publish(settings, _as_of(as_of, settings))
    summary = {k: v for k, v in manifest.items() if k != "profiles"} | {"folder": str(settings.paths.published)}
    if json_output:
        print_json(summary)
        return
    console.print(
        f"published for the service: recall list {manifest['recall_list_customers']:,} customers, "
        f"segments {manifest['segmented_customers']:,} customers -> {settings.paths.published}"
    )
