"""Erasure from the command line on a bare home, and retention by age. The service's erasure, with the
feature store, the publication and the online store (SQLite and Redis), is tested in tests/serving."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pandas as pd
import pytest
from typer.testing import CliRunner

from spend.cli import app
from spend.core.privacy.pseudonym import pseudonym
from spend.core.privacy.vault import IdentityVault
from spend.features.governance.retention import apply_retention
from spend.features.ingest.pipeline import IngestOptions, ingest
from spend.features.ingest.store import OfflineStore
from tests.conftest import TEST_KEY
from tests.features.test_privacy import _ingest_people
from tests.features.test_validation_rules import GOOD_LINE, NOW
from tests.support.traces import file_traces


def _erase(*args: str):
    return CliRunner().invoke(app, ["erase", *args, "--json"])


def test_the_command_erases_from_the_stores_and_user_files_and_lists_what_it_cannot_edit(settings, write_csv):
    _ingest_people(settings, write_csv)  # alice: a line; bob: a line and a quarantined line
    bob = pseudonym("bob-12", TEST_KEY.encode())
    exports = settings.paths.home / "reports"
    exports.mkdir(parents=True)
    pd.DataFrame({"customer_id": [bob, "c_x"], "original_customer_id": ["bob-12", "x"]}).to_csv(
        exports / "list.csv", index=False
    )
    (exports / "note.json").write_text(json.dumps({"who": "bob-12"}))
    ids = settings.paths.home.parent / "ids.txt"
    ids.write_text("bob-12\n\nnobody-1\n")

    result = _erase("--from-file", str(ids), "--reason", "bob-12 asked")
    assert result.exit_code == 0, result.output
    receipt = json.loads(result.stdout)
    assert (receipt["customers"], receipt["found"], receipt["unknown_ids"]) == (2, 1, ["nobody-1"])
    assert receipt["removed"]["offline store (transactions)"] == 1 and receipt["removed"]["quarantine (transactions)"]
    assert receipt["removed"]["offline store (customers)"] == 1 and receipt["removed"]["files under SPEND_HOME"] == 1
    assert receipt["not_removed"] == ["reports/note.json"]
    assert file_traces(settings.paths.home, [bob]) == []
    assert file_traces(settings.paths.home, ["bob-12", "Bob Builder"]) == ["reports/note.json"]
    store = OfflineStore(settings.paths)
    assert store.read("transactions")["customer_id"].tolist() == [pseudonym("alice-77", TEST_KEY.encode())]
    vault = IdentityVault(settings.paths.vault, TEST_KEY.encode())
    assert vault.personal(bob) is None and vault.reidentify([pseudonym("alice-77", TEST_KEY.encode())])

    audit = (settings.paths.home / "audit" / "audit.jsonl").read_text()
    assert "bob-12" not in audit and bob not in audit and '"reason":"[id] asked"' in audit
    again = json.loads(_erase("bob-12").stdout)
    assert (again["found"], again["already_erased"]) == (0, 1)


def test_an_erasure_request_finds_a_customer_whatever_unicode_spelling_it_uses(settings, write_csv):
    """The shop's export says "Café-7" with a composed é, the request comes from a Mac with a combining one."""
    composed, combining = "Caf\u00e9-7", "Cafe\u0301-7"
    line = GOOD_LINE | {"event_id": "e1", "customer_id": composed}
    ingest(
        write_csv([line, GOOD_LINE | {"event_id": "e2", "order_id": "o2"}]),
        IngestOptions("transactions"),
        settings,
        now=NOW,
    )
    exports = settings.paths.home / "reports"
    exports.mkdir(parents=True)
    pd.DataFrame({"original_customer_id": [composed, "x"]}).to_csv(exports / "list.csv", index=False)

    receipt = json.loads(_erase(combining).stdout)
    assert (receipt["found"], receipt["unknown_ids"]) == (1, [])
    assert receipt["removed"]["offline store (transactions)"] == 1
    assert file_traces(settings.paths.home, [composed, pseudonym(composed, TEST_KEY.encode())]) == []
    assert OfflineStore(settings.paths).read("transactions")["customer_id"].tolist() == [
        pseudonym("alice", TEST_KEY.encode())
    ]


