"""A till's type column (Sale, Return, Refund, Void) and returns written with positive quantities:
before, every "Sale" line was quarantined as `kind:allowed_value` and every such return for its sign."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from spend.cli import app
from spend.cli.ingest_notes import notes
from spend.features.ingest.pipeline import IngestOptions, ingest
from spend.features.ingest.store import OfflineStore

runner = CliRunner()

LINE = {"order_id": "R1", "customer_id": "c1", "ts": "2026-01-02 10:00", "product_id": "p1", "quantity": 2,
        "unit_price": "4.50", "Transaction Type": "Sale"}  # fmt: skip
MAPS = {"Transaction Type": "kind"}


def _lines(*changes):
    return [LINE | {"order_id": f"R{n}"} | change for n, change in enumerate(changes)]


def test_a_tills_sales_returns_and_voids_are_read_by_their_words(settings, write_csv):
    rows = _lines(
        {}, {"Transaction Type": "SALE"}, {"Transaction Type": "Return", "quantity": 1},
        {"Transaction Type": "refund", "quantity": 2}, {"Transaction Type": "Void"},
    )  # fmt: skip
    report = ingest(write_csv(rows), IngestOptions("transactions", MAPS), settings)
    assert report.quarantined_by_reason == {"kind:voided_line": 1}
    assert (report.accepted, report.returns_signed) == (4, 2)
    said = " ".join(notes(report))
    assert "stored as units given back: 2" in said and "voided lines (rung up and taken off)" in said
    stored = OfflineStore(settings.paths).read("transactions").sort_values("order_id")
    assert stored["kind"].tolist() == ["purchase", "purchase", "return", "return"]
    assert stored["quantity"].tolist() == [2, 2, -1, -2]
    again = ingest(write_csv(rows, "again.csv"), IngestOptions("transactions", MAPS), settings)
    assert (again.accepted, again.duplicates) == (0, 5)  # read the same way twice


def test_a_file_mixing_both_signs_on_its_returns_keeps_the_sign_rule(settings, write_csv):
    rows = _lines({"Transaction Type": "Return", "quantity": 1}, {"Transaction Type": "Return", "quantity": -1})
    report = ingest(write_csv(rows), IngestOptions("transactions", MAPS), settings)
    assert report.quarantined_by_reason == {"quantity:sign_matches_kind": 1}
    assert report.returns_signed == 0


def test_an_unknown_word_is_refused_by_name_and_the_type_column_is_suggested(settings, write_csv):
    report = ingest(write_csv(_lines({"Transaction Type": "Layaway"})), IngestOptions("transactions", MAPS), settings)
    assert report.quarantined_by_reason == {"kind:allowed_value": 1}
    told = runner.invoke(app, ["ingest", str(write_csv(_lines({}), "plain.csv")), "--table", "transactions", "--json"])
    assert "Transaction Type=kind" in json.loads(told.stdout)["suggested_maps"]


def test_channels_payments_and_points_are_read_in_the_words_exports_use(settings, write_csv):
    """Shopify's "Source" online, Olist's payment "credit_card" and "boleto", a loyalty export's "Earned":
    each line was quarantined as `allowed_value`."""
    rows = _lines(
        {"channel": "Online", "payment_method": "Credit Card"}, {"channel": "In-Store", "payment_method": "boleto"},
        {"channel": "iOS", "payment_method": "Apple Pay"}, {"channel": "fax", "payment_method": "cash"},
    )  # fmt: skip
    report = ingest(write_csv(rows), IngestOptions("transactions", MAPS), settings)
    assert report.quarantined_by_reason == {"channel:allowed_value": 1}  # a word not listed is refused by name
    stored = OfflineStore(settings.paths).read("transactions").sort_values("order_id")
    assert stored["channel"].tolist() == ["web", "pos", "app"]
    assert stored["payment_method"].tolist() == ["card", "other", "wallet"]
    points = [
        {"event_id": f"p{n}", "customer_id": "c1", "ts": "2026-01-02 10:00", "points": amount, "kind": kind}
        for n, (kind, amount) in enumerate([("Earned", 10), ("REDEEMED", -5), ("Expired", -5), ("Adjustment", 1)])
    ]
    moved = ingest(write_csv(points, "points.csv"), IngestOptions("points"), settings)
    assert moved.accepted == 4, moved.quarantined_by_reason
    assert sorted(OfflineStore(settings.paths).read("points")["kind"]) == ["adjust", "earn", "expire", "redeem"]
