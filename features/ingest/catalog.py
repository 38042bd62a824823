"""The batch ledger: one row per ingestion batch, written last, so a batch exists only once it is committed.

Later stages record which batches fed a feature snapshot or a model by reading this ledger.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from spend.core.errors import database_damage

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    batch_id TEXT PRIMARY KEY,
    table_name TEXT NOT NULL,
    source TEXT NOT NULL,
    file_sha256 TEXT NOT NULL,
    schema_version TEXT NOT NULL,
    started_at TEXT NOT NULL,
    committed_at TEXT NOT NULL,
    received INTEGER NOT NULL,
    accepted INTEGER NOT NULL,
    quarantined INTEGER NOT NULL,
    duplicates INTEGER NOT NULL,
    quarantined_by_reason TEXT NOT NULL,
    options TEXT NOT NULL
);
"""


@dataclass
class BatchRecord:
    batch_id: str
    table_name: str
    source: str
    file_sha256: str
    schema_version: str
    started_at: str
    committed_at: str
    received: int
    accepted: int
    quarantined: int
    duplicates: int
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)
    options: dict = field(default_factory=dict)


class BatchCatalog:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection, closed after; a damaged ledger is one error naming it (every stored row depends on it)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        advice = "restore it from a backup of the data home; readers only see the batches it lists"
        with database_damage(f"the batch ledger {self.path}", advice), closing(sqlite3.connect(self.path)) as db:
            db.executescript(_SCHEMA)
            yield db

    def commit(self, record: BatchRecord) -> None:
        row = asdict(record)
        row["quarantined_by_reason"] = json.dumps(record.quarantined_by_reason, sort_keys=True)
        row["options"] = json.dumps(record.options, sort_keys=True, default=str)
        with self._connect() as db, db:
            db.execute(f"INSERT INTO batches VALUES ({', '.join('?' * len(row))})", tuple(row.values()))

    def batches(self, table: str | None = None) -> list[BatchRecord]:
        if not self.path.exists():
            return []
        query, args = "SELECT * FROM batches", ()
        if table is not None:
            query, args = query + " WHERE table_name = ?", (table,)
        with self._connect() as db:
            db.row_factory = sqlite3.Row
            rows = db.execute(query + " ORDER BY committed_at, batch_id", args).fetchall()
        records = []
        for row in rows:
            values = dict(row)
            values["quarantined_by_reason"] = json.loads(values["quarantined_by_reason"])
            values["options"] = json.loads(values["options"])
            records.append(BatchRecord(**values))
        return records

    def forget(self, batch_ids: list[str]) -> None:
        """Remove batches from the ledger (their files are the caller's): `spend doctor --repair` on a batch
        with a damaged file, whose source is then ingested again."""
        with self._connect() as db, db:
            db.executemany("DELETE FROM batches WHERE batch_id = ?", [(b,) for b in batch_ids])

    def committed_ids(self, table: str) -> set[str]:
        return {b.batch_id for b in self.batches(table)}
