"""Each validation rule rejects its bad case, with a reason naming the field and the rule."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pandas as pd
import pytest
from typer.testing import CliRunner

from spend.cli import app
from spend.cli.ingest_notes import notes
from spend.core.errors import SpendError
from spend.core.settings import SpendSettings
from spend.features.ingest.pipeline import IngestOptions, ingest
from spend.features.ingest.store import OfflineStore

NOW = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)

runner = CliRunner()

GOOD_LINE = {
    "event_id": "e-good",
    "order_id": "o1",
    "customer_id": "alice",
    "ts": "2026-01-02T10:00:00",
    "product_id": "p1",
    "quantity": "2",
    "unit_price": "3.50",
    "kind": "purchase",
    "currency": "GBP",
    "discount": "",
}

BAD_LINES = [
    ("order_id", "", "order_id:missing"),
    ("order_id", "o\t1", "order_id:malformed_id"),
    ("customer_id", "", "customer_id:missing"),
    ("customer_id", "x" * 80, "customer_id:malformed_id"),
    ("product_id", "p\t1", "product_id:malformed_id"),
    ("store_id", "Smith, John", "store_id:malformed_id"),  # commas separate ids in lists (an erasure file)
    ("customer_id", "alice\u200b", "customer_id:malformed_id"),  # a zero-width space: "alice" to the eye
    ("product_id", "\u202ep1", "product_id:malformed_id"),  # a right-to-left override shows it backwards
    ("ts", "yesterday", "ts:unparsable_timestamp"),
    ("ts", "2026-02-30T10:00:00", "ts:unparsable_timestamp"),
    ("ts", "2027-01-01T00:00:00", "ts:not_in_future"),
    ("ts", "1900-01-01T00:00:00", "ts:not_before_earliest"),  # an export's missing date
    ("ts", "0001-01-01T00:00:00", "ts:not_before_earliest"),
    ("quantity", "0", "quantity:non_zero_quantity"),
    ("quantity", "two", "quantity:not_a_float"),
    ("quantity", "-2", "quantity:sign_matches_kind"),
    ("quantity", "1000000", "quantity:absurd_amount"),
    ("unit_price", "0", "unit_price:positive_price_on_purchase"),
    ("unit_price", "-1", "unit_price:non_negative_price"),
    ("currency", "XXX", "currency:known_currency"),
    ("kind", "layaway", "kind:allowed_value"),
    ("discount", "-1", "discount:non_negative_discount"),
    ("discount", "100", "discount:discount_within_line_amount"),
]


def quarantined(settings, table: str = "transactions"):
    return OfflineStore(settings.paths).read_quarantine(table)


@pytest.mark.parametrize(("field", "value", "reason"), BAD_LINES, ids=[r for _, _, r in BAD_LINES])
def test_each_rule_rejects_its_bad_case_with_field_and_rule(settings, write_csv, field, value, reason):
    # an order of its own: a blank cell would take the value of its order's other lines
    bad = GOOD_LINE | {"event_id": "e-bad", "order_id": "o-bad", field: value}
    # a discount on the good line: a file whose only discount is negative writes them signed (test_discounts.py)
    good = GOOD_LINE | {"discount": "0.50"}
    report = ingest(write_csv([good, bad]), IngestOptions("transactions"), settings, now=NOW)

    assert (report.accepted, report.quarantined, report.duplicates) == (1, 1, 0)
    assert report.quarantined_by_reason == {reason: 1}
    row = quarantined(settings).iloc[0]
    assert row["reason"] == reason
    assert row["source_row"] == 2


def test_an_id_spelled_two_ways_in_unicode_is_one_id_and_one_pseudonym(settings, write_csv):
    """ "Café" as one code point or as "e" and a combining accent (a Mac export), and "C１２" typed with
    full-width digits, were two customers each: two pseudonyms, two histories, half an erasure."""
    from spend.core.privacy.pseudonym import pseudonym

    lines = [
        GOOD_LINE | {"event_id": "e1", "order_id": "o1", "customer_id": "Caf\u00e9", "product_id": "P\uff11"},
        GOOD_LINE | {"event_id": "e2", "order_id": "o2", "customer_id": "Cafe\u0301", "product_id": "P1"},
        GOOD_LINE | {"event_id": "e3", "order_id": "o3", "customer_id": "C\uff11\uff12", "store_id": "\uff33\uff11"},
    ]
    report = ingest(write_csv(lines), IngestOptions("transactions"), settings, now=NOW)
    assert report.accepted == 3
    stored = OfflineStore(settings.paths).read("transactions").set_index("event_id")
    key = settings.pseudonym_key.get_secret_value().encode()
    assert stored.loc["e1", "customer_id"] == stored.loc["e2", "customer_id"] == pseudonym("Cafe\u0301", key)
    assert stored.loc["e3", "customer_id"] == pseudonym("C12", key)
    assert stored.loc["e1", "product_id"] == stored.loc["e2", "product_id"] == "P1"
    assert stored.loc["e3", "store_id"] == "S1"


def test_return_with_negative_quantity_and_zero_price_is_accepted(settings, write_csv):
    line = GOOD_LINE | {"kind": "return", "quantity": "-1", "unit_price": "0"}
    report = ingest(write_csv([line]), IngestOptions("transactions"), settings, now=NOW)
    assert report.accepted == 1


def test_kind_is_inferred_from_the_sign_of_quantity_when_empty(settings, write_csv):
    lines = [GOOD_LINE | {"kind": ""}, GOOD_LINE | {"event_id": "e2", "kind": "", "quantity": "-1"}]
    ingest(write_csv(lines), IngestOptions("transactions"), settings, now=NOW)
    stored = OfflineStore(settings.paths).read("transactions").sort_values("event_id")
    assert stored["event_id"].tolist() == ["e-good", "e2"]
    assert stored["kind"].tolist() == ["purchase", "return"]


def test_timestamp_before_customer_signup_is_rejected(settings, write_csv):
    customers = [{"customer_id": "alice", "signup_ts": "2026-01-05T00:00:00Z"}]
    ingest(write_csv(customers, "customers.csv"), IngestOptions("customers"), settings, now=NOW)
    early = GOOD_LINE | {"ts": "2026-01-04T23:59:59Z"}
    late = GOOD_LINE | {"event_id": "e-late", "ts": "2026-01-05T00:00:00Z"}
    unknown_customer = GOOD_LINE | {
        "event_id": "e-new",
        "order_id": "o9",
        "customer_id": "bob",
        "ts": "2020-01-01T00:00:00Z",
    }
    report = ingest(write_csv([early, late, unknown_customer]), IngestOptions("transactions"), settings, now=NOW)
    assert report.quarantined_by_reason == {"ts:before_customer_signup": 1}
    assert report.accepted == 2


def test_same_event_id_with_other_content_is_a_conflict_not_a_duplicate(settings, write_csv):
    changed = GOOD_LINE | {"quantity": "3"}
    report = ingest(write_csv([GOOD_LINE, changed, GOOD_LINE]), IngestOptions("transactions"), settings, now=NOW)
    assert report.quarantined_by_reason == {"event_id:duplicate_event_id": 1}
    assert report.duplicates == 1

    # A row already received, even if it was quarantined, is a duplicate; new content is a new conflict.
    other = GOOD_LINE | {"quantity": "4"}
    later = ingest(write_csv([changed, other], "later.csv"), IngestOptions("transactions"), settings, now=NOW)
    assert later.duplicates == 1
    assert later.quarantined_by_reason == {"event_id:duplicate_event_id": 1}


def test_an_export_without_event_ids_is_not_compared_with_the_stored_ids(settings, write_csv, monkeypatch):
    # A derived id is a hash of the row's content, which the row hash compares already: reading every
    # stored id on each ingest made an ingest slower as the home grew (benchmarks/ingest_growth.py).
    asked: list[list[str]] = []
    read = OfflineStore.read
    monkeypatch.setattr(
        OfflineStore,
        "read",
        lambda self, table, columns=None, where=None: asked.append(columns or []) or read(self, table, columns, where),
    )
    line = {k: v for k, v in GOOD_LINE.items() if k != "event_id"}
    first = ingest(write_csv([line]), IngestOptions("transactions"), settings, now=NOW)
    again = ingest(
        write_csv([line, line | {"quantity": "3"}], "again.csv"), IngestOptions("transactions"), settings, now=NOW
    )
    assert (first.accepted, again.duplicates, again.accepted) == (1, 1, 1)
    assert not any("event_id" in columns for columns in asked)

    # An id the export gives is still compared with every stored one, derived ones included.
    derived = OfflineStore(settings.paths).read("transactions", ["event_id"])["event_id"].iloc[0]
    clash = GOOD_LINE | {"event_id": derived, "quantity": "5"}
    given = ingest(write_csv([clash], "given.csv"), IngestOptions("transactions"), settings, now=NOW)
    assert given.quarantined_by_reason == {"event_id:duplicate_event_id": 1}


def test_a_row_breaking_several_rules_reports_the_first_and_keeps_all(settings, write_csv):
    bad = GOOD_LINE | {"product_id": "bad\tid", "quantity": "0"}
    ingest(write_csv([bad]), IngestOptions("transactions"), settings, now=NOW)
    row = quarantined(settings).iloc[0]
    assert row["reason"] == "product_id:malformed_id"
    assert row["reasons"].split(";") == ["product_id:malformed_id", "quantity:non_zero_quantity"]


def test_the_sanity_bound_on_amounts_is_configurable(settings, write_csv):
    strict = settings.model_copy(update={"max_line_amount": 5.0})
    report = ingest(write_csv([GOOD_LINE]), IngestOptions("transactions"), strict, now=NOW)
    assert report.quarantined_by_reason == {"quantity:absurd_amount": 1}


def test_points_membership_and_campaign_rules(settings, write_csv):
    points = [
        {"event_id": "p1", "customer_id": "a", "ts": "2026-01-01", "points": "10", "kind": "earn"},
        {"event_id": "p2", "customer_id": "a", "ts": "2026-01-01", "points": "-10", "kind": "earn"},
        {"event_id": "p3", "customer_id": "a", "ts": "2026-01-01", "points": "1.5", "kind": "adjust"},
        # stored before, and every balance and earn window of the member with it
        {"event_id": "p4", "customer_id": "a", "ts": "2026-01-01", "points": "1e15", "kind": "earn"},
    ]
    report = ingest(write_csv(points, "points.csv"), IngestOptions("points"), settings, now=NOW)
    assert report.quarantined_by_reason == {
        "points:not_a_int": 1,
        "points:sign_matches_kind": 1,
        "points:plausible_points": 1,
    }

    membership = [
        {"event_id": "m1", "customer_id": "a", "ts": "2026-01-01", "tier": "gold", "previous_tier": "silver"},
        {"event_id": "m2", "customer_id": "a", "ts": "2026-01-02", "tier": "gold", "previous_tier": "gold"},
        {"event_id": "m3", "customer_id": "a", "ts": "2026-01-03", "tier": "diamond", "previous_tier": ""},
    ]
    report = ingest(write_csv(membership, "membership.csv"), IngestOptions("membership"), settings, now=NOW)
    assert report.quarantined_by_reason == {"tier:allowed_value": 1, "tier:changes_tier": 1}
    at_once = [  # two tiers at one time: which one holds cannot be known
        {"event_id": "m4", "customer_id": "b", "ts": "2026-01-04", "tier": "gold", "previous_tier": "silver"},
        {"event_id": "m5", "customer_id": "b", "ts": "2026-01-04", "tier": "platinum", "previous_tier": "silver"},
        {"event_id": "m6", "customer_id": "c", "ts": "2026-01-04", "tier": "gold", "previous_tier": "silver"},
    ]
    report = ingest(write_csv(at_once, "membership2.csv"), IngestOptions("membership"), settings, now=NOW)
    assert report.accepted == 1 and report.quarantined_by_reason == {"tier:one_tier_per_time": 2}

    campaigns = [
        {"event_id": "c1", "campaign_id": "w1", "customer_id": "a", "ts": "2026-01-01", "group": "treatment"},
        {"event_id": "c2", "campaign_id": "w1", "customer_id": "b", "ts": "2026-01-01", "group": "placebo"},
    ]
    report = ingest(write_csv(campaigns, "campaigns.csv"), IngestOptions("campaigns"), settings, now=NOW)
    assert report.quarantined_by_reason == {"group:allowed_value": 1}


def test_two_different_counts_of_one_product_store_and_time_are_both_quarantined(settings, write_csv):
    """Before, both were stored and the later row silently won. The same count twice is a duplicate; the
    same time written with another offset is the same time."""
    count = {"product_id": "p1", "store_id": "s1", "ts": "2026-01-05T20:00:00+00:00", "on_hand": "5", "on_order": "0"}
    rows = [
        count,
        count | {"ts": "2026-01-05T21:00:00+01:00", "on_hand": "7"},  # the same instant, another count
        count | {"product_id": "p2"},
        count | {"product_id": "p2"},  # a duplicate
        count | {"product_id": "p3", "lead_time_days": "3"},
        count | {"product_id": "p3", "lead_time_days": "4"},
        count | {"store_id": "s2", "ts": "2026-01-06T20:00:00+00:00"},  # another day: no conflict
        count | {"product_id": "p4"},
        count | {"product_id": "p4", "on_hand": "lots"},  # unreadable: quarantined alone, p4's count stands
    ]
    report = ingest(write_csv(rows, "inventory.csv"), IngestOptions("inventory"), settings, now=NOW)
    assert (report.received, report.accepted, report.quarantined, report.duplicates) == (9, 3, 5, 1)
    assert report.quarantined_by_reason == {"on_hand:one_count_per_time": 4, "on_hand:not_a_float": 1}
    assert sorted(quarantined(settings, "inventory")["product_id"]) == ["p1", "p1", "p3", "p3", "p4"]


def test_a_stock_count_below_zero_is_stored_as_counted(settings, write_csv):
    """POS and web shops sell units the stock system has not booked in, and their counts go below zero.
    Quarantined, the latest count was lost and replenishment read an older, higher one for exactly the
    products that had sold out. A negative order or lead time is still no count anyone made."""
    count = {"product_id": "p1", "store_id": "s1", "ts": "2026-01-05T20:00:00+00:00", "on_hand": "-3", "on_order": "0"}
    rows = [count, count | {"product_id": "p2", "on_order": "-1"}, count | {"product_id": "p3", "on_hand": "2"}]
    report = ingest(write_csv(rows, "inventory.csv"), IngestOptions("inventory"), settings, now=NOW)
    assert (report.received, report.accepted, report.quarantined) == (3, 2, 1)
    assert report.quarantined_by_reason == {"on_order:non_negative_on_order": 1}
    stored = OfflineStore(settings.paths).read("inventory").set_index("product_id")
    assert stored.loc["p1", "on_hand"] == -3


def test_a_lead_time_beyond_a_year_or_an_absurd_count_is_quarantined(settings, write_csv):
    """A lead time of a billion days was stored, and replenishment then asked for a forecast that long; a
    count of 1e15 units was stored as counted."""
    count = {"product_id": "p1", "store_id": "s1", "ts": "2026-01-05T20:00:00+00:00", "on_hand": "5", "on_order": "0"}
    rows = [
        count | {"lead_time_days": "1000000000"},
        count | {"product_id": "p2", "on_hand": "1e15"},
        count | {"product_id": "p3", "on_order": "1e300"},
        count | {"product_id": "p4", "on_hand": "-2", "lead_time_days": "365"},  # a year, and below zero: kept
    ]
    report = ingest(write_csv(rows, "inventory.csv"), IngestOptions("inventory"), settings, now=NOW)
    assert (report.received, report.accepted, report.quarantined) == (4, 1, 3)
    assert report.quarantined_by_reason == {
        "lead_time_days:lead_time_within_a_year": 1,
        "on_hand:plausible_count": 1,
        "on_order:plausible_count": 1,
    }


def test_fraud_labels_written_as_words_are_read_as_flags(settings, write_csv):
    """Chargeback tools and database exports write true/false, Y/N or yes/no: every such label was
    quarantined as `not_a_int`. A number other than 0 or 1, or another word, is still refused."""
    words = ["yes", "N", "TRUE", "f", "1", "0", "2", "maybe"]
    rows = [{"order_id": f"o{k}", "ts": "2026-01-05T20:00:00+00:00", "is_fraud": w} for k, w in enumerate(words)]
    report = ingest(write_csv(rows, "labels.csv"), IngestOptions("fraud_labels"), settings, now=NOW)
    assert (report.received, report.accepted, report.quarantined) == (8, 6, 2)
    assert report.quarantined_by_reason == {"is_fraud:zero_or_one": 1, "is_fraud:not_a_flag": 1}
    stored = OfflineStore(settings.paths).read("fraud_labels").set_index("order_id")["is_fraud"]
    assert stored.loc[["o0", "o1", "o2", "o3", "o4", "o5"]].tolist() == [1, 0, 1, 0, 1, 0]


def test_an_order_whose_lines_name_two_customers_is_quarantined_whole(settings, write_csv):
    """Before, both customers were credited with the order. Lines of one order at different times are
    kept: Online Retail II has 83 invoices whose lines were entered minutes apart."""
    lines = [
        GOOD_LINE | {"event_id": "e1"},
        GOOD_LINE | {"event_id": "e2", "customer_id": "bob", "product_id": "p2"},
        GOOD_LINE | {"event_id": "e3", "order_id": "o2"},
        GOOD_LINE | {"event_id": "e4", "order_id": "o2", "ts": "2026-01-02T10:03:00", "product_id": "p2"},
    ]
    report = ingest(write_csv(lines), IngestOptions("transactions"), settings, now=NOW)
    assert (report.accepted, report.quarantined) == (2, 2)
    assert report.quarantined_by_reason == {"customer_id:one_customer_per_order": 2}
    assert set(quarantined(settings)["order_id"]) == {"o1"}


def test_order_numbers_that_restart_per_store_and_day_are_completed_by_order_within(settings, write_csv):
    """A till numbering its receipts per store and day: receipt 0001 of two stores and of two days is
    three orders. Read as one, all its lines were quarantined as one order naming three customers."""
    lines = [
        GOOD_LINE | {"event_id": "e1", "order_id": "0001", "store_id": "S1", "register": "2"},
        GOOD_LINE | {"event_id": "e2", "order_id": "0001", "store_id": "S1", "product_id": "p2", "register": "2"},
        GOOD_LINE | {"event_id": "e3", "order_id": "0001", "store_id": "S2", "customer_id": "bob", "register": "2"},
        GOOD_LINE
        | {
            "event_id": "e4",
            "order_id": "0001",
            "store_id": "S1",
            "customer_id": "carol",
            "ts": "2026-01-03T09:00:00",
            "register": "2",
        },
        GOOD_LINE | {"event_id": "e5", "order_id": "0001", "store_id": "S1", "customer_id": "dave", "register": "3"},
    ]
    plain = CliRunner().invoke(app, ["ingest", str(write_csv(lines, "plain.csv")), "--table", "transactions"])
    shown = " ".join(plain.output.split())
    assert "customer_id:one_customer_per_order │ 5" in shown and "give --order-within store_id,day" in shown

    within = IngestOptions("transactions", order_within=("store_id", "register", "day"))
    report = ingest(write_csv(lines, "till.csv"), within, settings, now=NOW)
    assert (report.accepted, report.quarantined) == (5, 0)
    orders = OfflineStore(settings.paths).read("transactions").groupby("order_id")["customer_id"].nunique()
    assert sorted(orders.index) == [
        "0001/S1/2/2026-01-02",
        "0001/S1/2/2026-01-03",
        "0001/S1/3/2026-01-02",
        "0001/S2/2/2026-01-02",
    ]
    assert orders.max() == 1


@pytest.mark.parametrize(
    ("table", "within", "words"),
    [
        ("transactions", ("register",), "register cannot complete an order id; name columns of the file \\(event_id,"),
        ("transactions", ("order_id",), "order_id cannot complete"),
        ("transactions", ("customer_id",), "customer_id names a person"),  # it would be stored raw
        ("transactions", ("email",), "email names a person"),
        ("customers", ("day",), "the customers table has no order_id"),
    ],
)
def test_order_within_names_only_what_can_complete_an_order_id(settings, write_csv, table, within, words):
    with pytest.raises(SpendError, match=words):
        ingest(write_csv([GOOD_LINE]), IngestOptions(table, order_within=within), settings, now=NOW)
    assert not OfflineStore(settings.paths).read("transactions").shape[0]


def test_ids_written_as_people_write_them_are_ids(settings, write_csv):
    """Shopify names its orders "#1001" and its customers by e-mail; a till names its store "Main St" or
    "Café Zürich": every such line was quarantined as a malformed id. The e-mail is pseudonymised like
    any customer id, never stored."""
    line = GOOD_LINE | {"event_id": "", "order_id": "#1001", "customer_id": "anna+news@example.com"}
    stores = [line | {"store_id": name, "product_id": f"p{i}"} for i, name in enumerate(["Main St", "Café Zürich"])]
    report = ingest(write_csv(stores), IngestOptions("transactions"), settings, now=NOW)
    assert (report.accepted, report.quarantined) == (2, 0), report.quarantined_by_reason
    stored = OfflineStore(settings.paths).read("transactions").sort_values("product_id")
    assert stored["order_id"].tolist() == ["#1001", "#1001"]
    assert stored["store_id"].tolist() == ["Main St", "Café Zürich"]
    assert stored["customer_id"].iloc[0].startswith("c_") and "example.com" not in stored.to_csv()


def test_order_level_cells_written_once_per_order_take_the_orders_value(settings, write_csv):
    """A web shop's export writes an order's customer, time, channel and currency on its first line only.
    Before, the later lines were quarantined (no customer, no time) or took the default currency; now a
    blank cell takes the value the order's other lines give, when they give one. Cells that did not
    parse keep their reason, and an order whose lines disagree leaves its blanks as they were."""
    settings = settings.model_copy(update={"currencies": frozenset({"GBP", "EUR", "USD"})})
    blank = {"event_id": "", "customer_id": "", "ts": "", "channel": "", "currency": ""}
    lines = [
        GOOD_LINE | {"event_id": "", "order_id": "#1", "channel": "web", "currency": "EUR"},
        GOOD_LINE | blank | {"order_id": "#1", "product_id": "p2"},
        GOOD_LINE | blank | {"order_id": "#1", "product_id": "p3"},
        GOOD_LINE | {"event_id": "", "order_id": "#2", "currency": "EUR", "product_id": "p1"},
        GOOD_LINE | {"event_id": "", "order_id": "#2", "currency": "USD", "product_id": "p2"},
        GOOD_LINE | {"event_id": "", "order_id": "#2", "currency": "", "product_id": "p3"},
        GOOD_LINE | {"event_id": "", "order_id": "#3", "ts": "yesterday", "product_id": "p1"},
        GOOD_LINE | blank | {"order_id": "#3", "product_id": "p2"},
    ]
    report = ingest(write_csv(lines), IngestOptions("transactions"), settings, now=NOW)
    assert report.quarantined_by_reason == {"ts:unparsable_timestamp": 1, "ts:missing": 1}
    assert report.filled_from_order == {"customer_id": 3, "ts": 2, "channel": 2, "currency": 3}
    stored = OfflineStore(settings.paths).read("transactions").set_index(["order_id", "product_id"])
    first = stored.loc[("#1", "p1")]
    for product in ("p2", "p3"):
        row = stored.loc[("#1", product)]
        assert (row["customer_id"], row["ts"], row["channel"], row["currency"]) == (
            first["customer_id"],
            first["ts"],
            "web",
            "EUR",
        )
    assert stored.loc[("#2", "p3"), "currency"] == "GBP"  # EUR and USD given: the default, as before


def test_a_home_takes_its_default_currency_alone_unless_told_otherwise(settings, write_csv):
    """Every ISO code was accepted, so a EUR export went into a GBP home and was summed with its GBP lines
    as one currency. Now a currency other than SPEND_DEFAULT_CURRENCY is quarantined, with what to set."""
    line = GOOD_LINE | {"currency": "eur"}
    result = CliRunner().invoke(app, ["ingest", str(write_csv([line])), "--table", "transactions"])
    shown = " ".join(result.output.split())
    assert result.exit_code == 0 and "currency:known_currency │ 1" in shown
    assert "(it takes GBP): a shop selling in another one sets SPEND_DEFAULT_CURRENCY" in shown
    euro = SpendSettings(home=settings.home, pseudonym_key=settings.pseudonym_key, default_currency="EUR")
    assert euro.currencies == {"EUR"}
    report = ingest(write_csv([line | {"event_id": "e2"}], "euro.csv"), IngestOptions("transactions"), euro, now=NOW)
    assert report.accepted == 1


@pytest.mark.parametrize(
    ("price", "currency", "stored", "reason"),
    [
        ("$12.50", "USD", (12.5, "USD"), None),
        ("-$12.50", "USD", None, "unit_price:non_negative_price"),  # read as -12.50, then judged
        ("£3.99", "", (3.99, "GBP"), None),  # the symbol names the line's currency
        ("12,50 €", "EUR", None, "unit_price:not_a_float"),  # a decimal comma still needs --decimal ','
        ("12.50 €", "", (12.5, "EUR"), None),
        ("1,234.50", "", (1234.5, "GBP"), None),
        ("$1,234.50", "usd", (1234.5, "USD"), None),
        ("1,250", "", None, "unit_price:not_a_float"),  # 1,250 or 1.25: not guessed
        ("$12.50", "", None, "currency:symbol_disagrees"),  # the home's GBP cannot be dollars
        ("€12.50", "GBP", None, "currency:symbol_disagrees"),
        ("$ abc", "", None, "unit_price:not_a_float"),
        ("12.50 EUR", "", (12.5, "EUR"), None),  # a code, as European exports write money
        ("EUR 12.50", "eur", (12.5, "EUR"), None),
        ("12.50usd", "", (12.5, "USD"), None),
        ("12.50 USD", "GBP", None, "currency:symbol_disagrees"),
        ("12.50 CHF", "", None, "currency:known_currency"),  # a code the home does not take
        ("12.50 pcs", "", None, "unit_price:not_a_float"),  # three letters that are no currency
        ("12.50 GBPX", "", None, "unit_price:not_a_float"),
    ],
)
def test_prices_written_with_a_symbol_or_thousands_are_read_and_checked(
    settings, write_csv, price, currency, stored, reason
):
    """Point-of-sale exports write money as their screens show it: every such price was not_a_float. The
    symbol is taken off; it names a line's missing currency, and a line whose currency it cannot mean is
    quarantined rather than stored under the wrong one."""
    settings = settings.model_copy(update={"currencies": frozenset({"GBP", "EUR", "USD"})})
    line = GOOD_LINE | {"unit_price": price, "currency": currency}
    report = ingest(write_csv([line]), IngestOptions("transactions"), settings, now=NOW)
    if reason is None:
        row = OfflineStore(settings.paths).read("transactions").iloc[0]
        assert (row["unit_price"], row["currency"]) == stored, report.quarantined_by_reason
    else:
        assert report.quarantined_by_reason == {reason: 1}
        assert quarantined(settings).iloc[0]["unit_price"] == price.strip()  # the quarantine keeps what was sent


def test_a_line_refused_for_a_setting_goes_in_once_the_setting_is_given(settings, write_csv):
    """The refusal said to list the currency; done, the same file ingested again counted the refused line
    as a duplicate of its own refusal, and it never went in."""
    lines = [GOOD_LINE | {"event_id": "", "currency": "EUR"}, GOOD_LINE | {"event_id": "", "order_id": "o2"}]
    path = write_csv(lines)
    first = ingest(path, IngestOptions("transactions"), settings, now=NOW)
    assert (first.accepted, first.quarantined_by_reason) == (1, {"currency:known_currency": 1})
    again = ingest(path, IngestOptions("transactions"), settings, now=NOW)  # nothing changed: nothing new
    assert (again.accepted, again.quarantined, again.duplicates) == (0, 0, 2)
    euro = settings.model_copy(update={"currencies": frozenset({"GBP", "EUR"})})
    fixed = ingest(path, IngestOptions("transactions"), euro, now=NOW)
    assert (fixed.accepted, fixed.duplicates, fixed.accepted_after_refusal) == (1, 1, 1)
    assert "lines an earlier ingest quarantined went in now" in " ".join(notes(fixed))
    assert sorted(OfflineStore(settings.paths).read("transactions")["currency"]) == ["EUR", "GBP"]
    last = ingest(path, IngestOptions("transactions"), euro, now=NOW)
    assert (last.accepted, last.duplicates) == (0, 2)
    listed = runner.invoke(app, ["quarantine", "--table", "transactions", "--json"])
    assert (json.loads(listed.stdout)["rows"], json.loads(listed.stdout)["went_in_later"]) == (0, 1)


def test_lines_without_a_customer_go_in_once_the_export_is_ingested_again_with_allow_anonymous(settings, write_csv):
    """The hint says to ingest again with --allow-anonymous; done, every refused line was a duplicate."""
    lines = [GOOD_LINE | {"event_id": "", "customer_id": ""}, GOOD_LINE | {"event_id": "", "order_id": "o2"}]
    path = write_csv(lines)
    first = ingest(path, IngestOptions("transactions"), settings, now=NOW)
    assert (first.accepted, first.quarantined_by_reason) == (1, {"customer_id:missing": 1})
    again = ingest(path, IngestOptions("transactions", allow_anonymous=True), settings, now=NOW)
    assert (again.accepted, again.duplicates, again.accepted_after_refusal) == (1, 1, 1)


def test_lines_refused_for_a_time_they_could_not_read_are_out_no_more_once_read_with_ts_format(settings, write_csv):
    """The hint asks for --ts-format; given, the lines went in, but `spend quarantine` kept listing every one
    as still out and the quality scorecard counted them invalid: nothing tied a line to its refusal."""
    from spend.features.quality.scorecard import scorecard

    lines = [GOOD_LINE | {"event_id": "", "order_id": f"o{i}", "ts": f"12/0{i + 1}/2025 10:00"} for i in range(3)]
    lines.append(GOOD_LINE | {"event_id": "", "order_id": "o9", "ts": "someday"})  # unreadable either way
    path = write_csv(lines)
    first = ingest(path, IngestOptions("transactions"), settings, now=NOW)
    assert first.quarantined_by_reason == {"ts:unparsable_timestamp": 4}
    read = ingest(path, IngestOptions("transactions", ts_format="%m/%d/%Y %H:%M"), settings, now=NOW)
    assert (read.accepted, read.accepted_after_refusal, read.quarantined, read.duplicates) == (3, 3, 0, 1)
    listed = json.loads(runner.invoke(app, ["quarantine", "--table", "transactions", "--json"]).stdout)
    assert (listed["rows"], listed["went_in_later"]) == (1, 3)
    validity = scorecard(settings, now=NOW)["tables"]["transactions"]["validity"]
    assert validity == {"score": 75.0, "failing": ["ts:unparsable_timestamp: 1 rows quarantined"]}
    again = ingest(path, IngestOptions("transactions", ts_format="%m/%d/%Y %H:%M"), settings, now=NOW)
    assert (again.accepted, again.duplicates) == (0, 4)  # nothing new


def test_a_line_read_at_last_but_refused_for_another_reason_is_out_once_for_that_reason(settings, write_csv):
    """Its time read with --ts-format, a line without a customer was refused again, and listed twice:
    as an unreadable time and as an anonymous line."""
    from spend.features.quality.scorecard import scorecard

    lines = [GOOD_LINE | {"event_id": "", "order_id": "o1", "ts": "12/01/2025 10:00", "customer_id": ""}]
    lines.append(GOOD_LINE | {"event_id": "", "order_id": "o2", "ts": "12/02/2025 10:00"})
    path = write_csv(lines)
    ingest(path, IngestOptions("transactions"), settings, now=NOW)
    read = ingest(path, IngestOptions("transactions", ts_format="%m/%d/%Y %H:%M"), settings, now=NOW)
    assert (read.accepted, read.quarantined_by_reason) == (1, {"customer_id:missing": 1})
    listed = json.loads(runner.invoke(app, ["quarantine", "--table", "transactions", "--json"]).stdout)
    assert (listed["reasons"], listed["went_in_later"], listed["refused_again"]) == ({"customer_id:missing": 1}, 1, 1)
    validity = scorecard(settings, now=NOW)["tables"]["transactions"]["validity"]
    assert validity == {"score": 50.0, "failing": ["customer_id:missing: 1 rows quarantined"]}
    anonymous = IngestOptions("transactions", ts_format="%m/%d/%Y %H:%M", allow_anonymous=True)
    last = ingest(path, anonymous, settings, now=NOW)
    assert (last.accepted, last.accepted_after_refusal) == (1, 1)
    listed = json.loads(runner.invoke(app, ["quarantine", "--table", "transactions", "--json"]).stdout)
    assert listed["rows"] == 0 and scorecard(settings, now=NOW)["tables"]["transactions"]["validity"]["score"] == 100.0


def test_a_line_whose_money_cells_carry_two_symbols_is_quarantined(settings, write_csv):
    """A price in dollars and a cost in euros on one line cannot both be the line's currency."""
    settings = settings.model_copy(update={"currencies": frozenset({"GBP", "EUR", "USD"})})
    lines = [
        GOOD_LINE | {"event_id": "e1", "unit_price": "$4.00", "unit_cost": "€2.00", "currency": "USD"},
        GOOD_LINE | {"event_id": "e2", "order_id": "o2", "unit_price": "$4.00", "unit_cost": "$2.00", "currency": ""},
        GOOD_LINE | {"event_id": "e3", "order_id": "o3", "unit_price": "4.00", "unit_cost": "2.00", "currency": "USD"},
    ]
    report = ingest(write_csv(lines), IngestOptions("transactions"), settings, now=NOW)
    # e2: dollars on a line naming no currency, in a GBP home; e3 has no symbol: nothing to disagree with
    assert report.quarantined_by_reason == {"currency:symbol_disagrees": 2} and report.accepted == 1
    assert set(quarantined(settings)["event_id"]) == {"e1", "e2"}


