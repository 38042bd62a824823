"""The recall list: whom to win back, why, and what it is worth.

expected_saved_margin = P(churn) x CLV x uplift of a contact, where
- P(churn), band and reasons come from the registered churn @champion;
- CLV is the BG/NBD x Gamma-Gamma expected spend over the next year, times the gross margin rate seen in
  the transactions (1.0, flagged, when no unit costs were ingested);
- uplift comes from an X-learner fitted on the latest randomised campaign (outcome: a purchase within
  30 days of assignment, features as of the assignment); without a campaign it is 1 and flagged, so the
  list falls back to risk x value. Negative uplift (contacts that put customers off) sinks a customer.
With a budget, the list keeps customers whose saved margin pays for the contact, best first, as many as
the budget buys.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.errors import SpendError
from features.ingest.store import OfflineStore
from features.settings import SpendSettings
from features.store.config import feature_store
from features.store.training_set import training_set
from models.clv import BetaGeoModel, GammaGammaModel
from models.segmentation import SEGMENTS, RFMSegmenter
from models.uplift import XLearnerUplift
from training.config import load_config
from training.evaluate import rfm_summary
from training.scoring import churn_cohort_features, score_churn

ID = "customer_id"
CAMPAIGN_WINDOW_DAYS = 30
CLV_HORIZON_DAYS = 365


@dataclass(frozen=True)
class RecallOptions:
    top: int | None = None
    budget: float | None = None
    cost_per_contact: float | None = None
    segment: str | None = None

    def check(self) -> None:
        if (self.budget is None) != (self.cost_per_contact is None):
            raise SpendError("--budget and --cost-per-contact go together")
        if self.cost_per_contact is not None and self.cost_per_contact <= 0:
            raise SpendError("--cost-per-contact must be > 0")
        if self.segment is not None and self.segment not in SEGMENTS:
            raise SpendError(f"--segment: unknown segment {self.segment!r}; known: {', '.join(SEGMENTS)}")


def order_values(offline: OfflineStore) -> pd.DataFrame:
    tx = offline.read("transactions", [ID, "order_id", "ts", "kind", "quantity", "unit_price", "discount", "unit_cost"])
    tx = tx[(tx["kind"] == "purchase") & tx[ID].notna()]
    return tx.assign(net=tx["quantity"] * tx["unit_price"] - tx["discount"].fillna(0.0))


def margin_rate(lines: pd.DataFrame) -> float | None:
    costed = lines[lines["unit_cost"].notna()]
    if costed.empty:
        return None
    revenue = costed["net"].sum()
    return float((revenue - (costed["quantity"] * costed["unit_cost"]).sum()) / revenue) if revenue > 0 else None


def lifetime_value(lines: pd.DataFrame, customers: pd.Series, cutoff: pd.Timestamp) -> np.ndarray:
    """Expected spend over the next year (BG/NBD x Gamma-Gamma), in currency, before margin."""
    before = lines[lines["ts"] < cutoff]
    rfm = rfm_summary(before, customers, cutoff)
    rfm["T"] = rfm["T"].clip(lower=rfm["recency"])
    orders = before.groupby([ID, "order_id"])["net"].sum().groupby(level=0).mean()
    rfm["monetary_value"] = orders.reindex(customers.to_numpy()).fillna(0.0).clip(lower=0.01).to_numpy()
    purchases = BetaGeoModel().fit(rfm)
    spend = GammaGammaModel().fit(rfm)
    return purchases.expected_purchases(rfm, CLV_HORIZON_DAYS) * spend.expected_spend(rfm)


def campaign_uplift(settings: SpendSettings, lines: pd.DataFrame, cohort: pd.DataFrame, columns: list[str]):
    """Uplift per cohort customer from the latest campaign, or (None, reason) without a usable one."""
    campaigns = OfflineStore(settings.paths).read("campaigns", [ID, "campaign_id", "ts", "group"])
    if campaigns.empty:
        return None, "no campaign ingested"
    latest = campaigns[campaigns["campaign_id"] == campaigns.sort_values("ts")["campaign_id"].iloc[-1]]
    rows = pd.DataFrame({ID: latest[ID].to_numpy(), "event_timestamp": latest["ts"].dt.normalize().to_numpy()})
    features = training_set(feature_store(settings), rows, load_config("churn").feature_service)
    bought = lines[[ID, "ts"]].merge(latest[[ID, "ts"]].rename(columns={"ts": "assigned"}), on=ID)
    window = (bought["ts"] >= bought["assigned"]) & (
        bought["ts"] < bought["assigned"] + pd.Timedelta(days=CAMPAIGN_WINDOW_DAYS)
    )
    outcome = latest[ID].isin(bought.loc[window, ID]).astype(int).to_numpy()
    fit_on, predict_on = _encoded(features[columns], cohort[columns])
    try:
        learner = XLearnerUplift().fit(fit_on, outcome, (latest["group"] == "treatment").astype(int))
    except ValueError as error:
        return None, f"campaign unusable: {error}"
    return learner.predict(predict_on), f"campaign {latest['campaign_id'].iloc[0]}"


def _encoded(train: pd.DataFrame, score: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Text features (membership_tier) as category codes learned on the campaign, the same for both frames."""
    train, score = train.copy(), score.copy()
    for column in [c for c in train.columns if not pd.api.types.is_numeric_dtype(train[c])]:
        categories = sorted(train[column].dropna().astype(str).unique())
        for frame in (train, score):
            codes = pd.Categorical(frame[column].astype("string"), categories=categories).codes.astype(float)
            frame[column] = np.where(codes < 0, np.nan, codes)
    return train, score


def recall_list(settings: SpendSettings, as_of: pd.Timestamp, options: RecallOptions) -> pd.DataFrame:
    options.check()
    offline = OfflineStore(settings.paths)
    cohort = churn_cohort_features(settings, as_of)
    scores = score_churn(settings, as_of, cohort)
    lines = order_values(offline)
    rate = margin_rate(lines)
    clv = lifetime_value(lines, cohort[ID], as_of.normalize()) * (rate if rate is not None else 1.0)
    columns = [c for c in cohort.columns if c not in (ID, "event_timestamp") and "__" not in c]
    uplift, source = campaign_uplift(settings, lines, cohort, columns)
    frame = scores.assign(
        segment=RFMSegmenter().fit(cohort).predict(cohort),
        clv=clv,
        margin_known=rate is not None,
        uplift=uplift if uplift is not None else 1.0,
        uplift_source=source if uplift is not None else f"none ({source})",
    )
    frame["expected_saved_margin"] = frame["churn_probability"] * frame["clv"] * frame["uplift"]
    if options.segment is not None:
        frame = frame[frame["segment"] == options.segment]
    frame = frame.sort_values("expected_saved_margin", ascending=False, kind="stable")
    if options.budget is not None:
        affordable = int(options.budget // options.cost_per_contact)
        frame = frame[frame["expected_saved_margin"] > options.cost_per_contact].head(affordable)
    if options.top is not None:
        frame = frame.head(options.top)
    return frame.reset_index(drop=True)
