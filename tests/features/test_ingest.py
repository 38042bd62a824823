"""Ingestion as a whole: accounting identity, replay, foreign layouts, formats, bad input, crash safety."""

from __future__ import annotations

import gzip
import json
import lzma
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from spend.cli import app
from spend.cli.ingest_notes import notes
from spend.core.errors import SpendError
from spend.core.privacy.pseudonym import pseudonym
from spend.features.ingest.catalog import BatchCatalog
from spend.features.ingest.pipeline import IngestOptions, ingest
from spend.features.ingest.readers import parse_mapping
from spend.features.ingest.store import OfflineStore
from tests.features.test_validation_rules import BAD_LINES, GOOD_LINE, NOW

runner = CliRunner()
GOOD_CSV = b"order_id,customer_id,ts,product_id,quantity,unit_price\no1,c1,2026-01-01T10:00:00Z,p1,1,2.5\n"


def mixed_lines(n_good: int = 40) -> list[dict]:
    good = [GOOD_LINE | {"event_id": f"g{i}", "quantity": str(1 + i % 5)} for i in range(n_good)]
    bad = [GOOD_LINE | {"event_id": f"b{i}", field: value} for i, (field, value, _) in enumerate(BAD_LINES)]
    repeats = good[:3]
    return good + bad + repeats


def test_every_row_is_accepted_quarantined_or_a_duplicate(settings, write_csv):
    report = ingest(write_csv(mixed_lines()), IngestOptions("transactions"), settings, now=NOW)

    assert report.received == 40 + len(BAD_LINES) + 3
    assert report.accepted + report.quarantined + report.duplicates == report.received
    assert (report.accepted, report.quarantined, report.duplicates) == (40, len(BAD_LINES), 3)
    assert sum(report.quarantined_by_reason.values()) == report.quarantined
    store = OfflineStore(settings.paths)
    assert len(store.read("transactions")) == report.accepted
    assert len(store.read_quarantine("transactions")) == report.quarantined


def test_ingesting_the_same_file_twice_adds_nothing(settings, write_csv):
    path = write_csv(mixed_lines())
    first = ingest(path, IngestOptions("transactions"), settings, now=NOW)
    second = ingest(path, IngestOptions("transactions"), settings, now=NOW)

    assert (second.accepted, second.quarantined, second.duplicates) == (0, 0, second.received)
    store = OfflineStore(settings.paths)
    assert len(store.read("transactions")) == first.accepted
    assert len(store.read_quarantine("transactions")) == first.quarantined
    batches = BatchCatalog(settings.paths.catalog).batches("transactions")
    assert [b.file_sha256 for b in batches] == [first.file_sha256] * 2


def test_a_batch_read_with_the_wrong_options_is_removed_and_its_export_ingested_again(settings, write_csv):
    """A sales report's line totals ingested as prices (no --line-totals) could not be undone: ingested again
    with the option, its lines were new content, and the shop had every sale twice at two prices."""
    lines = [GOOD_LINE | {"event_id": "", "order_id": f"o{i}", "quantity": "2", "unit_price": "7.00"} for i in range(3)]
    lines.append(GOOD_LINE | {"event_id": "", "order_id": "o9", "currency": "XXX"})  # quarantined
    path = write_csv(lines)
    wrong = ingest(path, IngestOptions("transactions"), settings, now=NOW)
    assert (wrong.accepted, wrong.quarantined) == (3, 1)
    refused = runner.invoke(app, ["batches", "--remove", wrong.batch_id, "--remove", "nope-1"])
    assert refused.exit_code == 2 and "no batch nope-1" in refused.output and "none removed" in refused.output
    assert len(OfflineStore(settings.paths).read("transactions")) == 3
    removed = runner.invoke(app, ["batches", "--remove", wrong.batch_id, "--json"])
    assert removed.exit_code == 0, removed.output
    assert json.loads(removed.stdout) == {
        "removed": [wrong.batch_id],
        "tables": ["transactions"],
        "rows": 3,
        "quarantined_rows": 1,
        "restored_rows": 0,
    }
    store = OfflineStore(settings.paths)
    assert store.read("transactions").empty and store.read_quarantine("transactions").empty
    assert BatchCatalog(settings.paths.catalog).batches("transactions") == []
    right = ingest(path, IngestOptions("transactions", line_totals=True), settings, now=NOW)
    assert (right.accepted, right.quarantined, right.duplicates) == (3, 1, 0)
    assert OfflineStore(settings.paths).read("transactions")["unit_price"].tolist() == [3.5] * 3
    audit = (settings.paths.home / "audit" / "audit.jsonl").read_text()
    assert '"action":"remove batches"' in audit and wrong.batch_id in audit


@pytest.mark.parametrize("command", ["batches --remove", "doctor --repair"])
def test_removing_a_batch_waits_for_a_running_feature_build(settings, write_csv, command):
    """A build reads the files its start pinned; a batch deleted under it failed the build midway (also
    when `spend doctor --repair` removed a damaged file's batch)."""
    import threading

    from spend.core.files import exclusive
    from spend.features.store.build import BUILD_LOCK

    report = ingest(write_csv([GOOD_LINE]), IngestOptions("transactions"), settings, now=NOW)
    good = ingest(
        write_csv([GOOD_LINE | {"event_id": "e2"}], "b.csv"), IngestOptions("transactions"), settings, now=NOW
    )
    if command == "doctor --repair":
        damaged = next(p for p in settings.paths.table("transactions").rglob("*.parquet") if p.stem == report.batch_id)
        damaged.write_bytes(b"not parquet")
        args = ["doctor", "--repair", "--json"]
    else:
        args = ["batches", "--remove", report.batch_id, "--json"]
    remover = threading.Thread(target=runner.invoke, args=(app, args))
    with exclusive(settings.paths.home / BUILD_LOCK):  # a build is running
        remover.start()
        remover.join(1.0)
        assert remover.is_alive() and {b.batch_id for b in OfflineStore(settings.paths).catalog.batches()} == {
            report.batch_id,
            good.batch_id,
        }
    remover.join(10.0)
    assert not remover.is_alive() and len(OfflineStore(settings.paths).read("transactions")) == 1
    assert [b.batch_id for b in OfflineStore(settings.paths).catalog.batches()] == [good.batch_id]


def test_a_till_that_writes_a_line_per_item_scanned_keeps_its_units_with_the_option(settings, write_csv, tmp_path):
    """Three scans of one item were one line and two duplicates: a third of the units, without a word.
    The summary now counts such lines and names the option; with it they are lines of their own, and the
    same file again (with the option or without) adds nothing."""
    scan = {k: v for k, v in GOOD_LINE.items() if k != "event_id"}
    lines = [scan, scan, scan, scan | {"product_id": "p2"}]
    path = write_csv(lines)
    plain = ingest(path, IngestOptions("transactions"), settings, now=NOW)
    assert (plain.accepted, plain.duplicates, plain.repeated_lines, plain.repeated_kept) == (2, 2, 2, False)
    told = runner.invoke(app, ["ingest", str(path), "--table", "transactions"]).output
    assert "repeating another line of this file exactly, without an event_id: 2, counted as duplicates" in told

    kept = settings.model_copy(update={"home": tmp_path / "kept"})
    option = IngestOptions("transactions", keep_repeated_lines=True)
    first = ingest(path, option, kept, now=NOW)
    assert (first.accepted, first.duplicates, first.repeated_kept) == (4, 0, True)
    assert OfflineStore(kept.paths).read("transactions")["quantity"].sum() == 4 * float(GOOD_LINE["quantity"])
    for again in (option, IngestOptions("transactions")):
        assert ingest(path, again, kept, now=NOW).duplicates == 4
    given = [GOOD_LINE | {"event_id": f"e{i}"} for i in range(3)]  # their own ids: lines apart already
    assert ingest(write_csv(given, "ids.csv"), IngestOptions("transactions"), settings, now=NOW).repeated_lines == 0


def test_every_batch_is_recorded_with_hash_counts_and_schema_version(settings, write_csv):
    report = ingest(write_csv(mixed_lines()), IngestOptions("transactions"), settings, now=NOW)
    (batch,) = BatchCatalog(settings.paths.catalog).batches()
    assert batch.batch_id == report.batch_id
    assert (batch.received, batch.accepted, batch.quarantined, batch.duplicates) == (
        report.received,
        report.accepted,
        report.quarantined,
        report.duplicates,
    )
    assert batch.schema_version == "1" and len(batch.file_sha256) == 64
    assert batch.quarantined_by_reason == report.quarantined_by_reason
    stored = OfflineStore(settings.paths).read("transactions")
    assert set(stored["batch_id"]) == {report.batch_id}


def test_a_foreign_layout_loads_through_a_column_mapping(settings, tmp_path):
    foreign = pd.DataFrame(
        {
            "Invoice": ["A1", "A1"],
            "Client": ["c1", "c1"],
            "When": ["2026-01-03 10:00", "2026-01-03 10:00"],
            "SKU": ["s1", "s2"],
            "Qty": [1, 2],
            "Price": [9.99, 1.0],
            "Notes": ["x", "y"],
        }
    )
    path = tmp_path / "foreign.csv"
    foreign.to_csv(path, index=False)
    result = runner.invoke(
        app,
        [
            "ingest",
            str(path),
            "--table",
            "transactions",
            "--json",
            "--map",
            "Invoice=order_id,Client=customer_id,When=ts,SKU=product_id,Qty=quantity,Price=unit_price",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["accepted"] == 2
    assert summary["ignored_columns"] == ["Notes"]
    stored = OfflineStore(settings.paths).read("transactions")
    assert sorted(stored["product_id"]) == ["s1", "s2"]


def test_parquet_with_typed_columns_gives_the_same_rows_as_csv(settings, write_csv, tmp_path):
    lines = pd.DataFrame(mixed_lines())
    csv_report = ingest(write_csv(lines), IngestOptions("transactions"), settings, now=NOW)
    typed = lines.assign(
        ts=pd.to_datetime(lines["ts"], errors="coerce"),
        unit_price=pd.to_numeric(lines["unit_price"], errors="coerce"),
    )
    typed = typed[typed["ts"].notna() & typed["unit_price"].notna()]
    parquet = tmp_path / "lines.parquet"
    typed.to_parquet(parquet)
    other = settings.model_copy(update={"home": tmp_path / "other"})
    pq_report = ingest(parquet, IngestOptions("transactions"), other, now=NOW)
    assert pq_report.received == len(typed)
    assert pq_report.accepted == csv_report.accepted
    by_csv = OfflineStore(settings.paths).read("transactions").sort_values("event_id")
    by_parquet = OfflineStore(other.paths).read("transactions").sort_values("event_id")
    columns = ["event_id", "customer_id", "ts", "quantity", "unit_price"]
    pd.testing.assert_frame_equal(by_csv[columns].reset_index(drop=True), by_parquet[columns].reset_index(drop=True))


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["2026-01-02T10:00:00", "2025-07-02 10:00"], ["2026-01-02T09:00:00Z", "2025-07-02T08:00:00Z"]),
        (["2026-01-02T10:00:00+02:00", "2026-01-02T10:00:00Z"], ["2026-01-02T08:00:00Z", "2026-01-02T10:00:00Z"]),
        (["2026-01-02", "2026-01-02T10:00:00Z"], ["2026-01-01T23:00:00Z", "2026-01-02T10:00:00Z"]),
        (  # BigQuery's and many databases' exports say UTC in a word; it was unparsable
            ["2026-01-02 10:00:00 UTC", "2026-01-02 10:00:00.250 utc", "2026-01-02 11:00:00 GMT"],
            ["2026-01-02T10:00:00Z", "2026-01-02T10:00:00.250Z", "2026-01-02T11:00:00Z"],
        ),
    ],
    ids=["all-local", "all-zoned", "mixed", "utc-in-a-word"],
)
def test_every_timestamp_shape_lands_in_utc(settings, write_csv, values, expected):
    paris = settings.model_copy(update={"timezone": "Europe/Paris"})
    lines = [GOOD_LINE | {"event_id": f"e{i}", "ts": v} for i, v in enumerate(values)]
    report = ingest(write_csv(lines), IngestOptions("transactions"), paris, now=NOW)
    assert report.accepted == len(values)
    stored = OfflineStore(paris.paths).read("transactions").sort_values("event_id")
    assert stored["ts"].tolist() == [pd.Timestamp(e) for e in expected]


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris"])
def test_a_naive_timestamp_after_an_offset_one_is_read_in_the_configured_zone_not_that_offset(
    settings, write_csv, zone
):
    """pandas' ISO 8601 parser read a naive value in the offset of the value before it: T10:00-08:00 then
    T10:00 were both stored as 18:00 UTC, silently."""
    local = settings.model_copy(update={"timezone": zone})
    lines = [
        GOOD_LINE | {"event_id": "a", "ts": "2026-01-02T10:00:00-08:00"},
        GOOD_LINE | {"event_id": "b", "ts": "2026-01-02T10:00:00"},
        GOOD_LINE | {"event_id": "c", "ts": "2026-01-02 11:30"},
    ]
    report = ingest(write_csv(lines), IngestOptions("transactions"), local, now=NOW)
    assert report.accepted == 3
    stored = OfflineStore(local.paths).read("transactions").sort_values("event_id")
    naive = {"UTC": ["10:00", "11:30"], "Europe/Paris": ["09:00", "10:30"]}[zone]
    expected = ["2026-01-02T18:00:00Z", *(f"2026-01-02T{t}:00Z" for t in naive)]
    assert stored["ts"].tolist() == [pd.Timestamp(e) for e in expected]


