"""Fraud: the Fraud Detection Handbook's evaluation protocol, baselines, and training through the registry.

Protocol (Le Borgne et al., chapters 3.4 and 5.2): train on one week of payments, skip the 7-day
feedback delay, test on the following week. Cards already known to be compromised (a fraud on them
whose payment is at least a delay old) leave the test set. Per test day: AUC-ROC, average precision
and card precision@100 (the 100 cards with the highest score that day; cards found are removed from
later days); figures are means over test days. Model selection is prequential: each candidate is
trained and assessed on several earlier train/delay/test windows, each a week further back, and the
best mean validation average precision wins.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from spend.core.errors import SpendError
from spend.core.experiments import FraudConfig
from spend.core.settings import SpendSettings
from spend.features.compute.payments import FEATURES, payment_features
from spend.features.compute.terminals import card_payments
from spend.features.ingest.store import OfflineStore
from spend.models.fraud import FraudModel
from spend.models.fraud_baselines import FraudBaseline

DAY = pd.Timedelta(days=1)


@dataclass(frozen=True)
class Protocol:
    train_start: pd.Timestamp
    train_days: int = 7
    delay_days: int = 7
    test_days: int = 7
    validation_folds: int = 4
    top_k: int = 100
    note: str | None = None  # why the windows are longer than configured, if they are

    def window(self, start: pd.Timestamp) -> tuple[pd.Timestamp, pd.Timestamp, pd.Timestamp]:
        """Start of training, start of testing, end of testing for a training week starting at `start`."""
        test = start + (self.train_days + self.delay_days) * DAY
        return start, test, test + self.test_days * DAY

    def validation_starts(self) -> list[pd.Timestamp]:
        """Training starts of the prequential folds: every fold's test week ends before the real training."""
        first = self.train_start - (self.delay_days + self.test_days) * DAY
        return [first - i * self.test_days * DAY for i in range(self.validation_folds)]


def payments_with_features(settings: SpendSettings) -> pd.DataFrame:
    """Every labelled card payment with its fraud_v1 features at payment time and `is_fraud`."""
    offline = OfflineStore(settings.paths)
    transactions = offline.read("transactions")
    labels = offline.read("fraud_labels", ["order_id", "ts", "is_fraud"])
    if transactions.empty or labels.empty:
        raise SpendError(
            "fraud needs card payments and fraud labels; ingest them first "
            "(`spend ingest FILE --table transactions`, `spend ingest FILE --table fraud_labels`)"
        )
    payments = card_payments(transactions)
    features = payment_features(payments, payments, labels)
    label = payments["order_id"].map(labels.drop_duplicates("order_id", keep="last").set_index("order_id")["is_fraud"])
    frame = pd.concat([payments[["order_id", "customer_id", "terminal_id", "ts"]], features], axis=1)
    return frame.assign(is_fraud=label).dropna(subset=["is_fraud"]).astype({"is_fraud": int})


