"""The cluster environment (SPEND_ENV=cluster) against the local one, on Spark in local mode: the same
snapshots from the feature build, the same point-in-time training set from Feast's Spark offline store."""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from spend.core.errors import SpendError
from spend.core.privacy.pseudonym import pseudonym
from spend.core.settings import SpendSettings
from spend.features.governance.retention import apply_retention
from spend.features.ingest.pipeline import IngestOptions, ingest
from spend.features.ingest.store import OfflineStore
from spend.features.store import build, spark_build
from spend.features.store import materialize as materialize_module
from spend.features.store.build import build_snapshots
from spend.features.store.config import feature_store
from spend.features.store.definitions import SNAPSHOT_FILES, build_repo
from spend.features.store.materialize import materialize
from spend.features.store.reader import BatchReader
from spend.features.store.spark_session import spark_session
from spend.features.store.training_set import training_set
from spend.simulate.config import SimulationConfig
from spend.simulate.run import simulate
from spend.simulate.writer import TABLE_ORDER, write_simulation
from tests.conftest import TEST_KEY, require_service, running_in_ci
from tests.support.sandbox import postgres_database

pytestmark = pytest.mark.slow
UNTIL = pd.Timestamp("2025-07-20", tz="UTC")


def require_spark() -> None:
    missing = None
    try:
        import pyspark  # noqa: F401
    except ImportError:
        missing = "pyspark is not installed (the spark extra)"
    if missing is None and not (os.environ.get("JAVA_HOME") or shutil.which("java")):
        missing = "no Java runtime for Spark"
    if missing:
        if running_in_ci():
            pytest.fail(f"{missing}; CI must provide it", pytrace=False)
        pytest.skip(missing)


@pytest.fixture(scope="module")
def builds(tmp_path_factory) -> dict:
    """One simulated history built twice: locally, then on Spark; each build's snapshots copied aside."""
    require_spark()
    root = tmp_path_factory.mktemp("spark")
    config = SimulationConfig(customers=500, days=200, seed=8, start=date(2025, 1, 1), products=15, stores=3)
    write_simulation(simulate(config), root / "sim")
    _in_another_zone(root / "sim" / "transactions.csv", "S001", "America/Los_Angeles")
    local = SpendSettings(home=root / "home", pseudonym_key=TEST_KEY)
    for table in TABLE_ORDER:
        ingest(root / "sim" / f"{table}.csv", IngestOptions(table), local)
    out = {"root": root, "local": local, "corrected": _corrected_signups(root, local)}
    # a retention applied before the builds: each leaves out the snapshots before its cut-off (build.py)
    kept = local.model_copy(update={"retention_days": {"feature_snapshots": 150}})
    out["kept_since"] = pd.Timestamp(apply_retention(kept, UNTIL.to_pydatetime()).cutoffs["feature_snapshots"])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(build, "CUSTOMERS_PER_READ", 90)  # the local build, several ranges of customers
        patch.setattr(build, "LINES_PER_READ", 500)  # and of products and terminals
        out["ranges_report"] = build_snapshots(local, UNTIL)
        shutil.copytree(local.paths.feature_snapshots, root / "ranges")
    for env in ("local", "cluster"):
        settings = local.model_copy(update={"env": env})
        out[f"{env}_report"] = build_snapshots(settings, UNTIL)
        shutil.copytree(settings.paths.feature_snapshots, root / env)
    return out


def _in_another_zone(path: Path, store: str, zone: str) -> None:
    """One store's lines name its own zone (their times keep their offsets): both builds cut its product
    x store days at its midnight."""
    lines = pd.read_csv(path, dtype=str, keep_default_na=False)
    lines["time_zone"] = (lines["store_id"] == store).map({True: zone, False: ""})
    lines.to_csv(path, index=False, lineterminator="\n")


def _corrected_signups(root: Path, settings: SpendSettings) -> pd.Series:
    """The customers list sent again with 60 customers signed up 30 days earlier: both builds must read
    each customer's latest row (the first list's rows stay stored beside them)."""
    customers = pd.read_csv(root / "sim" / "customers.csv")
    signup = pd.to_datetime(customers["signup_ts"], utc=True)
    changed = customers.head(60).assign(signup_ts=signup.head(60) - pd.Timedelta(days=30))
    changed.to_csv(root / "sim" / "customers_corrected.csv", index=False)
    report = ingest(root / "sim" / "customers_corrected.csv", IngestOptions("customers"), settings)
    assert (report.accepted, report.replaced) == (60, 60)
    return changed.set_index("customer_id")["signup_ts"]


def _snapshots(folder: Path, name: str) -> pd.DataFrame:
    frame = ds.dataset(folder / SNAPSHOT_FILES[name]).to_table().to_pandas()
    frame["event_timestamp"] = frame["event_timestamp"].astype("datetime64[ns, UTC]")
    keys = [c for c in frame.columns if c.endswith("_id")] + ["event_timestamp"]
    return frame.sort_values(keys).reset_index(drop=True)


