"""The feature store end to end, in both environments: local (SQLite) and production (Redis + PostgreSQL).

Each test runs against a small simulated history that was ingested, built, applied and materialised.
"""

from __future__ import annotations

import uuid
import warnings
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spend.core.errors import SpendError
from spend.core.settings import SpendSettings
from spend.features.ingest.pipeline import IngestOptions, ingest
from spend.features.ingest.store import OfflineStore
from spend.features.store.build import build_snapshots
from spend.features.store.config import feature_store
from spend.features.store.definitions import build_repo, request_features
from spend.features.store.materialize import latest_rows, materialize, why_empty
from spend.features.store.reader import BatchReader
from spend.features.store.training_set import training_set
from spend.simulate.config import SimulationConfig
from spend.simulate.run import simulate
from spend.simulate.writer import TABLE_ORDER, write_simulation
from tests.conftest import TEST_KEY, require_service

pytestmark = pytest.mark.slow  # a minute or more of fixtures and training: scheduled first (conftest.py)

UNTIL = pd.Timestamp("2025-12-01", tz="UTC")  # inside the simulated year, so there is history after it too


@pytest.fixture(scope="module", params=["local", pytest.param("production", marks=pytest.mark.service)])
def home(request, tmp_path_factory):
    warnings.filterwarnings("ignore", message="On demand feature view is an experimental feature")
    overrides = {}
    if request.param == "production":
        require_service("Redis", "127.0.0.1", 6379)
        require_service("PostgreSQL", "127.0.0.1", 5432)
        overrides = {
            "env": "production",
            "feature_project": f"spend_test_{uuid.uuid4().hex[:8]}",
            "registry_url": "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
        }
    root = tmp_path_factory.mktemp(f"store-{request.param}")
    settings = SpendSettings(home=root / "home", pseudonym_key=TEST_KEY, **overrides)
    write_simulation(simulate(SimulationConfig(customers=400, days=365, seed=5)), root / "sim")
    for table in TABLE_ORDER:
        ingest(root / "sim" / f"{table}.csv", IngestOptions(table), settings)
    build_snapshots(settings, UNTIL)
    store = feature_store(settings)
    store.apply(build_repo(settings.paths.feature_snapshots).objects)
    materialize(settings, UNTIL.to_pydatetime())
    yield settings
    if request.param == "production":
        store.teardown()


def _customers(settings, n=50) -> list[str]:
    snaps = pd.read_parquet(
        settings.paths.feature_snapshots / "customer_snapshots.parquet", columns=["customer_id", "event_timestamp"]
    )
    live = snaps[snaps["event_timestamp"] == UNTIL]["customer_id"]
    return live.sort_values().head(n).tolist()


def _same(ours: pd.Series, theirs: pd.Series) -> bool:
    a, b = ours.astype(object).where(ours.notna(), None), theirs.astype(object).where(theirs.notna(), None)
    return all((x is None and y is None) or x == pytest.approx(y) for x, y in zip(a, b, strict=True))


def _reader(store, path: str, **kwargs) -> BatchReader:
    """A reader that takes `path`: Spend's records (for any number of entities) or Feast's layout."""
    reader = BatchReader(store, **kwargs)
    reader.records_above = 0 if path == "records" else 10**9
    return reader


PATHS = ["records", "feast_layout"]


def _restore(settings) -> None:
    """The materialised values back, over the newer ones a test wrote (the other tests expect them)."""
    materialize(settings, UNTIL.to_pydatetime(), overwrite=True)


@pytest.mark.parametrize("known", [50, 3])  # 3 and an unknown one: the few-entity decode
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("service", ["churn_v1", "segmentation_v1", "fraud_v1"])
def test_batch_reader_returns_what_feast_returns(home, service, path, known):
    store = feature_store(home)
    ids = _customers(home, known) + ["c_unknown"]
    entities = {"customer_id": ids}
    if service == "fraud_v1":
        snaps = pd.read_parquet(home.paths.feature_snapshots / "terminal_snapshots.parquet")
        live = snaps.loc[snaps["event_timestamp"] == UNTIL, "terminal_id"].unique().tolist()
        entities["terminal_id"] = [live[i % len(live)] for i in range(len(ids) - 1)] + ["t_unknown"]
    reader = _reader(store, path, service=service)
    ours = reader.read_frame(entities, now=UNTIL.to_pydatetime())
    assert reader.fallbacks == (len(reader.plans) if path == "records" else 0)  # the unknown entities only
    stored = [f"{p.view}:{f}" for p in reader.plans for f in p.features]  # not the request-time features
    theirs = store.get_online_features(features=stored, entity_rows=pd.DataFrame(entities).to_dict("records")).to_df()
    for column in theirs.columns.drop(list(entities)):
        assert _same(ours[column], theirs[column]), column