def split(frame: pd.DataFrame, protocol: Protocol, start: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training week and test week, the test without cards known compromised by each test day."""
    train_start, test_start, test_end = protocol.window(start)
    train = frame[(frame["ts"] >= train_start) & (frame["ts"] < train_start + protocol.train_days * DAY)]
    test = frame[(frame["ts"] >= test_start) & (frame["ts"] < test_end)]
    frauds = frame[frame["is_fraud"] == 1]
    keep = np.ones(len(test), dtype=bool)
    for day in range(protocol.test_days):
        today = test_start + day * DAY
        # Known by today: frauds paid before today - delay (their labels have arrived), from the training start.
        seen = frauds[(frauds["ts"] >= train_start) & (frauds["ts"] < today - protocol.delay_days * DAY)]
        on_day = ((test["ts"] >= today) & (test["ts"] < today + DAY)).to_numpy()
        keep &= ~(on_day & test["customer_id"].isin(seen["customer_id"]).to_numpy())
    return train, test[keep]


def card_precision_at_k(test: pd.DataFrame, scores: np.ndarray, k: int) -> float:
    """Mean over days of the share of compromised cards among the k cards scored highest that day."""
    frame = test[["customer_id", "is_fraud"]].assign(score=scores, day=test["ts"].dt.floor("D").to_numpy())
    found: set = set()
    daily = []
    for _, day in frame.groupby("day", sort=True):
        cards = (
            day[~day["customer_id"].isin(found)]
            .groupby("customer_id")
            .agg(score=("score", "max"), fraud=("is_fraud", "max"))
        )
        top = cards.sort_values("score", ascending=False, kind="stable").head(k)
        daily.append(top["fraud"].sum() / k)
        found |= set(top.index[top["fraud"] == 1])
    return float(np.mean(daily))


def ceiling_card_precision(test: pd.DataFrame, k: int) -> float:
    """The best card precision@k possible: compromised cards per test day / k (capped at 1)."""
    day = test["ts"].dt.floor("D")
    frauds = test["is_fraud"] == 1
    per_day = test.loc[frauds, "customer_id"].groupby(day[frauds]).nunique().reindex(day.unique(), fill_value=0)
    return float(np.minimum(per_day / k, 1).mean())


def assess(test: pd.DataFrame, scores: np.ndarray, k: int) -> dict[str, float]:
    y = test["is_fraud"].to_numpy()
    return {
        "auc": float(roc_auc_score(y, scores)),
        "average_precision": float(average_precision_score(y, scores)),
        f"card_precision_at_{k}": card_precision_at_k(test, scores, k),
    }


def fit_score(estimator, train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
    columns = list(FEATURES)
    estimator.fit(train[columns], train["is_fraud"])
    scores = estimator.predict_proba(test[columns])
    return scores[:, 1] if scores.ndim == 2 else scores  # sklearn's two columns, or a fraud scorer's P(fraud)


def fold_scores(frame: pd.DataFrame, protocol: Protocol, make: Callable[[], object]) -> list[tuple]:
    """Per prequential fold: the validation week's labels and a fresh candidate's scores on it."""
    folds = []
    for start in protocol.validation_starts():
        train, test = split(frame, protocol, start)
        if train["is_fraud"].nunique() < 2 or test["is_fraud"].nunique() < 2:
            raise SpendError(
                f"prequential fold starting {start:%Y-%m-%d} has no fraud: {int(frame['is_fraud'].sum())} frauds in "
                "the labelled history are too few for the protocol; ingest a longer history of labelled payments "
                "(or set protocol.train_start in experiments/fraud.yaml)"
            )
        folds.append((test["is_fraud"].to_numpy(), fit_score(make(), train, test)))
    return folds


def _mean_ap(folds: list[tuple]) -> float:
    return float(np.mean([average_precision_score(y, scores) for y, scores in folds]))


def prequential(frame: pd.DataFrame, protocol: Protocol, make: Callable[[], object]) -> float:
    """Mean validation average precision of a candidate over the prequential folds."""
    return _mean_ap(fold_scores(frame, protocol, make))


def select(frame: pd.DataFrame, protocol: Protocol, candidates: dict[str, dict]) -> tuple[str, dict[str, float], list]:
    """The candidate FraudModel parameters with the best mean prequential validation AP, every candidate's
    AP, and the winner's fold scores."""
    folds = {name: fold_scores(frame, protocol, partial(FraudModel, **params)) for name, params in candidates.items()}
    scores = {name: _mean_ap(f) for name, f in folds.items()}
    best = max(scores, key=scores.get)
    return best, scores, folds[best]


def _select_forest(frame, protocol: Protocol, chosen: dict, folds: list, weights) -> tuple[dict, dict[str, float]]:
    """The chosen booster blended with the forest weight of best mean prequential AP, and each weight's AP.
    The booster's fold scores (`folds`) are reused: a blend's score is the weighted mean of the booster's
    and a forest's (models/fraud.py), so a forest fitted once per fold serves every weight."""
    weights = sorted({float(w) for w in weights})
    forest = [None] * len(folds)
    if any(w > 0 for w in weights):
        make = partial(FraudBaseline, "random_forest", chosen.get("random_state", 0))
        forest = [scores for _, scores in fold_scores(frame, protocol, make)]

    def blended(w: float) -> list[tuple]:
        return [(y, b if w == 0 else (1 - w) * b + w * f) for (y, b), f in zip(folds, forest, strict=True)]

    scores = {w: _mean_ap(blended(w)) for w in weights}
    best = max(scores, key=scores.get)
    return chosen | {"forest_weight": best}, {f"forest_weight {w}": v for w, v in scores.items()}


@dataclass
class Backtest:
    protocol: Protocol
    selected: str  # the imbalance handling chosen by prequential validation
    validation_ap: dict[str, float]
    table: dict[str, dict[str, float]]  # scorer -> metrics on the test week
    ceiling_card_precision: float
    test_payments: int
    test_frauds: int
    servable: dict[str, object]  # every fitted scorer with an alert threshold, by name ("spend" too)
    # Each one's stored threshold on the test week: the threshold, alerts per day, their precision.
    scorer_alerts: dict[str, dict[str, float]]
    test_labels: np.ndarray | None = None  # the test week's labels and every scorer's scores (the run's plots)
    test_scores: dict[str, np.ndarray] | None = None

    @property
    def model(self) -> FraudModel:
        """The candidate booster."""
        return self.servable["spend"]

    @property
    def alerts(self) -> dict[str, float]:
        """The candidate's threshold on the test week."""
        return self.scorer_alerts["spend"]


def protocol_for(frame: pd.DataFrame, config: FraudConfig) -> Protocol:
    p = config.protocol
    factor, note = (1, None) if p.train_start is not None else _window_factor(frame, config)
    train_days, test_days = p.train_days * factor, p.test_days * factor
    if p.train_start is not None:
        start = pd.Timestamp(p.train_start, tz="UTC")
    else:  # the latest window whose test window lies inside the labelled history
        last = frame["ts"].max().normalize()
        start = last - (train_days + p.delay_days + test_days - 1) * DAY
    protocol = Protocol(start, train_days, p.delay_days, test_days, p.validation_folds, p.top_k, note)
    earliest = protocol.validation_starts()[-1]
    if earliest < frame["ts"].min().normalize() or protocol.window(start)[2] > frame["ts"].max() + DAY:
        raise SpendError(
            f"the fraud protocol needs labelled payments from {earliest:%Y-%m-%d} to "
            f"{protocol.window(start)[2]:%Y-%m-%d}; the history runs {frame['ts'].min():%Y-%m-%d} to "
            f"{frame['ts'].max():%Y-%m-%d} (protocol.train_start in experiments/fraud.yaml)"
        )
    return protocol


def _window_factor(frame: pd.DataFrame, config: FraudConfig) -> tuple[int, str | None]:
    """How many times the configured windows must be to hold `min_train_frauds` in a training window, as
    far as the history allows: the Handbook's week holds hundreds of frauds, a small shop's a handful,
    and a model cannot learn fraud from three examples."""
    p = config.protocol
    span_days = max((frame["ts"].max() - frame["ts"].min()) / DAY, 1.0)
    per_train = frame["is_fraud"].sum() / span_days * p.train_days
    if p.min_train_frauds == 0 or per_train >= p.min_train_frauds:
        return 1, None
    wanted = math.ceil(p.min_train_frauds / max(per_train, 1e-9))
    # The protocol spans 2 delays, a training window and folds + 1 test windows.
    fits = int((span_days - 2 * p.delay_days) // (p.train_days + (p.validation_folds + 1) * p.test_days))
    factor = max(1, min(wanted, fits))
    note = (
        f"windows lengthened {factor}x (train {p.train_days * factor} days, test {p.test_days * factor} days): "
        f"{per_train:.1f} frauds per configured training window, {p.min_train_frauds} wanted"
        + ("" if factor == wanted else "; the history allows no longer")
    )
    return factor, note


def backtest(
    frame: pd.DataFrame,
    config: FraudConfig,
    params: dict | None = None,
    baselines: dict[str, Callable[[], object]] | None = None,
) -> Backtest:
    """Select the imbalance handling prequentially, then train, set the alert threshold and test, beside
    the baselines (name -> unfitted estimator factory; same features, same weeks). A baseline that can
    hold an alert threshold (models/fraud_baselines.py) gets its own, so the gate may serve it."""
    protocol = protocol_for(frame, config)
    params = dict(config.params) if params is None else params
    # The booster alone: the blend with a forest is chosen after it, from its fold scores.
    candidates = {name: params | {"imbalance": name, "forest_weight": 0.0} for name in config.imbalance}
    selected, validation, folds = select(frame, protocol, candidates)
    chosen, blends = _select_forest(frame, protocol, candidates[selected], folds, config.forest_weights)
    train, test = split(frame, protocol, protocol.train_start)
    columns = list(FEATURES)
    models = {"spend": FraudModel(**chosen)} | {name: make() for name, make in (baselines or {}).items()}
    # Thresholds from the delay week: the newest payments at training time (their labels are not needed).
    _, test_start, _ = protocol.window(protocol.train_start)
    recent = frame[(frame["ts"] >= test_start - protocol.delay_days * DAY) & (frame["ts"] < test_start)]
    days = recent["ts"].dt.floor("D").to_numpy()
    scores, alerts = {}, {}
    for name, model in models.items():
        scores[name] = fit_score(model, train, test)
        if hasattr(model, "set_alert_budget"):  # a servable scorer: its decision threshold travels with it
            model.set_alert_budget(recent[columns], days, config.alerts_per_day, config.max_alert_share)
            alerts[name] = _alerts(test, scores[name], model.threshold_)
    table = {name: assess(test, s, protocol.top_k) for name, s in scores.items()}
    return Backtest(
        protocol,
        selected,
        validation | blends,
        table,
        ceiling_card_precision(test, protocol.top_k),
        len(test),
        int(test["is_fraud"].sum()),
        {name: m for name, m in models.items() if name in alerts},
        alerts,
        test["is_fraud"].to_numpy(),
        scores,
    )


def _alerts(test: pd.DataFrame, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """A stored threshold on the test week: alerts per day and the share of them that were fraud."""
    alerted = scores >= threshold
    return {
        "threshold": threshold,
        "alerts_per_day": float(alerted.sum() / test["ts"].dt.floor("D").nunique()),
        "alert_precision": float(test["is_fraud"].to_numpy()[alerted].mean()) if alerted.any() else float("nan"),
    }
