"""Materialisation under SPEND_ENV=cluster: Spark picks each entity's latest snapshot, and every partition
writes its entities to the online store through Spend's writer (features/store/materialize.py), each task
with its own connection.

Spend's writer rather than Feast's Spark materialisation engine: the engine hands each partition to the
online store's own `online_write_batch`, which on Redis is the per-entity path Spend's writer replaced
(docs/feature-store.md, "Materialisation"). The rule stays the writer's: a row older than the entity's
stored one is skipped unless `overwrite`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime
from functools import partial

import pandas as pd
import pyarrow as pa
from feast import FeatureView

from spend.core.settings import SpendSettings
from spend.features.store.materialize import batch_source_path, write_online
from spend.features.store.spark_session import spark_session

ENTITIES_PER_TASK = 100_000  # one task writes about this many entities


def materialize_view_on_spark(
    settings: SpendSettings, view: FeatureView, start: datetime, end: datetime, overwrite: bool
) -> int:
    """Each entity's latest snapshot with start < event_timestamp <= end, written from Spark's partitions;
    returns the entities written."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    spark = spark_session(settings)
    keys = [e.name for e in view.entity_columns]
    ts = F.col("event_timestamp")
    frame = (
        spark.read.parquet(batch_source_path(view))
        .select(*keys, "event_timestamp", *(f.name for f in view.features))
        .where((ts > F.lit(pd.Timestamp(start).to_pydatetime())) & (ts <= F.lit(pd.Timestamp(end).to_pydatetime())))
    )
    latest = frame.withColumn("_n", F.row_number().over(Window.partitionBy(*keys).orderBy(ts.desc())))
    # Kept once computed: counting the rows (for the tasks) and writing them would run the window twice.
    latest = latest.where(F.col("_n") == 1).drop("_n").persist()
    try:
        entities = latest.count()
        if not entities:
            return 0
        tasks = max(spark.sparkContext.defaultParallelism, math.ceil(entities / ENTITIES_PER_TASK))
        write = partial(_write_partition, settings, view.name, overwrite)
        written = latest.repartition(tasks, *keys).mapInArrow(write, "rows long").agg(F.sum("rows")).first()[0]
        return int(written or 0)
    finally:
        latest.unpersist()


def _write_partition(
    settings: SpendSettings, view_name: str, overwrite: bool, batches: Iterator[pa.RecordBatch]
) -> Iterator[pa.RecordBatch]:
    """Runs in a Spark worker: the partition's rows into the online store, batch by batch."""
    from spend.features.store.config import feature_store

    store = feature_store(settings)
    view = store.get_feature_view(view_name)
    rows = 0
    for batch in batches:
        frame = pa.Table.from_batches([batch]).to_pandas()
        frame["event_timestamp"] = pd.to_datetime(frame["event_timestamp"], utc=True)
        write_online(store, view, frame, overwrite)
        rows += len(frame)
    yield pa.RecordBatch.from_pydict({"rows": [rows]})