def test_a_customer_stored_before_ids_were_spelled_one_way_is_still_erased(settings, write_csv, monkeypatch):
    """A home made before 2026-12-06 holds "Cafe\u0301-8" (a combining accent) under the pseudonym of those
    characters; an erasure asking for it as written, now spelled in NFKC, found nobody there."""
    from spend.core.privacy import pseudonym as pseudonyms
    from spend.core.privacy.pseudonym import written_pseudonym
    from spend.features.ingest import parse

    combining = "Cafe\u0301-8"
    with monkeypatch.context() as before:  # ingestion as it was: ids stored as written
        before.setattr(parse, "canonical_ids", lambda text: text)
        before.setattr(pseudonyms, "canonical_id", lambda raw: raw)
        lines = [GOOD_LINE | {"event_id": "e1", "order_id": "o7", "customer_id": combining}, GOOD_LINE]
        ingest(write_csv(lines), IngestOptions("transactions"), settings, now=NOW)
    old = written_pseudonym(combining, TEST_KEY.encode())
    assert old in OfflineStore(settings.paths).read("transactions")["customer_id"].tolist()

    receipt = json.loads(_erase(combining, "nobody-9").stdout)
    assert (receipt["customers"], receipt["found"], receipt["unknown_ids"]) == (2, 1, ["nobody-9"])
    assert receipt["removed"]["offline store (transactions)"] == 1
    assert file_traces(settings.paths.home, [old, combining]) == []
    assert OfflineStore(settings.paths).read("transactions")["customer_id"].tolist() == [
        pseudonym("alice", TEST_KEY.encode())
    ]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ((), "no customer id given"),
        (("--from-file", "missing.txt"), "is not a file"),
        # an export saved in another encoding ended in "unexpected UnicodeDecodeError"
        (("--from-file", "latin.txt"), "--from-file: latin.txt is not UTF-8 text (byte 2); save it as UTF-8"),
    ],
)
def test_an_erasure_without_ids_says_so(settings, args, words, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "latin.txt").write_bytes("Zo\xe9\nbob-12\n".encode("latin-1") + b"\xff")
    result = _erase(*args)
    assert result.exit_code == 2 and words in json.loads(result.stdout)["error"]


@pytest.mark.parametrize(
    ("text", "column"),
    [
        # a CRM's export as Excel saves it: byte-order mark, semicolons, a header with other columns
        ("\ufeffrequest;Customer ID;date\nr1;bob-12;2026-01-02\nr2;nobody-1;2026-01-03\n", "Customer ID"),
        ('customer_id,email\n"bob-12",bob@example.com\nnobody-1,\n', "customer_id"),
        ("\ufeffbob-12\r\nnobody-1\r\n", "customer_id"),  # one id per line, from Notepad
        ("customer_id\nbob-12\nnobody-1\n", "customer_id"),  # a one-column CSV: its header is no id
    ],
)
def test_an_erasure_list_from_a_spreadsheet_erases_the_ids_in_its_column(settings, write_csv, text, column):
    # read line by line, "bob-12,bob@example.com" was one id nobody has: bob stayed, called "unknown"
    _ingest_people(settings, write_csv)
    ids = settings.paths.home.parent / "ids.csv"
    ids.write_text(text, encoding="utf-8")
    result = _erase("--from-file", str(ids), "--column", column)
    assert result.exit_code == 0, result.output
    receipt = json.loads(result.stdout)
    assert (receipt["customers"], receipt["found"], receipt["unknown_ids"]) == (2, 1, ["nobody-1"])


@pytest.mark.parametrize("suffix", [".xlsx", ".parquet"])
def test_an_erasure_list_in_excel_or_parquet_erases_the_ids_in_its_column(settings, write_csv, suffix):
    # a CRM's sheet with the ids typed as numbers: 77 must be read as "77", never "77.0"
    _ingest_people(settings, write_csv)
    frame = pd.DataFrame({"Customer ID": ["bob-12", 77.0, "nobody-1"], "note": ["a", "b", "c"]})
    ids = settings.paths.home.parent / f"ids{suffix}"
    if suffix == ".xlsx":
        frame.to_excel(ids, index=False)
    else:
        frame.astype({"Customer ID": str}).replace("77.0", "77").to_parquet(ids)
    receipt = json.loads(_erase("--from-file", str(ids), "--column", "Customer ID").stdout)
    assert (receipt["customers"], receipt["found"], sorted(receipt["unknown_ids"])) == (3, 1, ["77", "nobody-1"])
    blank = frame.assign(**{"Customer ID": ["bob-12", None, "x"]})
    blank.to_excel(ids, index=False) if suffix == ".xlsx" else blank.to_parquet(ids)
    refused = json.loads(_erase("--from-file", str(ids), "--column", "Customer ID").stdout)
    assert "line(s) 3 have no Customer ID; nothing was erased" in refused["error"]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("id;date\nbob-12;2026-01-02\n", "ids.csv has no column 'customer_id' (its columns: id, date); name"),
        ("customer_id,date\nbob-12,x\n,y\n ,z\n", "ids.csv line(s) 3, 4 have no customer_id; nothing was erased"),
        ("bob-12\nalice-77,2026-01-02\n", "holds a ',', ';' or tab after its first line"),
    ],
)
def test_an_erasure_list_that_cannot_be_read_whole_erases_nobody(settings, write_csv, text, words):
    _ingest_people(settings, write_csv)
    ids = settings.paths.home.parent / "ids.csv"
    ids.write_text(text)
    result = _erase("--from-file", str(ids))
    assert result.exit_code == 2 and words in json.loads(result.stdout)["error"]
    assert len(OfflineStore(settings.paths).read("transactions")) == 2


