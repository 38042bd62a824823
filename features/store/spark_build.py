"""The feature build as a Spark job (SPEND_ENV=cluster): the same pure functions as the local build.

Each feature group's inputs are read from the offline store by Spark, tagged with their table and
range-partitioned on the group's entity key (customer, terminal, product), so a partition holds every event
of a contiguous range of entities. `mapInArrow` runs the group's pandas function (features/compute/) on each
partition and streams its snapshots back; Spark writes one Parquet part per partition, sorted by time. An
entity's windows come from its own events only (windows.py), so the snapshots equal the local build's row
for row (tests/features/test_spark.py): this is not a second implementation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from spend.core.settings import SpendSettings
from spend.features.compute import customer_activity, products, terminals
from spend.features.compute.days import StoreClocks
from spend.features.ingest.store import OfflineStore, _types_mapper
from spend.features.schema.tables import TABLES
from spend.features.store import layout
from spend.features.store.build import CUSTOMER_LINE_COLUMNS, PRODUCT_LINE_COLUMNS, TERMINAL_LINE_COLUMNS
from spend.features.store.spark_session import spark_session

ENTITIES_PER_PARTITION = 10_000  # a customer-year of snapshots is ~400 rows: ~4M rows per partition
# Input rows (lines, points, ...) a Python worker holds: half the local build's ranges, as two workers run
# at once beside the JVM (docs/scale.md).
EVENTS_PER_PARTITION = 2_000_000
OUTPUT_BATCH = 100_000
TIMED = ("transactions", "points", "membership", "fraud_labels", "inventory")  # filtered to ts < until


@dataclass(frozen=True)
class Group:
    """A feature group as Spark runs it: its entity key, the tables it reads and its output columns."""

    name: str
    key: str
    inputs: tuple[str, ...]
    columns: tuple[str, ...]  # after the keys and event_timestamp
    keys: tuple[str, ...]
    # The lines' columns the group's function reads, as the local build reads them: a Python worker holds
    # a partition's lines, and ids it does not need (order, customer, terminal) were most of them.
    lines: tuple[str, ...]


GROUPS = (
    Group(
        "customer",
        "customer_id",
        ("transactions", "points", "membership", "customers"),
        customer_activity.COLUMNS,
        ("customer_id",),
        tuple(CUSTOMER_LINE_COLUMNS),
    ),
    Group(
        "terminal",
        "terminal_id",
        ("transactions", "fraud_labels"),
        terminals.COLUMNS,
        ("terminal_id",),
        tuple(TERMINAL_LINE_COLUMNS),
    ),
    Group(
        "product_store",
        "product_id",
        ("transactions", "inventory"),
        products.DEMAND_COLUMNS,
        ("product_id", "store_id"),
        tuple(PRODUCT_LINE_COLUMNS),
    ),
    Group(
        "product",
        "product_id",
        ("transactions",),
        products.PRICING_COLUMNS,
        ("product_id",),
        tuple(PRODUCT_LINE_COLUMNS),
    ),
)


def build_groups_on_spark(
    settings: SpendSettings,
    store: OfflineStore,
    until: pd.Timestamp,
    write: Callable,
    progress: Callable[[str], None],
    clocks: StoreClocks,
    since: pd.Timestamp | None = None,
) -> dict[str, int]:
    """Every group's snapshots, each through `write(group name, fill)` (fill writes a staging folder and
    returns its rows: build.py swaps it in); rows per group. `since`: snapshots before it are not written
    (the retention period, build.py `retained_since`)."""
    spark = spark_session(settings)
    tables = _read_tables(spark, store, until)
    from pyspark.sql import functions as F

    history_end = tables["transactions"].agg(F.max("ts")).first()[0] if "transactions" in tables else None
    rows = {}
    for group in GROUPS:
        progress(group.name)
        tagged = _tagged(group, tables)
        end = None if history_end is None else pd.Timestamp(history_end)
        compute = partial(_compute, group.name, until, end, clocks)
        rows[group.name] = write(group.name, partial(_run, spark, group, tagged, compute, settings, since))
    return rows


def _read_tables(spark, store: OfflineStore, until: pd.Timestamp) -> dict:
    from pyspark.sql import functions as F

    out = {}
    for table in (*TIMED, "customers"):
        files = store.files(table)
        if not files:
            continue
        # mergeSchema: a column a newer Spend writes (on_promotion) is missing from files written before it
        frame = spark.read.option("mergeSchema", "true").parquet(*files)
        if table in TIMED:
            frame = frame.where(F.col("ts") < F.lit(until.to_pydatetime()))
        else:
            frame = _latest(spark, store, table, frame)
        out[table] = frame.drop("batch_id", "ingested_at", "row_hash")
    return out


def _latest(spark, store: OfflineStore, table: str, frame):
    """Each key's last committed row, as `OfflineStore.latest` keeps it (a customers list sent again)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    key = TABLES[table].key
    order = spark.createDataFrame(list(store.batch_order(table).items()), "batch_id string, _order long")
    newest = Window.partitionBy(key).orderBy(F.col("_order").desc())
    ranked = frame.join(F.broadcast(order), "batch_id").withColumn("_rank", F.row_number().over(newest))
    return ranked.where(F.col("_rank") == 1).drop("_order", "_rank")


