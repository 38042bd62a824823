"""How a snapshot file is laid out on disk, so a year of daily snapshots takes few bytes.

A daily snapshot repeats the day before in almost every column: a customer's 90-day spend changes on the
days of an order and when one leaves the window, not every day. The layout lets Parquet see the repeats:
- rows are grouped by calendar quarter of their time, one or more row groups each, so a read of the last
  days (materialisation) or of a period (training sets) still skips the other quarters on row-group
  statistics;
- within a quarter, rows are sorted by entity then time, so an entity's unchanged values sit side by
  side and dictionary encoding turns them into runs;
- the numeric columns that change every day (the customer's ages: days since the last order, say) are
  mostly distinct values, which a dictionary cannot shrink; they are byte-stream-split instead (each
  byte of the float in a stream of its own), which zstd compresses well when a value grows by one a day.

The values are Parquet's own: reading the file back gives exactly the frame written, in another order.
Figures and the layouts tried: docs/scale.md.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from spend.features.compute.customer_activity import AGES

MAX_GROUP_ROWS = 1 << 20
COMPRESSION_LEVEL = 6
# The columns split by bytes instead of given a dictionary, in every group: the ones that grow every day.
SPLIT = AGES


def entity_columns(table: pa.Table) -> list[str]:
    """The entity keys of a snapshot table: its `*_id` columns, in order."""
    return [name for name in table.column_names if name.endswith("_id")]


def quarter_blocks(table: pa.Table) -> Iterator[pa.Table]:
    """The table's rows a calendar quarter at a time, each sorted by entity then time."""
    if table.num_rows == 0:
        return
    ts = table["event_timestamp"]
    quarter = pc.add(pc.multiply(pc.year(ts), 4), pc.divide(pc.subtract(pc.month(ts), 1), 3))
    keyed = table.append_column("__quarter", quarter)
    order = [("__quarter", "ascending"), *((k, "ascending") for k in entity_columns(table))]
    keyed = keyed.sort_by([*order, ("event_timestamp", "ascending")])
    quarters = keyed["__quarter"].combine_chunks()
    starts = [0, *(i + 1 for i in pc.indices_nonzero(pc.not_equal(quarters[1:], quarters[:-1])).to_pylist())]
    rows = keyed.drop_columns(["__quarter"])
    for lo, hi in zip(starts, [*starts[1:], rows.num_rows], strict=True):
        yield rows.slice(lo, hi - lo)


def writer_options(schema: pa.Schema) -> dict:
    """ParquetWriter options for snapshot files with this schema."""
    return _options(
        [name for name in schema.names if name not in SPLIT], [name for name in schema.names if name in SPLIT]
    )


def spark_options(columns: list[str]) -> dict[str, str]:
    """The same order's encodings as Spark writer options (Parquet-Java's properties, passed to its writer).
    Spark cuts row groups by size, not by quarter: its files are sorted by quarter, entity and time, but a
    row group may hold two quarters."""
    # Parquet-Java 1.17 ignores byte-stream-split set per column; set for all, it applies to the columns
    # without a dictionary (and to one whose dictionary overflows, where pyarrow writes plain values).
    options = {
        "compression": "zstd",
        "parquet.compression.codec.zstd.level": str(COMPRESSION_LEVEL),
        "parquet.enable.bytestreamsplit": "true",
    }
    for name in columns:
        if name in SPLIT:
            options[f"parquet.enable.dictionary#{name}"] = "false"
    return options


def options_of(parquet: pq.ParquetFile) -> dict:
    """The options a rewrite of an existing file needs to keep its encodings (an erasure's, say)."""
    meta, names = parquet.metadata, parquet.schema_arrow.names
    if meta.num_row_groups == 0:
        return {"compression": "zstd"}
    group = meta.row_group(0)
    encodings = {names[i]: group.column(i).encodings for i in range(group.num_columns)}
    return _options(
        [n for n, e in encodings.items() if any("DICTIONARY" in x for x in e)],
        [n for n, e in encodings.items() if "BYTE_STREAM_SPLIT" in e],
    )


def _options(dictionary: list[str], split: list[str]) -> dict:
    return {
        "compression": "zstd",
        "compression_level": COMPRESSION_LEVEL,
        "use_dictionary": dictionary,
        "use_byte_stream_split": split or False,
    }
