"""Card payments under the Fraud Detection Handbook's protocol: train a week, skip the feedback delay,
test a week; model selection by prequential validation on earlier weeks (training/fraud.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from spend.core.errors import SpendError
from spend.core.experiments import FraudConfig
from spend.core.registry import ModelSpec
from spend.core.settings import SpendSettings
from spend.features.compute.payments import FEATURES
from spend.training.datasets import Evaluation
from spend.training.fraud import Protocol, assess, backtest, payments_with_features, prequential, protocol_for, split

STEPS = ("features", "select and test", "register")


@dataclass
class Payments:
    frame: pd.DataFrame  # every labelled payment with its features and is_fraud
    protocol: Protocol


def prepare(settings: SpendSettings, spec: ModelSpec, config: FraudConfig, as_of=None) -> Payments:
    frame = payments_with_features(settings)
    return Payments(frame, protocol_for(frame, config))


def evaluate(spec: ModelSpec, config: FraudConfig, data: Payments, params: dict) -> Evaluation:
    baselines = {name: (lambda factory=spec.baselines[name]: factory(config)) for name in config.baselines}
    params = {k: v for k, v in params.items() if k != "imbalance"}  # the protocol selects it among the configured
    result = backtest(data.frame, config, params, baselines)
    table = pd.DataFrame(result.table).T
    details = {
        "train_start": result.protocol.train_start.date().isoformat(),
        "windows_days": {"train": result.protocol.train_days, "test": result.protocol.test_days},
        "windows_note": result.protocol.note,
        "selected_imbalance": result.selected,
        "validation_average_precision": result.validation_ap,
        "test_payments": result.test_payments,
        "test_frauds": result.test_frauds,
        "ceiling_card_precision": result.ceiling_card_precision,
        "alerts": result.alerts,
    }
    return Evaluation(
        table,
        params | {"imbalance": result.selected, "alerts_per_day": config.alerts_per_day},
        {"train_start": details["train_start"]},
        {"threshold": result.alerts["threshold"], "ceiling_card_precision": result.ceiling_card_precision},
        details,
        {"spend": result.model},  # the baselines are compared, not served (they have no alert threshold)
    )


def champion_metrics(spec: ModelSpec, config: FraudConfig, data: Payments, model) -> dict[str, float]:
    """Another model on the same test week."""
    _, test = split(data.frame, data.protocol, data.protocol.train_start)
    return assess(test, spec.predict(model, test[list(FEATURES)]), data.protocol.top_k)


def objective(spec: ModelSpec, config: FraudConfig, data: Payments):
    """Mean prequential validation average precision (never the test week)."""
    if config.gate.metric != "average_precision":
        raise SpendError("fraud tuning optimises prequential average precision; set gate.metric to it to --tune")

    def score(trial) -> float:
        params = spec.search_space(trial, config.search_space)
        return prequential(data.frame, data.protocol, lambda: spec.estimator(**params))

    return score


def score(
    settings: SpendSettings, spec: ModelSpec, as_of=None, transactions: Path | None = None
) -> tuple[pd.DataFrame, dict]:
    """Every card payment of a transactions file, scored by the champion (training/fraud_scoring.py),
    rejected lines with their reason; and a summary (scored, rejected by reason, alerts, cards pushed)."""
    from spend.training.fraud_scoring import score_file

    if transactions is None:
        raise SpendError(f"spend score {spec.name} needs --transactions FILE (card payments to score)")
    if not transactions.is_file():
        raise SpendError(f"--transactions: {transactions} is not a file")
    result = score_file(settings, transactions)
    frame = result.frame
    rejected = frame["status"] == "rejected"
    summary = {
        "lines": len(frame),
        "scored": int((frame["status"] == "scored").sum()),
        "rejected": int(rejected.sum()),
        "alerts": int((frame["alert"] == True).sum()),  # noqa: E712 (NaN on rejected lines)
        "rejected_by_reason": frame.loc[rejected, "error"].str.split(";").str[0].value_counts().to_dict(),
        "pushed_cards": result.pushed_cards,
    }
    return frame, summary
