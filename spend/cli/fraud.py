"""The fraud model's CLI: `spend train fraud`, `spend backtest fraud`, `spend score fraud`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from spend.core.console import JsonFlag, console, print_json, step_progress, user_errors
from spend.core.errors import SpendError
from spend.core.settings import SpendSettings
from spend.features.store import quiet_feast


def _table(result: dict, title: str) -> Table:
    metrics = list(next(iter(result["table"].values())))
    table = Table("scorer", *metrics, title=title)
    for name, row in result["table"].items():
        table.add_row(name, *(f"{row[m]:.3f}" for m in metrics))
    return table


def _print(result: dict, title: str) -> None:
    console.print(_table(result, title))
    alerts = result["alerts"]
    console.print(
        f"ceiling card precision@100 {result['ceiling_card_precision']:.3f}; imbalance chosen: "
        f"{result['selected_imbalance']}; stored threshold {alerts['threshold']:.4f} raised "
        f"{alerts['alerts_per_day']:.1f} alerts a day on the test week ({alerts['alert_precision']:.1%} fraud)"
    )


def train(tune: int, json_output: bool) -> None:
    from spend.training.fraud_jobs import FRAUD_STEPS, train_fraud

    quiet_feast()
    with step_progress("train fraud", FRAUD_STEPS, enabled=not json_output) as step:
        report = train_fraud(SpendSettings(), tune, progress=step)
    if json_output:
        print_json({"model": "fraud", "version": report.version, "alias": report.alias} | report.backtest)
        return
    _print(
        report.backtest,
        f"fraud v{report.version} -> @{report.alias} (test week {report.backtest['test_payments']:,} payments)",
    )


@user_errors
def backtest_command(
    model: Annotated[str, typer.Argument(help="Model to backtest: fraud.")],
    json_output: JsonFlag = False,
) -> None:
    """The Handbook protocol (train a week, skip the delay, test a week) for Spend and its baselines."""
    from spend.training.fraud_jobs import FRAUD_STEPS, run_backtest, summary

    if model != "fraud":
        raise SpendError(f"unknown model {model!r}; backtest is for: fraud")
    quiet_feast()
    with step_progress("backtest fraud", FRAUD_STEPS[:2], enabled=not json_output) as step:
        result = summary(run_backtest(SpendSettings(), progress=step))
    if json_output:
        print_json(result)
        return
    _print(result, f"fraud backtest, training week from {result['train_start']}")


def score(transactions: Path | None, out: Path, json_output: bool) -> None:
    from spend.training.fraud_jobs import score_file
    from spend.training.scoring import write_table

    if transactions is None:
        raise SpendError("spend score fraud needs --transactions FILE (card payments to score)")
    if not transactions.is_file():
        raise SpendError(f"--transactions: {transactions} is not a file")
    quiet_feast()
    result = score_file(SpendSettings(), transactions)
    write_table(result.frame, out)
    frame = result.frame
    summary = {
        "out": str(out),
        "lines": len(frame),
        "scored": int((frame["status"] == "scored").sum()),
        "rejected": int((frame["status"] == "rejected").sum()),
        "alerts": int((frame["alert"] == True).sum()),  # noqa: E712 (NaN on rejected lines)
        "rejected_by_reason": frame.loc[frame["status"] == "rejected", "error"]
        .str.split(";")
        .str[0]
        .value_counts()
        .to_dict(),
        "pushed_cards": result.pushed_cards,
    }
    if json_output:
        print_json(summary)
    else:
        console.print(
            f"{summary['scored']:,} lines scored, {summary['rejected']:,} rejected "
            f"({summary['rejected_by_reason']}), {summary['alerts']:,} alerts -> {out}"
        )
