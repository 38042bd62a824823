"""The snapshot files' layout (features/store/layout.py): same values, grouped by quarter, sorted by entity,
and kept by an erasure's rewrite."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from spend.features.governance.scrub import scrub_parquet
from spend.features.store.build import _write_chunks
from spend.features.store.layout import quarter_blocks


def _daily_snapshots(customers: int = 40, days: int = 200, seed: int = 3) -> pd.DataFrame:
    """A dense daily frame shaped like the customer group: a window sum that changes on a few days and an
    age that grows by one a day."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2024-11-01", tz="UTC")
    ids = np.repeat([f"C{i:04d}" for i in rng.permutation(customers)], days)
    day = np.tile(np.arange(days), customers)
    changes = rng.random(customers * days) < 0.05
    return pd.DataFrame(
        {
            "customer_id": ids,
            "event_timestamp": start + pd.to_timedelta(day, unit="D"),
            "spend_90d": np.round(np.cumsum(changes * rng.gamma(2.0, 20.0, len(ids))), 2),
            "days_since_first_order": day + np.repeat(rng.random(customers) * 400, days),
            "membership_tier": np.where(day > 100, "gold", "silver"),
        }
    ).sample(frac=1.0, random_state=1)


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["customer_id", "event_timestamp"]).reset_index(drop=True)


def test_a_written_snapshot_file_reads_back_the_same_values(tmp_path):
    frame = _daily_snapshots()
    path = tmp_path / "snapshots.parquet"
    assert _write_chunks(path, [frame.iloc[:3000], frame.iloc[3000:]]) == len(frame)
    back = pq.read_table(path).to_pandas()
    expected = frame.assign(event_timestamp=frame["event_timestamp"].astype("datetime64[us, UTC]"))
    pd.testing.assert_frame_equal(_sorted(back), _sorted(expected))


def test_row_groups_hold_one_quarter_each_sorted_by_entity_then_time(tmp_path):
    path = tmp_path / "snapshots.parquet"
    _write_chunks(path, [_daily_snapshots()])
    parquet = pq.ParquetFile(path)
    assert parquet.metadata.num_row_groups >= 3  # 200 days from November: three quarters
    for g in range(parquet.metadata.num_row_groups):
        group = parquet.read_row_group(g).to_pandas()
        quarters = group["event_timestamp"].dt.tz_convert(None).dt.to_period("Q").unique()
        assert len(quarters) == 1
        pd.testing.assert_frame_equal(group, _sorted(group))


def test_the_daily_age_is_split_by_bytes_and_the_rest_gets_a_dictionary(tmp_path):
    path = tmp_path / "snapshots.parquet"
    _write_chunks(path, [_daily_snapshots()])
    group = pq.ParquetFile(path).metadata.row_group(0)
    encodings = {group.column(i).path_in_schema: group.column(i).encodings for i in range(group.num_columns)}
    assert "BYTE_STREAM_SPLIT" in encodings["days_since_first_order"]
    for name in ("customer_id", "spend_90d", "membership_tier"):
        assert any("DICTIONARY" in e for e in encodings[name]), (name, encodings[name])


def test_a_read_of_the_last_days_skips_the_earlier_quarters(tmp_path):
    path = tmp_path / "snapshots.parquet"
    frame = _daily_snapshots()
    _write_chunks(path, [frame])
    last = frame["event_timestamp"].max()
    fragment = next(iter(ds.dataset(path).get_fragments()))
    kept = fragment.split_by_row_group(ds.field("event_timestamp") > pa.scalar(last - pd.Timedelta(days=2)))
    assert len(kept) == 1
    assert len(kept) < pq.ParquetFile(path).metadata.num_row_groups


def test_quarter_blocks_neither_lose_nor_repeat_a_row():
    table = pa.Table.from_pandas(_daily_snapshots(), preserve_index=False)
    blocks = list(quarter_blocks(table))
    assert sum(b.num_rows for b in blocks) == table.num_rows
    firsts = [pc.min(b["event_timestamp"]).as_py() for b in blocks]
    assert firsts == sorted(firsts)


def test_an_erasure_keeps_the_layout_and_every_other_row(tmp_path):
    path = tmp_path / "snapshots.parquet"
    frame = _daily_snapshots()
    _write_chunks(path, [frame])
    before = pq.ParquetFile(path)
    groups, encodings = before.metadata.num_row_groups, before.metadata.row_group(0).column(3).encodings
    found = scrub_parquet(path, pa.array(["C0007"]))
    assert found["C0007"] == 200
    after = pq.ParquetFile(path)
    assert after.metadata.num_row_groups == groups
    assert after.metadata.row_group(0).column(3).encodings == encodings
    rest = frame[frame["customer_id"] != "C0007"]
    rest = rest.assign(event_timestamp=rest["event_timestamp"].astype("datetime64[us, UTC]"))
    pd.testing.assert_frame_equal(_sorted(after.read().to_pandas()), _sorted(rest))