@pytest.mark.parametrize("service", ["churn_v1", "fraud_v1"])
def test_a_one_entity_read_returns_what_feast_returns(home, service):
    """One entity per view (a payment's card and terminal) takes a read of its own (one statement for every
    view): known, unknown and expired entities must come back as Feast's answer and the general path's."""
    store = feature_store(home)
    customers = _customers(home, 2)
    terminals = []
    if service == "fraud_v1":
        snaps = pd.read_parquet(home.paths.feature_snapshots / "terminal_snapshots.parquet")
        terminals = snaps.loc[snaps["event_timestamp"] == UNTIL, "terminal_id"].unique().tolist()[:2]
    reader = BatchReader(store, service=service)
    general = _reader(store, "feast_layout", service=service)
    stored = [f"{p.view}:{f}" for p in reader.plans for f in p.features]
    rows = [{"customer_id": c} for c in [*customers, "c_unknown"]]
    if service == "fraud_v1":
        for row, terminal in zip(rows, [*terminals, "t_unknown"], strict=True):
            row["terminal_id"] = terminal
    for row in rows:
        entities = {k: [v] for k, v in row.items()}
        ours = reader.read(entities, now=UNTIL.to_pydatetime())
        theirs = store.get_online_features(features=stored, entity_rows=[row]).to_dict()
        twice = general.read(entities, now=UNTIL.to_pydatetime())
        for name in (f for p in reader.plans for f in p.features):
            assert _same(pd.Series(list(ours[name]), dtype=object), pd.Series(theirs[name], dtype=object)), name
        assert set(ours) == set(twice)
        for name, column in ours.items():
            assert _same(pd.Series(list(column), dtype=object), pd.Series(list(twice[name]), dtype=object)), name
        for plan in reader.plans:
            assert ours[plan.found_column].tolist() == [not row[plan.join_keys[0]].endswith("_unknown")]
    expired = reader.read({k: [v] for k, v in rows[0].items()}, now=(UNTIL + timedelta(days=3_650)).to_pydatetime())
    for plan in reader.plans:
        assert expired[plan.found_column].tolist() == [False]
        assert all(pd.isna(expired[name][0]) for name in plan.features)
        assert np.isnan(expired[plan.seconds_column]).all()


@pytest.mark.parametrize("path", PATHS)
def test_batch_reader_matches_feast_for_two_key_entities(home, path):
    store = feature_store(home)
    rows = latest_rows(store.get_feature_view("product_store_demand"), UNTIL - timedelta(days=2), UNTIL).head(20)
    entities = {"product_id": rows["product_id"].tolist(), "store_id": rows["store_id"].tolist()}
    ours = _reader(store, path, service="demand_v1").read_frame(entities, now=UNTIL.to_pydatetime())
    theirs = store.get_online_features(
        features=store.get_feature_service("demand_v1"), entity_rows=pd.DataFrame(entities).to_dict("records")
    ).to_df()
    for column in ["units_1d", "units_28d", "current_price", "price_change_30d"]:
        assert _same(ours[column], theirs[column]), column


@pytest.mark.parametrize("path", PATHS)
def test_online_values_equal_the_latest_offline_snapshot(home, path):
    store = feature_store(home)
    view = store.get_feature_view("customer_activity")
    offline = latest_rows(view, UNTIL - view.ttl, UNTIL).set_index("customer_id")
    ids = offline.index[:40].tolist() * 2  # a repeated entity row gets the same answer
    online = _reader(store, path, service="churn_v1").read_frame({"customer_id": ids}, now=UNTIL.to_pydatetime())
    for feature in ["spend_90d", "orders_365d", "points_balance", "membership_tier"]:
        assert _same(online[feature], offline.loc[ids, feature].reset_index(drop=True)), feature
    assert (online["customer_activity__event_timestamp"] == offline.loc[ids, "event_timestamp"].to_numpy()).all()