def _tagged(group: Group, tables: dict):
    """One frame of the group's inputs: `_key` (the entity), `_table`, and each table's columns as
    `<table>__<column>` (tables share column names of different types)."""
    from pyspark.sql import functions as F

    tagged = None
    for table in group.inputs:
        if table not in tables:
            continue
        frame = _keyed(group, table, tables)
        wanted = [c for c in frame.columns if c != "_key" and (table != "transactions" or c in group.lines)]
        columns = [F.col(f"`{c}`").alias(f"{table}__{c}") for c in wanted]
        frame = frame.select(F.col("_key"), F.lit(table).alias("_table"), *columns).where(F.col("_key").isNotNull())
        tagged = frame if tagged is None else tagged.unionByName(frame, allowMissingColumns=True)
    return tagged


def _keyed(group: Group, table: str, tables: dict):
    from pyspark.sql import functions as F

    frame = tables[table]
    if group.name == "terminal" and table == "fraud_labels":  # a label belongs to its payment's terminal
        terminal_of = (
            tables["transactions"]
            .where(F.col("terminal_id").isNotNull())
            .groupBy("order_id")
            .agg(F.first("terminal_id").alias("_key"))
        )
        return frame.join(terminal_of, "order_id")
    return frame.withColumn("_key", F.col(group.key))


def _run(spark, group: Group, tagged, compute: Callable, settings: SpendSettings, since, staging: Path) -> int:
    """Write the group's snapshots as Parquet parts under `staging`; returns the rows written."""
    from pyspark.sql import functions as F

    if tagged is None:
        return _empty(group, staging)
    # Enough partitions for the entities' snapshots and for the events: products are few, each with many
    # lines, and a partition's events are held by one Python worker.
    entities, events = tagged.agg(F.approx_count_distinct("_key"), F.count(F.lit(1))).first()
    partitions = settings.spark_partitions or max(
        spark.sparkContext.defaultParallelism,
        math.ceil(entities / ENTITIES_PER_PARTITION),
        math.ceil(events / EVENTS_PER_PARTITION),
    )
    schema = _schema(group)
    ts = F.col("event_timestamp")
    snapshots = tagged.repartitionByRange(partitions, "_key").mapInArrow(
        partial(_partition, compute, _arrow_schema(group)), schema
    )
    if since is not None:
        snapshots = snapshots.where(ts >= F.lit(since.to_pydatetime()))
    snapshots = snapshots.sortWithinPartitions(F.year(ts) * 4 + F.quarter(ts), *group.keys, ts)  # local layout
    snapshots.write.mode("overwrite").options(**layout.spark_options(schema.names)).parquet(str(staging))
    parts = sorted(staging.glob("*.parquet"))
    if not parts:
        return _empty(group, staging)
    return sum(pq.ParquetFile(part).metadata.num_rows for part in parts)


def _empty(group: Group, staging: Path) -> int:
    """A group without rows (no card terminals, say) still gets a typed, empty part."""
    staging.mkdir(parents=True, exist_ok=True)
    pq.write_table(_arrow_schema(group).empty_table(), staging / "part-00000.parquet")
    return 0


def _partition(compute: Callable, schema: pa.Schema, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Runs in a Spark worker: the partition's events as the local build reads them, the group's function,
    its snapshots back in batches."""
    table = pa.Table.from_batches(list(batches))
    if not table.num_rows:
        return
    inputs = {}
    kinds = table.column("_table").to_pylist()
    for name in dict.fromkeys(kinds):
        rows = table.filter(pc.equal(table.column("_table"), name))
        prefix = f"{name}__"
        own = [c for c in rows.column_names if c.startswith(prefix)]
        part = rows.select(own).rename_columns([c[len(prefix) :] for c in own])
        inputs[name] = part.to_pandas(types_mapper=_types_mapper)
    for frame in compute(inputs):
        if frame.empty:
            continue
        out = pa.Table.from_pandas(frame[list(schema.names)], preserve_index=False).cast(schema)
        yield from out.to_batches(max_chunksize=OUTPUT_BATCH)


def _compute(
    name: str, until: pd.Timestamp, history_end: pd.Timestamp | None, clocks: StoreClocks, inputs: dict
) -> Iterator:
    """The local build's call for group `name`, on one partition's tables (`clocks`: the shop's, and the
    stores keeping another, found on the whole history by build.py)."""
    empty = pd.DataFrame()
    tx = inputs.get("transactions", empty)
    if name == "customer":
        if tx.empty:
            return
        yield from customer_activity.customer_snapshots(
            tx, inputs.get("points", empty), inputs.get("membership", empty), inputs.get("customers", empty), until
        )
    elif name == "terminal" and not tx.empty:
        yield terminals.terminal_snapshots(tx, inputs.get("fraud_labels", empty), until)
    elif name == "product_store" and not tx.empty:
        yield products.demand_snapshots(tx, until, inputs.get("inventory", empty), history_end, clocks)
    elif name == "product" and not tx.empty:
        yield products.pricing_snapshots(tx, until, clocks.shop)


def _arrow_schema(group: Group) -> pa.Schema:
    strings = {*group.keys, "membership_tier"}
    fields = [pa.field(k, pa.string()) for k in group.keys] + [pa.field("event_timestamp", pa.timestamp("us", "UTC"))]
    return pa.schema(fields + [pa.field(c, pa.string() if c in strings else pa.float64()) for c in group.columns])


def _schema(group: Group):
    from pyspark.sql import types as T

    arrow = _arrow_schema(group)
    return T.StructType(
        [
            T.StructField(
                f.name,
                T.StringType()
                if pa.types.is_string(f.type)
                else T.TimestampType()
                if pa.types.is_timestamp(f.type)
                else T.DoubleType(),
            )
            for f in arrow
        ]
    )
