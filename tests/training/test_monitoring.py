"""Monitoring and lineage of a trained champion: a churn champion trained on eleven months of a
simulated shop (on a fixed calendar moved to end today: tests/support/calendar.py); then the last month
arrives clean, with a price shock, or with every order moved to the app. Clean data passes; each drift is
flagged by `spend monitor` (exit 1, the feature named) and blocks the next promotion. Lineage links the
champion to its batches and files, and back; every job emitted its OpenLineage event."""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from spend.cli import app
from spend.core.settings import SpendSettings
from spend.features.ingest.pipeline import IngestOptions, ingest
from spend.features.store.build import build_snapshots
from spend.features.store.config import feature_store
from spend.features.store.definitions import build_repo
from spend.simulate.config import SimulationConfig
from spend.simulate.run import simulate
from spend.simulate.writer import write_simulation
from spend.training.dataset import latest_day
from spend.training.loop import train
from tests.conftest import TEST_KEY
from tests.support.calendar import FIXED_START, shift_to_today

TAIL_DAYS = 30


@pytest.fixture(scope="module")
def clean_champion(tmp_path_factory):
    """A home with eleven months ingested and a churn champion, and the last month's lines kept apart."""
    root = tmp_path_factory.mktemp("monitoring")
    config = SimulationConfig(customers=500, days=365, seed=8, start=FIXED_START, products=30)
    write_simulation(simulate(config), root)
    shift_to_today(root, config.days, {"transactions": ["ts"], "customers": ["signup_ts"]})  # same month any day
    lines = pd.read_csv(root / "transactions.csv", dtype=str)
    cut = pd.Timestamp(date.today() - timedelta(days=TAIL_DAYS), tz="UTC")
    early = pd.to_datetime(lines["ts"], utc=True) < cut
    lines[early].to_csv(root / "early.csv", index=False)
    lines[~early].to_csv(root / "tail.csv", index=False)
    settings = SpendSettings(home=root / "home", pseudonym_key=TEST_KEY)
    ingest(root / "customers.csv", IngestOptions("customers"), settings)
    ingest(root / "early.csv", IngestOptions("transactions"), settings)
    build_snapshots(settings, cut)
    feature_store(settings).apply(build_repo(settings.paths.feature_snapshots).objects)
    first = train(settings, "churn", latest_day(settings))
    return root, settings, first


def _with_tail(clean_champion, tmp_path, monkeypatch, change) -> SpendSettings:
    root, settings, _ = clean_champion
    home = tmp_path / "home"
    shutil.copytree(settings.paths.home, home)
    moved = settings.model_copy(update={"home": home})
    monkeypatch.setenv("SPEND_HOME", str(home))
    monkeypatch.setenv("SPEND_PSEUDONYM_KEY", TEST_KEY)
    tail = change(pd.read_csv(root / "tail.csv", dtype=str))
    tail.to_csv(tmp_path / "tail.csv", index=False)
    ingest(tmp_path / "tail.csv", IngestOptions("transactions"), moved)
    build_snapshots(moved, pd.Timestamp(date.today(), tz="UTC"))
    feature_store(moved).apply(build_repo(moved.paths.feature_snapshots).objects)  # the copy's own sources
    return moved


def _monitor() -> tuple[int, dict]:
    result = CliRunner().invoke(app, ["monitor", "--json"])
    return result.exit_code, json.loads(result.stdout)


def _price_shock(tail: pd.DataFrame) -> pd.DataFrame:
    return tail.assign(unit_price=(tail["unit_price"].astype(float) * 4).round(2).astype(str))


def _all_in_the_app(tail: pd.DataFrame) -> pd.DataFrame:
    return tail.assign(channel="app")


def test_the_clean_month_passes_and_its_retrain_is_not_blocked(clean_champion, tmp_path, monkeypatch):
    _, _, first = clean_champion
    assert first.alias == "champion", first.verdict
    settings = _with_tail(clean_champion, tmp_path, monkeypatch, lambda tail: tail)
    code, result = _monitor()
    churn = result["models"]["churn"]
    assert code == 0 and churn["status"] == "ok", churn["breaches"]
    assert len(churn["features"]) > 10
    live = churn["live"]  # the month's labels complete a cohort later than the champion's holdout
    assert (
        live["customers"] > 100
        and abs(live["drop"]) < 0.2
        and live["value"] == pytest.approx(live["holdout"] - live["drop"])
    )
    assert "drifted" not in train(settings, "churn", latest_day(settings)).verdict