def test_a_training_set_at_t_equals_the_online_values_materialised_at_t(home):
    store = feature_store(home)
    ids = _customers(home, 30)
    entity_rows = pd.DataFrame({"customer_id": ids, "event_timestamp": UNTIL})
    offline = training_set(store, entity_rows, "churn_v1")
    online = BatchReader(store, service="churn_v1").read_frame({"customer_id": ids}, now=UNTIL.to_pydatetime())
    for feature in ["spend_30d", "orders_90d", "days_since_last_order", "tenure_days", "membership_tier"]:
        assert _same(offline[feature], online[feature]), feature


@pytest.mark.parametrize("path", PATHS)
def test_unknown_entities_are_explicitly_missing(home, path):
    reader = _reader(feature_store(home), path, service="churn_v1")
    out = reader.read({"customer_id": ["c_nobody", "c_nobody_either"]}, now=UNTIL.to_pydatetime())
    assert out["customer_activity__found"].tolist() == [False, False]
    assert np.isnan(out["spend_30d"]).all() and out["membership_tier"] == [None, None]


@pytest.mark.parametrize("path", PATHS)
def test_values_older_than_the_ttl_expire(home, path):
    reader = _reader(feature_store(home), path, service="churn_v1")
    ids = _customers(home, 5)
    fresh = reader.read({"customer_id": ids}, now=(UNTIL + timedelta(days=1)).to_pydatetime())
    stale = reader.read({"customer_id": ids}, now=(UNTIL + timedelta(days=3)).to_pydatetime())
    assert fresh["customer_activity__found"].all()
    assert not stale["customer_activity__found"].any() and np.isnan(stale["spend_30d"]).all()


def test_unknown_service_or_feature_is_a_clear_error(home):
    store = feature_store(home)
    with pytest.raises(SpendError, match="unknown feature service 'churn_v9'; known: .*churn_v1"):
        BatchReader(store, service="churn_v9")
    with pytest.raises(SpendError, match="unknown feature\\(s\\) spend_999d in view customer_activity"):
        BatchReader(store, features=["customer_activity:spend_999d"])
    with pytest.raises(SpendError, match="unknown feature view 'nope'"):
        BatchReader(store, features=["nope:x"])


def test_incremental_materialisation_starts_where_the_last_one_ended(home):
    later = UNTIL + timedelta(days=10)
    build_snapshots(home, later)
    written = materialize(home, later.to_pydatetime(), incremental=True)
    store = feature_store(home)
    view = store.get_feature_view("customer_activity")
    starts = sorted(interval[0] for interval in view.materialization_intervals)
    assert pd.Timestamp(starts[-1]) == UNTIL
    assert written["customer_activity"] > 0
    out = BatchReader(store, service="churn_v1").read({"customer_id": _customers(home, 3)}, now=later.to_pydatetime())
    assert (out["customer_activity__event_seconds"] <= later.timestamp()).all()
    build_snapshots(home, UNTIL)  # leave the module's home as the other tests expect it
    _restore(home)


def test_an_export_that_stopped_long_ago_is_told_the_day_its_last_state_loads_at(home):
    """A customer's snapshots run a year past their last order (a shop still trading), so on an old export
    the hint named the latest of them, `--until` a year after the history's end, where every customer
    served had bought nothing for a year that nobody saw."""
    later = pd.Timestamp("2026-12-31", tz="UTC")  # past the simulated year's end (2025-12-31)
    build_snapshots(home, later)
    try:
        empty = why_empty(home, {"customer_activity": 0, "product_pricing": 0}, later.to_pydatetime())
    finally:
        build_snapshots(home, UNTIL)  # leave the module's home as the other tests expect it
    last = OfflineStore(home.paths).read("transactions", ["ts"])["ts"].max()
    day = (last.normalize() + timedelta(days=1)).date()
    assert all(f"`--until {day}` loads the history's last state" in why for why in empty.values()), empty
    assert "the latest snapshot (2026-" in empty["customer_activity"]