@pytest.mark.parametrize(
    ("ts_format", "times"),
    [
        (None, ["2024-01-15 10:23:45 -0500", "2024-07-16 11:00:00 -0400", "2024-01-16 11:00:00"]),
        ("%d/%m/%Y %H:%M %z", ["15/01/2024 10:23 -0500", "16/07/2024 11:00 -0400", None]),
    ],
)
def test_offsets_that_differ_from_line_to_line_each_convert_by_their_own(settings, write_csv, ts_format, times):
    """Shopify writes "2024-01-15 10:23:45 -0500" and a shop's orders either side of a daylight-saving
    change carry two offsets: ingestion ended in "unexpected AttributeError" (pandas reads several offsets
    as plain objects)."""
    lines = [GOOD_LINE | {"event_id": f"e{i}", "ts": t} for i, t in enumerate(times) if t is not None]
    report = ingest(write_csv(lines), IngestOptions("transactions", ts_format=ts_format), settings, now=NOW)
    assert report.accepted == len(lines)
    stored = OfflineStore(settings.paths).read("transactions").sort_values("event_id")["ts"].tolist()
    expected = ["2024-01-15T15:23:45Z", "2024-07-16T15:00:00Z", "2024-01-16T11:00:00Z"][: len(lines)]
    if ts_format is not None:
        expected[0] = "2024-01-15T15:23:00Z"
    assert stored == [pd.Timestamp(e) for e in expected]


def test_an_hours_only_offset_is_an_offset_and_a_dates_day_is_not(settings, write_csv):
    """ "10:23:45+00" (ISO 8601's hours-only offset) was read as naive, and pandas, seeing it zoned among
    naive values, returned objects: "unexpected AttributeError" for the whole file."""
    paris = settings.model_copy(update={"timezone": "Europe/Paris"})
    times = ["2024-01-15 10:23:45+00", "2024-01-15", "2024-07-15 12:00", "Mon, 15 Jan 2024 10:23:45 GMT"]
    lines = [GOOD_LINE | {"event_id": f"e{i}", "ts": t} for i, t in enumerate(times)]
    report = ingest(write_csv(lines), IngestOptions("transactions"), paris, now=NOW)
    assert (report.accepted, report.quarantined_by_reason) == (3, {"ts:unparsable_timestamp": 1})
    stored = OfflineStore(paris.paths).read("transactions").sort_values("event_id")["ts"].tolist()
    # the date alone is Paris' midnight, not UTC's
    expected = ["2024-01-15T10:23:45Z", "2024-01-14T23:00:00Z", "2024-07-15T10:00:00Z"]
    assert stored == [pd.Timestamp(e) for e in expected]


def test_a_malformed_offset_does_not_lend_its_zone_to_the_naive_values(settings, write_csv):
    """ "+05:30:00" is no offset the pattern knows, so the value stayed among the naive ones, where pandas
    read it as zoned and every naive value of the file in +05:30: stored 4h30 early, silently."""
    paris = settings.model_copy(update={"timezone": "Europe/Paris"})
    times = ["2024-01-15T10:23:45+05:30:00", "2024-01-15 10:00", "2024-07-15 12:00"]
    lines = [GOOD_LINE | {"event_id": f"e{i}", "ts": t} for i, t in enumerate(times)]
    report = ingest(write_csv(lines), IngestOptions("transactions"), paris, now=NOW)
    assert (report.accepted, report.quarantined_by_reason) == (2, {"ts:unparsable_timestamp": 1})
    stored = OfflineStore(paris.paths).read("transactions").sort_values("event_id")["ts"].tolist()
    assert stored == [pd.Timestamp("2024-01-15T09:00:00Z"), pd.Timestamp("2024-07-15T10:00:00Z")]


def test_a_timestamp_far_in_the_future_is_in_the_future_not_unparsable(settings, write_csv):
    """Beyond pandas' nanosecond range (year 2262) a date is still a date: quarantined as not_in_future."""
    lines = [
        GOOD_LINE | {"event_id": "a", "ts": "9999-12-31T23:59:59Z"},
        GOOD_LINE | {"event_id": "b", "ts": "9999-12-31T23:59:59"},
        GOOD_LINE | {"event_id": "c", "ts": "2300-01-01T00:00:00+02:00"},
    ]
    report = ingest(write_csv(lines), IngestOptions("transactions"), settings, now=NOW)
    assert report.quarantined_by_reason == {"ts:not_in_future": 3}


def test_a_placeholder_date_is_quarantined_and_an_earlier_shop_can_say_where_its_history_starts(settings, write_csv):
    """One 1970-01-01 line (a missing date as many exports write it) stretched every product's daily
    series back to 1970: 45,000 product-store days for one product of a one-line shop."""
    lines = [GOOD_LINE | {"event_id": "a", "ts": "1970-01-01T00:00:00Z"}, GOOD_LINE | {"event_id": "b"}]
    assert ingest(write_csv(lines), IngestOptions("transactions"), settings, now=NOW).quarantined_by_reason == {
        "ts:not_before_earliest": 1
    }
    older = settings.model_copy(update={"earliest_ts": date(1960, 1, 1)})
    lines = [GOOD_LINE | {"event_id": "c", "ts": "1970-01-01T00:00:00Z"}]
    assert ingest(write_csv(lines), IngestOptions("transactions"), older, now=NOW).accepted == 1


def test_a_spreadsheets_serial_days_are_read_as_local_times_with_excel(settings, write_csv):
    """A date cell formatted as a number reaches the CSV as 45413.4375: it was unparsable with no format
    to suggest (`unix` would read it as 1970-01-01 12:36)."""
    london = settings.model_copy(update={"timezone": "Europe/London"})
    times = ["45413.4375", "45414", "45382.1", "2958466"]  # the last: a day past the calendar
    lines = [GOOD_LINE | {"event_id": f"e{i}", "ts": t} for i, t in enumerate(times)]
    told = ingest(write_csv(lines), IngestOptions("transactions"), london, now=NOW)
    assert told.accepted == 0 and told.suggested_ts_formats == []  # the last reads as no day
    lines = lines[:3]
    told = ingest(write_csv(lines), IngestOptions("transactions"), london, now=NOW)
    assert told.suggested_ts_formats == ["excel"]
    read = ingest(write_csv(lines), IngestOptions("transactions", ts_format="excel"), london, now=NOW)
    assert read.accepted == 3
    stored = OfflineStore(london.paths).read("transactions").sort_values("event_id")["ts"].tolist()
    assert stored == [  # local times in summer time, a day's midnight, a time just after the clocks went forward
        pd.Timestamp("2024-05-01T09:30:00Z"),
        pd.Timestamp("2024-05-01T23:00:00Z"),
        pd.Timestamp("2024-03-31T01:24:00Z"),
    ]


def test_timestamps_without_offset_use_the_configured_time_zone(settings, write_csv):
    paris = settings.model_copy(update={"timezone": "Europe/Paris"})
    lines = [GOOD_LINE | {"ts": "2026-01-02T10:00:00"}, GOOD_LINE | {"event_id": "z", "ts": "2026-01-02T10:00:00Z"}]
    ingest(write_csv(lines), IngestOptions("transactions"), paris, now=NOW)
    stored = OfflineStore(paris.paths).read("transactions").sort_values("event_id")
    assert stored["ts"].tolist() == [pd.Timestamp("2026-01-02T09:00:00Z"), pd.Timestamp("2026-01-02T10:00:00Z")]


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        (b"", ["--table", "transactions"], "the file is empty"),
        (b"order_id,customer_id\n", ["--table", "transactions"], "header but no rows"),
        (
            "order_id,customer_id,ts,product_id,quantity,unit_price\no1,Zo\xe9,2026-01-01,p,1,1\n".encode("latin-1"),
            ["--table", "transactions"],
            "--encoding",
        ),
        (
            b"order_id,customer_id,ts\no1,c,2026-01-01\n",
            ["--table", "transactions"],
            "missing required column(s) product_id, quantity, unit_price",
        ),
        (  # --table is transactions unless given: a customers file says which table it looks like
            b"customer_id,signup_ts,email\nc1,2026-01-01T10:00:00Z,a@example.com\n",
            [],
            "it has the columns of the customers table: --table customers",
        ),
        (b"a\n1\n", ["--table", "orders"], "--table: unknown table 'orders'"),
        (b"a\n1\n", ["--table", "transactions", "--map", "a"], "--map: 'a' is not of the form old=new"),
        (b"a\n1\n", ["--table", "transactions", "--map", "b=order_id"], "--map: column(s) b not in"),
        (
            GOOD_CSV,
            ["--table", "transactions", "--encoding", "klingon"],
            "--encoding: 'klingon' is not a text encoding",
        ),
        (GOOD_CSV, ["--table", "transactions", "--ts-format", "%Q%"], "--ts-format: '%Q%' is not a usable"),
        (lzma.compress(GOOD_CSV * 50)[:120], ["--table", "transactions"], "the compressed file is truncated"),
        (
            b"order_id,Customer ID,TS,Product-ID,quantity,unit_price\no1,c,2026-01-01,p,1,1\n",
            ["--table", "transactions"],
            "(it looks like: --map 'Customer ID=customer_id' --map TS=ts --map Product-ID=product_id)",
        ),
        (
            GOOD_CSV,
            ["--table", "transactions", "--map", "a=ts", "--map", "a=when"],
            "'a' is mapped twice (ts and when)",
        ),
        # a compressed or Parquet export saved as .csv: the reader's own words were "Empty CSV file or block"
        (gzip.compress(GOOD_CSV), ["--table", "transactions"], "say it is gzip-compressed: name it bad.csv.gz"),
        (b"PAR1" + bytes(range(128, 200)), ["--table", "transactions"], "it is a Parquet file: name it bad.parquet"),
    ],
    ids=[
        "empty",
        "header-only",
        "wrong-encoding",
        "missing-column",
        "another-table",
        "unknown-table",
        "bad-map",
        "map-unknown",
        "unknown-encoding",
        "bad-ts-format",
        "truncated-xz",
        "names-in-another-case",
        "mapped-twice",
        "gzip-named-csv",
        "parquet-named-csv",
    ],
)
def test_bad_input_ends_with_one_clear_line_and_writes_nothing(settings, tmp_path, content, args, message):
    path = tmp_path / ("bad.csv.xz" if content[:6] == b"\xfd7zXZ\x00" else "bad.csv")
    path.write_bytes(content)
    result = runner.invoke(app, ["ingest", str(path), *args])

    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert result.output.strip().count("\n") == 0 or len(result.output.strip().splitlines()) <= 3
    assert not settings.paths.offline.exists() and not settings.paths.catalog.exists()


