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
    # The protocol selects these among the configured.
    params = {k: v for k, v in params.items() if k not in ("imbalance", "forest_weight")}
    result = backtest(data.frame, config, params, baselines)
    table = pd.DataFrame(result.table).T
    details = {
        "train_start": result.protocol.train_start.date().isoformat(),
        "windows_days": {"train": result.protocol.train_days, "test": result.protocol.test_days},
        "windows_note": result.protocol.note,
        "selected_imbalance": result.selected,
        "selected_forest_weight": result.model.forest_weight,
        "validation_average_precision": result.validation_ap,
        "test_payments": result.test_payments,
        "test_frauds": result.test_frauds,
        "ceiling_card_precision": result.ceiling_card_precision,
        "alerts": result.alerts,
    }
    train, test = split(data.frame, result.protocol, result.protocol.train_start)
    test_end = result.protocol.window(result.protocol.train_start)[2]
    return Evaluation(
        table,
        params
        | {
            "imbalance": result.selected,
            "forest_weight": result.model.forest_weight,
            "alerts_per_day": config.alerts_per_day,
        },
        {"train_start": details["train_start"], "test_end": test_end.isoformat()},
        {f"{name}_threshold": a["threshold"] for name, a in result.scorer_alerts.items()}
        | {"ceiling_card_precision": result.ceiling_card_precision},
        details | {"alerts_by_scorer": result.scorer_alerts},
        result.servable,  # every scorer with an alert threshold: a baseline that wins is served
        reference=train[list(FEATURES)],
        recent=test[list(FEATURES)],
        reference_at=train["ts"].min() + (train["ts"].max() - train["ts"].min()) / 2,
        recent_at=test["ts"].min() + (test["ts"].max() - test["ts"].min()) / 2,
        example=test[list(FEATURES)].head(5),
        holdout_scores=(result.test_labels, result.test_scores) if result.test_scores is not None else None,
    )


def champion_metrics(spec: ModelSpec, config: FraudConfig, data: Payments, model) -> dict[str, float]:
    """Another model on the same test week."""
    _, test = split(data.frame, data.protocol, data.protocol.train_start)
    return assess(test, spec.predict(model, test[list(FEATURES)]), data.protocol.top_k)


LIVE_DAYS = 28  # today's inputs: the last four weeks of payments
MIN_LIVE_FRAUDS = 10  # fewer confirmed frauds since the test week: too few for an average precision


def current_inputs(settings: SpendSettings, spec: ModelSpec, config: FraudConfig, as_of) -> pd.DataFrame:
    """The last four weeks' card payments before `as_of`, with their features at payment time."""
    frame = payments_with_features(settings)
    recent = frame[(frame["ts"] < as_of) & (frame["ts"] >= as_of - pd.Timedelta(days=LIVE_DAYS))]
    # compared as of `as_of`, their last day: the limits' time scale errs on the side of less alarm
    return recent[list(FEATURES)]


def live_metrics(settings: SpendSettings, spec: ModelSpec, config: FraudConfig, model, tags: dict, as_of) -> dict:
    """The model on the payments after its test week whose labels have arrived (the feedback delay)."""
    if "test_end" not in tags:
        return {"status": "the champion's test week is not recorded: retrain to measure live quality"}
    frame = payments_with_features(settings)
    known_until = frame["ts"].max() - pd.Timedelta(days=config.protocol.delay_days)
    since = frame[(frame["ts"] >= pd.Timestamp(tags["test_end"])) & (frame["ts"] < known_until)]
    frauds = int(since["is_fraud"].sum())
    if frauds < MIN_LIVE_FRAUDS:
        return {
            "status": f"waiting for labels: {frauds} confirmed frauds since the test week (needs {MIN_LIVE_FRAUDS})"
        }
    scores = spec.predict(model, since[list(FEATURES)])
    value = assess(since, scores, config.protocol.top_k)[config.gate.metric]
    return {"value": float(value), "payments": len(since), "frauds": frauds}


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
