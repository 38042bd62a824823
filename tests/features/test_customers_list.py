"""The customers list sent again (a monthly CRM export): a customer's changed row replaces the stored one,
as a product's does in the catalogue. Before, every customer whose tier, region or sign-up date had
changed was quarantined as `customer_id:duplicate_customer_id`, and the first export held for good."""

from __future__ import annotations

import pandas as pd

from spend.cli.ingest_notes import notes
from spend.core.privacy.pseudonym import pseudonym
from spend.core.privacy.vault import IdentityVault
from spend.features.ingest.pipeline import IngestOptions, ingest
from spend.features.ingest.store import OfflineStore
from spend.features.quality.scorecard import scorecard
from tests.conftest import TEST_KEY
from tests.features.test_validation_rules import GOOD_LINE, NOW

ALICE = {
    "customer_id": "alice",
    "signup_ts": "2025-06-01T00:00:00",
    "membership_tier": "silver",
    "region": "north",
    "email": "alice@old.example",
    "phone": "+44 20 7946 0000",
}
OPTIONS = IngestOptions("customers")


def _current(settings) -> pd.Series:
    return OfflineStore(settings.paths).current("customers").set_index("customer_id").iloc[0]


def _personal(settings) -> dict:
    vault = IdentityVault(settings.paths.vault, TEST_KEY.encode())
    return vault.personal(pseudonym("alice", TEST_KEY.encode()))


def test_a_changed_tier_and_region_replace_the_stored_row(settings, write_csv):
    ingest(write_csv([ALICE], "january.csv"), OPTIONS, settings, now=NOW)
    upgraded = ALICE | {"membership_tier": "gold", "region": "south"}
    report = ingest(write_csv([upgraded], "february.csv"), OPTIONS, settings, now=NOW)
    assert (report.accepted, report.quarantined, report.replaced) == (1, 0, 1)
    assert "customers whose stored row this file changes (a new tier, region or sign-up date): 1 replaced" in notes(
        report
    )
    assert (_current(settings)["membership_tier"], _current(settings)["region"]) == ("gold", "south")
    card = scorecard(settings, now=NOW)["tables"]["customers"]
    assert card["uniqueness"]["failing"] == []  # the January row is history, not a second alice
    again = ingest(write_csv([upgraded], "february-again.csv"), OPTIONS, settings, now=NOW)
    assert (again.accepted, again.duplicates) == (0, 1)


def test_new_contact_details_replace_the_vaults_and_a_blank_one_keeps_it(settings, write_csv):
    ingest(write_csv([ALICE], "january.csv"), OPTIONS, settings, now=NOW)
    moved = ALICE | {"email": "alice@new.example", "phone": ""}
    report = ingest(write_csv([moved], "february.csv"), OPTIONS, settings, now=NOW)
    assert (report.accepted, report.duplicates) == (0, 1)  # nothing the models read changed
    assert _personal(settings) == {"email": "alice@new.example", "phone": ALICE["phone"]}


def test_a_corrected_signup_date_is_the_one_later_lines_are_checked_against(settings, write_csv):
    ingest(write_csv([ALICE | {"signup_ts": "2026-01-05T00:00:00"}], "wrong.csv"), OPTIONS, settings, now=NOW)
    ingest(write_csv([ALICE], "corrected.csv"), OPTIONS, settings, now=NOW)
    report = ingest(write_csv([GOOD_LINE], "sales.csv"), IngestOptions("transactions"), settings, now=NOW)
    assert (report.accepted, report.quarantined) == (1, 0)  # 2026-01-02 is after the corrected sign-up


def test_two_rows_of_one_customer_in_one_file_conflict(settings, write_csv):
    rows = [ALICE, ALICE | {"membership_tier": "gold"}]
    report = ingest(write_csv(rows, "customers.csv"), OPTIONS, settings, now=NOW)
    assert report.quarantined_by_reason == {"customer_id:duplicate_customer_id": 1}
    assert _current(settings)["membership_tier"] == "silver"
