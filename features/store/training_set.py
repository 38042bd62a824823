"""Point-in-time training sets: for each entity row (keys + event_timestamp), every feature of a service as
it was known at that time, from the same snapshots Feast serves.

For each view: the latest snapshot with event_timestamp <= the row's time and >= time - TTL (Feast's
rule). Unlike Feast's file offline store, which drops rows that match nothing, every entity row comes
back, in order, with `<view>__found` False where nothing matched.

Under SPEND_ENV=cluster the join is Feast's own, on its Spark offline store (`get_historical_features`), with
the same rows, order and columns but `<view>__event_timestamp`, which Feast does not return; `<view>__found`
is then "some feature of the view has a value" (every snapshot row has some).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.dataset as ds
from feast import FeatureStore

from spend.core.errors import SpendError
from spend.features.store.materialize import batch_source_path
from spend.features.store.read_plan import wanted_features


def training_set(store: FeatureStore, entity_rows: pd.DataFrame, service: str) -> pd.DataFrame:
    if "event_timestamp" not in entity_rows:
        raise SpendError("entity rows need an event_timestamp column (the label time)")
    rows = entity_rows.reset_index(drop=True).copy()
    rows["event_timestamp"] = _utc(rows["event_timestamp"])
    rows["_row"] = np.arange(len(rows))
    if store.config.offline_store.type == "spark":
        return _on_spark(store, rows, wanted_features(store, service, None))
    out = rows
    for view_name, features in wanted_features(store, service, None).items():
        view = store.get_feature_view(view_name)
        keys = _join_keys(view, rows)
        snapshots = _snapshots(view, keys, features, rows)
        joined = pd.merge_asof(
            rows[["_row", "event_timestamp", *keys]].sort_values("event_timestamp", kind="stable"),
            snapshots.rename(columns={"event_timestamp": f"{view_name}__event_timestamp"}),
            left_on="event_timestamp",
            right_on=f"{view_name}__event_timestamp",
            by=keys,
            direction="backward",
            tolerance=pd.Timedelta(view.ttl),
            allow_exact_matches=True,
        ).sort_values("_row")
        joined[f"{view_name}__found"] = joined[f"{view_name}__event_timestamp"].notna().to_numpy()
        out = out.merge(joined.drop(columns=["event_timestamp", *keys]), on="_row", how="left")
    return out.drop(columns="_row")


def _join_keys(view, rows: pd.DataFrame) -> list[str]:
    """The view's join keys, which the entity rows must all carry."""
    keys = [e.name for e in view.entity_columns]
    missing = [k for k in keys if k not in rows]
    if missing:
        raise SpendError(f"{view.name} needs join key(s) {', '.join(missing)} in the entity rows")
    return keys


def _on_spark(store: FeatureStore, rows: pd.DataFrame, wanted: dict[str, list[str]]) -> pd.DataFrame:
    for view_name in wanted:
        _join_keys(store.get_feature_view(view_name), rows)
    refs = [f"{view}:{feature}" for view, features in wanted.items() for feature in features]
    joined = store.get_historical_features(entity_df=rows, features=refs).to_df()
    joined = joined.sort_values("_row").reset_index(drop=True)
    out = rows.reset_index(drop=True).copy()
    for view_name, features in wanted.items():
        for feature in features:
            values = joined[feature]
            # Spark's missing text comes back as NaN; the local join's as None.
            out[feature] = (
                values.where(values.notna(), None).to_numpy() if values.dtype == object else values.to_numpy()
            )
        out[f"{view_name}__found"] = joined[features].notna().any(axis=1).to_numpy()
    return out.drop(columns="_row")


def _snapshots(view, keys: list[str], features: list[str], rows: pd.DataFrame) -> pd.DataFrame:
    dataset = ds.dataset(batch_source_path(view))
    wanted = ds.field(keys[0]).isin(rows[keys[0]].astype(str).unique().tolist())
    ts = ds.field("event_timestamp")
    window = (ts <= rows["event_timestamp"].max()) & (ts >= rows["event_timestamp"].min() - pd.Timedelta(view.ttl))
    table = dataset.to_table(columns=[*keys, "event_timestamp", *features], filter=wanted & window)
    frame = table.to_pandas()
    frame["event_timestamp"] = _utc(frame["event_timestamp"])
    return frame.sort_values("event_timestamp", kind="stable")


def _utc(ts: pd.Series) -> pd.Series:
    ts = pd.to_datetime(ts)
    ts = ts.dt.tz_localize("UTC") if ts.dt.tz is None else ts.dt.tz_convert("UTC")
    return ts.astype("datetime64[us, UTC]")