def test_request_features_are_computed_from_the_request():
    saturday_night = pd.Timestamp("2026-01-03 23:30", tz="UTC").timestamp()
    out = request_features(
        pd.DataFrame(
            {
                "amount": [50.0, 10.0],
                "avg_amount_30d": [25.0, 0.0],
                "transaction_ts": [int(saturday_night), int(saturday_night) - 12 * 3600],
                "basket_size": [3, 1],
            }
        )
    )
    assert out["amount_over_avg_30d"].tolist() == [2.0, 0.0]
    assert out["is_night"].tolist() == [1, 0] and out["is_weekend"].tolist() == [1, 1]


def test_request_features_agree_with_pandas_clock_on_random_times():
    rng = np.random.default_rng(3)
    seconds = rng.integers(-(10**9), 3 * 10**9, size=5_000)  # 1938 to 2065, both sides of the epoch
    average = rng.choice([0.0, np.nan, 12.5, 40.0], size=seconds.size)
    inputs = pd.DataFrame(
        {"amount": rng.uniform(1, 99, seconds.size), "avg_amount_30d": average, "transaction_ts": seconds}
    ).assign(basket_size=1)
    out = request_features(inputs)
    clock = pd.to_datetime(seconds, unit="s", utc=True)
    assert out["is_night"].tolist() == ((clock.hour < 6) | (clock.hour >= 22)).astype(int).tolist()
    assert out["is_weekend"].tolist() == (clock.dayofweek >= 5).astype(int).tolist()
    expected = (inputs["amount"] / inputs["avg_amount_30d"].where(inputs["avg_amount_30d"] > 0)).fillna(0.0)
    assert np.allclose(out["amount_over_avg_30d"], expected)


def test_a_write_through_feasts_own_api_is_read_from_feasts_layout_not_a_stale_record(home):
    """Feast's writers do not know Spend's records: the reader must notice the record is older than Feast's
    row and read the row (falling back), not serve the record's stale values."""
    store = feature_store(home)
    view = store.get_feature_view("customer_activity")
    current = latest_rows(view, UNTIL - view.ttl, UNTIL)
    changed = current.head(3).copy()
    changed["event_timestamp"] = UNTIL + timedelta(hours=1)
    changed["spend_90d"] = [111.0, 222.0, 333.0]
    changed["membership_tier"] = ["platinum", None, "gold"]
    ids = current["customer_id"].head(30).tolist()
    try:
        store.write_to_online_store("customer_activity", changed)
        reader = _reader(store, "records", service="churn_v1")
        out = reader.read({"customer_id": ids}, now=(UNTIL + timedelta(hours=2)).to_pydatetime())
        assert reader.fallbacks == 3
        assert out["spend_90d"][:3].tolist() == [111.0, 222.0, 333.0]
        assert out["membership_tier"][:3] == ["platinum", None, "gold"]
        assert _same(pd.Series(out["spend_90d"][3:]), current["spend_90d"].iloc[3:30].reset_index(drop=True))
    finally:
        _restore(home)


def test_a_write_in_many_statements_is_read_back_by_feast_and_the_reader(home, monkeypatch):
    """The writer sends BATCH entities per statement; with a batch of 7, 40 entities take six statements,
    and every value (numbers, texts, nulls) must land on its own entity and feature."""
    from spend.features.store import materialize as writer

    store = feature_store(home)
    view = store.get_feature_view("customer_activity")
    changed = latest_rows(view, UNTIL - view.ttl, UNTIL).head(40).copy()
    changed["event_timestamp"] = UNTIL + timedelta(hours=1)
    changed["spend_90d"] = np.arange(40, dtype=float) * 1.5
    changed["spend_90d"] = changed["spend_90d"].where(changed.index % 5 != 0)  # some nulls
    changed["membership_tier"] = [None if i % 3 == 0 else f"tier-ü{i}" for i in range(40)]
    ids = changed["customer_id"].tolist()
    monkeypatch.setattr(writer, "BATCH", 7)
    try:
        writer.write_online(store, view, changed)
        wanted = ["customer_activity:spend_90d", "customer_activity:membership_tier"]
        theirs = store.get_online_features(features=wanted, entity_rows=[{"customer_id": c} for c in ids]).to_dict()
        assert _same(pd.Series(theirs["spend_90d"]), changed["spend_90d"].reset_index(drop=True))
        assert theirs["membership_tier"] == changed["membership_tier"].tolist()
        for path in PATHS:
            reader = _reader(store, path, service="churn_v1")
            out = reader.read({"customer_id": ids}, now=(UNTIL + timedelta(hours=2)).to_pydatetime())
            assert reader.fallbacks == 0
            assert _same(pd.Series(out["spend_90d"]), changed["spend_90d"].reset_index(drop=True)), path
            assert out["membership_tier"] == changed["membership_tier"].tolist(), path
    finally:
        monkeypatch.undo()
        _restore(home)


