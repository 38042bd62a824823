"""Point-in-time churn datasets: cohorts at cut-off dates, features from the feature service, labels from
what happened after each cut-off. Splits are by time only: every training label ends before the holdout
cut-off, so nothing about the holdout period leaks into training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from feast import FeatureStore

from features.errors import SpendError
from features.ingest.store import OfflineStore
from features.store.definitions import SNAPSHOT_FILES
from features.store.training_set import training_set
from training.config import TrainingConfig

ID = "customer_id"
LABELS = ("churned", "margin_next")


@dataclass
class Splits:
    train: list[pd.Timestamp]
    holdout: pd.Timestamp


def split_cutoffs(as_of: pd.Timestamp, config: TrainingConfig) -> Splits:
    """Holdout at as_of - horizon (its labels are complete at as_of); training cut-offs a horizon earlier."""
    horizon = pd.Timedelta(days=config.label.horizon_days)
    holdout = as_of.normalize() - horizon
    step = pd.Timedelta(days=config.splits.step_days)
    train = [holdout - horizon - i * step for i in range(config.splits.train_cutoffs)]
    return Splits(sorted(train), holdout)


def purchase_times(offline: OfflineStore) -> pd.DataFrame:
    tx = offline.read("transactions", [ID, "ts", "kind"])
    if tx.empty:
        raise SpendError("no transactions ingested; run `spend ingest` or `spend demo` first")
    return tx[(tx["kind"] == "purchase") & tx[ID].notna()][[ID, "ts"]]


def churn_labels(purchases: pd.DataFrame, customers: pd.Series, cutoff: pd.Timestamp, horizon_days: int) -> np.ndarray:
    """1 if the customer makes no purchase in [cutoff, cutoff + horizon), else 0."""
    end = cutoff + pd.Timedelta(days=horizon_days)
    window = purchases[(purchases["ts"] >= cutoff) & (purchases["ts"] < end)]
    return (~customers.isin(window[ID])).astype(int).to_numpy()


def check_horizon(purchases: pd.DataFrame, cutoff: pd.Timestamp, horizon_days: int) -> None:
    """A label window must end inside the history, or its labels would be made up."""
    last = purchases["ts"].max()
    if cutoff + pd.Timedelta(days=horizon_days) > last + pd.Timedelta(days=1):
        raise SpendError(
            f"label horizon of {horizon_days} days from {cutoff:%Y-%m-%d} runs past the "
            f"history (last purchase {last:%Y-%m-%d}); choose an earlier --as-of or a shorter horizon"
        )


def cohort_features(store: FeatureStore, snapshots_folder, cutoff: pd.Timestamp, service: str) -> pd.DataFrame:
    """Customers active in the year before `cutoff` (they have a snapshot at it) and their features then."""
    snapshot = pd.read_parquet(
        snapshots_folder / SNAPSHOT_FILES["customer"], columns=[ID], filters=[("event_timestamp", "==", cutoff)]
    )
    if snapshot.empty:
        raise SpendError(
            f"empty cohort: no customer has a feature snapshot at {cutoff:%Y-%m-%d}; "
            "run `spend features build` past that date, or choose another --as-of"
        )
    rows = pd.DataFrame({ID: snapshot[ID].drop_duplicates().sort_values().to_numpy(), "event_timestamp": cutoff})
    return training_set(store, rows, service)


def feature_columns(frame: pd.DataFrame) -> list[str]:
    """Model inputs: everything but ids, times, labels and the store's bookkeeping columns."""
    skip = {ID, "event_timestamp", *LABELS}
    return [c for c in frame.columns if c not in skip and "__" not in c]
