"""Batch scores for every active customer as of a date, from the registered champion, and RFM segments.

`--reidentify` adds each customer's original id from the identity vault, for marketing to act on; every
such export is written to the audit log (who, when, what, how many customers, where), never the ids.
"""

from __future__ import annotations

import getpass
from pathlib import Path

import pandas as pd

from spend.core.audit import command_audit
from spend.core.privacy.vault import IdentityVault
from spend.core.settings import SpendSettings
from spend.features.store.config import feature_store
from spend.models.churn import bands
from spend.models.segmentation import BehaviourClusters, RFMSegmenter
from spend.training.config import load_config
from spend.training.dataset import cohort_features
from spend.training.tracking import Registry

ID = "customer_id"


def active_features(settings: SpendSettings, as_of: pd.Timestamp, service: str) -> pd.DataFrame:
    """Every active customer's features of `service` as of the date: the cohort training uses."""
    return cohort_features(feature_store(settings), settings.paths.feature_snapshots, as_of.normalize(), service)


def churn_cohort_features(settings: SpendSettings, as_of: pd.Timestamp) -> pd.DataFrame:
    """Every active customer's churn features as of the date (what scoring and the recall list share)."""
    return active_features(settings, as_of, load_config("churn").feature_service)


def score_churn(settings: SpendSettings, as_of: pd.Timestamp, frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """Scores from the registered champion; `frame` reuses features already read by the caller."""
    config = load_config("churn")
    model, version = Registry(settings).load("churn", feature_service=config.feature_service)
    frame = churn_cohort_features(settings, as_of) if frame is None else frame
    features = frame[model.features_]
    probability = model.predict_proba(features)
    return pd.DataFrame(
        {
            ID: frame[ID],
            "as_of": frame["event_timestamp"],
            "churn_probability": probability,
            "churn_band": bands(probability),
            "reasons": [";".join(r) for r in model.explain(features)],
            "model_version": int(version.version),
        }
    )


CLUSTER_FEATURES = (
    "spend_365d",
    "orders_365d",
    "days_since_last_order",
    "avg_basket_value_365d",
    "discount_share_90d",
    "return_rate_90d",
)


def score_clv(settings: SpendSettings, as_of: pd.Timestamp) -> pd.DataFrame:
    """Next-year margin of every active customer from the registered clv @champion (the ML estimate)."""
    config = load_config("clv")
    model, version = Registry(settings).load("clv", feature_service=config.feature_service)
    frame = active_features(settings, as_of, config.feature_service)
    return pd.DataFrame(
        {
            ID: frame[ID],
            "as_of": frame["event_timestamp"],
            "next_year_margin": model.predict(frame[model.features_]),
            "model_version": int(version.version),
        }
    )


def segments(settings: SpendSettings, as_of: pd.Timestamp) -> tuple[pd.DataFrame, BehaviourClusters]:
    """Every active customer's RFM segment and learned cluster (a Gaussian mixture, k by lowest BIC), and
    P(churn) from the churn champion when one is registered (for the profiles' expected churn rate)."""
    frame = active_features(settings, as_of, "segmentation_v1")
    behaviour = frame[list(CLUSTER_FEATURES)].fillna(0.0)  # no order in the year: no basket, no returns
    clusters = BehaviourClusters(features=CLUSTER_FEATURES).fit(behaviour)
    frame = frame.assign(segment=RFMSegmenter().fit(frame).predict(frame), cluster=clusters.predict(behaviour))
    if Registry(settings).version_by_alias("churn", "champion") is not None:
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


def write_table(frame: pd.DataFrame, out: Path) -> None:
    """CSV or Parquet by suffix (the command checked the suffix before doing any work)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".parquet":
        frame.to_parquet(out, index=False)
    else:
        frame.to_csv(out, index=False)