@pytest.mark.parametrize("group", list(SNAPSHOT_FILES))
def test_the_spark_build_writes_the_local_builds_snapshots(builds, group):
    local, spark = _snapshots(builds["root"] / "local", group), _snapshots(builds["root"] / "cluster", group)
    assert len(local) > 1_000
    pd.testing.assert_frame_equal(local, spark[local.columns], check_exact=True)
    assert builds["cluster_report"].rows == builds["local_report"].rows
    assert builds["cluster_report"].skipped == builds["local_report"].skipped
    assert builds["cluster_report"].store_zones == builds["local_report"].store_zones == {"S001": "America/Los_Angeles"}
    assert local["event_timestamp"].min() >= builds["kept_since"]  # none before the retention's cut-off


def test_both_builds_date_a_corrected_customers_tenure_from_their_latest_row(builds):
    corrected = builds["corrected"]
    cards = {pseudonym(raw, TEST_KEY.encode()): signup for raw, signup in corrected.items()}
    for env in ("local", "cluster"):
        rows = _snapshots(builds["root"] / env, "customer")
        rows = rows[rows["customer_id"].isin(cards)]
        assert rows["customer_id"].nunique() > 30
        signup = pd.to_datetime(rows["customer_id"].map(cards), utc=True)
        expected = (rows["event_timestamp"] - signup).dt.total_seconds() / 86_400
        np.testing.assert_allclose(rows["tenure_days"], expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("ascending", [True, False])
def test_the_spark_build_keeps_each_customers_latest_row_whatever_order_it_reads_them_in(builds, ascending):
    from pyspark.sql import functions as F

    settings = builds["local"].model_copy(update={"env": "cluster"})
    store = OfflineStore(settings.paths)
    spark = spark_session(settings)
    order = F.col("batch_id").asc() if ascending else F.col("batch_id").desc()
    frame = spark.read.parquet(*store.files("customers")).orderBy(order)
    kept = spark_build._latest(spark, store, "customers", frame).select("customer_id", "signup_ts").toPandas()
    current = store.current("customers", ["customer_id", "signup_ts"])
    assert len(kept) == len(current) == kept["customer_id"].nunique()
    merged = current.merge(kept, on="customer_id", suffixes=("", "_spark"))
    assert len(merged) == len(current)
    assert (pd.to_datetime(merged["signup_ts"], utc=True) == pd.to_datetime(merged["signup_ts_spark"], utc=True)).all()


@pytest.mark.parametrize("group", list(SNAPSHOT_FILES))
def test_the_local_build_a_range_of_ids_at_a_time_writes_the_same_snapshots(builds, group):
    whole, ranges = _snapshots(builds["root"] / "local", group), _snapshots(builds["root"] / "ranges", group)
    pd.testing.assert_frame_equal(whole, ranges, check_exact=True)
    assert builds["ranges_report"].rows == builds["local_report"].rows


@pytest.mark.parametrize("key", ["product_id", "terminal_id"])
def test_product_and_terminal_ranges_split_the_lines_without_losing_or_repeating_one(builds, key, monkeypatch):
    from spend.features.ingest.store import OfflineStore

    monkeypatch.setattr(build, "LINES_PER_READ", 500)
    store = OfflineStore(builds["local"].paths)
    lines = (ds.field("ts") < UNTIL) & ds.field(key).is_valid()
    ranges = list(build._line_ranges(store, key, lines))
    counts = [store.count("transactions", lines & r) for r in ranges]
    assert len(ranges) >= 3
    assert sum(counts) == store.count("transactions", lines)  # disjoint, and every line in one
    for r, n in zip(ranges, counts, strict=True):  # over the limit only where one key has more lines
        assert n <= 500 or store.read("transactions", [key], lines & r)[key].nunique() == 1


def test_the_spark_build_writes_contiguous_customer_ranges(builds):
    """Each part holds a range of customer ids, so an erasure rewrites the parts whose range holds the id."""
    parts = sorted((builds["root"] / "cluster" / SNAPSHOT_FILES["customer"]).glob("*.parquet"))
    ranges = [ds.dataset(p).to_table(columns=["customer_id"]).column(0).to_pandas() for p in parts]
    ranges = sorted((r.min(), r.max()) for r in ranges if len(r))
    assert len(ranges) >= 2
    assert all(high < next_low for (_, high), (next_low, _) in zip(ranges, ranges[1:], strict=False))


@pytest.mark.parametrize("env", ["local", "cluster"])
def test_both_builds_store_the_ages_split_by_bytes_and_sort_by_quarter_then_customer(builds, env):
    """The layout (features/store/layout.py) that makes the snapshots small, whichever engine wrote them."""
    for part in sorted((builds["root"] / env / SNAPSHOT_FILES["customer"]).glob("*.parquet")):
        parquet = pq.ParquetFile(part)
        if not parquet.metadata.num_rows:
            continue
        group = parquet.metadata.row_group(0)
        encodings = {group.column(i).path_in_schema: group.column(i).encodings for i in range(group.num_columns)}
        assert "BYTE_STREAM_SPLIT" in encodings["days_since_first_order"]
        assert any("DICTIONARY" in e for e in encodings["spend_90d"])
        rows = parquet.read(columns=["customer_id", "event_timestamp"]).to_pandas()
        quarter = rows["event_timestamp"].dt.tz_convert(None).dt.to_period("Q")
        order = pd.DataFrame({"q": quarter, "c": rows["customer_id"], "t": rows["event_timestamp"]})
        pd.testing.assert_frame_equal(order, order.sort_values(["q", "c", "t"]).reset_index(drop=True))


@pytest.mark.service
def test_a_training_set_from_feasts_spark_offline_store_equals_the_local_one(builds):
    require_service("PostgreSQL", "127.0.0.1", 5432)
    local = builds["local"]
    snapshots = pd.read_parquet(builds["root"] / "local" / SNAPSHOT_FILES["customer"], columns=["customer_id"])
    rng = np.random.default_rng(2)
    ids = rng.choice(snapshots["customer_id"].unique(), 250, replace=False)
    # Label times between snapshots, some past a customer's last one (not found), and an unknown customer.
    times = UNTIL - pd.to_timedelta(rng.integers(0, 150 * 86_400, len(ids)), unit="s")
    rows = pd.DataFrame({"customer_id": [*ids, "nobody"], "event_timestamp": [*times, UNTIL]})
    shutil.rmtree(local.paths.feature_snapshots)
    shutil.copytree(builds["root"] / "local", local.paths.feature_snapshots)
    store = feature_store(local)
    store.apply(build_repo(local.paths.feature_snapshots).objects)
    expected = training_set(store, rows, "churn_v1")
    with postgres_database("spend_spark") as database:
        cluster = local.model_copy(
            update={"env": "cluster", "registry_url": database, "tracking_url": database, "feature_project": "spark"}
        )
        spark_store = feature_store(cluster)
        spark_store.apply(build_repo(cluster.paths.feature_snapshots, spark=True).objects)
        got = training_set(spark_store, rows, "churn_v1")
    assert 0 < expected["customer_activity__found"].sum() < len(rows)
    assert "customer_activity__event_timestamp" not in got  # Feast's join does not return it (documented)
    pd.testing.assert_frame_equal(expected[got.columns], got, check_dtype=False)


@pytest.mark.service
def test_materialising_from_spark_partitions_writes_what_the_local_writer_writes(builds):
    """SPEND_ENV=cluster materialises from Spark's partitions; the online values equal production's
    one-process writer's, for every online view."""
    require_service("Redis", "127.0.0.1", 6379)
    require_service("PostgreSQL", "127.0.0.1", 5432)
    local = builds["local"]
    shutil.rmtree(local.paths.feature_snapshots)
    shutil.copytree(builds["root"] / "local", local.paths.feature_snapshots)
    ids = pd.read_parquet(builds["root"] / "local" / SNAPSHOT_FILES["customer"], columns=["customer_id"])
    ids = sorted(ids["customer_id"].unique())[::7]
    online, written = {}, {}
    with postgres_database("spend_spark_online") as database:
        for env in ("production", "cluster"):
            settings = local.model_copy(
                update={"env": env, "registry_url": database, "feature_project": f"mat_{env}_{uuid.uuid4().hex[:6]}"}
            )
            store = feature_store(settings)
            store.apply(build_repo(settings.paths.feature_snapshots, spark=env == "cluster").objects)
            with pytest.MonkeyPatch.context() as patch:
                if env == "cluster":  # Spark's partitions write, not this process
                    patch.setattr(materialize_module, "latest_rows", _not_here)
                written[env] = materialize(settings, end=UNTIL.to_pydatetime())
            online[env] = BatchReader(store, service="churn_v1").read_frame(
                {"customer_id": ids}, now=UNTIL.to_pydatetime()
            )
    assert written["cluster"] == written["production"]
    assert written["production"]["customer_activity"] > 0
    assert online["production"]["customer_activity__found"].any()
    pd.testing.assert_frame_equal(online["cluster"], online["production"])


def _not_here(*args, **kwargs):
    raise AssertionError("the cluster environment read the snapshots in this process")


def test_the_cluster_environment_without_spark_says_what_to_install(settings, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyspark", None)  # as if the spark extra were not installed
    cluster = settings.model_copy(update={"env": "cluster"})
    with pytest.raises(SpendError, match=r"pip install 'spend\[spark\]'"):
        build_snapshots(cluster, UNTIL)
