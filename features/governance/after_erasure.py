"""Jobs that read before an erasure and write after it must not bring the erased customers back.

A feature build reads the offline store, computes for minutes and then swaps its snapshots in. An erasure
that ran in between had scrubbed the old snapshots and the offline store, so the new snapshots, computed
from rows read before, would put the customer back (and the next materialisation would put them online).

`erasures_held_off` holds the data home's ledger lock, which an erasure holds from its first store to its
deny list, while it drops the erased customers' rows from a job's staged output and the job swaps that
output in. An erasure then ran wholly before (its customers are on the deny list and dropped here) or runs
wholly after (and scrubs what was swapped in).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from spend.core.names import CUSTOMER_ID as ID
from spend.core.privacy.vault import IdentityVault
from spend.core.settings import SpendSettings
from spend.features.governance.scrub import parquet_files, scrub_parquet
from spend.features.ingest.lock import ledger_lock


@contextmanager
def erasures_held_off(settings: SpendSettings, staged: Path, column: str = ID) -> Iterator[int]:
    """Under the ledger lock: the erased customers' rows gone from the Parquet files under `staged`;
    yields how many rows were dropped. Swap the staged output in inside the block."""
    with ledger_lock(settings.paths.home):
        yield drop_erased(settings, staged, column)


def without_erased(settings: SpendSettings, frame: pd.DataFrame, column: str = ID) -> pd.DataFrame:
    """`frame` without the rows whose `column` names a customer on the vault's deny list. A job's output
    computed before an erasure and written after it would otherwise put them back; call it under the lock
    the erasure holds while the job writes (the ledger lock for files, spend/core/privacy/erasing.py's for
    the online store)."""
    key = settings.pseudonym_key.get_secret_value().encode("utf-8")
    denied = IdentityVault(settings.paths.vault, key).denied(frame[column].dropna().unique())
    return frame[~frame[column].isin(denied)].reset_index(drop=True) if denied else frame


def drop_erased(settings: SpendSettings, root: Path, column: str = ID) -> int:
    """Rows whose `column` names a customer on the vault's deny list, removed from the Parquet files under
    `root` (a file or a folder); returns how many. File by file, the ids read a batch at a time: a year of
    a million customers' snapshots is far more ids than distinct customers."""
    vault = IdentityVault(settings.paths.vault, settings.pseudonym_key.get_secret_value().encode("utf-8"))
    if not settings.paths.vault.exists() or not vault.tombstones():
        return 0  # nobody was ever erased: no id needs reading
    dropped = 0
    for path in [root] if root.is_file() else parquet_files(root):
        denied = vault.denied(_distinct(path, column))
        if denied:
            targets = pa.array(sorted(denied), type=pa.string())
            dropped += sum(scrub_parquet(path, targets, {column}).values())
    return dropped


def _distinct(path: Path, column: str) -> set[str]:
    parquet = pq.ParquetFile(path)
    if column not in parquet.schema_arrow.names:
        return set()
    ids: set[str] = set()
    for batch in parquet.iter_batches(columns=[column]):
        ids.update(pc.unique(batch.column(0)).drop_null().to_pylist())
    return ids
