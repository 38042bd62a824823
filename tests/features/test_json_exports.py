"""JSON exports (JSON Lines as BigQuery, Segment or a shop's API write them; a JSON array of rows) read as
a CSV is: every value as text, for the schema to parse and judge."""

from __future__ import annotations

import gzip
import json

import pandas as pd
import pytest

from spend.core.errors import SpendError
from spend.features.ingest.identity import content_hash
from spend.features.ingest.pipeline import IngestOptions, ingest
from spend.features.ingest.readers import read_export
from spend.features.ingest.store import OfflineStore
from tests.features.test_validation_rules import NOW

LINE = {"order_id": 1001, "customer_id": "alice", "ts": "2026-01-02T10:00:00Z", "product_id": "p1"}


def _rows() -> list[dict]:
    first = LINE | {"quantity": 2, "unit_price": 2.50, "store_id": None}
    second = LINE | {"order_id": 1002, "quantity": 1, "unit_price": 10.0, "store_id": "S1", "gift": True}
    return [first, second]


@pytest.mark.parametrize("name", ["orders.jsonl", "orders.ndjson", "orders.json", "orders.jsonl.gz"])
def test_json_lines_are_read_as_text_numbers_as_written(tmp_path, name):
    path = tmp_path / name
    text = "\n".join(json.dumps(row) for row in _rows()) + "\n"
    path.write_bytes(gzip.compress(text.encode()) if name.endswith(".gz") else text.encode())
    frame = read_export(path)
    assert list(frame.columns) == [
        "order_id",
        "customer_id",
        "ts",
        "product_id",
        "quantity",
        "unit_price",
        "store_id",
        "gift",
    ]
    assert frame["order_id"].tolist() == ["1001", "1002"]  # a numeric id stays an id: not 1001.0
    assert frame["unit_price"].tolist() == ["2.5", "10.0"] and frame["quantity"].tolist() == ["2", "1"]
    assert frame["store_id"].isna().tolist() == [True, False]  # null is blank
    assert frame["gift"].tolist()[1] == "true" and pd.isna(frame["gift"].tolist()[0])  # a key one row lacks


@pytest.mark.parametrize("wrap", [False, True])
def test_a_json_array_of_rows_or_an_object_wrapping_one_is_read(tmp_path, wrap):
    path = tmp_path / "orders.json"
    rows = _rows()
    path.write_text(json.dumps({"orders": rows} if wrap else rows, indent=2))  # pretty-printed: one document
    frame = read_export(path)
    assert len(frame) == 2 and frame["customer_id"].tolist() == ["alice", "alice"]


def test_a_json_document_whose_rows_are_not_objects_is_refused_naming_the_row(tmp_path):
    path = tmp_path / "orders.json"
    path.write_text(json.dumps([LINE, [1, 2]]))
    with pytest.raises(SpendError, match="row 2 of the JSON array is a list, not an object"):
        read_export(path)
    path.write_text("12.5")
    with pytest.raises(SpendError, match="the JSON is a number, not an object"):
        read_export(path)
    path.write_text('{"order_id": 1, "order_id": 2}')
    with pytest.raises(SpendError, match="gives a key twice"):
        read_export(path)


def test_json_lines_that_are_not_one_object_are_quarantined_and_the_rest_goes_in(settings, tmp_path):
    good = [json.dumps(row) for row in _rows()]
    lines = [
        good[0],
        '{"order_id": 7, "customer_id": "bob-secret", "ts": "2026-01',  # cut short
        "[1, 2]",
        '{"order_id": 8, "customer_id": "carol-secret", "customer_id": "dave-secret"}',  # which one?
        good[1],
    ]
    path = tmp_path / "orders.jsonl"
    path.write_text("\n".join(lines) + "\n\n")  # a blank last line is no row
    report = ingest(path, IngestOptions("transactions"), settings, now=NOW)
    assert (report.received, report.accepted, report.quarantined, report.duplicates) == (5, 2, 3, 0)
    assert report.quarantined_by_reason == {"row:not_json_object": 3} and report.repeated_lines == 0
    quarantine = OfflineStore(settings.paths).read_quarantine("transactions").sort_values("source_row")
    assert quarantine["source_row"].tolist() == [2, 3, 4]
    stored = b"".join(p.read_bytes() for p in settings.home.rglob("*.parquet"))
    assert b"secret" not in stored  # nothing of an unreadable line is kept
    assert sorted(OfflineStore(settings.paths).read("transactions")["order_id"]) == ["1001", "1002"]
    again = ingest(path, IngestOptions("transactions"), settings, now=NOW)
    assert (again.accepted, again.quarantined, again.duplicates) == (0, 0, 5)


def test_values_that_differ_only_after_a_nul_are_different_rows(settings, tmp_path):
    """pandas hashes a string up to its first NUL: two damaged lines `\\x00O1...` and `\\x00O2...` were
    counted as one, the second a "duplicate" that reached neither the store nor the quarantine."""
    texts = pd.Series(["\x00O1", "\x00O2", "O3", "a\\0"], dtype="string[pyarrow]")
    hashes = content_hash(texts.to_frame("order_id"))
    assert hashes.nunique() == 4
    plain = content_hash(texts.iloc[2:].to_frame("order_id"))  # a value without a NUL keeps its hash
    assert hashes.iloc[2:].tolist() == plain.tolist()
    path = tmp_path / "damaged.csv"
    header = "order_id,customer_id,ts,product_id,quantity,unit_price"
    path.write_text(f"{header}\n\x00O1,alice,2026-01-02T10:00:00,p1,1,2.5\n\x00O2,alice,2026-01-02T10:00:00,p1,1,2.5\n")
    report = ingest(path, IngestOptions("transactions"), settings, now=NOW)
    assert (report.received, report.quarantined, report.duplicates) == (2, 2, 0)


def test_a_first_json_line_giving_a_key_twice_is_quarantined_not_the_whole_file(settings, tmp_path):
    first = '{"order_id": 9, "customer_id": "a-secret", "customer_id": "b-secret"}'
    path = tmp_path / "orders.jsonl"
    path.write_text("\n".join([first, *(json.dumps(row) for row in _rows())]) + "\n")
    report = ingest(path, IngestOptions("transactions"), settings, now=NOW)
    assert (report.received, report.accepted, report.quarantined) == (3, 2, 1)
    assert report.quarantined_by_reason == {"row:not_json_object": 1}
