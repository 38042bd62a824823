"""The data-quality scorecard scores each dimension from what was ingested and names the failing checks."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from typer.testing import CliRunner

from spend.cli import app
from spend.features.ingest.pipeline import IngestOptions, ingest
from spend.features.quality.scorecard import DIMENSIONS, scorecard
from tests.features.test_validation_rules import GOOD_LINE, NOW


def _lines(n: int) -> list[dict]:
    return [
        GOOD_LINE
        | {
            "event_id": f"e{i}",
            "order_id": f"o{i}",
            "store_id": "s1",
            "channel": "web",
            "unit_cost": "1",
            "payment_method": "card",
        }
        for i in range(n)
    ]


def test_validity_and_uniqueness_follow_quarantine_and_duplicates(settings, write_csv):
    lines = _lines(18) + [
        GOOD_LINE | {"event_id": "bad1", "quantity": "0"},
        GOOD_LINE | {"event_id": "bad2", "ts": "?"},
    ]
    ingest(write_csv(lines + lines[:5]), IngestOptions("transactions"), settings, now=NOW)
    card = scorecard(settings, now=NOW)["tables"]["transactions"]

    assert card["validity"]["score"] == 90.0  # 18 accepted of 20 valid-or-not
    assert "quantity:non_zero_quantity: 1 rows quarantined" in card["validity"]["failing"]
    assert card["uniqueness"]["score"] == 80.0  # 5 duplicates of 25 received
    assert card["completeness"]["score"] == 100.0
    assert set(DIMENSIONS) <= set(card)


def test_a_row_refused_then_stored_once_its_fix_is_given_counts_once_as_valid(settings, write_csv):
    """Ingested again with --allow-anonymous, the refused line went in, but validity still counted its
    refusal beside its acceptance (2 accepted of 3) and listed a reason no row was out for."""
    lines = [GOOD_LINE | {"event_id": "", "customer_id": ""}, GOOD_LINE | {"event_id": "", "order_id": "o2"}]
    path = write_csv(lines)
    ingest(path, IngestOptions("transactions"), settings, now=NOW)
    refused = scorecard(settings, now=NOW)["tables"]["transactions"]["validity"]
    assert refused == {"score": 50.0, "failing": ["customer_id:missing: 1 rows quarantined"]}
    ingest(path, IngestOptions("transactions", allow_anonymous=True), settings, now=NOW)
    assert scorecard(settings, now=NOW)["tables"]["transactions"]["validity"] == {"score": 100.0, "failing": []}


def test_a_table_whose_every_row_was_quarantined_is_scored_not_a_crash(settings, write_csv):
    # `spend quality` ended in "unexpected KeyError: 'order_id'" when no row of a table was accepted
    bad = [GOOD_LINE | {"event_id": f"bad{i}", "unit_price": "2,5"} for i in range(3)]
    ingest(write_csv(bad), IngestOptions("transactions"), settings, now=NOW)
    card = scorecard(settings, now=NOW)["tables"]["transactions"]
    assert card["rows"] == 0 and card["validity"]["score"] == 0.0
    assert card["validity"]["failing"] == ["unit_price:not_a_float: 3 rows quarantined"]
    assert card["consistency"]["failing"] == ["no accepted rows"]
    result = CliRunner().invoke(app, ["quality"])
    assert result.exit_code == 0 and "no accepted rows" in result.output


def test_completeness_names_an_expected_field_that_is_empty(settings, write_csv):
    lines = [{k: v for k, v in line.items() if k != "unit_cost"} for line in _lines(10)]
    ingest(write_csv(lines), IngestOptions("transactions"), settings, now=NOW)
    card = scorecard(settings, now=NOW)["tables"]["transactions"]
    assert card["completeness"]["score"] < 100
    assert card["completeness"]["failing"] == ["unit_cost: 0.0% filled"]


def test_timeliness_measures_the_age_of_the_newest_row(settings, write_csv):
    ingest(write_csv(_lines(3)), IngestOptions("transactions"), settings, now=NOW)
    fresh = scorecard(settings, now=datetime(2026, 1, 3, 12, tzinfo=UTC))["tables"]["transactions"]
    stale = scorecard(settings, now=datetime(2026, 1, 12, 10, tzinfo=UTC))["tables"]["transactions"]
    assert fresh["timeliness"]["score"] == 100.0
    assert stale["timeliness"]["score"] == 20.0  # 10 days old against a 2-day SLA
    assert "newest row is 10.0 days old" in stale["timeliness"]["failing"][0]


def test_consistency_catches_a_return_without_a_purchase_and_an_unknown_customer(settings, write_csv):
    ingest(
        write_csv([{"customer_id": "alice", "signup_ts": "2025-01-01"}], "c.csv"),
        IngestOptions("customers"),
        settings,
        now=NOW,
    )
    lines = [
        GOOD_LINE | {"event_id": "r1", "kind": "return", "quantity": "-1", "product_id": "never-bought"},
        GOOD_LINE | {"event_id": "x1", "order_id": "o2", "customer_id": "stranger"},
    ]
    ingest(write_csv(lines), IngestOptions("transactions"), settings, now=NOW)
    card = scorecard(settings, now=NOW)["tables"]["transactions"]
    failing = " ".join(card["consistency"]["failing"])
    assert "return_follows_purchase: 1 of 1 returns fail" in failing
    assert "customer_id_known: 1 of 2 rows fail" in failing
    assert card["consistency"]["score"] < 100


def test_quality_command_writes_the_card_and_refuses_an_empty_home(settings, write_csv):
    runner = CliRunner()
    empty = runner.invoke(app, ["quality"])
    assert empty.exit_code == 2 and "nothing ingested" in empty.output

    ingest(write_csv(_lines(3)), IngestOptions("transactions"), settings, now=NOW)
    result = runner.invoke(app, ["quality", "--json"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert json.loads((settings.paths.reports / "quality.json").read_text())["tables"] == printed["tables"]


def test_a_daily_reports_days_without_sales_and_missing_customers_are_not_faults(settings, write_csv):
    """A dense daily report (every product, every day) is mostly zero-unit rows, and names no customer by
    design: its transactions scored 7.5 for validity and lost a field of completeness, so monitoring read
    every demand model's data as broken. A zero-unit order line still counts against validity."""
    rows = [
        {"ts": f"2026-01-0{d}", "store_id": "s1", "product_id": p, "quantity": str(q), "unit_price": "2.5"}
        for d in range(1, 4)
        for p, q in (("p1", 2), ("p2", 0), ("p3", 0), ("p4", 0))
    ]
    daily = IngestOptions("transactions", daily_totals=True)
    report = ingest(write_csv(rows, "daily.csv"), daily, settings, now=NOW)
    assert (report.accepted, report.quarantined_by_reason) == (3, {"quantity:non_zero_quantity": 9})
    card = scorecard(settings, now=NOW)["tables"]["transactions"]
    assert card["validity"] == {"score": 100.0, "failing": []}
    assert not any(line.startswith("customer_id") for line in card["completeness"]["failing"])
    ingest(
        write_csv([GOOD_LINE | {"event_id": "z", "quantity": "0"}]), IngestOptions("transactions"), settings, now=NOW
    )
    card = scorecard(settings, now=NOW)["tables"]["transactions"]
    assert card["validity"]["failing"] == ["quantity:non_zero_quantity: 1 rows quarantined"]
    assert card["validity"]["score"] == 75.0  # 3 accepted of the 4 rows checked, the 9 days without sales left out
