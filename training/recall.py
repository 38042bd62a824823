"""The recall list: whom to win back, why, and what it is worth.

expected_saved_margin = P(churn) x CLV x save rate of a contact, where
- P(churn), band and reasons come from the registered churn @champion;
- CLV is next-year margin: the ML estimate (clv @champion) where it beat BG/NBD x Gamma-Gamma on its
  holdout, else BG/NBD x Gamma-Gamma spend times the margin rate seen in the transactions (1.0, flagged
  by margin_known, when no unit costs were ingested); clv_source says which;
- uplift is the change a contact makes to P(purchase within 30 days), from an X-learner fitted on the
  randomised win-back campaigns whose outcome was known by the as-of date, pooled (features as of each
  assignment; training/campaigns.py); the save rate is uplift / P(churn), the
  share of the customer's churn risk a contact removes, clipped to [-1, 1]. So the saved margin is
  CLV x uplift: multiplying the absolute uplift by P(churn) again would count the risk twice (the
  uplift of a customer who would buy anyway is already near 0). On the simulator this ranking saves
  1.3x the margin of risk x value (benchmarks/customer_models.py). Without a campaign the save rate is
  1 and flagged, so the list falls back to risk x value. Negative uplift (contacts that put customers
  off) sinks a customer; so does an unknown one (a customer unlike anyone the campaign contacted:
  save rate 0, uplift_source says why).
With a budget, the list keeps customers whose saved margin pays for the contact, best first, as many as
the budget buys.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from spend.core.errors import SpendError
from spend.core.names import CUSTOMER_ID as ID
from spend.core.registry import spec
from spend.core.settings import SpendSettings
from spend.features.compute.orders import margin_rate
from spend.features.ingest.store import OfflineStore
from spend.models.baselines import lifetime_margin
from spend.models.segmentation import SEGMENTS, RFMSegmenter
from spend.training.campaigns import contact_uplift, fit_uplift, winback_campaigns
from spend.training.dataset import order_lines
from spend.training.scoring import churn_cohort_features, score_churn
from spend.training.tracking import Registry


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


def save_rate(churn_probability: np.ndarray, uplift: np.ndarray | None) -> np.ndarray:
    """Share of the churn risk a contact removes: uplift / P(churn) in [-1, 1]; 1 without an uplift model,
    0 where the uplift is unknown (a customer unlike anyone the campaign contacted)."""
    if uplift is None:
        return np.ones(len(churn_probability))
    known = np.isfinite(uplift) & (churn_probability > 0)
    ratio = np.divide(uplift, churn_probability, out=np.zeros(len(uplift)), where=known)
    return np.clip(ratio, -1.0, 1.0)


def campaign_uplift(settings: SpendSettings, lines: pd.DataFrame, cohort: pd.DataFrame, as_of: pd.Timestamp):
    """Uplift per cohort customer from the win-back campaigns whose outcome was known by `as_of`, pooled,
    and where it came from per customer, or (None, reason) without a usable campaign.

    A campaign only says what a contact does to the kind of customer it contacted. Win-back campaigns
    contact lapsed customers, so for a customer who ordered more recently than almost anyone contacted
    (below the 1st percentile of days since the last order) the uplift is unknown (NaN), not guessed.
    """
    campaign = winback_campaigns(settings, lines, spec("churn").feature_service, as_of)
    if isinstance(campaign, str):
        return None, campaign
    try:
        learner = fit_uplift(campaign)
    except ValueError as error:
        return None, f"campaign unusable: {error}"
    uplift = contact_uplift(learner, cohort)
    floor = float(np.nanquantile(campaign.frame["days_since_last_order"], 0.01))
    outside = cohort["days_since_last_order"].to_numpy(dtype=float) < floor
    source = np.where(
        outside,
        f"none (ordered within {floor:.0f} days; {campaign.name} contacted lapsed customers)",
        campaign.name + (f"; {campaign.skipped}" if campaign.skipped else ""),
    )
    return np.where(outside, np.nan, uplift), source


def customer_value(settings: SpendSettings, lines: pd.DataFrame, cohort: pd.DataFrame, as_of: pd.Timestamp):
    """Next-year margin per cohort customer, where it came from, and whether real unit costs were known.

    The clv @champion when one is registered: the gate crowned the best scorer on its holdout, the ML
    estimate or BG/NBD x Gamma-Gamma served in its place (the `scorer` tag says which). Without one,
    BG/NBD x Gamma-Gamma from the order lines, the transparent baseline.
    """
    registry = Registry(settings)
    version = registry.version_by_alias("clv", "champion")
    if version is not None:
        model, _ = registry.load("clv", feature_service=spec("clv").feature_service)
        known = margin_rate(lines[lines["ts"] < as_of]) is not None
        scorer = version.tags.get("scorer", "spend")
        source = f"ml clv v{version.version}" if scorer == "spend" else f"{scorer} clv v{version.version}"
        return model.predict(cohort[model.features_]), source, known
    value, known = lifetime_margin(lines, cohort[ID], as_of.normalize())
    return value, "bgnbd_gamma_gamma", known


def recall_list(settings: SpendSettings, as_of: pd.Timestamp, options: RecallOptions) -> pd.DataFrame:
    return ranked(settings, as_of, options)[0]


def ranked(settings: SpendSettings, as_of: pd.Timestamp, options: RecallOptions) -> tuple[pd.DataFrame, dict]:
    """(the recall list, a report: contacts, spend, expected saved margin, why the list stops where it
    does, and any warning about the uplift it ranked by)."""
    options.check()
    offline = OfflineStore(settings.paths)
    cohort = churn_cohort_features(settings, as_of)
    scores = score_churn(settings, as_of, cohort)
    lines = order_lines(offline)
    clv, clv_source, margin_known = customer_value(settings, lines, cohort, as_of)
    uplift, source = campaign_uplift(settings, lines, cohort, as_of)
    frame = scores.assign(
        segment=RFMSegmenter().fit(cohort).predict(cohort),
        clv=clv,
        clv_source=clv_source,
        margin_known=margin_known,
        uplift=uplift if uplift is not None else np.nan,
        uplift_source=source if uplift is not None else f"none ({source})",
    )
    frame["save_rate"] = save_rate(frame["churn_probability"].to_numpy(), uplift)
    frame["expected_saved_margin"] = frame["churn_probability"] * frame["clv"] * frame["save_rate"]
    if options.segment is not None:
        frame = frame[frame["segment"] == options.segment]
    frame = frame.sort_values("expected_saved_margin", ascending=False, kind="stable")
    candidates = len(frame)
    stopped = f"every customer ({candidates:,})" + (f" of segment {options.segment}" if options.segment else "")
    if options.budget is not None:
        affordable = int(options.budget // options.cost_per_contact)
        paying = frame[frame["expected_saved_margin"] > options.cost_per_contact]
        frame = paying.head(affordable)
        stopped = (
            f"the budget buys {affordable:,} contacts at {options.cost_per_contact:,.2f}"
            if len(paying) >= affordable
            else f"only {len(paying):,} customers {_worth(uplift)} than a contact costs "
            f"({options.cost_per_contact:,.2f})"
        )
    if options.top is not None and len(frame) > options.top:
        frame = frame.head(options.top)
        stopped = f"--top {options.top:,}"
    frame = frame.reset_index(drop=True)
    return frame, _report(frame, options, stopped, uplift)


# Without a randomised campaign a contact's effect is unknown and the save rate is 1: the list's value is
# what is at risk, an upper bound on what contacts save, and is called that.
MARGIN_AT_RISK = "margin at risk (P(churn) x CLV; no randomised campaign has measured what a contact saves)"


def _worth(uplift: np.ndarray | None) -> str:
    return "save more" if uplift is not None else "have more margin at risk"


def _report(frame: pd.DataFrame, options: RecallOptions, stopped: str, uplift: np.ndarray | None) -> dict:
    contacts = len(frame)
    report = {
        "contacts": contacts,
        "expected_saved_margin": round(float(frame["expected_saved_margin"].sum()), 2),
        "measure": "expected saved margin" if uplift is not None else MARGIN_AT_RISK,
        "stopped_at": stopped,
    }
    if options.cost_per_contact is not None:
        report["spend"] = round(contacts * options.cost_per_contact, 2)
        report["budget"] = options.budget
    report["uplift_warning"] = uplift_warning(frame["uplift"].to_numpy(dtype=float) if uplift is not None else None)
    return report


def uplift_warning(uplift: np.ndarray | None) -> str | None:
    """Why the list's uplift should not be trusted to rank, or None."""
    if uplift is None:
        return "no uplift: no randomised campaign, so the list ranks by risk x value"
    known = uplift[np.isfinite(uplift)]
    if len(known) == 0:
        return "no customer on the list resembles the campaign's: uplift unknown, save rate 0"
    if len(known) > 1 and np.ptp(known) < 1e-6:
        return (
            f"uplift is the same ({known[0]:.4f}) for every customer on the list: the campaign's model found "
            "no difference between customers, so it does not change the order"
        )
    return None