def test_a_file_of_another_table_is_pointed_to_its_table_not_to_flags(settings, tmp_path):
    (tmp_path / "members.csv").write_bytes(b"customer_id,ts,tier\nc1,2026-01-01T10:00:00Z,gold\n")
    said = " ".join(runner.invoke(app, ["ingest", str(tmp_path / "members.csv")]).output.split())
    found = "(found customer_id, ts, tier); map foreign names with --map old=new"
    # The table only: not --no-order-ids or --one-unit-per-line, which would read it as a purchase log.
    assert said.endswith(f"{found}; it has the columns of the membership table: --table membership")


def test_ingest_reads_transactions_when_no_table_is_given(settings, tmp_path):
    (tmp_path / "sales.csv").write_bytes(GOOD_CSV)
    result = runner.invoke(app, ["ingest", str(tmp_path / "sales.csv")])
    assert result.exit_code == 0, result.output
    assert OfflineStore(settings.paths).read("transactions")["order_id"].tolist() == ["o1"]


def test_a_missing_file_is_a_clear_error(settings, tmp_path):
    result = runner.invoke(app, ["ingest", str(tmp_path / "nope.csv"), "--table", "transactions"])
    assert result.exit_code == 2 and "no such file" in result.output
    folder = runner.invoke(app, ["ingest", str(tmp_path), "--table", "transactions"])  # not "no such file"
    assert folder.exit_code == 2 and "the folder holds no export (CSV, Parquet, Excel or JSON files)" in folder.output
    import os

    os.mkfifo(tmp_path / "pipe.csv")  # read, it would wait for a writer forever; /dev/zero would never end
    pipe = runner.invoke(app, ["ingest", str(tmp_path / "pipe.csv"), "--table", "transactions"])
    assert pipe.exit_code == 2 and "pipe.csv: not a regular file (a device or a pipe)" in pipe.output


def test_a_folder_of_daily_exports_goes_in_file_by_file_and_again_adds_nothing(settings, tmp_path):
    """A shop's exports are daily files: each was a command of its own. A folder is now its files in name
    order, each one batch; one that cannot be read stops there, says how many went in, and the same command
    run again after the fix adds only what had not gone in."""
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "2026-01-01.csv").write_bytes(GOOD_CSV)
    (folder / "2026-01-02.csv").write_bytes(GOOD_CSV.replace(b"o1,c1", b"o2,c2"))
    (folder / "2026-01-03.csv").write_bytes(b"")
    (folder / "readme.pdf").write_bytes(b"%PDF")
    args = ["ingest", str(folder), "--table", "transactions", "--json"]
    stopped = runner.invoke(app, args)
    assert stopped.exit_code == 2 and "2026-01-03.csv: the file is empty (2 of 3 files" in " ".join(
        stopped.output.split()
    )
    assert len(BatchCatalog(settings.paths.catalog).batches("transactions")) == 2
    (folder / "2026-01-03.csv").write_bytes(GOOD_CSV.replace(b"o1,c1", b"o3,c3"))
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    summary = json.loads(again.stdout)
    assert (summary["received"], summary["accepted"], summary["duplicates"]) == (3, 1, 2)
    assert [Path(f["source"]).name for f in summary["files"]] == ["2026-01-01.csv", "2026-01-02.csv", "2026-01-03.csv"]
    assert summary["left_alone"] == ["readme.pdf"]


def test_a_time_written_across_a_date_and_a_time_column_is_joined_by_the_map(settings, tmp_path):
    """Point-of-sale exports (Square's among them) write the date and the time of day in two columns; mapped
    to ts one at a time, the time was lost or the other column refused. "Date+Time=ts" joins them; a line
    without its time keeps its date, and a spreadsheet's date cell (read with its midnight) takes the time."""
    export = pd.DataFrame(
        {
            "Date": ["2026-01-05", "2026-01-05 00:00:00", "2026-01-06"],
            "Time": ["13:45:10", "09:00", ""],
            "Transaction ID": ["T1", "T2", "T3"],
            "Customer ID": ["C1", "C1", "C2"],
            "SKU": ["LAT-12", "MUF-1", "MUF-1"],
            "Qty": [2, 1, 1],
            "Price": ["$4.50", "$3.25", "$1,003.25"],
        }
    )
    path = tmp_path / "square.csv"
    export.to_csv(path, index=False)
    mapping = (
        "Date+Time=ts,Transaction ID=order_id,Customer ID=customer_id,SKU=product_id,Qty=quantity,Price=unit_price"
    )
    dollars = settings.model_copy(update={"default_currency": "USD", "currencies": frozenset({"USD"})})
    report = ingest(path, IngestOptions("transactions", mapping=parse_mapping(mapping)), dollars)
    assert (report.accepted, report.quarantined) == (3, 0), report.quarantined_by_reason
    stored = OfflineStore(settings.paths).read("transactions").sort_values("order_id")
    assert [t.isoformat() for t in stored["ts"]] == [
        "2026-01-05T13:45:10+00:00",
        "2026-01-05T09:00:00+00:00",
        "2026-01-06T00:00:00+00:00",
    ]
    assert stored["unit_price"].tolist() == [4.5, 3.25, 1003.25]
    wrong = runner.invoke(app, ["ingest", str(path), "--table", "transactions", "--map", "Date+Hour=ts"])
    assert wrong.exit_code != 0 and "--map: column(s) Hour not in square.csv" in wrong.output


def test_a_customer_list_without_sign_up_dates_is_dated_by_first_lines(settings, write_csv, tmp_path):
    """Shopify's customers export names no sign-up date: every row was refused for a missing column. Now
    each customer takes their first stored transaction (a return too: no line may predate the sign-up);
    one who bought nothing is quarantined as signup_ts:missing; a date the file gives is kept; the name's
    two columns, joined, are not "ignored"."""
    lines = [
        GOOD_LINE | {"event_id": "e1", "order_id": "o1", "customer_id": "7001", "ts": "2026-01-05T10:00:00"},
        GOOD_LINE | {"event_id": "e2", "order_id": "o2", "customer_id": "7001", "ts": "2026-01-02T09:00:00"},
        GOOD_LINE | {"event_id": "e3", "order_id": "o3", "customer_id": "7003", "ts": "2026-01-03T08:00:00"},
        GOOD_LINE
        | {"event_id": "e4", "order_id": "o4", "customer_id": "7003", "ts": "2026-01-01T08:00:00", "kind": "return"}
        | {"quantity": "-1"},
    ]
    ingest(write_csv(lines), IngestOptions("transactions"), settings, now=NOW)
    shopify = pd.DataFrame(
        {
            "Customer ID": ["7001", "7002", "7003"],
            "First Name": ["Anna", "Bo", "Cy"],
            "Last Name": ["Berg", "Li", "Ek"],
            "Email": ["anna@example.com", "bo@example.com", "cy@example.com"],
            "Tags": ["vip", "", ""],
        }
    )
    path = tmp_path / "customers_export.csv"
    shopify.to_csv(path, index=False)
    mapping = {"Customer ID": "customer_id", "Email": "email", "First Name+Last Name": "name"}
    report = ingest(path, IngestOptions("customers", mapping=mapping), settings, now=NOW)
    assert (report.received, report.accepted, report.quarantined) == (3, 2, 1)
    assert report.quarantined_by_reason == {"signup_ts:missing": 1}
    assert report.dated_by_first_line == 2 and report.ignored_columns == ["Tags"]
    by_raw = {raw: pseudonym(raw, settings.pseudonym_key.get_secret_value().encode()) for raw in ("7001", "7003")}
    stored = OfflineStore(settings.paths).read("customers").set_index("customer_id")["signup_ts"]
    assert stored[by_raw["7001"]] == pd.Timestamp("2026-01-02T09:00:00", tz="UTC")
    assert stored[by_raw["7003"]] == pd.Timestamp("2026-01-01T08:00:00", tz="UTC")  # the return came first

    given = pd.concat([shopify, shopify.head(1)]).assign(
        signup_ts=["2020-05-01T00:00:00", "", "", "next tuesday"], **{"Customer ID": ["7004", "7005", "7001", "7003"]}
    )
    given.to_csv(path, index=False)
    second = ingest(path, IngestOptions("customers", mapping=mapping), settings, now=NOW)
    # 7001 again, dated by the same first purchase: a duplicate of the row stored before; 7003's date is
    # no date, and keeps its reason rather than taking the first purchase's
    assert (second.accepted, second.duplicates, second.dated_by_first_line) == (1, 1, 1)
    assert second.quarantined_by_reason == {"signup_ts:missing": 1, "signup_ts:unparsable_timestamp": 1}
    everyone = OfflineStore(settings.paths).read("customers")
    key = settings.pseudonym_key.get_secret_value().encode()
    assert everyone.loc[everyone["customer_id"] == pseudonym("7004", key), "signup_ts"].tolist() == [
        pd.Timestamp("2020-05-01", tz="UTC")
    ]