@pytest.mark.parametrize("redis_writer", ["script", "cluster_pipeline"])
def test_pushed_columns_are_what_feast_and_the_reader_read(home, redis_writer, monkeypatch):
    """The service's pushes (OnlinePush.push_columns: plain arrays, no frame) land in Feast's layout and the
    records alike, for a known card and for new ones; on Redis both through the one-call script and
    through the pipeline a cluster gets (on SQLite the choice does not apply: both runs write the same)."""
    from spend.features.compute.payments import SPENDING
    from spend.features.store import materialize as writer
    from spend.features.store.push import OnlinePush

    monkeypatch.setattr(writer, "redis_cluster", lambda fs: redis_writer == "cluster_pipeline")

    store = feature_store(home)
    cards = [_customers(home, 1)[0], "c_new_1", "c_new_2"]
    at = int((UNTIL + timedelta(hours=3)).timestamp())
    seconds = np.array([at, at + 1, at + 2], dtype=np.int64)
    windows = {name: np.array([1.0, 2.5, 7.0]) + i for i, name in enumerate(SPENDING)}
    try:
        OnlinePush(store, "customer_spending_push").push_columns({"customer_id": cards}, seconds, windows)
        wanted = [f"customer_spending:{name}" for name in SPENDING]
        theirs = store.get_online_features(features=wanted, entity_rows=[{"customer_id": c} for c in cards]).to_dict()
        for name in SPENDING:
            assert theirs[name] == windows[name].tolist(), name
        for path in PATHS:
            reader = _reader(store, path, features=wanted)
            out = reader.read({"customer_id": cards}, now=(UNTIL + timedelta(hours=4)).to_pydatetime())
            assert reader.fallbacks == 0, path
            assert out["customer_spending__event_seconds"].tolist() == seconds.astype(float).tolist(), path
            for name in SPENDING:
                assert out[name].tolist() == windows[name].tolist(), (path, name)
    finally:
        _restore(home)


@pytest.mark.parametrize("redis_writer", ["script", "cluster_pipeline"])
def test_an_older_write_never_replaces_newer_online_values(home, redis_writer, monkeypatch):
    """A back-dated push (a payment two days old) must not overwrite a card's newer windows, in Feast's
    layout or the records; an equal or newer time replaces them; --overwrite replaces whatever the time."""
    from spend.features.compute.payments import SPENDING
    from spend.features.store import materialize as writer
    from spend.features.store.push import OnlinePush

    monkeypatch.setattr(writer, "redis_cluster", lambda fs: redis_writer == "cluster_pipeline")
    store = feature_store(home)
    push = OnlinePush(store, "customer_spending_push")
    cards = ["c_newer_1", "c_newer_2"]
    at = int((UNTIL + timedelta(hours=3)).timestamp())
    wanted = [f"customer_spending:{name}" for name in SPENDING]

    def windows(value: float) -> dict:
        return {name: np.full(2, value) for name in SPENDING}

    def online(path: str) -> tuple[list, list]:
        reader = _reader(store, path, features=wanted)
        out = reader.read({"customer_id": cards}, now=(UNTIL + timedelta(days=1)).to_pydatetime())
        return out["nb_tx_1d"].tolist(), out["customer_spending__event_seconds"].tolist()

    try:
        push.push_columns({"customer_id": cards}, np.array([at, at]), windows(5.0))
        push.push_columns({"customer_id": cards}, np.array([at - 2 * 86_400, at]), windows(9.0))
        for path in PATHS:
            assert online(path) == ([5.0, 9.0], [float(at), float(at)]), path
        theirs = store.get_online_features(features=wanted, entity_rows=[{"customer_id": c} for c in cards])
        assert theirs.to_dict()["nb_tx_1d"] == [5.0, 9.0]
        writer.write_columns(store, push.views[0], {"customer_id": cards}, np.array([at - 60, at - 60]), windows(1.0))
        assert online("records") == ([5.0, 9.0], [float(at), float(at)])
        writer.write_columns(
            store, push.views[0], {"customer_id": cards}, np.array([at - 60, at - 60]), windows(1.0), overwrite=True
        )
        for path in PATHS:
            assert online(path) == ([1.0, 1.0], [float(at - 60)] * 2), path
    finally:
        _restore(home)


