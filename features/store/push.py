"""Online pushes on the request path: the rows go to every feature view fed by a push source, in the
bytes FeatureStore.push writes, with the views resolved once instead of on every call.

FeatureStore.push re-reads the registry's protos on each call (longer than a whole fraud score), and
its write (the provider's `ingest_df`) builds one protobuf per value through Arrow (docs/serving.md has
the timings). The rows are written by the
materialiser's vectorised writer instead (features/store/materialize.py), which tests hold to Feast's reads.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from feast import FeatureStore

from spend.core.errors import SpendError
from spend.features.store.materialize import write_columns, write_online


class OnlinePush:
    def __init__(self, store: FeatureStore, source: str) -> None:
        self.views = [
            view
            for view in store.list_feature_views()
            if view.stream_source is not None and view.stream_source.name == source
        ]
        if not self.views:
            raise SpendError(f"no feature view is fed by the push source {source!r}; run `spend features apply`")
        self.store = store
        if store.config.online_store.type == "sqlite":
            # Write-ahead logging: a push's commit must not block the reads of other requests (the mode
            # is stored in the file; Feast's own writes keep working with it).
            from spend.features.store.feast_private import sqlite_connection

            sqlite_connection(store).execute("PRAGMA journal_mode=WAL")

    def push(self, frame: pd.DataFrame) -> None:
        for view in self.views:
            write_online(self.store, view, frame)

    def push_columns(self, keys: dict[str, list[str]], seconds: np.ndarray, columns: dict) -> None:
        """push on plain columns (materialize.write_columns): join keys, whole epoch seconds, features."""
        for view in self.views:
            write_columns(self.store, view, keys, seconds, columns)