@pytest.mark.parametrize(
    ("header", "suggested"),
    [
        (  # UCI Online Retail II
            "Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country",
            "--map Invoice=order_id --map 'Customer ID=customer_id' --map InvoiceDate=ts --map StockCode=product_id "
            "--map Quantity=quantity --map Price=unit_price",
        ),
        (  # Shopify's order export: "Name", its order number, only when numbered "#1001" (test_order_status.py)
            "Name,Email,Financial Status,Created at,Lineitem quantity,Lineitem price,Lineitem sku,Lineitem discount,"
            "Paid at,Cancelled at,Discount Amount",
            "--map Email=customer_id --map 'Created at=ts' --map 'Lineitem sku=product_id' "
            "--map 'Lineitem quantity=quantity' --map 'Lineitem price=unit_price' "
            "--map 'Lineitem discount=discount' "  # the line's own discount, optional, in the same command
            "--map 'Financial Status=order_status' --map 'Cancelled at=cancelled_at' "  # no sales either
            "--map 'Discount Amount=order_discount'",  # the order's, spread over its lines (test_discounts.py)
        ),
        (  # H&M's transactions: one row per item, no order number, no quantity
            "t_dat,customer_id,article_id,price,sales_channel_id",
            "--map t_dat=ts --map article_id=product_id --map price=unit_price",  # and the flags (test_visits.py)
        ),
        (  # Square's item sales: the date and the time of day apart, joined
            "Date,Time,Time Zone,Item,Qty,SKU,Gross Sales,Discounts,Transaction ID,Customer ID,Location",
            "--map Date+Time=ts --map 'Transaction ID=order_id' --map 'Customer ID=customer_id' "
            "--map SKU=product_id --map Qty=quantity --map 'Time Zone=time_zone' --map Location=store_id "
            "--map Discounts=discount "  # written negative on a sale (test_discounts.py)
            "--map 'Gross Sales=unit_price' --line-totals",  # a line's total, not a price: divided by Qty
        ),
        (  # Favorita's daily units per store and item: no price, no order, no customer
            "id,date,store_nbr,item_nbr,unit_sales,onpromotion",
            "--map date=ts --map item_nbr=product_id --map unit_sales=quantity --map store_nbr=store_id "
            "--map onpromotion=on_promotion",  # the promotion flag, optional, in the same command
        ),
        (  # WooCommerce's order export: its "Item Cost" is the item's price, too close to a cost to suggest
            "Order Number,Order Status,Order Date,Billing Email,SKU,Item Name,Quantity,Item Cost,Order Total",
            "--map 'Order Number=order_id' --map 'Billing Email=customer_id' --map 'Order Date=ts' "
            "--map SKU=product_id --map Quantity=quantity --map 'Order Status=order_status'",  # cancelled: no sale
        ),
        (  # Magento's sales order items joined to their orders
            "increment_id,created_at,customer_email,sku,qty_ordered,price,store_id",
            "--map increment_id=order_id --map customer_email=customer_id --map created_at=ts --map sku=product_id "
            "--map qty_ordered=quantity --map price=unit_price",
        ),
    ],
    ids=["online-retail-ii", "shopify", "h&m", "square", "favorita", "woocommerce", "magento"],
)
def test_a_popular_exports_header_gets_the_map_to_type(tmp_path, settings, header, suggested):
    """A real export's names were told only "map foreign names with --map old=new"."""
    path = tmp_path / "export.csv"
    path.write_text(header + "\n" + ",".join("1" for _ in header.split(",")) + "\n")
    result = runner.invoke(app, ["ingest", str(path), "--table", "transactions"])
    assert result.exit_code != 0 and f"(it looks like: {suggested})" in " ".join(result.output.split())


def test_a_stock_reports_header_gets_the_map_to_type_and_its_optional_columns_are_named(tmp_path, settings):
    """A POS stock report's names were told as SKU and Location only, and its "On Order" column, optional in
    the schema, was listed as not stored with nothing to say it was the one the schema has."""
    path = tmp_path / "stock.csv"
    path.write_text("SKU,Location,Qty On Hand,On Order,Lead Time,Count Date\np1,s1,4,2,5,2026-01-05\n")
    result = runner.invoke(app, ["ingest", str(path), "--table", "inventory"])
    suggested = (
        "--map SKU=product_id --map Location=store_id --map 'Count Date=ts' --map 'Qty On Hand=on_hand' "
        "--map 'On Order=on_order' --map 'Lead Time=lead_time_days'"  # the optional ones too: one command
    )
    assert result.exit_code != 0 and f"(it looks like: {suggested})" in " ".join(result.output.split())
    maps = "SKU=product_id,Location=store_id,Qty On Hand=on_hand,Count Date=ts"
    result = runner.invoke(app, ["ingest", str(path), "--table", "inventory", "--map", maps, "--json"])
    summary = json.loads(result.stdout)
    assert summary["accepted"] == 1 and summary["ignored_columns"] == ["On Order", "Lead Time"]
    assert summary["suggested_maps"] == ["On Order=on_order", "Lead Time=lead_time_days"]
    result = runner.invoke(app, ["ingest", str(path), "--table", "inventory", "--map", maps])
    told = "(if meant, ingest again with --map 'On Order=on_order' --map 'Lead Time=lead_time_days')"
    assert told in " ".join(result.output.split())


def test_a_daily_sales_reports_header_is_told_daily_totals_and_its_sales_column_line_totals(tmp_path, settings):
    """A report of units and sales per product, store and day was told only `--map Date=ts`: nothing about
    its Item, its Units Sold, its Sales (a total, not a price) or that its rows are no order lines."""
    path = tmp_path / "daily.csv"
    path.write_text("Date,Store,Item,Units Sold,Sales\n2026-01-05,S1,P1,3,7.50\n")
    result = runner.invoke(app, ["ingest", str(path), "--table", "transactions"])
    told = " ".join(result.output.split())
    suggested = "--map Date=ts --map Item=product_id --map 'Units Sold=quantity' --map Store=store_id "
    assert result.exit_code != 0 and f"(it looks like: {suggested}--map Sales=unit_price --line-totals)" in told
    assert told.endswith(
        "a daily sales report (units per product and day, no orders or customers) takes --daily-totals"
    )
    maps = "Date=ts,Item=product_id,Units Sold=quantity,Store=store_id,Sales=unit_price"
    args = ["ingest", str(path), "--table", "transactions", "--map", maps, "--line-totals", "--daily-totals"]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["accepted"] == 1
    # a till's daily report with an empty customer column is daily totals all the same; a filled one is not
    path.write_text("Date,Store,Item,Units Sold,Sales,customer_id\n2026-01-06,S1,P1,3,7.50,\n")
    assert json.loads(runner.invoke(app, [*args, "--json"]).stdout)["accepted"] == 1
    path.write_text("Date,Store,Item,Units Sold,Sales,customer_id\n2026-01-07,S1,P1,3,7.50,c9\n")
    result = runner.invoke(app, args)
    assert result.exit_code != 0 and "the file has customer_id: its rows are order lines" in result.output