def test_a_shops_own_tier_ladder_is_accepted_and_others_refused(settings, write_csv):
    """Tiers were basic, silver, gold, platinum whatever the shop's: a Bronze member was quarantined."""
    settings = settings.model_copy(update={"tiers": ("bronze", "silver", "gold", "vip")})
    rows = [
        {"customer_id": "a", "signup_ts": "2025-01-01T00:00:00", "membership_tier": "Bronze"},
        {"customer_id": "b", "signup_ts": "2025-01-01T00:00:00", "membership_tier": "VIP"},
        {"customer_id": "c", "signup_ts": "2025-01-01T00:00:00", "membership_tier": "platinum"},
    ]
    report = ingest(write_csv(rows), IngestOptions("customers"), settings, now=NOW)
    assert (report.accepted, report.quarantined_by_reason) == (2, {"membership_tier:allowed_value": 1})
    stored = OfflineStore(settings.paths).read("customers")
    assert sorted(stored["membership_tier"]) == ["bronze", "vip"]
    assert SpendSettings(tiers=["Bronze", " Silver "]).tiers == ("bronze", "silver")
    with pytest.raises(ValueError, match="each once, lowest first"):
        SpendSettings(tiers=["gold", "Gold"])


CROSS_ROW_CASES = {  # per table, rows that break its cross-row rules, beside columns the rules do not read
    "transactions": {
        "order_id": ["o1", "o1", "o2"],
        "customer_id": ["a", "b", "c"],
        "order_discount": [1.0, 2.0, None],
        "quantity": [1, 2, 3],
        "unit_price": [5.0, 5.0, 5.0],
        "kind": ["purchase"] * 3,
    },
    "membership": {"customer_id": ["a", "a", "b"], "ts": [NOW] * 3, "tier": ["gold", "silver", "gold"]},
    "inventory": {
        "product_id": ["p1", "p1", "p2"],
        "store_id": ["s1", "s1", "s1"],
        "ts": [NOW] * 3,
        "on_hand": [4, 5, 6],
        "on_order": [0, 0, 0],
        "lead_time_days": [2, 2, 2],
    },
}


@pytest.mark.parametrize("table", sorted(CROSS_ROW_CASES))
def test_a_cross_row_rule_judges_the_columns_it_says_it_reads_as_it_judges_the_whole_row(table):
    # Ingestion copies only those columns of the valid rows (`RowRule.reads`): a column read but not
    # listed would be missing there, and the rule would fail or pass every row.
    from spend.features.schema.fields import default_context
    from spend.features.schema.tables import TABLES

    frame = pd.DataFrame(CROSS_ROW_CASES[table] | {"noise": ["x", "y", "z"], "channel": ["web"] * 3})
    rules = [r for r in TABLES[table].row_rules(default_context()) if r.among_valid]
    assert rules and all(r.reads is not None for r in rules)
    for rule in rules:
        whole = rule.fn(frame).tolist()
        assert not all(whole), rule.reason  # the case breaks it
        assert rule.fn(frame[[c for c in rule.reads if c in frame]]).tolist() == whole, rule.reason