def _lines(days: list[str]) -> list[dict]:
    return [GOOD_LINE | {"event_id": f"e{i}", "ts": f"{day}T10:00:00"} for i, day in enumerate(days)]


DAYS = ["2025-09-30", "2025-10-01", "2025-10-14", "2025-10-15", "2025-11-20", "2026-01-05"]


def test_retention_deletes_exactly_the_rows_before_the_cut_off_and_a_dry_run_nothing(settings, write_csv):
    ingest(write_csv(_lines(DAYS)), IngestOptions("transactions"), settings, now=NOW)
    bad = GOOD_LINE | {"event_id": "bad", "quantity": "many"}
    ingest(write_csv([bad], "bad.csv"), IngestOptions("transactions"), settings, now=NOW)
    rules = settings.model_copy(update={"retention_days": {"transactions": 90, "quarantine": 30}})
    as_of = datetime(2026, 1, 13, tzinfo=UTC)  # cut-off: 2025-10-15 00:00, inside a month partition
    files = sorted(p.read_bytes() for p in settings.paths.home.rglob("*.parquet"))

    dry = apply_retention(rules, as_of, dry_run=True)
    assert dry.deleted == {"transactions": 3} and dry.kept == {"transactions": 3, "quarantine": 1}
    assert sorted(p.read_bytes() for p in settings.paths.home.rglob("*.parquet")) == files

    done = apply_retention(rules, as_of)
    assert done.deleted == dry.deleted and done.files_removed == 1 and done.files_rewritten == 1
    left = OfflineStore(settings.paths).read("transactions")["ts"].dt.strftime("%Y-%m-%d")
    assert sorted(left) == DAYS[3:]
    later = apply_retention(rules, datetime(2026, 3, 1, tzinfo=UTC))  # the quarantined batch is 50 days old
    assert later.deleted["quarantine"] == 1 and OfflineStore(settings.paths).read_quarantine("transactions").empty


def test_retention_reaches_the_lines_a_batch_took_back(settings, write_csv):
    """A cancelled order's stored lines are kept so that removing the batch puts them back; past the
    table's retention they are deleted there too, or undoing the batch would bring back expired rows."""
    lines = [
        GOOD_LINE | {"event_id": "", "order_id": "o1", "ts": f"{day}T10:00:00"} for day in ("2025-09-30", "2026-01-05")
    ]
    ingest(write_csv(lines), IngestOptions("transactions"), settings, now=NOW)
    cancelled = [line | {"order_status": "cancelled"} for line in lines]
    taken = ingest(write_csv(cancelled, "cancelled.csv"), IngestOptions("transactions"), settings, now=NOW)
    assert taken.retracted == 2
    rules = settings.model_copy(update={"retention_days": {"transactions": 90}})
    done = apply_retention(rules, datetime(2026, 1, 13, tzinfo=UTC))
    assert done.deleted == {"transactions": 1} and done.kept == {"transactions": 1}
    removed = CliRunner().invoke(app, ["batches", "--remove", taken.batch_id, "--json"])
    assert json.loads(removed.stdout)["restored_rows"] == 1
    assert OfflineStore(settings.paths).read("transactions")["ts"].dt.strftime("%Y-%m-%d").tolist() == ["2026-01-05"]


def test_bad_retention_settings_name_the_table(settings, monkeypatch):
    monkeypatch.setenv("SPEND_RETENTION_DAYS", '{"transactions": 0}')
    result = CliRunner().invoke(app, ["retention", "apply", "--json"])
    assert result.exit_code == 2 and "transactions must be a whole number of days" in result.stdout