def test_a_stock_report_without_a_date_takes_its_count_time_from_the_command(tmp_path, settings):
    """An ERP's "stock on hand" export has no date: it was refused for a missing ts with nothing to do but
    edit the file. --counted-at gives every row its count time; a dated file is refused, and a time in
    the future is quarantined as any."""
    path = tmp_path / "soh.csv"
    path.write_text("SKU,Location,Qty On Hand\np1,s1,4\np2,s1,-2\n")
    args = [
        "ingest",
        str(path),
        "--table",
        "inventory",
        "--map",
        "SKU=product_id,Location=store_id,Qty On Hand=on_hand",
    ]
    refused = runner.invoke(app, args)
    assert refused.exit_code != 0 and "takes --counted-at 'YYYY-MM-DD HH:MM'" in " ".join(refused.output.split())
    result = runner.invoke(app, [*args, "--counted-at", "2026-01-05 21:00", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["accepted"] == 2
    stored = OfflineStore(settings.paths).read("inventory")
    assert (stored["ts"] == pd.Timestamp("2026-01-05 21:00", tz=settings.timezone)).all()
    later = runner.invoke(app, [*args, "--counted-at", "2999-01-01", "--json"])
    assert json.loads(later.stdout)["quarantined_by_reason"] == {"ts:not_in_future": 2}
    path.write_text("SKU,Location,Qty On Hand,ts\np1,s1,4,2026-01-06\n")
    assert "has a ts column of its own" in runner.invoke(app, [*args, "--counted-at", "2026-01-06 21:00"]).output


def test_line_totals_become_unit_prices(settings, tmp_path):
    """CDNOW-style exports give each line's amount (quantity x price), not the price: read as unit prices,
    two CDs for 20.00 were stored at 40.00. --line-totals divides; a return's negative total over its
    negative quantity is a price like any other, and a zero quantity keeps its own reason."""
    path = tmp_path / "cdnow.csv"
    path.write_text(
        "customer,date,quantity,amount,order,product\n"
        "00001,19970101,2,20.00,o1,cd\n"
        "00002,19970112,1,11.77,o2,cd\n"
        "00002,19970115,-1,-11.77,r1,cd\n"
        "00003,19970118,0,5.00,o3,cd\n"
    )
    mapping = parse_mapping("customer=customer_id,date=ts,amount=unit_price,order=order_id,product=product_id")
    options = IngestOptions("transactions", mapping=mapping, ts_format="%Y%m%d", line_totals=True)
    report = ingest(path, options, settings)
    assert report.quarantined_by_reason == {"quantity:non_zero_quantity": 1}
    stored = OfflineStore(settings.paths).read("transactions").sort_values("order_id")
    assert stored["unit_price"].tolist() == [20.0 / 2, 11.77, 11.77]
    assert stored["kind"].tolist() == ["purchase", "purchase", "return"]
    batch = BatchCatalog(settings.paths.catalog).batches()[-1]
    assert batch.options["line_totals"] is True


@pytest.mark.parametrize("name", ["unicode.txt.csv", "unicode.csv.gz"])
def test_a_utf16_export_with_its_byte_order_mark_is_read_without_an_option(settings, tmp_path, name):
    """Excel's "Unicode text" is UTF-16 with a byte-order mark, tab-separated: it was refused, with the
    --encoding to type, although the mark says which encoding it is."""
    text = GOOD_CSV.decode().replace(",", "\t").encode("utf-16")
    path = tmp_path / name
    path.write_bytes(gzip.compress(text) if name.endswith(".gz") else text)
    for given in ([], ["--encoding", "latin-1"]):  # an 8-bit encoding given by habit: the mark still says
        result = runner.invoke(app, ["ingest", str(path), "--table", "transactions", *given, "--json"])
        assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["duplicates"] == 1  # read the same way both times
    assert OfflineStore(settings.paths).read("transactions")["unit_price"].tolist() == [2.5]


def test_repeated_maps_all_apply_and_a_utf16_export_loads_with_its_encoding(settings, tmp_path):
    # a second --map used to replace the first silently
    path = tmp_path / "excel.csv"
    path.write_bytes(b"order_id,Customer ID,TS,product_id,quantity,unit_price\no1,c1,2026-01-02T10:00:00,p,1,2.5\n")
    maps = ["--map", "Customer ID=customer_id", "--map", "TS=ts"]
    result = runner.invoke(app, ["ingest", str(path), "--table", "transactions", *maps, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["accepted"] == 1
    path.write_bytes(path.read_bytes().decode().replace("o1", "o2").encode("utf-16"))
    args = ["ingest", str(path), "--table", "transactions", *maps, "--encoding", "utf-16", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["accepted"] == 1
    assert sorted(OfflineStore(settings.paths).read("transactions")["order_id"]) == ["o1", "o2"]


def test_a_crash_before_commit_leaves_nothing_visible(settings, write_csv, monkeypatch):
    def refuse(self, record):
        raise OSError("disk full")

    monkeypatch.setattr(BatchCatalog, "commit", refuse)
    with pytest.raises(OSError):
        ingest(write_csv(mixed_lines()), IngestOptions("transactions"), settings, now=NOW)
    monkeypatch.undo()

    store = OfflineStore(settings.paths)
    assert store.read("transactions").empty and store.read_quarantine("transactions").empty
    assert not any(settings.paths.staging.glob("*"))
    # The same file then goes in whole, as if the crash had never happened.
    report = ingest(write_csv(mixed_lines()), IngestOptions("transactions"), settings, now=NOW)
    assert report.accepted == 40 and report.duplicates == 3


def test_ingest_json_summary_has_the_documented_keys(settings, write_csv):
    result = runner.invoke(app, ["ingest", str(write_csv(mixed_lines())), "--table", "transactions", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert {"received", "accepted", "quarantined", "quarantined_by_reason", "duplicates", "batch_id"} <= set(summary)
    assert summary["accepted"] + summary["quarantined"] + summary["duplicates"] == summary["received"]


def test_future_check_uses_the_time_of_ingestion(settings, write_csv):
    line = GOOD_LINE | {"ts": "2026-01-10T12:04:00Z"}
    within_skew = ingest(write_csv([line]), IngestOptions("transactions"), settings, now=NOW)
    assert within_skew.accepted == 1
    later = datetime(2026, 1, 10, 11, 0, tzinfo=UTC)
    other = settings.model_copy(update={"home": settings.home.parent / "other"})
    assert ingest(write_csv([line]), IngestOptions("transactions"), other, now=later).quarantined == 1


def test_concurrent_ingests_of_files_sharing_lines_store_each_line_once(settings, tmp_path, monkeypatch):
    """Two ingests of overlapping files at the same moment: the ingest lock serialises deduplication and
    commit, so the shared lines are stored once (they were stored twice). Writing is slowed down to hold
    the window between deduplication and commit open."""
    import threading
    import time

    from spend.features.ingest.store import OfflineStore as Store

    stage = Store.stage

    def slow_stage(self, *args, **kwargs):
        time.sleep(0.5)
        return stage(self, *args, **kwargs)

    monkeypatch.setattr(Store, "stage", slow_stage)
    lines = [GOOD_LINE | {"event_id": f"e{i}", "order_id": f"o{i}"} for i in range(3_000)]
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    pd.DataFrame(lines[:2_000]).to_csv(first, index=False)
    pd.DataFrame(lines[1_000:]).to_csv(second, index=False)
    accepted: list[int] = []

    def run(path) -> None:
        accepted.append(ingest(path, IngestOptions("transactions"), settings, now=NOW).accepted)

    threads = [threading.Thread(target=run, args=(path,)) for path in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stored = OfflineStore(settings.paths).read("transactions")
    assert len(stored) == stored["event_id"].nunique() == 3_000
    assert sorted(accepted) == [1_000, 2_000]  # whichever went second found the shared thousand stored


def test_files_an_interrupted_ingest_left_are_listed_and_removed_before_any_reader_of_the_folder_sees_them(
    settings, write_csv, monkeypatch
):
    """A process killed between moving its files into place and writing its ledger row leaves them where
    DuckDB, Spark or pandas would read them. `spend doctor` lists them, the next ingest removes them."""
    import pyarrow.dataset as ds

    from spend.features.ingest.store import OfflineStore as Store

    with monkeypatch.context() as killed:
        killed.setattr(Store, "discard", lambda self, batch_id, moves=(): None)  # as if killed: no cleanup
        killed.setattr(BatchCatalog, "commit", lambda self, record: (_ for _ in ()).throw(KeyboardInterrupt()))
        with pytest.raises(KeyboardInterrupt):
            ingest(write_csv(mixed_lines()), IngestOptions("transactions"), settings, now=NOW)
    folder = settings.paths.table("transactions")
    assert ds.dataset(folder, format="parquet").count_rows() == 40  # what another reader would see

    listed = json.loads(runner.invoke(app, ["doctor", "--json"]).stdout)
    assert listed["orphans"] and all(p.startswith(("offline/", "quarantine/")) for p in listed["orphans"])
    report = ingest(write_csv([GOOD_LINE | {"event_id": "new"}], "other.csv"), IngestOptions("transactions"), settings)
    assert report.accepted == 1
    assert ds.dataset(folder, format="parquet").count_rows() == 1  # the orphans are gone, the new row is there
    assert json.loads(runner.invoke(app, ["doctor", "--json"]).stdout)["orphans"] == []


@pytest.mark.parametrize(("name", "delimiter"), [("excel.csv", ";"), ("export.tsv", "\t"), ("piped.csv.xz", "|")])
def test_a_semicolon_tab_or_pipe_separated_export_is_read_by_its_header(settings, tmp_path, name, delimiter):
    # a semicolon CSV (Excel where the decimal mark is a comma) was one column "order_id;customer_id;..."
    text = GOOD_CSV.decode().replace(",", delimiter).encode()
    path = tmp_path / name
    path.write_bytes(lzma.compress(text) if name.endswith(".xz") else text)
    result = runner.invoke(app, ["ingest", str(path), "--table", "transactions", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["accepted"] == 1
    assert OfflineStore(settings.paths).read("transactions")["unit_price"].tolist() == [2.5]


def test_a_semicolon_export_with_decimal_commas_is_read_and_its_commas_quarantined_with_a_reason(settings, tmp_path):
    # its data rows hold commas: the header was read with commas as one column, then row 1 had two fields
    path = tmp_path / "excel.csv"
    header = GOOD_CSV.decode().splitlines()[0].replace(",", ";")
    path.write_text(f"{header}\no1;c1;2026-01-01T10:00:00Z;p1;1;2.5\no2;c1;2026-01-01T11:00:00Z;p1;1;2,5\n")
    result = runner.invoke(app, ["ingest", str(path), "--table", "transactions", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["accepted"], report["quarantined"]) == (1, 1)


def test_a_damaged_stored_file_is_named_by_readers_listed_by_doctor_and_its_batch_removed_to_ingest_again(
    settings, write_csv
):
    """A committed file cut short (a disk, a copy) was `unexpected ArrowInvalid` from every command, and
    `spend doctor` said there was nothing to repair."""
    first = ingest(write_csv([GOOD_LINE], "first.csv"), IngestOptions("transactions"), settings, now=NOW)
    second = write_csv([GOOD_LINE | {"event_id": "e2", "order_id": "o2"}], "second.csv")
    ingest(second, IngestOptions("transactions"), settings, now=NOW)
    (damaged,) = [p for p in settings.paths.table("transactions").rglob("*.parquet") if first.batch_id not in p.name]
    damaged.write_bytes(damaged.read_bytes()[:100])

    read = runner.invoke(app, ["quality"])
    assert read.exit_code == 2 and read.output.count("error:") == 1 and "unexpected" not in read.output
    assert "a stored file of transactions cannot be read" in read.output and "spend doctor" in read.output
    (listed,) = json.loads(runner.invoke(app, ["doctor", "--json"]).stdout)["damaged"]
    assert listed["source"].endswith("second.csv") and listed["file"].startswith("offline/transactions/")
    assert len(OfflineStore(settings.paths).catalog.batches()) == 2  # listing repairs nothing

    repaired = json.loads(runner.invoke(app, ["doctor", "--repair", "--json"]).stdout)
    assert repaired["repaired"] and [d["batch"] for d in repaired["damaged"]] == [listed["batch"]]
    assert [b.batch_id for b in OfflineStore(settings.paths).catalog.batches()] == [first.batch_id]
    assert not damaged.exists() and json.loads(runner.invoke(app, ["doctor", "--json"]).stdout)["damaged"] == []
    again = ingest(second, IngestOptions("transactions"), settings, now=NOW)  # its rows are new again
    assert again.accepted == 1 and len(OfflineStore(settings.paths).read("transactions")) == 2


def test_a_damaged_ledger_is_one_line_naming_it(settings, write_csv):
    """Was `unexpected DatabaseError: database disk image is malformed` from every command."""
    ingest(write_csv([GOOD_LINE]), IngestOptions("transactions"), settings, now=NOW)
    ledger = settings.paths.catalog
    ledger.write_bytes(ledger.read_bytes()[:2000])
    for command in (["batches"], ["doctor"], ["quality"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 2 and result.output.count("error:") == 1, result.output
        assert f"the batch ledger {ledger} cannot be read" in " ".join(result.output.split()), result.output


def test_a_file_the_system_will_not_let_us_read_is_not_called_damaged(settings, write_csv, monkeypatch):
    """Only Arrow's refusal of the bytes is damage: `--repair` deletes a damaged file's batch, and a
    permission problem must not cost the data (it is named by the file system's own error instead)."""
    import spend.features.ingest.store as store_module

    ingest(write_csv([GOOD_LINE]), IngestOptions("transactions"), settings, now=NOW)

    def refused(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(store_module.pq, "read_metadata", refused)
    with pytest.raises(PermissionError):
        OfflineStore(settings.paths).damaged()
    assert len(OfflineStore(settings.paths).catalog.batches()) == 1


@pytest.mark.parametrize(("ts_format", "scale"), [("unix", 1), ("unix_ms", 1000)])
def test_epoch_timestamps_are_read_with_ts_format_unix_in_utc_whatever_the_zone(
    settings, write_csv, tmp_path, ts_format, scale
):
    """Numbers since 1970 were always `unparsable_timestamp`, and no --ts-format could read them."""
    paris = settings.model_copy(update={"timezone": "Europe/Paris"})
    seconds = [1767348000, 1767348000.25, "not a time", 1e20]  # 2026-01-02T10:00Z, a quarter second later
    lines = [
        GOOD_LINE | {"event_id": f"e{i}", "ts": v if isinstance(v, str) else v * scale} for i, v in enumerate(seconds)
    ]
    report = ingest(write_csv(lines), IngestOptions("transactions", ts_format=ts_format), paris, now=NOW)
    assert (report.accepted, report.quarantined_by_reason) == (2, {"ts:unparsable_timestamp": 2})
    stored = OfflineStore(paris.paths).read("transactions").sort_values("event_id")["ts"].tolist()
    assert stored == [pd.Timestamp("2026-01-02T10:00:00Z"), pd.Timestamp("2026-01-02T10:00:00.250Z")]
    # an integer column of a Parquet export, the same way
    frame = pd.DataFrame([GOOD_LINE | {"event_id": "p1", "ts": 1767348000 * scale}]).astype({"ts": "int64"})
    frame.to_parquet(tmp_path / "epoch.parquet")
    parquet = ingest(tmp_path / "epoch.parquet", IngestOptions("transactions", ts_format=ts_format), paris, now=NOW)
    assert parquet.accepted == 1


def test_unparsable_timestamps_come_with_how_to_read_them(settings, write_csv):
    result = runner.invoke(
        app, ["ingest", str(write_csv([GOOD_LINE | {"ts": "1767348000"}])), "--table", "transactions"]
    )
    assert result.exit_code == 0 and "ts:unparsable_timestamp" in result.output
    assert "need --ts-format; the values read as --ts-format 'unix'" in result.output


def test_a_month_first_export_is_told_its_format_and_its_guest_lines_how_to_keep_them(settings, write_csv):
    """Online Retail II's export as it is: every line quarantined, with only a generic example of a format
    (day first, the wrong way round for it), nothing about its guest checkouts, and three minutes spent
    joining the bad rows' texts one row at a time."""
    times = ["12/1/2009 7:45", "12/13/2009 10:05", "1/4/2010 16:30"]
    lines = [GOOD_LINE | {"event_id": f"e{i}", "ts": t} for i, t in enumerate(times)]
    lines.append(GOOD_LINE | {"event_id": "guest", "order_id": "o-guest", "customer_id": "", "ts": "1/5/2010 9:00"})
    text = runner.invoke(app, ["ingest", str(write_csv(lines)), "--table", "transactions"]).output
    again = [line | {"event_id": line["event_id"] + "-json"} for line in lines]
    result = runner.invoke(app, ["ingest", str(write_csv(again)), "--table", "transactions", "--json"])
    assert json.loads(result.output)["suggested_ts_formats"] == ["%m/%d/%Y %H:%M"]
    assert "the values read as --ts-format '%m/%d/%Y %H:%M'" in text
    assert "--allow-anonymous" in text


def test_a_spreadsheets_empty_trailing_rows_are_quarantined_as_blank(settings, tmp_path):
    """Excel saves the rows of its used range: they were quarantined as `order_id:missing`, which sent the
    user looking for lines that lost their order number."""
    path = tmp_path / "sheet.csv"
    path.write_text(GOOD_CSV.decode() + "o2,,2026-01-01T11:00:00Z,p1,1,2.5\n,,,,,\n , ,,, ,\n")
    report = ingest(path, IngestOptions("transactions"), settings, now=NOW)
    assert report.accepted == 1 and report.accepted + report.quarantined + report.duplicates == report.received == 4
    reasons = OfflineStore(settings.paths).read_quarantine("transactions").sort_values("source_row")
    assert reasons["reason"].tolist()[0] == "customer_id:missing"  # a line with an order is still one
    assert set(reasons["reason"].tolist()[1:]) == {"row:blank"}


def test_a_format_that_misreads_part_of_a_file_refuses_it_whole(settings, write_csv):
    """Read day first, a month-first file stored 4/3/2010 as the 4th of March and quarantined 12/13/2009:
    ingested again with the right format, its lines would be stored twice, half of them on wrong dates."""
    times = ["4/3/2010 10:00", "12/13/2009 10:05", "1/4/2010 16:30"]
    lines = [GOOD_LINE | {"event_id": f"e{i}", "ts": t} for i, t in enumerate(times)]
    refusal = r"ts: --ts-format '%d/%m/%Y %H:%M' read 2 values and not 1 .*'%m/%d/%Y %H:%M'"
    with pytest.raises(SpendError, match=refusal):
        ingest(write_csv(lines), IngestOptions("transactions", ts_format="%d/%m/%Y %H:%M"), settings, now=NOW)
    assert OfflineStore(settings.paths).read("transactions").empty
    assert OfflineStore(settings.paths).read_quarantine("transactions").empty
    # a value no format reads is that value's problem, not the format's: quarantined, the rest stored
    lines[1]["ts"] = "13/13/2009 10:05"
    report = ingest(write_csv(lines), IngestOptions("transactions", ts_format="%d/%m/%Y %H:%M"), settings, now=NOW)
    assert (report.accepted, report.quarantined_by_reason) == (2, {"ts:unparsable_timestamp": 1})


def test_a_decimal_comma_export_is_read_with_decimal_comma_and_nothing_is_guessed(settings, tmp_path):
    """A semicolon export from a European till (12,50) lost every line as `unit_price:not_a_float`, with no
    option to read it."""
    prices = ["12,50", "1.234,5", ",5", "1.5", "12.345.678,9", "1,2,3"]
    lines = [f"o{i};alice;2026-01-02T10:00:00;p{i};1;{p}" for i, p in enumerate(prices)]
    path = tmp_path / "till.csv"
    path.write_text("order_id;customer_id;ts;product_id;quantity;unit_price\n" + "\n".join(lines) + "\n")
    report = ingest(path, IngestOptions("transactions", decimal=","), settings, now=NOW)
    # "1.5" with a decimal comma is no number (a point groups thousands), so it is refused, not read as 15
    assert report.quarantined_by_reason == {"unit_price:not_a_float": 2, "quantity:absurd_amount": 1}
    assert report.accepted + report.quarantined == report.received == len(prices)
    stored = OfflineStore(settings.paths).read("transactions").sort_values("order_id")["unit_price"].tolist()
    assert stored == [12.5, 1234.5, 0.5]


@pytest.mark.parametrize(
    ("decimal", "written", "read"),
    [
        (",", "1 234,50", 1234.5),  # French and Nordic spreadsheets group thousands with spaces
        (",", "1\u202f234,50", 1234.5),  # French Excel's narrow no-break space
        (",", "1\u00a0234 567,5", 1234567.5),
        (",", "1'234,50", 1234.5),
        (",", "12,50-", -12.5),  # SAP's minus after the number
        (",", "1 23,50", None),  # spaces group in threes only
        (",", "1.234 567,5", None),  # two ways of grouping in one number: not guessed
        (".", "1 234.50", 1234.5),
        (".", "1'234.50", 1234.5),  # Swiss
        (".", "1 250", 1250.0),  # a space is no decimal mark: unambiguous without a point, unlike 1,250
        (".", "7.5-", -7.5),
        (".", "12 34", None),
        (".", "5-3", None),
    ],
)
def test_numbers_grouped_by_spaces_or_apostrophes_and_trailing_minus_signs_are_read(decimal, written, read):
    """Every price of a French export (1 234,50, with Excel's narrow no-break space) and every return
    quantity of an SAP one (1-) was `not_a_float`."""
    from spend.features.ingest.parse import parse_numbers
    from spend.features.schema.fields import TEXT, Kind

    values, bad = parse_numbers(pd.Series([written], dtype=TEXT), Kind.FLOAT, decimal)
    assert (values.iloc[0], bool(bad.iloc[0])) == (read, False) if read is not None else bool(bad.iloc[0])


def test_decimal_commas_read_as_points_come_with_how_to_read_them(settings, tmp_path):
    path = tmp_path / "till.csv"
    path.write_text("order_id;customer_id;ts;product_id;quantity;unit_price\no1;alice;2026-01-02T10:00:00;p1;1;12,50\n")
    result = runner.invoke(app, ["ingest", str(path), "--table", "transactions"])
    assert result.exit_code == 0 and "unit_price:not_a_float" in result.output
    assert "need --decimal ','" in result.output
    wrong = runner.invoke(app, ["ingest", str(path), "--table", "transactions", "--decimal", ";"])
    assert wrong.exit_code != 0 and "--decimal: ';' is not a decimal mark" in wrong.output
    read = runner.invoke(app, ["ingest", str(path), "--table", "transactions", "--decimal", ","])
    assert read.exit_code == 0 and "need --decimal" not in read.output


def test_a_row_with_more_or_fewer_fields_than_the_header_is_quarantined_and_the_rest_goes_in(settings, tmp_path):
    """One row with a stray delimiter refused the whole file ("CSV parse error: Expected 6 columns, got 7")."""
    header = "order_id,customer_id,ts,product_id,quantity,unit_price"
    rows = [
        "o1,alice,2026-01-02T10:00:00,p1,1,2.5",
        "o2,bob-secret,2026-01-02T10:00:00,Mug, red,1,2.5",  # a comma inside an unquoted name
        "o3,carol,2026-01-02T10:00:00,p3,1,2.5",
        "o4,dave-secret,2026-01-02T10:00:00,p4,1",  # a field short
    ]
    path = tmp_path / "export.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    report = ingest(path, IngestOptions("transactions"), settings, now=NOW)
    assert (report.received, report.accepted, report.quarantined) == (4, 2, 2)
    assert report.quarantined_by_reason == {"row:field_count": 2}
    quarantine = OfflineStore(settings.paths).read_quarantine("transactions").sort_values("source_row")
    assert quarantine["source_row"].tolist() == [2, 4] and set(quarantine["reasons"]) == {"row:field_count"}
    stored = b"".join(p.read_bytes() for p in settings.home.rglob("*.parquet"))
    assert b"secret" not in stored and b"Mug" not in stored  # nothing of an unsplit row is kept
    assert sorted(OfflineStore(settings.paths).read("transactions")["order_id"]) == ["o1", "o3"]
    again = ingest(path, IngestOptions("transactions"), settings, now=NOW)  # a replay adds nothing
    assert (again.accepted, again.quarantined, again.duplicates) == (0, 0, 4)
    other = tmp_path / "other.csv"
    other.write_text(f"{header}\no5,erin,2026-01-02T10:00:00,p5,1,2.5,extra\n")
    result = runner.invoke(app, ["ingest", str(other), "--table", "transactions"])
    assert result.exit_code == 0 and "quarantined whole, without their values" in result.output


def test_columns_without_a_header_name_are_dropped_when_empty_and_named_by_position_when_not(settings, tmp_path):
    """Excel's `a,b,c,,` header was "column(s)  appear more than once after mapping"."""
    header = "order_id,customer_id,ts,product_id,quantity,unit_price,,"
    path = tmp_path / "excel.csv"
    path.write_text(f"{header}\no1,alice,2026-01-02T10:00:00,p1,1,2.5,,\n")
    assert ingest(path, IngestOptions("transactions"), settings, now=NOW).accepted == 1
    path.write_text(f"{header}\no1,alice,2026-01-02T10:00:00,p1,1,2.5,,\no2,bob,2026-01-02T10:00:00,p1,1,2.5,,x\n")
    said = r"column 8 has no name in the header but holds values \(first in data row 2\)"
    with pytest.raises(SpendError, match=said):
        ingest(path, IngestOptions("transactions"), settings, now=NOW)


def test_bytes_that_are_no_text_end_in_one_line_without_a_traceback_on_the_terminal(settings, tmp_path, capfd):
    """pyarrow printed "Exception ignored in ... UnicodeDecodeError" with its traceback before the error line:
    it decodes a malformed row's text before handing it over."""
    path = tmp_path / "junk.csv"
    path.write_bytes(b"a,b,c\n1,2,3\n" + bytes([0xDD, 0xDD, 0x41, 0x0A, 0xFF, 0xFE, 0x2C, 0x0A]) * 50)
    with pytest.raises(SpendError, match="not valid for this encoding, pass --encoding"):
        ingest(path, IngestOptions("transactions"), settings, now=NOW)
    assert "Traceback" not in capfd.readouterr().err


def test_an_excel_export_is_ingested_from_its_first_sheet_with_every_cell_read_as_text(settings, tmp_path):
    """`spend ingest export.xlsx` was "unknown file type"; shops export from their tills to Excel."""
    from datetime import datetime as naive

    frame = pd.DataFrame(
        {
            "order_id": [1001, 1002],
            "customer_id": [12345, "alice"],  # a number in Excel: read as its text, never 12345.0
            "ts": [naive(2026, 1, 2, 10, 0), naive(2026, 1, 2, 11, 30)],  # Excel dates: no zone
            "product_id": ["p1", "p2"],
            "quantity": [2, 1],
            "unit_price": [12.5, 3.99],
            "": [None, None],  # a column Excel kept without a name or a value
        }
    )
    path = tmp_path / "till.xlsx"
    frame.to_excel(path, index=False)
    report = ingest(path, IngestOptions("transactions"), settings, now=NOW)
    assert (report.received, report.accepted) == (2, 2) and report.ignored_columns == []
    stored = OfflineStore(settings.paths).read("transactions").sort_values("order_id")
    key = settings.pseudonym_key.get_secret_value().encode()
    from spend.core.privacy.pseudonym import pseudonym

    assert stored["customer_id"].tolist() == [pseudonym("12345", key), pseudonym("alice", key)]
    assert stored["unit_price"].tolist() == [12.5, 3.99] and stored["order_id"].tolist() == ["1001", "1002"]
    assert stored["ts"].iloc[0] == pd.Timestamp("2026-01-02T10:00:00", tz=settings.timezone).tz_convert("UTC")
    (tmp_path / "broken.xlsx").write_bytes(b"not a workbook")
    # text renamed .xlsx: the reader's words, and what the first bytes say it is
    with pytest.raises(
        SpendError,
        match=r"broken.xlsx: cannot be read as xlsx \(File is not a zip file; it looks "
        r"like text, not xlsx: name it broken.csv if it is a CSV\)",
    ):
        ingest(tmp_path / "broken.xlsx", IngestOptions("transactions"), settings, now=NOW)


def test_local_times_a_daylight_saving_change_skips_or_repeats_are_quarantined_as_such(settings, tmp_path):
    """Both were `ts:unparsable_timestamp` (with a hint about --ts-format) from a CSV, and a Parquet export's
    naive datetime column holding one ended the whole ingest in an unexpected AmbiguousTimeError."""
    paris = settings.model_copy(update={"timezone": "Europe/Paris"})
    times = ["2026-10-25T02:30:00", "2026-03-29T02:30:00", "2026-10-25T03:30:00", "2026-10-25T02:30:00+01:00"]
    # repeated at fall-back, skipped in spring, fine, and the repeated one with its offset
    lines = [f"o{i},alice,{t},p1,1,2.5" for i, t in enumerate(times)]
    path = tmp_path / "paris.csv"
    path.write_text("order_id,customer_id,ts,product_id,quantity,unit_price\n" + "\n".join(lines) + "\n")
    report = ingest(path, IngestOptions("transactions"), paris, now=NOW.replace(year=2027))
    assert report.quarantined_by_reason == {"ts:ambiguous_local_time": 1, "ts:nonexistent_local_time": 1}
    assert report.accepted == 2
    frame = pd.DataFrame(
        {
            "order_id": ["p1", "p2"],
            "customer_id": ["bob", "bob"],
            "ts": pd.to_datetime(["2026-10-25 02:30:00", "2026-10-20 10:00:00"]),  # naive datetimes
            "product_id": ["p1", "p1"],
            "quantity": [1.0, 1.0],
            "unit_price": [2.0, 2.0],
        }
    )
    frame.to_parquet(tmp_path / "paris.parquet")
    typed = ingest(tmp_path / "paris.parquet", IngestOptions("transactions"), paris, now=NOW.replace(year=2027))
    assert (typed.accepted, typed.quarantined_by_reason) == (1, {"ts:ambiguous_local_time": 1})
    cli = tmp_path / "again.csv"
    cli.write_text(path.read_text().replace(",alice,", ",carol,"))
    result = runner.invoke(app, ["ingest", str(cli), "--table", "transactions"], env={"SPEND_TIMEZONE": "Europe/Paris"})
    assert result.exit_code == 0 and "ts:ambiguous_local_time" in result.output
    assert "a daylight-saving change" in result.output and "need --ts-format" not in result.output


@pytest.mark.parametrize(("repeated_hour", "utc"), [("first", "2026-10-25 00:30"), ("second", "2026-10-25 01:30")])
def test_local_times_in_the_hour_clocks_go_back_over_go_in_with_the_pass_the_option_names(
    settings, tmp_path, repeated_hour, utc
):
    """A till open the night clocks go back lost that hour's sales every year: quarantined, and the only
    way out was an export with UTC offsets, which most tills cannot write."""
    paris = settings.model_copy(update={"timezone": "Europe/Paris"})
    times = ["2026-10-25T02:30:00", "2026-03-29T02:30:00", "2026-10-25T03:30:00"]
    path = tmp_path / "paris.csv"
    body = [f"o{i},alice,{t},p1,1,2.5" for i, t in enumerate(times)]
    path.write_text("order_id,customer_id,ts,product_id,quantity,unit_price\n" + "\n".join(body) + "\n")
    first = ingest(path, IngestOptions("transactions"), paris, now=NOW.replace(year=2027))
    assert "--repeated-hour first" in " ".join(notes(first))
    again = ingest(path, IngestOptions("transactions", repeated_hour=repeated_hour), paris, now=NOW.replace(year=2027))
    assert (again.accepted, again.accepted_after_refusal) == (1, 1)
    assert again.quarantined_by_reason == {}  # the skipped time stays out, a duplicate of its refusal
    stored = OfflineStore(paris.paths).read("transactions").set_index("order_id")["ts"]
    assert stored["o0"] == pd.Timestamp(utc, tz="UTC") and stored["o2"] == pd.Timestamp("2026-10-25 02:30", tz="UTC")
    with pytest.raises(SpendError, match="--repeated-hour: 'both' is not a pass; use first or second"):
        IngestOptions("transactions", repeated_hour="both")


def test_each_line_of_a_shop_whose_stores_keep_different_clocks_is_read_in_its_own_zone(settings, tmp_path):
    """Square writes each line's date and time beside its location's zone: every line was read in
    SPEND_TIMEZONE, so a New York sale and a Los Angeles one at 10:00 on their own clocks were one instant."""
    zones = [
        "Pacific Time (US & Canada)",  # Square's
        "(GMT-05:00) Eastern Time (US & Canada)",  # Shopify's
        "Asia/Kolkata",
        "UTC+05:30",
        "",  # SPEND_TIMEZONE
        "Mars Time",
    ]
    body = [f"o{i},c{i},2025-07-01,10:00:00,{zone},p1,1,2.50" for i, zone in enumerate(zones)]
    path = tmp_path / "square.csv"
    path.write_text("Transaction ID,Customer ID,Date,Time,Time Zone,SKU,Qty,Price\n" + "\n".join(body) + "\n")
    told = runner.invoke(app, ["ingest", str(path), "--table", "transactions", "--json"])
    assert "Time Zone=time_zone" in told.stdout  # the column Spend now reads is named for the map
    paris = settings.model_copy(update={"timezone": "Europe/Paris"})
    maps = {"Transaction ID": "order_id", "Customer ID": "customer_id", "Date+Time": "ts", "Time Zone": "time_zone"}
    maps |= {"SKU": "product_id", "Qty": "quantity", "Price": "unit_price"}
    report = ingest(path, IngestOptions("transactions", maps), paris, now=NOW)
    assert (report.accepted, report.quarantined_by_reason) == (5, {"time_zone:unknown_zone": 1})
    stored = OfflineStore(paris.paths).read("transactions").set_index("order_id")
    utc = stored["ts"].dt.strftime("%H:%M").to_dict()
    assert utc == {"o0": "17:00", "o1": "14:00", "o2": "04:30", "o3": "04:30", "o4": "08:00"}
    written = stored["time_zone"].astype(object).where(stored["time_zone"].notna(), None).tolist()
    assert written == ["America/Los_Angeles", "America/New_York", "Asia/Kolkata", "+05:30", None]


def test_spend_quarantine_lists_rejected_rows_with_reason_source_file_and_row(settings, tmp_path):
    """Reading the quarantine meant knowing its Parquet layout and joining each batch to the ledger."""
    header = "order_id,customer_id,ts,product_id,quantity,unit_price"
    rows = [
        "o1,alice,2026-01-02T10:00:00,p1,1,2.5",
        "o2,bob,not a time,p1,1,2.5",
        "o3,carol,2026-01-02T10:00:00,p1,0,2.5",
    ]
    path = tmp_path / "till.csv"
    path.write_text("\n".join([header, *rows, "o4,dave,2026-01-02T10:00:00,p1,1"]) + "\n")
    report = ingest(path, IngestOptions("transactions"), settings, now=NOW)
    listed = json.loads(runner.invoke(app, ["quarantine", "--table", "transactions", "--json"]).stdout)
    assert listed["rows"] == report.quarantined == 3
    assert [r["source_row"] for r in listed["first_rows"]] == [2, 3, 4]
    assert {r["source"] for r in listed["first_rows"]} == {"till.csv"}
    assert listed["reasons"] == report.quarantined_by_reason
    only = json.loads(runner.invoke(app, ["quarantine", "--table", "transactions", "--reason", "ts:", "--json"]).stdout)
    assert [r["reason"] for r in only["first_rows"]] == ["ts:unparsable_timestamp"]
    out = tmp_path / "rejected.csv"
    assert runner.invoke(app, ["quarantine", "--table", "transactions", "--out", str(out)]).exit_code == 0
    written = pd.read_csv(out)
    assert written.columns[:3].tolist() == ["reason", "source", "source_row"] and len(written) == 3
    assert "bob" not in out.read_text()  # customer ids stay pseudonyms
    wrong = runner.invoke(app, ["quarantine", "--table", "transactions", "--batch", "nope"])
    assert wrong.exit_code == 2 and "no transactions batch 'nope'" in wrong.output
    assert "unknown table" in runner.invoke(app, ["quarantine", "--table", "sales"]).output


def test_exports_joined_one_after_another_quarantine_their_repeated_header_as_such(settings, tmp_path):
    """`cat jan.csv feb.csv > all.csv` repeats the header mid-file: it was quarantined as an unparsable
    timestamp with a hint to pass --ts-format, and its "Date Time" kept any format from reading every value,
    so a month-first file was told no format at all."""
    header = "Invoice,Customer,Date,Time,SKU,Qty,Price\n"
    month = header + "1,c1,12/13/2009,07:45,p1,1,2.50\n2,c2,1/4/2010,16:30,p1,2,2.50\n"
    path = tmp_path / "all.csv"
    path.write_text(month + month.replace("1,c1,", "3,c3,").replace("2,c2,", "4,c4,"))
    mapping = {"Invoice": "order_id", "Customer": "customer_id", "Date+Time": "ts", "SKU": "product_id"}
    mapping |= {"Qty": "quantity", "Price": "unit_price"}
    told = ingest(path, IngestOptions("transactions", mapping), settings, now=NOW)
    assert told.quarantined_by_reason == {"row:repeated_header": 1, "ts:unparsable_timestamp": 4}
    assert told.suggested_ts_formats == ["%m/%d/%Y %H:%M"]
    read = ingest(path, IngestOptions("transactions", mapping, ts_format="%m/%d/%Y %H:%M"), settings, now=NOW)
    assert read.accepted == 4 and read.received == 5  # the header again: a duplicate of its quarantined self
    assert read.accepted + read.quarantined + read.duplicates == read.received
    assert "ts:unparsable_timestamp" not in read.quarantined_by_reason


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_a_title_above_the_header_is_named_with_the_line_the_header_is_on(settings, tmp_path, suffix):
    """A POS report's title and export date above its table: refused for "column 2 has no name in the
    header", which sent the user to name a column that had one."""
    rows = [
        ["Sales report", None, None, None, None, None],
        ["Exported 2024-06-01", None, None, None, None, None],
        ["order_id", "customer_id", "ts", "product_id", "quantity", "unit_price"],
        ["1", "c1", "2024-05-01T10:00:00", "p1", "1", "2.5"],
    ]
    path = tmp_path / f"report{suffix}"
    frame = pd.DataFrame(rows)
    if suffix == ".csv":
        frame.to_csv(path, header=False, index=False)
    else:
        frame.to_excel(path, header=False, index=False)
    result = runner.invoke(app, ["ingest", str(path), "--table", "transactions"])
    assert result.exit_code == 2
    assert "the header seems to be on line 3 (it names customer_id, order_id, product_id, quantity)" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_a_report_with_a_title_line_goes_in_with_the_header_row_it_is_told(settings, tmp_path, suffix):
    """A title line without the table's delimiters (`Sales report`, then a blank line) made every line
    below it unsplittable, so no header was found and the file was refused for missing columns; and the
    only advice was to edit the file."""
    header = "order_id,customer_id,ts,product_id,quantity,unit_price"
    lines = ["Sales report", "", header, "1,c1,2024-05-01T10:00:00,p1,1,2.5", "2,c1,2024-05-01T10:00:00,p1,1"]
    path = tmp_path / f"report{suffix}"
    if suffix == ".csv":
        path.write_text("\n".join(lines) + "\n")
    else:
        rows = [line.split(",") if line else [None] for line in lines]
        pd.DataFrame(rows).to_excel(path, header=False, index=False)
    told = runner.invoke(app, ["ingest", str(path), "--table", "transactions"])
    assert told.exit_code == 2 and "the header seems to be on line 3" in told.output
    assert "ingest with --header-row 3" in told.output
    report = ingest(path, IngestOptions("transactions", header_row=3), settings, now=NOW)
    assert (report.received, report.accepted, report.quarantined) == (2, 1, 1)
    quarantine = OfflineStore(settings.paths).read_quarantine("transactions")
    assert quarantine["source_row"].tolist() == [2]  # data rows count from the header, as without a title
    assert OfflineStore(settings.paths).read("transactions")["order_id"].tolist() == ["1"]


def test_a_header_row_for_a_file_without_lines_of_columns_is_refused(settings, tmp_path):
    path = tmp_path / "orders.parquet"
    pd.DataFrame({"order_id": ["1"]}).to_parquet(path)
    result = runner.invoke(app, ["ingest", str(path), "--table", "transactions", "--header-row", "2"])
    assert result.exit_code == 2 and "--header-row: orders.parquet is parquet" in result.output


def test_a_workbook_whose_table_is_on_another_sheet_names_the_sheet_to_read(settings, tmp_path):
    """A summary sheet before the orders: the first sheet's `Total` was suggested as a unit price with
    --line-totals, and no option could read the second sheet."""
    path = tmp_path / "export.xlsx"
    orders = pd.DataFrame(
        {"order_id": ["1"], "customer_id": ["c1"], "ts": ["2024-05-01T10:00:00"], "product_id": ["p1"]}
        | {"quantity": ["1"], "unit_price": ["2.5"]}
    )
    with pd.ExcelWriter(path) as book:
        pd.DataFrame({"Report": ["Sales"], "Total": ["2.5"]}).to_excel(book, sheet_name="Summary", index=False)
        orders.to_excel(book, sheet_name="Orders", index=False)
    told = runner.invoke(app, ["ingest", str(path), "--table", "transactions"])
    assert told.exit_code == 2 and "its first sheet 'Summary' names no column" in told.output
    assert "--sheet 'Orders'" in told.output and "--line-totals" not in told.output
    wrong = runner.invoke(app, ["ingest", str(path), "--table", "transactions", "--sheet", "Order"])
    assert wrong.exit_code == 2 and "has no sheet 'Order'; its sheets: Summary, Orders" in wrong.output
    report = ingest(path, IngestOptions("transactions", sheet="Orders"), settings, now=NOW)
    assert (report.received, report.accepted) == (1, 1)


def test_a_workbook_whose_table_goes_on_over_several_sheets_is_read_from_each(settings, tmp_path):
    """Online Retail II's workbook holds a year a sheet (Excel's row limit): read from its first sheet alone,
    half the history was left out without a word. Each sheet with the first's columns is a batch."""
    path = tmp_path / "online_retail_II.xlsx"

    def lines(orders, customer, ts):
        n = len(orders)
        return pd.DataFrame(
            {"order_id": orders, "customer_id": [customer] * n, "ts": [ts] * n, "product_id": ["p1"] * n}
            | {"quantity": ["1"] * n, "unit_price": ["2.5"] * n}
        )

    with pd.ExcelWriter(path) as book:
        lines(["1"], "c1", "2010-05-01T10:00:00").to_excel(book, sheet_name="Year 2009-2010", index=False)
        lines(["2", "3"], "c2", "2011-05-01T10:00:00").to_excel(book, sheet_name="Year 2010-2011", index=False)
        pd.DataFrame({"Note": ["exported by the till"]}).to_excel(book, sheet_name="About", index=False)
    told = runner.invoke(app, ["ingest", str(path), "--table", "transactions", "--json"])
    assert told.exit_code == 0, told.output
    summary = json.loads(told.stdout[told.stdout.index("{") :])
    assert (summary["received"], summary["accepted"]) == (3, 3)
    assert [f["source"].rsplit("(", 1)[1] for f in summary["files"]] == [
        "sheet Year 2009-2010)",
        "sheet Year 2010-2011)",
    ]
    shown = runner.invoke(app, ["ingest", str(path), "--table", "transactions"])  # again: duplicates
    assert "ingest online_retail_II.xlsx, sheet Year 2010-2011" in shown.output
    one = runner.invoke(app, ["ingest", str(path), "--table", "transactions", "--sheet", "Year 2009-2010", "--json"])
    assert json.loads(one.stdout[one.stdout.index("{") :])["duplicates"] == 1  # --sheet reads that sheet alone


def test_an_excel_97_workbook_is_read_as_text_from_the_sheet_named(settings):
    """Older tills and accounting packages export .xls, which was an unknown file type. The fixture
    (tests/data/make_orders_xls.py) has a summary sheet first, ids with leading zeros and date cells."""
    path = Path(__file__).parents[1] / "data" / "orders.xls"
    report = ingest(path, IngestOptions("transactions", sheet="Orders"), settings, now=NOW)
    assert (report.received, report.accepted) == (2, 2)
    stored = OfflineStore(settings.paths).read("transactions").sort_values("order_id")
    assert stored["order_id"].tolist() == ["00017", "00018"]  # as the cells hold them, not 17
    assert stored["quantity"].tolist() == [2, 1] and stored["unit_price"].tolist() == [2.5, 12.5]
    assert stored["ts"].iloc[0] == pd.Timestamp("2024-05-01 10:30:00", tz=settings.timezone).tz_convert("UTC")
    renamed = settings.home / "orders.xlsx"  # an .xls saved under the newer name
    renamed.write_bytes(path.read_bytes())
    told = runner.invoke(app, ["ingest", str(renamed), "--table", "transactions"])
    assert told.exit_code == 2 and "an Excel 97-2003 workbook" in told.output and "name it orders.xls" in told.output


@pytest.mark.parametrize("name", ["cut.xls", "empty-archive.xlsx"])
def test_a_damaged_workbook_is_one_clear_error(settings, tmp_path, name):
    """A cut-short .xls ended in xlrd's `unexpected IndexError`, a ZIP without a workbook in openpyxl's
    `unexpected KeyError`."""
    import zipfile

    path = tmp_path / name
    if name.endswith(".xls"):
        path.write_bytes((Path(__file__).parents[1] / "data" / "orders.xls").read_bytes()[:3000])
    else:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("hello.txt", "not a workbook")
    result = runner.invoke(app, ["ingest", str(path), "--table", "transactions"])
    assert result.exit_code == 2 and "a damaged workbook" in result.output, result.output
    assert "unexpected" not in result.output


def test_xlrd_notes_on_a_damaged_workbook_never_reach_the_stream_it_was_imported_beside(
    settings, tmp_path, monkeypatch
):
    """xlrd writes its notes to the sys.stdout it found when first imported; imported inside an earlier
    CliRunner call, that stream was closed, and the notes raised "I/O operation on closed file" in place
    of the damaged workbook's error (it happened to a test run in the full suite's order)."""
    import io

    import xlrd

    closed = io.StringIO()
    closed.close()
    defaults = list(xlrd.open_workbook.__defaults__)
    defaults[1] = closed  # logfile
    monkeypatch.setattr(xlrd.open_workbook, "__defaults__", tuple(defaults))
    path = tmp_path / "cut.xls"
    path.write_bytes((Path(__file__).parents[1] / "data" / "orders.xls").read_bytes()[:3000])
    result = runner.invoke(app, ["ingest", str(path), "--table", "transactions"])
    assert result.exit_code == 2 and "a damaged workbook" in result.output, result.output


def test_an_exports_totals_lines_are_quarantined_as_such_and_a_product_named_total_is_a_sale(settings, tmp_path):
    """A POS report's last line `Total,,,3,7.5,` was quarantined as a line missing its customer, with the
    advice to keep such lines as anonymous purchases."""
    header = "order_id,customer_id,ts,product_id,quantity,unit_price"
    lines = [
        "o1,alice,2026-01-02T10:00:00,p1,1,2.5",
        "o2,bob,2026-01-02T11:00:00,Total,2,2.5",  # a product called Total, on a complete line
        ",,,Subtotal:,3,7.5",
        "GRAND TOTAL,,,,3,7.5",
    ]
    path = tmp_path / "report.csv"
    path.write_text("\n".join([header, *lines]) + "\n")
    result = runner.invoke(app, ["ingest", str(path), "--table", "transactions"])
    assert result.exit_code == 0 and "totals lines" in result.output and "--allow-anonymous" not in result.output
    quarantine = OfflineStore(settings.paths).read_quarantine("transactions")
    assert sorted(quarantine["source_row"]) == [3, 4] and set(quarantine["reasons"]) == {"row:totals_line"}
    assert sorted(OfflineStore(settings.paths).read("transactions")["product_id"]) == ["Total", "p1"]
    anonymous = tmp_path / "walk-ins.csv"  # a customer may be blank here: the line is complete
    anonymous.write_text(f"{header}\no9,,2026-01-02T12:00:00,Total,1,2.5\n")
    kept = ingest(anonymous, IngestOptions("transactions", allow_anonymous=True), settings, now=NOW)
    assert (kept.accepted, kept.quarantined) == (1, 0)


def test_customer_ids_differing_only_in_case_are_counted_not_merged(settings, write_csv):
    """Two spellings of one e-mail were two customers without a word: each churned or stayed on half the
    history. They stay two (an id's case may matter), and the summary counts them, naming none."""
    from spend.cli.ingest_notes import notes

    lines = [
        GOOD_LINE | {"event_id": "e1", "order_id": "o1", "customer_id": "Bob@Example.com"},
        GOOD_LINE | {"event_id": "e2", "order_id": "o2", "customer_id": "bob@example.com"},
        GOOD_LINE | {"event_id": "e3", "order_id": "o3", "customer_id": "carol@example.com"},
    ]
    report = ingest(write_csv(lines, "orders.csv"), IngestOptions("transactions"), settings, now=NOW)
    assert (report.accepted, report.case_variant_customers) == (3, 2)
    said = [line for line in notes(report) if "but for letter case" in line]
    assert len(said) == 1 and "example.com" not in said[0].lower()
    assert OfflineStore(settings.paths).read("transactions")["customer_id"].nunique() == 3
