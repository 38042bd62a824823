"""Fraud end to end on a small Handbook-style history: train and register with a threshold, backtest,
score a batch with bad lines (each rejected with its reason, never scored 0), push fresh windows."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from spend.cli import app
from spend.core.privacy.pseudonym import pseudonym
from spend.core.settings import SpendSettings
from spend.features.ingest.pipeline import IngestOptions, ingest
from spend.features.store.build import build_snapshots
from spend.features.store.config import feature_store
from spend.features.store.definitions import build_repo
from spend.features.store.reader import BatchReader
from spend.simulate.handbook import HandbookConfig, simulate_handbook, write_handbook
from spend.training.fraud import Protocol, ceiling_card_precision, split
from spend.training.tracking import Registry
from tests.conftest import TEST_KEY
from tests.support.runs import assert_logged

pytestmark = pytest.mark.slow  # a minute or more of fixtures and training: scheduled first (conftest.py)

runner = CliRunner()
DAYS = 100


@pytest.fixture(scope="module")
def fraud_home(tmp_path_factory):
    root = tmp_path_factory.mktemp("fraud")
    settings = SpendSettings(home=root / "home", pseudonym_key=TEST_KEY)
    start = date.today() - timedelta(days=DAYS)
    config = HandbookConfig(customers=800, terminals=1_600, days=DAYS, start=start, cards_per_day=1, seed=3)
    history = simulate_handbook(config)
    write_handbook(history, root / "sim")
    for table in ("transactions", "fraud_labels"):
        ingest(root / "sim" / f"{table}.csv", IngestOptions(table), settings)
    build_snapshots(settings)
    feature_store(settings).apply(build_repo(settings.paths.feature_snapshots).objects)
    return settings, history


@pytest.fixture
def home(fraud_home, monkeypatch):
    settings, history = fraud_home
    monkeypatch.setenv("SPEND_HOME", str(settings.home))
    monkeypatch.setenv("SPEND_PSEUDONYM_KEY", TEST_KEY)
    return settings, history


def test_train_registers_a_champion_with_its_threshold_and_beats_the_shallow_tree(home):
    result = runner.invoke(app, ["train", "fraud", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["alias"] == "champion"
    table, details = report["comparison"], report["details"]
    assert set(table) == {"spend", "logistic_regression", "decision_tree_depth_2", "random_forest"}
    assert details["selected_imbalance"] in ("none", "sqrt", "balanced")
    # The forest weight is chosen after the imbalance, by the same validation: the best weight's AP won.
    weights = {k: v for k, v in details["validation_average_precision"].items() if k.startswith("forest_weight")}
    assert set(weights) == {"forest_weight 0.0", "forest_weight 0.5"}
    assert weights[f"forest_weight {details['selected_forest_weight']}"] == max(weights.values())
    assert table["spend"]["auc"] > table["decision_tree_depth_2"]["auc"]
    assert 0 < table["spend"]["card_precision_at_100"] <= details["ceiling_card_precision"]
    listed = json.loads(runner.invoke(app, ["models", "list", "--json"]).stdout)["versions"]
    assert any(v["model"] == "fraud" for v in listed)
    assert_logged(home[0], "fraud", report["version"], {"roc.png", "precision_recall.png", "calibration.png"})


def test_the_fraud_champion_is_monitored_on_the_last_four_weeks_and_after_its_test_week(home):
    """After the training above: the Handbook's generator does not drift, so every feature passes."""
    result = runner.invoke(app, ["monitor", "--model", "fraud", "--json"])
    fraud = json.loads(result.stdout)["models"]["fraud"]
    assert result.exit_code == 0 and fraud["status"] == "ok", fraud["breaches"]
    assert {"amount", "terminal_risk_7d"} <= {f["feature"] for f in fraud["features"]}
    live = fraud["live"]  # the test week is the latest whose labels are known: few labelled payments after it
    assert "value" in live or "confirmed frauds since the test week" in live["status"], live


