"""Batch scores for every active customer as of a date, from the registered champion, and RFM segments.

`--reidentify` adds each customer's original id from the identity vault, for marketing to act on; every
such export is written to the audit log (who, when, what, how many customers, where), never the ids.
"""

from __future__ import annotations

import getpass
from pathlib import Path

import pandas as pd

from spend.core.audit import command_audit
from spend.core.model_store import ModelStore
from spend.core.names import CUSTOMER_ID as ID
from spend.core.privacy.vault import IdentityVault
from spend.core.registry import ModelSpec, spec
from spend.core.settings import SpendSettings
from spend.features.store.config import feature_store
from spend.models.season import with_season
from spend.models.segmentation import BehaviourClusters, RFMSegmenter
from spend.training.dataset import cohort_features


def active_features(settings: SpendSettings, as_of: pd.Timestamp, service: str) -> pd.DataFrame:
    """Every active customer's features of `service` as of the date: the cohort training uses."""
    return cohort_features(feature_store(settings), settings.paths.feature_snapshots, as_of.normalize(), service)


def score_customers(
    settings: SpendSettings, spec: ModelSpec, as_of: pd.Timestamp, frame: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Every active customer scored by the spec's registered champion: the score column, what the spec's
    `describe` adds (churn: band and reasons) and the model version. `frame` reuses features already read."""
    model, version = ModelStore(settings).load(spec.name, feature_service=spec.feature_service)
    frame = active_features(settings, as_of, spec.feature_service) if frame is None else frame
    features = frame[model.features_] if hasattr(model, "features_") else frame
    features = with_season(model, features, as_of.normalize())
    values = spec.predict(model, features)
    columns = {ID: frame[ID], "as_of": frame["event_timestamp"], spec.score_column: values}
    if spec.describe is not None:
        columns |= spec.describe(model, features, values)
    return pd.DataFrame(columns | {"model_version": int(version.version)})


def churn_cohort_features(settings: SpendSettings, as_of: pd.Timestamp) -> pd.DataFrame:
    """Every active customer's churn features as of the date (what scoring and the recall list share)."""
    return active_features(settings, as_of, spec("churn").feature_service)


def score_churn(settings: SpendSettings, as_of: pd.Timestamp, frame: pd.DataFrame | None = None) -> pd.DataFrame:
    return score_customers(settings, spec("churn"), as_of, frame)


CLUSTER_FEATURES = (
    "spend_365d",
    "orders_365d",
    "days_since_last_order",
    "avg_basket_value_365d",
    "discount_share_90d",
    "return_rate_90d",
)


def segments(settings: SpendSettings, as_of: pd.Timestamp) -> tuple[pd.DataFrame, BehaviourClusters]:
    """Every active customer's RFM segment and learned cluster (a Gaussian mixture, k by lowest BIC), and
    P(churn) from the churn champion when one is registered (for the profiles' expected churn rate)."""
    frame = active_features(settings, as_of, "segmentation_v1")
    behaviour = frame[list(CLUSTER_FEATURES)].fillna(0.0)  # no order in the year: no basket, no returns
    clusters = BehaviourClusters(features=CLUSTER_FEATURES).fit(behaviour)
    cluster = clusters.predict(behaviour)
    frame = frame.assign(
        segment=RFMSegmenter().fit(frame).predict(frame),
        cluster=cluster,
        cluster_name=pd.Series(cluster, index=frame.index).map(clusters.names_),
    )
    if ModelStore(settings).version_by_alias("churn") is not None:
        scores = score_churn(settings, as_of)
        frame["churn_probability"] = frame[ID].map(scores.set_index(ID)["churn_probability"])
    return frame, clusters


def reidentify(settings: SpendSettings, scores: pd.DataFrame, purpose: str, out: Path) -> pd.DataFrame:
    """Add `original_customer_id` from the vault and audit the export."""
    vault = IdentityVault(settings.paths.vault, settings.pseudonym_key.get_secret_value().encode("utf-8"))
    known = vault.reidentify(scores[ID].tolist())
    command_audit(settings.paths.home).write(
        user=getpass.getuser(), action=purpose, customers=len(scores), reidentified=len(known), file=str(out)
    )
    return scores.assign(original_customer_id=scores[ID].map(known))
