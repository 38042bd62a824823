"""Customer cohort datasets: strict configs, time splits without leakage, exact labels, clear errors, and a model
that beats its baselines on a simulated history."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from spend.core.errors import SpendError
from spend.core.experiments import CohortConfig
from spend.core.registry import spec
from spend.features.compute.orders import churned
from spend.models.metrics import compare
from spend.training.config import load_config
from spend.training.dataset import cohort_features, split_cutoffs
from spend.training.datasets.customer_cohorts import baseline_scores, fit, prepare

CHURN, CLV = spec("churn"), spec("clv")


def test_the_shipped_config_loads_and_unknown_keys_are_errors(tmp_path, monkeypatch):
    config = load_config(CHURN)
    assert config.label.horizon_days == 90 and config.gate.metric == "average_precision"
    monkeypatch.setenv("SPEND_EXPERIMENTS", str(tmp_path))
    (tmp_path / "churn.yaml").write_text("model: churn\nlabel:\n  horizon: 90\n")
    with pytest.raises(SpendError, match="churn.yaml: label.horizon: Extra inputs are not permitted"):
        load_config(CHURN)
    (tmp_path / "churn.yaml").write_text("model: churn\ngate:\n  metric: mae\n")
    with pytest.raises(SpendError, match="churn.yaml: gate.metric: mae is not a churn metric"):
        load_config(CHURN)
    (tmp_path / "churn.yaml").write_text("model: churn\nbaselines: [oracle]\n")
    with pytest.raises(SpendError, match="churn.yaml: baselines: oracle not for churn"):
        load_config(CHURN)
    with pytest.raises(SpendError, match="unknown model 'chrun'"):
        spec("chrun")


def test_training_labels_end_before_the_holdout_cut_off():
    config = load_config(CHURN)
    splits = split_cutoffs(pd.Timestamp("2025-12-31 15:00", tz="UTC"), config)
    horizon = pd.Timedelta(days=config.label.horizon_days)
    assert splits.holdout == pd.Timestamp("2025-10-02", tz="UTC")
    assert all(cut + horizon <= splits.holdout for cut in splits.train)
    assert len(splits.train) == config.splits.train_cutoffs


def test_labels_count_only_purchases_inside_the_horizon():
    purchases = pd.DataFrame(
        {"customer_id": ["a", "b", "c"], "ts": pd.to_datetime(["2025-01-10", "2025-04-11", "2025-01-01"], utc=True)}
    )
    cutoff = pd.Timestamp("2025-01-10", tz="UTC")
    labels = churned(purchases, pd.Series(["a", "b", "c", "d"]), cutoff, 90)
    assert labels.tolist() == [0, 1, 1, 1]  # a buys at the cut-off; b just after the horizon; c before it


def test_cohort_errors_name_the_problem(history):
    settings, store = history
    config = CohortConfig(model="churn")
    with pytest.raises(SpendError, match="runs past the history"):
        prepare(settings, CHURN, config, pd.Timestamp("2026-03-01", tz="UTC"))
    with pytest.raises(SpendError, match="history too short: a 90-day label with 3 training cut-offs"):
        prepare(settings, CHURN, config, pd.Timestamp("2020-01-01", tz="UTC"))
    with pytest.raises(
        SpendError, match="empty cohort: no customer has a feature snapshot with an order in the year before 2024-06-01"
    ):
        cohort_features(store, settings.paths.feature_snapshots, pd.Timestamp("2024-06-01", tz="UTC"), "churn_v1")


def test_a_label_too_long_for_the_history_is_told_the_longest_that_fits(history):
    """CLV's year-long label on Online Retail II's two years said "a shorter horizon" and left the user to
    find one by trial."""
    settings, _ = history

    def config(days: int) -> CohortConfig:
        return CohortConfig(model="churn", label={"horizon_days": days})

    as_of = pd.Timestamp("2025-12-31", tz="UTC")
    with pytest.raises(SpendError, match=r"holds up to (\d+) days: --set label.horizon_days=\1\)") as raised:
        prepare(settings, CHURN, config(200), as_of)
    longest = int(re.search(r"horizon_days=(\d+)", str(raised.value)).group(1))
    assert 100 < longest < 200
    assert prepare(settings, CHURN, config(longest), as_of).splits.train[0] > pd.Timestamp("2025-01-01", tz="UTC")
    with pytest.raises(SpendError, match="history too short"):
        prepare(settings, CHURN, config(longest + 1), as_of)


def test_a_model_trained_on_earlier_cohorts_is_scored_against_both_baselines(history):
    settings, _ = history
    config = load_config(CHURN)
    data = prepare(settings, CHURN, config, pd.Timestamp("2025-12-31", tz="UTC"))
    holdout = data.holdout
    assert holdout["churned"].between(0, 1).all() and 0.1 < holdout["churned"].mean() < 0.9
    assert all(cohort["event_timestamp"].max() < data.splits.holdout for cohort in data.cohorts)
    # a year of history: no year before the holdout to read its season from, and one line says so
    assert data.season is None and "season_index" not in data.columns
    assert data.skipped == "season index: under a year of purchases before the holdout"
    model = fit(CHURN, config, data.train, data.columns, dict(config.params) | {"n_estimators": 150})
    scores = {"spend": model.predict_proba(holdout[data.columns])} | baseline_scores(CHURN, config, data)
    table = compare(holdout["churned"], scores)
    assert table.loc["spend", "auc"] > table.loc["recency", "auc"]
    # This history is generated by BG/NBD itself, so its baseline is strong (AUC ~0.8 here); whether
    # Spend beats it is a benchmark figure (benchmarks/customer_models.py), not a test to tune.
    assert table.loc["bgnbd", "auc"] > 0.7
    assert table.loc["spend", "calibration_error"] < 0.05
    assert np.isfinite(table.to_numpy()).all()


def test_margin_labels_are_the_margin_after_the_cut_off_and_the_model_ranks_value(history):
    settings, _ = history
    config = CohortConfig(model="clv", label={"horizon_days": 90}, baselines=("bgnbd_gamma_gamma",))
    data = prepare(settings, CLV, config, pd.Timestamp("2025-12-31", tz="UTC"))
    lines, cut = data.lines, data.splits.holdout
    window = lines[(lines["ts"] >= cut) & (lines["ts"] < cut + pd.Timedelta(days=90))]
    expected = window.groupby("customer_id")["margin"].sum()
    sample = data.holdout.set_index("customer_id")["margin_next"].reindex(expected.index).dropna()
    np.testing.assert_allclose(sample, expected.reindex(sample.index), rtol=1e-9)
    assert (data.holdout["margin_next"] == 0).mean() > 0.2  # churners bring no margin
    model = fit(CLV, config, data.train, data.columns, {"n_estimators": 150})
    scores = {"spend": model.predict(data.holdout[data.columns])} | baseline_scores(CLV, config, data)
    table = compare(data.holdout["margin_next"], scores, CLV.metrics)
    assert table.loc["spend", "spearman"] > 0.4 and table.loc["bgnbd_gamma_gamma", "spearman"] > 0.4
    assert np.isfinite(table.to_numpy()).all()


def test_a_history_with_purchases_today_is_read_as_of_today_and_its_cohort_is_not_empty(settings, write_csv):
    """With a purchase made today the default as-of was tomorrow, whose snapshot no build makes before
    tomorrow: `spend publish`, `segments` and `score` found an empty cohort all day."""
    from datetime import UTC, datetime, timedelta

    from spend.features.ingest.pipeline import IngestOptions, ingest
    from spend.features.store.build import build_snapshots
    from spend.training.dataset import active_at, latest_day
    from tests.features.test_validation_rules import GOOD_LINE

    now = datetime.now(UTC)
    lines = [
        GOOD_LINE | {"event_id": "old", "order_id": "o-old", "ts": (now - timedelta(days=40)).isoformat()},
        GOOD_LINE | {"event_id": "today", "order_id": "o-today", "ts": (now - timedelta(minutes=1)).isoformat()},
    ]
    ingest(write_csv(lines), IngestOptions("transactions"), settings, now=now)
    build_snapshots(settings)  # up to now
    today = pd.Timestamp(now).normalize()
    assert latest_day(settings) == today
    assert len(active_at(settings.paths.feature_snapshots, latest_day(settings))) == 1