def test_the_awaited_read_of_a_payment_equals_the_blocking_one(home):
    """read_async (the fraud endpoint's read: the Redis round trip awaited) answers what read answers, for
    known and unknown cards and terminals; on SQLite it is read itself."""
    import asyncio

    store = feature_store(home)
    snaps = pd.read_parquet(home.paths.feature_snapshots / "terminal_snapshots.parquet")
    terminal = snaps.loc[snaps["event_timestamp"] == UNTIL, "terminal_id"].iloc[0]
    rows = [
        {"customer_id": _customers(home, 10), "terminal_id": [terminal] * 10},  # decoded as arrays
        {"customer_id": [_customers(home, 1)[0]], "terminal_id": [terminal]},  # value by value
        {"customer_id": ["c_unknown"], "terminal_id": [terminal]},
        {"customer_id": [_customers(home, 1)[0]], "terminal_id": ["t_unknown"]},
    ]
    reader = BatchReader(store, service="fraud_v1")
    now = UNTIL.to_pydatetime()

    async def awaited() -> list[dict]:
        return [await reader.read_async(entities, now=now) for entities in rows]

    for entities, ours in zip(rows, asyncio.run(awaited()), strict=True):
        blocking = reader.read(entities, now=now)
        assert ours.keys() == blocking.keys()
        for name, column in blocking.items():
            assert _same(pd.Series(list(ours[name])), pd.Series(list(column))), name
    assert ours["customer_spending__found"].tolist() == [True] and ours["terminal_risk__found"].tolist() == [False]
    assert (reader._awaited is not None) == (home.env == "production")  # Redis was read through asyncio


def test_feature_store_yaml_names_absolute_paths_under_the_default_relative_home(tmp_path, monkeypatch):
    """The default home is `.spend`, relative: Feast reads the yaml's paths from the yaml's own folder, so
    `feast -c .spend/feast` looked for .spend/feast/.spend/feast/registry.db."""
    import yaml

    from spend.features.store.config import write_repo_yaml

    monkeypatch.chdir(tmp_path)
    settings = SpendSettings(home=Path(".spend"), pseudonym_key=TEST_KEY)
    document = yaml.safe_load(write_repo_yaml(settings).read_text())
    for path in (document["registry"]["path"], document["online_store"]["path"]):
        assert Path(path).is_absolute() and Path(path).parent == tmp_path / ".spend" / "feast", path


def test_a_home_applied_under_a_relative_path_is_read_from_any_directory(tmp_path, monkeypatch):
    """The demo's home is `.spend`, relative to where it ran: the registry kept its snapshot files as
    `.spend/features/...`, and `SPEND_HOME=/abs/.spend spend train churn` run from another directory
    failed with FileNotFoundError."""
    warnings.filterwarnings("ignore", message="On demand feature view is an experimental feature")
    monkeypatch.chdir(tmp_path)
    relative = SpendSettings(home=Path(".spend"), pseudonym_key=TEST_KEY)
    feature_store(relative).apply(build_repo(relative.paths.feature_snapshots).objects)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    store = feature_store(SpendSettings(home=tmp_path / ".spend", pseudonym_key=TEST_KEY))
    for view in store.list_feature_views():
        path = Path(view.batch_source.path)
        assert path.is_absolute() and path.parent == tmp_path / ".spend" / "features", path
