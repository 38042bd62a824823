"""Past randomised campaigns: who was contacted, who bought, and the uplift models fitted on them.

Every single-offer (win-back) campaign whose outcome window has closed is pooled: a shop's monthly waves
are each a randomised experiment, and one wave of a few thousand customers cannot pin down a contact's
effect of a few points (docs/training.md). A campaign customer's features are read as of the midnight
before that wave's assignment (nothing the contact caused can leak in); the outcome is a purchase within
CAMPAIGN_WINDOW_DAYS of it. The same frame serves the recall list (fit on all the waves, score today's
customers) and its evaluation (cross-fitted by customer: each customer's uplift comes from a model that saw
none of their waves, so Qini and saved margin are honest).
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


OUTCOMES = ("campaign_id", "treated", "responded")  # the frame's columns that are not features


@dataclass
class Campaign:
    name: str  # "campaign <id>", or how many were pooled and their span
    frame: pd.DataFrame  # customer_id, event_timestamp, campaign_id, treated, responded, features...
    columns: list[str]  # the feature columns
    skipped: str | None = None  # campaigns left out and why, in one line


def winback_campaigns(
    settings: SpendSettings, lines: pd.DataFrame, service: str, as_of: pd.Timestamp | None = None
) -> Campaign | str:
    """Every ingested single-offer campaign (a multi-arm offer campaign is the offers model's) whose
    outcome window ends by `as_of` (default: the history's last purchase), pooled; or the reason there is
    none. A later campaign's outcome is not known yet as of then."""
    campaigns = OfflineStore(settings.paths).read("campaigns", [ID, "campaign_id", "ts", "group", "offer"])
    if "offer" in campaigns:
        multi_arm = campaigns.groupby("campaign_id")["offer"].nunique() > 1
        campaigns = campaigns[~campaigns["campaign_id"].isin(multi_arm[multi_arm].index)]
    if campaigns.empty:
        return "no randomised campaign: the recall list ranks by risk x value"
    ends = campaigns.groupby("campaign_id")["ts"].max() + pd.Timedelta(days=CAMPAIGN_WINDOW_DAYS)
    known_by = purchase_lines(lines)["ts"].max()
    if as_of is not None:
        known_by = min(known_by, as_of)
    open_ids = sorted(ends.index[ends > known_by])
    closed = campaigns[~campaigns["campaign_id"].isin(open_ids)]
    if closed.empty:
        return (
            f"no randomised campaign whose {CAMPAIGN_WINDOW_DAYS}-day outcome window has closed: "
            "the recall list ranks by risk x value"
        )
    campaign = campaign_frame(settings, closed.sort_values(["ts", "campaign_id"], kind="stable"), lines, service)
    if open_ids:
        campaign.skipped = f"{len(open_ids)} campaign(s) still inside their {CAMPAIGN_WINDOW_DAYS}-day window left out"
    return campaign


def campaign_frame(settings: SpendSettings, assigned: pd.DataFrame, lines: pd.DataFrame, service: str) -> Campaign:
    """One row per assignment (a customer contacted in several waves has a row for each), with its
    features as of the midnight before and whether the customer bought within the window after it."""
    assigned = assigned.reset_index(drop=True)
    rows = pd.DataFrame(
        {
            ID: assigned[ID].to_numpy(),
            "event_timestamp": assigned["ts"].dt.normalize().to_numpy(),
            "campaign_id": assigned["campaign_id"].astype(str).to_numpy(),
        }
    )
    frame = training_set(feature_store(settings), rows, service)
    at = assigned[[ID, "ts"]].rename(columns={"ts": "at"}).assign(_row=np.arange(len(assigned)))
    bought = purchase_lines(lines)[[ID, "ts"]].merge(at, on=ID)
    inside = (bought["ts"] >= bought["at"]) & (bought["ts"] < bought["at"] + pd.Timedelta(days=CAMPAIGN_WINDOW_DAYS))
    frame["treated"] = (assigned["group"] == "treatment").astype(int).to_numpy()
    frame["responded"] = np.isin(np.arange(len(assigned)), bought.loc[inside, "_row"].to_numpy()).astype(int)
    columns = [c for c in feature_columns(frame) if c not in OUTCOMES]
    ids = frame["campaign_id"].unique()
    name = f"campaign {ids[0]}" if len(ids) == 1 else f"{len(ids)} campaigns pooled ({ids[0]} to {ids[-1]})"
    return Campaign(name, frame, columns)


def _learner() -> OfferUplift:
    """A win-back campaign is a two-arm offer campaign whose outcome is buying at all and whose cost is the
    contact's: econml's X-learner, as offers use, with small, strongly regularised boosters (campaign
    samples are thousands of customers with a few percent of effect under a noisy outcome; docs/training.md)."""
    return OfferUplift(
        learner="x",
        n_estimators=200,
        learning_rate=0.03,
        num_leaves=4,
        min_child_samples=200,
        tiers=SpendSettings().tiers,
    )


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
    """Each row's uplift from an X-learner fitted on the other folds; folds are drawn by customer, so no
    model sees another wave of the customer it scores."""
    frame = campaign.frame
    customer = pd.factorize(frame[ID])[0]
    fold = np.random.default_rng(seed).integers(0, folds, customer.max() + 1 if len(frame) else 0)[customer]
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
