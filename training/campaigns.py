"""Past randomised campaigns: who was contacted, who bought, and the uplift models fitted on them.

A campaign customer's features are read as of the midnight before assignment (nothing the contact caused
can leak in); the outcome is a purchase within CAMPAIGN_WINDOW_DAYS of assignment. The same frame serves
the recall list (fit on the whole campaign, score today's customers) and its evaluation (cross-fitted:
each customer's uplift comes from a model that never saw them, so Qini and saved margin are honest).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from spend.core.names import CUSTOMER_ID as ID
from spend.core.settings import SpendSettings
from spend.features.compute.orders import purchase_lines
from spend.features.ingest.store import OfflineStore
from spend.features.store.config import feature_store
from spend.features.store.training_set import training_set
from spend.models.offers import OfferUplift
from spend.models.uplift import qini_coefficient, uplift_at_k
from spend.training.dataset import feature_columns

CAMPAIGN_WINDOW_DAYS = 30


@dataclass
class Campaign:
    campaign_id: str
    frame: pd.DataFrame  # customer_id, event_timestamp, treated, responded, features...
    columns: list[str]  # the feature columns


def latest_campaign(settings: SpendSettings, lines: pd.DataFrame, service: str) -> Campaign | str:
    """The most recent ingested single-offer campaign (a multi-arm offer campaign is the offers model's),
    or the reason there is none."""
    campaigns = OfflineStore(settings.paths).read("campaigns", [ID, "campaign_id", "ts", "group", "offer"])
    if "offer" in campaigns:
        multi_arm = campaigns.groupby("campaign_id")["offer"].nunique() > 1
        campaigns = campaigns[~campaigns["campaign_id"].isin(multi_arm[multi_arm].index)]
    if campaigns.empty:
        return "no randomised campaign: the recall list ranks by risk x value"
    latest = campaigns[campaigns["campaign_id"] == campaigns.sort_values("ts")["campaign_id"].iloc[-1]]
    return campaign_frame(settings, latest, lines, service)


def campaign_frame(settings: SpendSettings, assigned: pd.DataFrame, lines: pd.DataFrame, service: str) -> Campaign:
    rows = pd.DataFrame({ID: assigned[ID].to_numpy(), "event_timestamp": assigned["ts"].dt.normalize().to_numpy()})
    frame = training_set(feature_store(settings), rows, service)
    bought = purchase_lines(lines)[[ID, "ts"]].merge(assigned[[ID, "ts"]].rename(columns={"ts": "at"}), on=ID)
    inside = (bought["ts"] >= bought["at"]) & (bought["ts"] < bought["at"] + pd.Timedelta(days=CAMPAIGN_WINDOW_DAYS))
    frame["treated"] = (assigned["group"] == "treatment").astype(int).to_numpy()
    frame["responded"] = assigned[ID].isin(bought.loc[inside, ID]).astype(int).to_numpy()
    columns = [c for c in feature_columns(frame) if c not in ("treated", "responded")]
    return Campaign(str(assigned["campaign_id"].iloc[0]), frame, columns)


def _learner() -> OfferUplift:
    """A win-back campaign is a two-arm offer campaign whose outcome is buying at all and whose cost is the
    contact's: econml's X-learner, as offers use, with small, strongly regularised boosters (campaign
    samples are thousands of customers with a few percent of effect under a noisy outcome; docs/training.md)."""
    return OfferUplift(learner="x", n_estimators=200, learning_rate=0.03, num_leaves=4, min_child_samples=200)


def _fit(campaign: Campaign, rows: np.ndarray) -> OfferUplift:
    frame = campaign.frame[rows]
    arms = np.where(frame["treated"].to_numpy() == 1, "contact", "control")
    outcome = frame["responded"].to_numpy(dtype=float)
    return _learner().fit(frame[campaign.columns], arms, outcome, np.zeros(len(frame)))


def contact_uplift(learner: OfferUplift, frame: pd.DataFrame) -> np.ndarray:
    """Change in each customer's chance to buy from a contact."""
    return learner.effects(frame[learner.features_]).net[:, 0]


def fit_uplift(campaign: Campaign) -> OfferUplift:
    """The uplift learner on the whole campaign; ValueError when an arm is too small."""
    return _fit(campaign, np.ones(len(campaign.frame), dtype=bool))


def cross_fitted_uplift(campaign: Campaign, folds: int = 5, seed: int = 0) -> np.ndarray:
    """Each customer's uplift from an X-learner fitted on the other folds."""
    frame = campaign.frame
    fold = np.random.default_rng(seed).integers(0, folds, len(frame))
    out = np.empty(len(frame))
    for k in range(folds):
        out[fold == k] = contact_uplift(_fit(campaign, fold != k), frame[fold == k])
    return out


def ranking_quality(campaign: Campaign, score: np.ndarray, k: float = 0.1) -> dict[str, float]:
    """Observed on the randomised campaign: Qini coefficient of a ranking and its uplift among the top k."""
    frame = campaign.frame
    return {
        "qini": qini_coefficient(score, frame["treated"], frame["responded"]),
        f"uplift_at_{int(k * 100)}pct": uplift_at_k(score, frame["treated"], frame["responded"], k),
    }
