"""A promotion the export flags rather than prices (`on_promotion`: Favorita's onpromotion on daily totals):
it was dropped as an ignored column, so the demand model saw no promotion at all on such a history."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow.parquet as pq
from typer.testing import CliRunner

from spend.cli import app
from spend.features.compute.products import demand_snapshots
from spend.features.ingest.pipeline import IngestOptions, ingest
from spend.features.ingest.store import OfflineStore
from tests.features.test_validation_rules import NOW

runner = CliRunner()
MAP = {"date": "ts", "store_nbr": "store_id", "item_nbr": "product_id", "unit_sales": "quantity"}


def _favorita(tmp_path, rows: list[tuple], name: str = "train.csv"):
    frame = pd.DataFrame(rows, columns=["date", "store_nbr", "item_nbr", "unit_sales", "onpromotion"])
    path = tmp_path / name
    frame.to_csv(path, index_label="id")
    return path


def test_favoritas_flag_is_suggested_stored_and_counted_as_promoted_units(settings, tmp_path):
    path = _favorita(
        tmp_path,
        [
            ("2026-01-05", "1", "103665", 4, "False"),
            ("2026-01-06", "1", "103665", 9, "True"),
            ("2026-01-07", "1", "103665", 3, ""),  # the early years' blank: not known
            ("2026-01-08", "1", "103665", 2, "maybe"),
        ],
    )
    told = runner.invoke(app, ["ingest", str(path), "--table", "transactions", "--daily-totals"])
    assert "--map onpromotion=on_promotion" in " ".join(told.output.split())
    options = IngestOptions("transactions", mapping=MAP | {"onpromotion": "on_promotion"}, daily_totals=True)
    report = ingest(path, options, settings, now=NOW)
    assert (report.accepted, report.quarantined) == (3, 1)
    assert list(report.quarantined_by_reason) == ["on_promotion:not_a_flag"]
    lines = OfflineStore(settings.paths).read("transactions")
    assert lines.sort_values("ts")["on_promotion"].tolist()[:2] == [0, 1]
    demand = demand_snapshots(lines, pd.Timestamp("2026-01-10", tz="UTC")).set_index("event_timestamp")
    share = demand["promo_share_1d"]
    assert share[pd.Timestamp("2026-01-07", tz="UTC")] == 1.0  # 6 January's nine units, all on promotion
    assert share[pd.Timestamp("2026-01-06", tz="UTC")] == 0.0 and share[pd.Timestamp("2026-01-08", tz="UTC")] == 0.0


def test_a_column_newer_than_the_stores_first_file_is_read_from_the_files_that_have_it(settings, tmp_path):
    """Arrow reads a folder with its first file's schema: a column a newer Spend writes would vanish from
    every read of a store whose first file an older one wrote."""
    options = IngestOptions("transactions", mapping=MAP | {"onpromotion": "on_promotion"}, daily_totals=True)
    ingest(_favorita(tmp_path, [("2026-01-05", "1", "1", 4, "False")], "old.csv"), options, settings, now=NOW)
    store = OfflineStore(settings.paths)
    (old,) = store.files("transactions")
    pq.write_table(pq.read_table(old).drop_columns(["on_promotion"]), old)  # as a Spend before the flag wrote it
    ingest(_favorita(tmp_path, [("2026-01-06", "1", "1", 9, "True")], "new.csv"), options, settings, now=NOW)
    assert len(store.files("transactions")) == 2 and sorted(store.files("transactions"))[0] == old
    read = store.read("transactions", ["ts", "on_promotion"]).sort_values("ts")
    assert read["on_promotion"].isna().tolist() == [True, False] and read["on_promotion"].iloc[1] == 1
    assert "on_promotion" in store.read("transactions").columns


def test_the_flag_reaches_the_demand_history(settings, tmp_path):
    rows = [
        (f"2026-01-{d:02d}", "1", "7", 10 if d % 7 == 0 else 2, "True" if d % 7 == 0 else "False") for d in range(1, 29)
    ]
    options = IngestOptions("transactions", mapping=MAP | {"onpromotion": "on_promotion"}, daily_totals=True)
    ingest(_favorita(tmp_path, rows), options, settings, now=NOW)
    assert runner.invoke(app, ["features", "build", "--json"]).exit_code == 0
    from spend.training.datasets.series_backtest import read_history

    history = read_history(settings).history.set_index("date")
    assert history.loc[pd.Timestamp("2026-01-07"), "promo"] == 1.0
    assert history.loc[pd.Timestamp("2026-01-08"), "promo"] == 0.0
    assert json.loads(runner.invoke(app, ["quality", "--json"]).stdout)["tables"]["transactions"]