def test_backtest_reports_the_protocol_without_registering(home):
    result = runner.invoke(app, ["backtest", "fraud", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["details"]["test_frauds"] > 0 and report["details"]["alerts"]["threshold"] > 0
    unknown = runner.invoke(app, ["backtest", "frauds"])
    assert unknown.exit_code == 2 and "unknown model 'frauds'" in unknown.output


def test_the_test_week_drops_cards_already_known_compromised():
    ts = pd.to_datetime(["2026-01-01", "2026-01-16", "2026-01-20", "2026-01-21"], utc=True)
    frame = pd.DataFrame({"customer_id": ["a", "a", "b", "c"], "ts": ts, "is_fraud": [1, 0, 0, 1]})
    train, test = split(frame, Protocol(pd.Timestamp("2026-01-01", tz="UTC")), pd.Timestamp("2026-01-01", tz="UTC"))
    assert list(train["customer_id"]) == ["a"] and list(test["customer_id"]) == ["b", "c"]


def _batch(card: str, terminal: str, now: datetime) -> pd.DataFrame:
    base = {"product_id": "CARD-PAYMENT", "quantity": 1, "channel": "pos", "payment_method": "card", "kind": "purchase"}
    rows = [
        ("ok1", card, terminal, now - timedelta(hours=2), "25.00", "GBP"),
        ("ok2", card, terminal, now - timedelta(hours=1), "35.00", "GBP"),
        ("neg", card, terminal, now, "-5.00", "GBP"),
        ("huge", card, terminal, now, "9999999", "GBP"),
        ("cur", card, terminal, now, "10.00", "XYZ"),
        ("future", card, terminal, now + timedelta(days=3), "10.00", "GBP"),
        ("nocard", "", terminal, now, "10.00", "GBP"),
        ("noterm", card, "", now, "10.00", "GBP"),
    ]
    return pd.DataFrame(
        [
            base
            | {"order_id": o, "customer_id": c, "terminal_id": t, "store_id": t, "unit_price": p, "currency": cur}
            | {"ts": ts.strftime("%Y-%m-%dT%H:%M:%SZ")}
            for o, c, t, ts, p, cur in rows
        ]
    )


def test_batch_scoring_rejects_each_bad_line_with_its_reason_and_pushes_fresh_windows(home, tmp_path):
    settings, history = home
    if Registry(settings).version_by_alias("fraud", "champion") is None:  # when run on its own
        assert runner.invoke(app, ["train", "fraud"]).exit_code == 0
    card, terminal = history.truth["customer_id"].iloc[-1], history.truth["terminal_id"].iloc[-1]
    now = datetime.now(UTC).replace(microsecond=0)
    path = tmp_path / "batch.csv"
    _batch(card, terminal, now).to_csv(path, index=False)
    out = tmp_path / "scores.csv"
    result = runner.invoke(app, ["score", "fraud", "--transactions", str(path), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["lines"] == summary["scored"] + summary["rejected"] == 8
    scores = pd.read_csv(out).set_index("order_id")
    expected = {
        "neg": "unit_price:",
        "huge": "quantity:absurd_amount",
        "cur": "currency:known_currency",
        "future": "ts:",
        "nocard": "customer_id:missing",
        "noterm": "terminal_id:missing_terminal",
    }
    for order, reason in expected.items():
        assert scores.loc[order, "status"] == "rejected" and reason in scores.loc[order, "error"], order
        assert np.isnan(scores.loc[order, "fraud_score"]), order  # no score at all, never a silent 0
    assert scores.loc[["ok1", "ok2"], "fraud_score"].between(0, 1).all()

    # The card's windows after its last payment in the batch are in the online store now.
    reader = BatchReader(feature_store(settings), service="fraud_v1")
    online = reader.read({"customer_id": [pseudonym(card, TEST_KEY.encode())], "terminal_id": [terminal]})
    assert online["customer_spending__found"][0]
    assert online["customer_spending__event_seconds"][0] == pytest.approx((now - timedelta(hours=1)).timestamp())
    assert online["nb_tx_1d"][0] >= 2 and online["avg_amount_1d"][0] > 0


def test_the_ceiling_counts_compromised_cards_per_test_day():
    ts = pd.to_datetime(["2026-01-01 10:00", "2026-01-01 11:00", "2026-01-02 10:00", "2026-01-03 10:00"], utc=True)
    test = pd.DataFrame({"ts": ts, "is_fraud": [1, 1, 0, 1], "customer_id": ["a", "a", "b", "c"]})
    assert ceiling_card_precision(test, 1) == pytest.approx(2 / 3)  # one card on days 1 and 3, none on day 2
    assert ceiling_card_precision(test, 2) == pytest.approx(1 / 3)


def _labelled(days: int, frauds_per_day: float, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ts = pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(np.sort(rng.uniform(0, days, 20 * days)), unit="D")
    return pd.DataFrame({"ts": ts, "is_fraud": (rng.random(len(ts)) < frauds_per_day / 20).astype(int)})


def test_a_small_shop_gets_windows_long_enough_to_hold_frauds_and_a_big_one_the_handbooks_week():
    from spend.core.experiments import FraudConfig
    from spend.training.fraud import protocol_for

    config = FraudConfig(model="fraud")
    big = protocol_for(_labelled(365, 10.0), config)
    assert (big.train_days, big.test_days, big.note) == (7, 7, None)
    small_frame = _labelled(365, 0.5)
    small = protocol_for(small_frame, config)
    assert small.train_days == small.test_days and small.train_days % 7 == 0 and small.train_days > 7
    start, _, _ = small.window(small.train_start)
    in_train = small_frame[
        (small_frame["ts"] >= start) & (small_frame["ts"] < start + pd.Timedelta(days=small.train_days))
    ]
    assert in_train["is_fraud"].sum() >= 12  # about 20 wanted: a week held 3 or 4
    assert "lengthened" in small.note and small.validation_starts()[-1] >= small_frame["ts"].min().normalize()
    tiny = protocol_for(_labelled(365, 0.05), config)  # the history caps the windows, and the note says so
    assert "the history allows no longer" in tiny.note


def test_a_baseline_that_beats_the_candidate_is_registered_with_its_threshold_and_scores(home):
    """A one-split booster loses to the Handbook's baselines on the test week: the best of them is what gets
    registered (never the loser), with its own alert threshold, and scores and explains payments."""
    from spend.core.model_store import ModelStore
    from spend.models.fraud_baselines import FraudBaseline

    # The booster alone: blended half and half with a forest, the one split won on some days' histories
    # (the fixture's history ends today, and its weekdays move with it).
    weak = ["--set", "params.n_estimators=1", "--set", "params.num_leaves=2", "--set", "forest_weights=[0.0]"]
    result = runner.invoke(app, ["train", "fraud", *weak, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    table = report["comparison"]
    best = max(table, key=lambda name: table[name]["average_precision"])
    assert best != "spend" and report["winner"] == best
    assert f"the candidate lost, so {best} is registered" in report["verdict"]
    store = ModelStore(home[0])
    model = store.load_version(store.client.get_model_version("spend-fraud", report["version"]))
    assert isinstance(model, FraudBaseline) and model.kind == best
    assert model.threshold_ > 0
    rows = np.random.default_rng(0).uniform(0, 3, size=(4, len(model.features_)))
    assert model.predict_values(rows).shape == (4,)
    assert all(isinstance(r, list) for r in model.explain_values(rows))


def test_a_blends_validation_from_reused_fold_scores_equals_fitting_the_blend(home):
    """The forest weight is chosen from the booster's fold scores and a forest's: the same AP as fitting the
    blended model on every fold."""
    from spend.core.registry import spec
    from spend.models.fraud import FraudModel
    from spend.training.config import load_config
    from spend.training.fraud import _select_forest, fold_scores, payments_with_features, prequential, protocol_for

    frame = payments_with_features(home[0])
    protocol = protocol_for(frame, load_config(spec("fraud")))
    chosen = {"n_estimators": 40, "imbalance": "none", "forest_weight": 0.0}
    folds = fold_scores(frame, protocol, lambda: FraudModel(**chosen))
    _, scores = _select_forest(frame, protocol, chosen, folds, (0.0, 0.5))
    fitted = prequential(frame, protocol, lambda: FraudModel(**chosen | {"forest_weight": 0.5}))
    assert scores["forest_weight 0.5"] == pytest.approx(fitted, abs=1e-12)
    assert scores["forest_weight 0.0"] == pytest.approx(prequential(frame, protocol, lambda: FraudModel(**chosen)))


def test_a_batch_scores_push_leaves_out_a_card_erased_while_the_batch_was_scored(home):
    """`spend score fraud` checks its lines, scores them, then pushes the cards' windows online. A card
    erased in between is not pushed back (last in this file: the erasure changes the shared home)."""
    from spend.features.compute.payments import SPENDING
    from spend.features.governance.erasure import erase_customers
    from spend.training.fraud_scoring import push_spending

    settings, history = home
    gone, kept = (str(c) for c in history.truth["customer_id"].drop_duplicates().iloc[:2])
    cards = [pseudonym(c, TEST_KEY.encode()) for c in (gone, kept)]
    now = pd.Timestamp(datetime.now(UTC).replace(microsecond=0))
    payments = pd.DataFrame({"customer_id": cards, "ts": [now, now]})
    features = pd.DataFrame({name: [1.0, 2.0] for name in SPENDING})
    erase_customers(settings, [gone])  # landed after the lines were checked and scored
    assert push_spending(settings, payments, features) == 1
    terminal = str(history.truth["terminal_id"].iloc[0])
    reader = BatchReader(feature_store(settings), service="fraud_v1")
    online = reader.read({"customer_id": cards, "terminal_id": [terminal, terminal]})
    assert not online["customer_spending__found"][0] and online["customer_spending__found"][1]
