"""Pseudonymisation at the door: stable keyed pseudonyms, no raw id or personal field in the offline store."""

from __future__ import annotations

import sqlite3

import pandas as pd
import pytest
from cryptography.exceptions import InvalidTag

from spend.core.privacy.pseudonym import pseudonym, pseudonymise
from spend.core.privacy.vault import IdentityVault
from spend.core.settings import DevelopmentKeyWarning, SpendSettings
from spend.features.ingest.pipeline import IngestOptions, ingest
from spend.features.ingest.store import OfflineStore
from tests.features.test_validation_rules import GOOD_LINE, NOW

CUSTOMERS = [
    {
        "customer_id": "alice-77",
        "signup_ts": "2025-12-01T00:00:00Z",
        "region": "north",
        "channel": "web",
        "name": "Alice Liddell",
        "email": "alice@example.org",
        "phone": "+44 1234 567890",
        "address": "1 Rabbit Hole",
    },
    {
        "customer_id": "bob-12",
        "signup_ts": "2025-12-02T00:00:00Z",
        "region": "south",
        "channel": "pos",
        "name": "Bob Builder",
        "email": "bob@example.org",
        "phone": "+44 2222 333444",
        "address": "2 Yard Lane",
    },
]
PERSONAL_VALUES = [
    "alice-77",
    "bob-12",
    "Alice Liddell",
    "alice@example.org",
    "+44 1234 567890",
    "1 Rabbit Hole",
    "Bob Builder",
    "bob@example.org",
]


def test_pseudonyms_are_stable_for_a_key_and_change_with_the_key():
    assert pseudonym("alice", b"k1") == pseudonym("alice", b"k1")
    assert pseudonym("alice", b"k1") != pseudonym("alice", b"k2")
    assert pseudonym("alice", b"k1") != pseudonym("alicf", b"k1")
    ids = pd.Series(["a", None, "b", "a"])
    out = pseudonymise(ids, b"k1")
    assert out[0] == out[3] == pseudonym("a", b"k1") and pd.isna(out[1])


def _ingest_people(settings, write_csv):
    ingest(write_csv(CUSTOMERS, "customers.csv"), IngestOptions("customers"), settings, now=NOW)
    lines = [
        GOOD_LINE | {"customer_id": "alice-77"},
        GOOD_LINE | {"event_id": "e2", "order_id": "o2", "customer_id": "bob-12"},
        GOOD_LINE | {"event_id": "e3", "order_id": "o2", "customer_id": "bob-12", "quantity": "0"},
    ]
    ingest(write_csv(lines, "lines.csv"), IngestOptions("transactions"), settings, now=NOW)


def test_no_raw_id_or_personal_field_reaches_the_offline_store_or_quarantine(settings, write_csv):
    _ingest_people(settings, write_csv)
    stored_bytes = b"".join(p.read_bytes() for p in settings.home.rglob("*.parquet"))
    assert stored_bytes  # the store and quarantine were written
    for value in PERSONAL_VALUES:
        assert value.encode() not in stored_bytes, value
    customers = OfflineStore(settings.paths).read("customers")
    assert not set(customers.columns) & {"name", "email", "phone", "address"}
    assert customers["customer_id"].str.fullmatch(r"c_[0-9a-f]{32}").all()
    assert OfflineStore(settings.paths).read_quarantine("transactions")["customer_id"].str.startswith("c_").all()


def test_the_vault_reidentifies_keeps_personal_fields_encrypted_and_forgets(settings, write_csv):
    _ingest_people(settings, write_csv)
    vault = IdentityVault(settings.paths.vault, settings.pseudonym_key.get_secret_value().encode())
    alice = pseudonym("alice-77", settings.pseudonym_key.get_secret_value().encode())
    assert vault.reidentify([alice]) == {alice: "alice-77"}
    assert vault.personal(alice)["email"] == "alice@example.org"

    raw_vault = settings.paths.vault.read_bytes()
    for value in PERSONAL_VALUES:
        assert value.encode() not in raw_vault
    assert settings.paths.vault.parent != settings.paths.offline

    assert vault.erase([alice]) == {"identities": 1, "personal": 1, "denied": 1}
    assert vault.reidentify([alice]) == {} and vault.personal(alice) is None
    assert vault.erase([alice]) == {"identities": 0, "personal": 0, "denied": 0}
    assert vault.denied([alice, pseudonym("bob-12", settings.pseudonym_key.get_secret_value().encode())]) == {alice}
    assert alice.encode() not in settings.paths.vault.read_bytes()  # secure_delete: not left in free pages


def test_a_vault_opened_with_another_key_cannot_read_it(settings, write_csv):
    _ingest_people(settings, write_csv)
    wrong = IdentityVault(settings.paths.vault, b"another-key")
    alice = pseudonym("alice-77", settings.pseudonym_key.get_secret_value().encode())
    with pytest.raises(InvalidTag):
        wrong.reidentify([alice])


def test_a_ciphertext_moved_to_another_pseudonym_does_not_open(settings, write_csv):
    _ingest_people(settings, write_csv)
    key = settings.pseudonym_key.get_secret_value().encode()
    alice, bob = pseudonym("alice-77", key), pseudonym("bob-12", key)
    with sqlite3.connect(settings.paths.vault) as db:
        sealed = db.execute("SELECT raw_id FROM identities WHERE pseudonym = ?", (alice,)).fetchone()[0]
        db.execute("UPDATE identities SET raw_id = ? WHERE pseudonym = ?", (sealed, bob))
    with pytest.raises(InvalidTag):
        IdentityVault(settings.paths.vault, key).reidentify([bob])


def test_the_development_key_warns_loudly(tmp_path, write_csv, monkeypatch):
    monkeypatch.delenv("SPEND_PSEUDONYM_KEY", raising=False)
    dev = SpendSettings(home=tmp_path / "dev")
    assert dev.uses_development_key
    with pytest.warns(DevelopmentKeyWarning, match="PUBLIC development key"):
        ingest(write_csv([GOOD_LINE]), IngestOptions("transactions"), dev, now=NOW)


@pytest.mark.parametrize("blank", ["", "   "])
def test_a_blank_key_is_refused(tmp_path, blank):
    """An empty HMAC key was accepted silently: anyone could compute every pseudonym."""
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="must not be blank"):
        SpendSettings(home=tmp_path / "blank", pseudonym_key=blank)


def test_a_short_key_warns(tmp_path, write_csv):
    short = SpendSettings(home=tmp_path / "short", pseudonym_key="k3y")
    with pytest.warns(DevelopmentKeyWarning, match="under 16 characters"):
        ingest(write_csv([GOOD_LINE]), IngestOptions("transactions"), short, now=NOW)


def test_a_damaged_vault_is_one_error_naming_it(settings, tmp_path):
    """Was `unexpected DatabaseError: file is not a database` from re-identification and erasure."""
    from spend.core.errors import SpendError

    path = tmp_path / "vault" / "identity.sqlite"
    path.parent.mkdir()
    path.write_bytes(b"not a database at all" * 100)
    vault = IdentityVault(path, b"k" * 32)
    damaged = r"the identity vault .*identity\.sqlite cannot be read \(file is not a database\)"
    with pytest.raises(SpendError, match=damaged):
        vault.remember({"c_1": "alice"})


def test_a_damaged_monitoring_result_is_said_in_the_report(settings):
    from spend.training.report_sections import drift

    path = settings.paths.home / "monitoring" / "latest.json"
    path.parent.mkdir(parents=True)
    path.write_text("{")
    assert drift(settings).reading == "`spend monitor`'s last result cannot be read: run `spend monitor` again"