@pytest.mark.parametrize(
    ("change", "features"),
    [(_price_shock, {"spend_30d"}), (_all_in_the_app, {"pos_share_90d"})],
)
def test_a_drifted_month_is_flagged_and_blocks_the_next_promotion(
    clean_champion, tmp_path, monkeypatch, change, features
):
    settings = _with_tail(clean_champion, tmp_path, monkeypatch, change)
    code, result = _monitor()
    churn = result["models"]["churn"]
    flagged = {f["feature"] for f in churn["features"] if f["breach"]}
    assert code == 1 and churn["status"] == "breach" and features <= flagged, churn["breaches"]
    assert churn["breaches"][0].startswith("drift: ")
    if change is _price_shock:  # one retrain is enough to show the gate's side
        again = train(settings, "churn", latest_day(settings))
        assert again.alias == "challenger" and "today's data has drifted" in again.verdict
        promote = CliRunner().invoke(app, ["models", "promote", "churn", str(again.version)])
        assert promote.exit_code == 2 and "--force" in promote.output


def test_realised_quality_below_the_holdout_by_more_than_the_margin_is_a_breach(clean_champion, tmp_path, monkeypatch):
    from spend.training.datasets import customer_cohorts

    _with_tail(clean_champion, tmp_path, monkeypatch, lambda tail: tail)
    _, result = _monitor()
    holdout = result["models"]["churn"]["live"]["holdout"]
    worse = {"value": holdout - 0.08, "cohort": "2026-01-01", "customers": 400}
    monkeypatch.setattr(customer_cohorts, "live_metrics", lambda *args: worse)
    code, result = _monitor()
    assert code == 1 and result["models"]["churn"]["breaches"] == [
        f"live quality: average_precision {holdout - 0.08:.3f} against {holdout:.3f} on the holdout"
    ]


def test_lineage_links_a_model_to_its_batches_and_files_and_back(clean_champion, monkeypatch):
    root, settings, first = clean_champion
    monkeypatch.setenv("SPEND_HOME", str(settings.paths.home))
    monkeypatch.setenv("SPEND_PSEUDONYM_KEY", TEST_KEY)
    shown = CliRunner().invoke(app, ["lineage", "model", "churn", "--json"])
    model = json.loads(shown.stdout)
    assert (model["version"], model["feature_service"], model["gate"]["passed"]) == (first.version, "churn_v1", True)
    assert model["code_commit"] and model["snapshots_until"].startswith(str(date.today() - timedelta(days=TAIL_DAYS)))
    sources = {Path(b["source"]).name: b for b in model["batches"]}
    assert set(sources) == {"customers.csv", "early.csv"}
    assert sources["early.csv"]["file_sha256"] == hashlib.sha256((root / "early.csv").read_bytes()).hexdigest()

    batch = json.loads(CliRunner().invoke(app, ["lineage", "batch", sources["early.csv"]["batch_id"], "--json"]).stdout)
    assert batch["models"] == [{"model": "churn", "version": first.version, "aliases": ["champion"]}]
    assert batch["snapshots"]["built_at"] == model["snapshots_built_at"] and batch["publications"] == []
    unknown = CliRunner().invoke(app, ["lineage", "batch", "nope", "--json"])
    assert unknown.exit_code == 2 and "spend batches" in json.loads(unknown.stdout)["error"]


def test_every_job_emits_an_openlineage_event_without_ids(clean_champion):
    root, settings, first = clean_champion
    text = (settings.paths.home / "lineage" / "openlineage.jsonl").read_text()
    events = [json.loads(line) for line in text.splitlines()]
    jobs = [e["job"]["name"] for e in events]
    assert jobs == ["spend.ingest.customers", "spend.ingest.transactions", "spend.features.build", "spend.train.churn"]
    assert all(
        e["eventType"] == "COMPLETE" and e["schemaURL"].startswith("https://openlineage.io/spec/") for e in events
    )
    ingest_event, train_event = events[1], events[3]
    assert (
        ingest_event["inputs"][0]["facets"]["version"]["datasetVersion"]
        == hashlib.sha256((root / "early.csv").read_bytes()).hexdigest()
    )
    assert train_event["outputs"][0] == train_event["outputs"][0] | {"name": "model.spend-churn"}
    assert train_event["outputs"][0]["facets"]["version"]["datasetVersion"] == str(first.version)
    customers = pd.read_csv(root / "customers.csv", dtype=str)["customer_id"]
    assert not any(c in text for c in customers.head(50))
