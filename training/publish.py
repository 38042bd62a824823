"""Publish the batch decisions the service answers from: the full recall list and every active customer's
segment and cluster, with a manifest saying when, as of when and from which models; and, where a demand
champion exists, every series' forecast and the replenishment orders for the supply chain to collect.

A recall list needs the offline store, a fitted uplift model and CLV; segments need a mixture fitted on the
whole population: neither belongs in a request. `spend publish` (and `spend demo`) writes them under
SPEND_HOME/published/; the service reloads them when the manifest changes, as it follows model aliases.
Files are written under temporary names and moved into place, the manifest last, so the service never
reads half a publication.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from spend.core import lineage
from spend.core.errors import NoCustomers, NoModel, SpendError
from spend.core.files import replace_with
from spend.core.names import DEMAND_FORECAST, MANIFEST, OFFERS, RECALL_LIST, REPLENISHMENT, SEGMENTS, registered_name
from spend.core.settings import SpendSettings
from spend.features.governance.after_erasure import without_erased
from spend.features.ingest.lock import ledger_lock
from spend.features.store.manifest import read_manifest
from spend.models.demand_requests import BadRequest
from spend.models.segmentation import segment_profiles
from spend.training.recall import RecallOptions, recall_list
from spend.training.scoring import ID, segments


def publish(settings: SpendSettings, as_of: pd.Timestamp, plan: pd.DataFrame | None = None) -> dict:
    """Write the recall list, the segments and the manifest; return the manifest. Without a churn model (a
    history too short to train one) the segments are published alone, and without any customer (daily
    totals) the supply chain's forecast and orders alone; the manifest says why. `plan`: planned prices
    and promotions for the forecast and the orders (`spend forecast --price-plan`); a bad one is refused
    before anything is written."""
    try:
        recall, skipped = recall_list(settings, as_of, RecallOptions()), None
    except NoModel as error:
        if error.model != "churn":
            raise
        recall, skipped = None, str(error)
    except NoCustomers as error:
        recall, skipped = None, str(error)
    segmented = _segments(settings, as_of)
    folder = settings.paths.published
    folder.mkdir(parents=True, exist_ok=True)
    supply = _publish_supply(settings, folder, plan)  # products and stores only: no customer in it
    with ledger_lock(settings.paths.home):  # an erasure runs before or after the commit, never between
        manifest = _commit(settings, as_of, recall, skipped, segmented, supply)
    version = manifest["churn_model_version"]
    lineage.emit(
        settings.paths.home,
        settings.feature_project,
        "publish",
        [lineage.Data("features.churn_v1", manifest["snapshots_built_at"])]
        + ([lineage.Data(f"model.{registered_name('churn')}", str(version))] if version is not None else []),
        [lineage.Data(f"published.{name}", manifest["published_at"]) for name in ("recall_list", "segments")],
    )
    return manifest


@dataclass
class _Segmented:
    """Each active customer's segment and cluster, the clusters' model and both profiles; with no customer
    in the history (`skipped` says so), none of them and the product decisions are published alone."""

    segment_of: pd.DataFrame
    clusters: object | None = None
    profiles: dict = field(default_factory=dict)
    skipped: str | None = None


def _segments(settings: SpendSettings, as_of: pd.Timestamp) -> _Segmented:
    try:
        frame, clusters = segments(settings, as_of)
    except NoCustomers as error:
        return _Segmented(pd.DataFrame({ID: [], "segment": [], "cluster": []}), skipped=str(error))
    churn = frame["churn_probability"] if "churn_probability" in frame else None
    profiles = {
        "segment": segment_profiles(frame, frame["segment"].to_numpy(), churn),
        "cluster": segment_profiles(frame, frame["cluster"].to_numpy(), churn),
    }
    return _Segmented(frame[[ID, "segment", "cluster"]], clusters, profiles)


def _commit(settings, as_of, recall, skipped, segmented: _Segmented, supply) -> dict:
    """Write the recall list (or, `skipped`, why there is none), the segments and the manifest (last),
    without erased customers."""
    folder = settings.paths.published
    if recall is None:  # no list rather than an old one: what the manifest says is served
        (folder / RECALL_LIST).unlink(missing_ok=True)
        recall = pd.DataFrame()
    else:
        recall = without_erased(settings, recall)
        replace_with(folder / RECALL_LIST, lambda staging: recall.to_parquet(staging, index=False))
    segment_of, clusters = without_erased(settings, segmented.segment_of), segmented.clusters
    replace_with(folder / SEGMENTS, lambda staging: segment_of.to_parquet(staging, index=False))
    manifest = (
        {
            "published_at": datetime.now(UTC).isoformat(),
            "as_of": as_of.isoformat(),
            "churn_model_version": int(recall["model_version"].iloc[0]) if len(recall) else None,
            "clv_source": recall["clv_source"].iloc[0] if len(recall) else None,
            "uplift_source": recall["uplift_source"].iloc[0] if len(recall) else None,
            "recall_list_customers": len(recall),
            "segmented_customers": len(segment_of),
            "cluster_k": int(clusters.k_) if clusters is not None else 0,
            "cluster_names": {str(k): name for k, name in clusters.names_.items()} if clusters is not None else {},
            "profiles": {kind: _records(profile) for kind, profile in segmented.profiles.items()},
        }
        | ({"recall_list_skipped": skipped} if skipped else {})
        | ({"segments_skipped": segmented.skipped} if segmented.skipped else {})
        | _snapshot_inputs(settings)
        | supply
        | _published_offers(folder)
    )
    text = json.dumps(manifest, indent=2, default=str)
    replace_with(folder / MANIFEST, lambda staging: staging.write_text(text, encoding="utf-8"))
    return manifest


def _published_offers(folder: Path) -> dict:
    """The offer assignment published last (`spend offers assign --publish`) stays published."""
    path = folder / MANIFEST
    if not (folder / OFFERS).exists() or not path.exists():
        return {}
    previous = json.loads(path.read_text(encoding="utf-8"))
    return {"offers": previous["offers"]} if "offers" in previous else {}


def _snapshot_inputs(settings: SpendSettings) -> dict:
    """Which snapshot build (and so which ingestion batches) the publication was made from."""
    built = read_manifest(settings)
    return {"snapshots_built_at": built.get("built_at"), "batches": built.get("batches", [])}


def _publish_supply(settings: SpendSettings, folder: Path, plan: pd.DataFrame | None) -> dict:
    """The demand champion's forecast of every series and the replenishment orders; what was skipped and
    why when there is no demand model or no stock count."""
    from spend.training.forecasting import forecast
    from spend.training.replenishment import suggest

    try:
        frame, summary = forecast(settings, plan=plan)
    except SpendError as error:
        if isinstance(error, BadRequest) and error.field == "prices":  # the user's plan: refuse, not skip
            raise
        return {"demand_skipped": str(error)}
    replace_with(folder / DEMAND_FORECAST, lambda staging: frame.to_parquet(staging, index=False))
    out = {"demand_model": summary["model"], "forecast_start": summary["from"], "forecast_series": summary["series"]}
    try:
        orders, ordered = suggest(settings, plan=plan)
    except SpendError as error:
        return out | {"replenishment_skipped": str(error)}
    replace_with(folder / REPLENISHMENT, lambda staging: orders.to_parquet(staging, index=False))
    out |= {"replenishment_as_of": ordered["as_of"], "replenishment_orders": ordered["orders"]}
    return out | ({"replenishment_note": ordered["skipped"]} if "skipped" in ordered else {})


def _records(profile: pd.DataFrame) -> dict:
    return {str(name): {k: round(float(v), 6) for k, v in row.items()} for name, row in profile.iterrows()}
