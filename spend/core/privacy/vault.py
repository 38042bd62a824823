"""The identity vault: pseudonym -> raw id and personal fields, AES-GCM encrypted, apart from the offline store.

Only a data-subject request (access, erasure) or an audited re-identifying export reads it.
The encryption key is derived from SPEND_PSEUDONYM_KEY with HKDF, so one secret guards both.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sqlite3
from collections.abc import Iterable, Mapping
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from spend.core.errors import database_damage

_SCHEMA = """
CREATE TABLE IF NOT EXISTS identities (pseudonym TEXT PRIMARY KEY, raw_id BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS personal (pseudonym TEXT PRIMARY KEY, fields BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS erased (tombstone TEXT PRIMARY KEY, erased_at TEXT NOT NULL);
"""


def _derive_key(secret: bytes, purpose: bytes = b"identity") -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"spend-vault-v1", info=purpose).derive(secret)


class IdentityVault:
    def __init__(self, path: Path, secret: bytes) -> None:
        self.path = Path(path)
        self._aead = AESGCM(_derive_key(secret))
        self._tombstone_key = _derive_key(secret, b"erased")

    def tombstone(self, pseudonym: str) -> str:
        """What the deny list keeps of an erased customer: a keyed hash of the pseudonym, so the list holds
        neither the pseudonym nor the id, yet a returning id is recognised (with the key)."""
        return hmac.new(self._tombstone_key, pseudonym.encode("ascii"), hashlib.sha256).hexdigest()

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path)
        advice = "restore it from a backup; it holds the ids behind the pseudonyms and the erasures' deny list"
        try:
            with database_damage(f"the identity vault {self.path}", advice):
                # Deleted rows are overwritten with zeros, not left in free pages where a search finds them.
                connection.execute("PRAGMA secure_delete = ON")
                connection.executescript(_SCHEMA)
        except BaseException:
            connection.close()
            raise
        return connection

    def _seal(self, plain: str, pseudonym: str) -> bytes:
        nonce = os.urandom(12)
        # The pseudonym is authenticated data: a ciphertext moved to another row fails to open.
        return nonce + self._aead.encrypt(nonce, plain.encode("utf-8"), pseudonym.encode("ascii"))

    def _open(self, sealed: bytes, pseudonym: str) -> str:
        return self._aead.decrypt(sealed[:12], sealed[12:], pseudonym.encode("ascii")).decode("utf-8")

    def remember(self, pairs: Mapping[str, str]) -> int:
        """Store pseudonym -> raw id for pseudonyms not yet known; returns how many were new."""
        with closing(self._connect()) as db, db:
            known = {row[0] for row in db.execute("SELECT pseudonym FROM identities")}
            new = [(p, self._seal(raw, p)) for p, raw in pairs.items() if p not in known]
            db.executemany("INSERT INTO identities VALUES (?, ?)", new)
        return len(new)

    def remember_personal(self, records: Mapping[str, Mapping[str, str]]) -> None:
        """Store each pseudonym's personal fields: a field given replaces the stored one, a field not
        given keeps it (a list sent again without phone numbers forgets none)."""
        with closing(self._connect()) as db, db:
            stored = {p: json.loads(self._open(sealed, p)) for p, sealed in _sealed(db, "personal", "fields", records)}
            db.executemany(
                "INSERT OR REPLACE INTO personal VALUES (?, ?)",
                [
                    (p, self._seal(json.dumps(stored.get(p, {}) | dict(fields), sort_keys=True), p))
                    for p, fields in records.items()
                ],
            )

    def reidentify(self, pseudonyms: Iterable[str]) -> dict[str, str]:
        """Raw ids of the pseudonyms the vault knows; erased or unknown ones are absent."""
        wanted = list(dict.fromkeys(pseudonyms))
        with closing(self._connect()) as db:
            return {p: self._open(sealed, p) for p, sealed in _sealed(db, "identities", "raw_id", wanted)}

    def personal(self, pseudonym: str) -> dict[str, str] | None:
        with closing(self._connect()) as db:
            row = db.execute("SELECT fields FROM personal WHERE pseudonym = ?", (pseudonym,)).fetchone()
        return None if row is None else json.loads(self._open(row[0], pseudonym))

    def erase(self, pseudonyms: Iterable[str]) -> dict[str, int]:
        """Forget who is behind the pseudonyms and deny them from now on; returns how many identities and
        personal records were removed and how many pseudonyms were newly denied."""
        wanted = [(p,) for p in dict.fromkeys(pseudonyms)]
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with closing(self._connect()) as db, db:
            removed = {
                table: db.executemany(f"DELETE FROM {table} WHERE pseudonym = ?", wanted).rowcount
                for table in ("identities", "personal")
            }
            before = db.total_changes
            db.executemany("INSERT OR IGNORE INTO erased VALUES (?, ?)", [(self.tombstone(p), now) for (p,) in wanted])
            removed["denied"] = db.total_changes - before
        return removed

    def tombstones(self) -> set[str]:
        """The deny list: one keyed hash per erased customer (`tombstone`)."""
        with closing(self._connect()) as db:
            return {row[0] for row in db.execute("SELECT tombstone FROM erased")}

    def denied(self, pseudonyms: Iterable[str]) -> set[str]:
        """The pseudonyms among these whose customers were erased."""
        if not self.path.exists():
            return set()
        tombstones = self.tombstones()
        if not tombstones:
            return set()
        return {p for p in set(pseudonyms) if self.tombstone(p) in tombstones}


def _sealed(db: sqlite3.Connection, table: str, column: str, pseudonyms: Iterable[str]) -> list[tuple[str, bytes]]:
    """(pseudonym, sealed value) of `table` for the pseudonyms it holds, looked up in one join."""
    db.execute("CREATE TEMP TABLE IF NOT EXISTS wanted (pseudonym TEXT PRIMARY KEY)")
    db.execute("DELETE FROM wanted")
    db.executemany("INSERT OR IGNORE INTO wanted VALUES (?)", [(p,) for p in pseudonyms])
    return db.execute(f"SELECT t.pseudonym, t.{column} FROM {table} t JOIN wanted USING (pseudonym)").fetchall()
