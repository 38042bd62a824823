"""The Spark session of SPEND_ENV=cluster, shared by the feature build and Feast's Spark offline store.

Spark is an optional extra: without it (or without Java), asking for the cluster environment is a clear
error, and nothing else needs it.
"""

from __future__ import annotations

import os
import shutil
import sys

from spend.core.errors import SpendError
from spend.core.settings import SpendSettings

LOG4J = """rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = spark: %p %c{1}: %m%n%ex
"""


def spark_conf(settings: SpendSettings) -> dict[str, str]:
    """The session's settings; Feast's Spark offline store starts the same session from them."""
    log4j = settings.paths.home / "spark" / "log4j2.properties"
    log4j.parent.mkdir(parents=True, exist_ok=True)
    log4j.write_text(LOG4J, encoding="utf-8")
    return {
        "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile=file:{log4j.resolve()}",
        "spark.master": settings.spark_master,
        "spark.app.name": "spend",
        # Workers run this interpreter (the one Spend is installed in), not whatever python3 is first on PATH.
        "spark.pyspark.python": sys.executable,
        # Timestamps are UTC everywhere in Spend; Spark would otherwise use the machine's zone.
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.adaptive.enabled": "true",
        # Spend's shuffles are small (keys, counts) but for the one it sizes itself (spark_build.py).
        "spark.sql.shuffle.partitions": os.environ.get("SPEND_SPARK_SHUFFLE_PARTITIONS", "16"),
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.memory": os.environ.get("SPEND_SPARK_DRIVER_MEMORY", "4g"),
        # The parts are the store's files: no _SUCCESS markers or .crc files beside them for erasure
        # (which rewrites parts in place) to leave stale.
        "spark.hadoop.mapreduce.fileoutputcommitter.marksuccessfuljobs": "false",
        "spark.hadoop.fs.file.impl": "org.apache.hadoop.fs.RawLocalFileSystem",
        "spark.hadoop.fs.file.impl.disable.cache": "true",
    }


def require_spark() -> None:
    try:
        import pyspark  # noqa: F401
    except ImportError as error:
        raise SpendError(
            "SPEND_ENV=cluster runs on Spark, which is not installed: pip install 'spend[spark]' "
            "(it needs a Java 17 runtime too), or use SPEND_ENV=local or production"
        ) from error
    if not (os.environ.get("JAVA_HOME") or shutil.which("java")):
        raise SpendError("SPEND_ENV=cluster runs on Spark, which needs Java 17: install a JRE or set JAVA_HOME")


def spark_session(settings: SpendSettings):
    """The running session, or a new one on settings.spark_master (its log says errors only: Spark's INFO
    and WARN lines are for whoever runs the cluster, not for a Spend user's terminal)."""
    require_spark()
    from pyspark.sql import SparkSession

    # PySpark starts its workers with PYSPARK_PYTHON (python3 on PATH by default), not with the conf key.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder
    for name, value in spark_conf(settings).items():
        builder = builder.config(name, value)
    return builder.getOrCreate()
