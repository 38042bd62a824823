"""Point-in-time customer datasets: cohorts at cut-off dates, features from the feature service, labels
from what happened after each cut-off. Splits are by time only: every training label ends before the holdout
cut-off, so nothing about the holdout period leaks into training.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pyarrow.dataset as ds
from feast import FeatureStore

from spend.core.errors import NoCustomers, SpendError
from spend.core.experiments import CohortConfig
from spend.core.names import CUSTOMER_ID as ID
from spend.core.settings import SpendSettings
from spend.features.compute.orders import LINE_COLUMNS, line_values
from spend.features.ingest.store import OfflineStore
from spend.features.store.definitions import SNAPSHOT_FILES
from spend.features.store.training_set import training_set

YEAR = pd.Timedelta(days=365)


@dataclass
class Splits:
    train: list[pd.Timestamp]
    holdout: pd.Timestamp
    kind: str = "recent"  # "seasonal": training cut-offs around the same date a year before the holdout


def split_cutoffs(as_of: pd.Timestamp, config: CohortConfig, first_purchase: pd.Timestamp | None = None) -> Splits:
    """Holdout at as_of - horizon (its labels are complete at as_of). Training cut-offs:

    - seasonal (splits.seasonal, and a year of history before them): centred on the holdout's date a
      year earlier, so training labels cover the same season as the holdout's (a 90-day window over
      Christmas churns less than one over summer, and a model trained on summer is miscalibrated then);
    - recent otherwise: a horizon before the holdout and earlier, `step_days` apart.
    Every training label ends before the holdout cut-off either way.
    """
    horizon = pd.Timedelta(days=config.label.horizon_days)
    holdout = as_of.normalize() - horizon
    step, n = pd.Timedelta(days=config.splits.step_days), config.splits.train_cutoffs
    if config.splits.seasonal and first_purchase is not None:
        seasonal = [holdout - YEAR + (i - (n - 1) // 2) * step for i in range(n)]
        # The year-ago cohort needs a full year of history of its own (its 365-day windows must be as
        # complete as the holdout's), and its labels must end before the holdout.
        if seasonal[0] - YEAR >= first_purchase and seasonal[-1] + horizon <= holdout:
            return Splits(seasonal, holdout, "seasonal")
    train = [holdout - horizon - i * step for i in range(n)]
    return Splits(sorted(train), holdout)


def purchase_times(offline: OfflineStore) -> pd.Series:
    """The times of customers' purchase lines, or of the anonymous ones where no line names a customer
    (daily totals): the demand and pricing models still need a date to work as of."""
    tx = offline.read("transactions", [ID, "ts", "kind"])
    if tx.empty:
        raise SpendError("no transactions ingested; run `spend ingest` or `spend demo` first")
    purchases = tx[tx["kind"] == "purchase"]
    named = purchases[purchases[ID].notna()]
    return (named if len(named) else purchases)["ts"]


def latest_day(settings: SpendSettings) -> pd.Timestamp:
    """The day after the last purchase, or today (UTC) if that is later: the default as-of date (every
    label that can be complete, is), and the date monitoring takes today's inputs at. A history holding
    today's purchases is read as of today's start: its snapshot of tomorrow does not exist before
    tomorrow, and scoring, segments and publishing found an empty cohort all day."""
    last = purchase_times(OfflineStore(settings.paths)).max()
    if pd.isna(last):
        raise SpendError("no purchases ingested (returns only); run `spend ingest` with the history's purchases")
    after_last = last.normalize() + pd.Timedelta(days=1)
    return min(after_last, pd.Timestamp.now(tz="UTC").normalize())


def check_horizon(purchases: pd.DataFrame, cutoff: pd.Timestamp, horizon_days: int) -> None:
    """A label window must end inside the history, or its labels would be made up."""
    last = purchases["ts"].max()
    if cutoff + pd.Timedelta(days=horizon_days) > last + pd.Timedelta(days=1):
        raise SpendError(
            f"label horizon of {horizon_days} days from {cutoff:%Y-%m-%d} runs past the "
            f"history (last purchase {last:%Y-%m-%d}); choose an earlier --as-of or a shorter horizon"
        )


def active_at(snapshots_folder, cutoff: pd.Timestamp) -> pd.DataFrame:
    """Entity rows (customer_id, event_timestamp) of the customers who ordered in the year before `cutoff`.

    Filtered on orders_365d, not on having a snapshot: snapshots run from a customer's first order to a
    year after their last one, so a snapshot at `cutoff` after a long gap exists only because the
    customer came back later. Selecting on it would leak the label into the cohort.
    """
    path = snapshots_folder / SNAPSHOT_FILES["customer"]
    if not path.exists():
        raise SpendError("no customer feature snapshots; run `spend features build` first")
    snapshot = pd.read_parquet(
        path,
        columns=[ID],
        filters=[("event_timestamp", "==", cutoff), ("orders_365d", ">", 0)],
    )
    if snapshot.empty and not ds.dataset(path).count_rows():
        raise NoCustomers
    if snapshot.empty:
        raise SpendError(
            f"empty cohort: no customer has a feature snapshot with an order in the year before {cutoff:%Y-%m-%d}; "
            "run `spend features build` past that date, or choose another --as-of"
        )
    return pd.DataFrame({ID: snapshot[ID].drop_duplicates().sort_values().to_numpy(), "event_timestamp": cutoff})


def cohort_features(store: FeatureStore, snapshots_folder, cutoff: pd.Timestamp, service: str) -> pd.DataFrame:
    """Customers active in the year before `cutoff` and their features then."""
    return training_set(store, active_at(snapshots_folder, cutoff), service)


def feature_columns(frame: pd.DataFrame, label: str | None = None) -> list[str]:
    """Model inputs: everything but ids, times, the label and the store's bookkeeping columns."""
    skip = {ID, "event_timestamp", label}
    return [c for c in frame.columns if c not in skip and "__" not in c]


def order_lines(offline: OfflineStore) -> pd.DataFrame:
    """Every known customer's purchase and return lines with `net` revenue and `margin`."""
    return line_values(offline.read("transactions", LINE_COLUMNS))