def test_a_numeric_id_inside_dates_and_figures_is_not_reported_as_left_behind(settings, tmp_path):
    """Erasing the shop's customer "2026" listed every report and MLflow file as not removed: the id was
    inside their dates and figures, not the customer's."""
    from spend.features.governance.scrub import mentions

    reports = settings.paths.home / "reports"
    reports.mkdir(parents=True)
    (reports / "quality.json").write_text(json.dumps({"as_of": "2026-12-06", "rows": 120263, "share": 0.2026}))
    (reports / "named.json").write_text(json.dumps({"customer": "2026", "e-mail": "anna@example.com"}))
    (reports / "log.txt").write_text("exported 2026 rows for anna@example.com, then anna@example.com.au\n")
    assert not mentions(reports / "quality.json", ["2026"])
    assert mentions(reports / "named.json", ["2026"]) and mentions(reports / "log.txt", ["anna@example.com"])
    assert not mentions(reports / "log.txt", ["anna@example"])  # a part of an id is not the id
    receipt = json.loads(_erase("2026").stdout)
    assert receipt["not_removed"] == ["reports/log.txt", "reports/named.json"]  # "2026 rows": a word alone


def test_a_customer_erased_while_an_export_is_checked_is_not_stored_by_it(settings, write_csv, monkeypatch):
    """An ingest checks its rows before it takes the ledger lock; an erasure committed in between (it takes
    the lock) was undone by the batch, which stored the erased customer's lines and id again."""
    from spend.features.governance.erasure import erase_customers
    from spend.features.ingest import pipeline

    first = GOOD_LINE | {"event_id": "e1", "order_id": "o1", "customer_id": "carol-3"}
    ingest(write_csv([first], "monday.csv"), IngestOptions("transactions"), settings, now=NOW)
    lock = pipeline.ledger_lock

    def erased_first(home):  # the privacy officer's erasure takes the lock just before the ingest does
        erase_customers(settings, ["carol-3"])
        return lock(home)

    monkeypatch.setattr(pipeline, "ledger_lock", erased_first)
    lines = [GOOD_LINE | {"event_id": "e2", "order_id": "o2", "customer_id": "carol-3"}, GOOD_LINE]
    report = ingest(write_csv(lines, "tuesday.csv"), IngestOptions("transactions"), settings, now=NOW)
    assert (report.accepted, report.quarantined_by_reason) == (1, {"customer_id:erased": 1})
    carol = pseudonym("carol-3", TEST_KEY.encode())
    assert carol not in OfflineStore(settings.paths).read("transactions")["customer_id"].tolist()
    assert file_traces(settings.paths.home, [carol, "carol-3"]) == []


def test_a_feature_build_keeps_the_snapshot_retention_period(settings, write_csv):
    """`spend retention apply` deleted the old snapshots and the next `spend features build` wrote them all
    again from the history, which is kept longer: the period held until the next build."""
    import pyarrow.dataset as ds

    from spend.features.store.build import build_snapshots

    today = pd.Timestamp.now(tz="UTC").normalize()
    days = [(today - pd.Timedelta(days=d)).strftime("%Y-%m-%d") for d in (120, 60, 20, 2)]
    ingest(write_csv(_lines(days)), IngestOptions("transactions"), settings)

    def first_snapshot(home) -> pd.Timestamp:
        table = ds.dataset(home.paths.feature_snapshots / "customer_snapshots.parquet", format="parquet")
        return pd.Timestamp(table.to_table(columns=["event_timestamp"])["event_timestamp"].to_pandas().min())

    assert build_snapshots(settings).kept_since is None  # no retention applied: every snapshot
    assert first_snapshot(settings) < today - pd.Timedelta(days=100)
    rules = settings.model_copy(update={"retention_days": {"feature_snapshots": 30}})
    apply_retention(rules, datetime.now(UTC), dry_run=True)
    assert build_snapshots(rules).kept_since is None  # a dry run applies nothing
    applied = apply_retention(rules, datetime.now(UTC))
    assert applied.deleted["feature_snapshots"] > 0 and first_snapshot(rules) > today - pd.Timedelta(days=31)
    report = build_snapshots(rules)
    assert report.kept_since == applied.cutoffs["feature_snapshots"]
    assert first_snapshot(rules) >= pd.Timestamp(report.kept_since)
    assert report.rows["customer"] > 0  # the last 30 days' snapshots are there
    apply_retention(rules, datetime.now(UTC) - pd.Timedelta(days=10))  # an earlier as-of: the later cut-off holds
    assert build_snapshots(rules).kept_since == applied.cutoffs["feature_snapshots"]
