"""Customer segmentation: RFM quintile scores mapped to named segments, and learned behaviour clusters.

RFM: recency (days since the last order), frequency (orders in a year) and monetary value (spend in a
year) are each scored 1-5 by the quintiles of the population the segmenter was fitted on (5 = best:
most recent, most frequent, highest spend). The recency score and the mean of the F and M scores pick a
named segment from a fixed grid (documented below). Clusters: a Gaussian mixture on standardised,
log-transformed behaviour features, with the number of clusters chosen by the lowest BIC.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.mixture import GaussianMixture
from sklearn.preprocessing import StandardScaler

RFM_FEATURES = ("days_since_last_order", "orders_365d", "spend_365d")
# Rows: recency score 1..5; columns: combined frequency-monetary score 1..5.
SEGMENT_GRID = (
    ("Lost", "Lost", "At risk", "At risk", "Can't lose"),
    ("Hibernating", "Hibernating", "At risk", "At risk", "Can't lose"),
    ("About to sleep", "About to sleep", "Need attention", "Loyal", "Loyal"),
    ("Promising", "Potential loyalist", "Potential loyalist", "Loyal", "Loyal"),
    ("New customers", "Potential loyalist", "Potential loyalist", "Champions", "Champions"),
)
SEGMENTS = tuple(dict.fromkeys(name for row in SEGMENT_GRID for name in row))
# How a cluster that stands out on a feature is called: above the population, far above, below, far below.
TRAIT_WORDS = {
    "spend_365d": ("big spenders", "biggest spenders", "small spenders", "smallest spenders"),
    "orders_365d": ("frequent", "very frequent", "rare buyers", "very rare buyers"),
    "days_since_last_order": ("lapsing", "long lapsed", "recent", "very recent"),
    "avg_basket_value_365d": ("large baskets", "very large baskets", "small baskets", "very small baskets"),
    "discount_share_90d": ("deal seekers", "heavy deal seekers", "full price", "full price only"),
    "return_rate_90d": ("returners", "heavy returners", "keepers", "keepers"),
    "tenure_days": ("long-standing", "oldest customers", "new", "newest"),
}
FAR = 1.5  # deviations from the population's mean that make a trait "far"


def _require(X: pd.DataFrame, columns) -> None:
    missing = [c for c in columns if c not in X]
    if missing:
        raise ValueError(f"segmentation needs columns {', '.join(columns)}; missing {', '.join(missing)}")


class RFMSegmenter(BaseEstimator):
    """fit remembers the population; predict returns segment names; `scores` returns R, F, M scores.

    A score is the quintile of the value's position in the fitted population (the share of customers at
    or below it), so ties (the many customers with one order) share one score.
    """

    def fit(self, X: pd.DataFrame, y=None) -> RFMSegmenter:
        _require(X, RFM_FEATURES)
        self.population_ = {c: np.sort(X[c].to_numpy(dtype=float)) for c in RFM_FEATURES}
        return self

    def scores(self, X: pd.DataFrame) -> pd.DataFrame:
        if not hasattr(self, "population_"):
            raise NotFittedError("RFMSegmenter is not fitted yet; call fit first")
        _require(X, RFM_FEATURES)
        out = {}
        for column, name in (
            ("days_since_last_order", "r_score"),
            ("orders_365d", "f_score"),
            ("spend_365d", "m_score"),
        ):
            population = self.population_[column]
            share = np.searchsorted(population, X[column].to_numpy(dtype=float), side="right") / len(population)
            quintile = np.clip(np.ceil(share * 5), 1, 5).astype(int)
            out[name] = 6 - quintile if column == "days_since_last_order" else quintile  # recent is better
        return pd.DataFrame(out, index=X.index)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        s = self.scores(X)
        fm = np.clip(np.round((s["f_score"] + s["m_score"]) / 2), 1, 5).astype(int)
        grid = np.asarray(SEGMENT_GRID, dtype=object)
        return grid[s["r_score"].to_numpy() - 1, fm.to_numpy() - 1]


MIN_PER_CLUSTER = 30  # customers per cluster, at least: a 6-feature full covariance has 27 parameters


class BehaviourClusters(BaseEstimator):
    """Gaussian mixture on standardised log1p features; k in [min_k, max_k] with the lowest BIC."""

    def __init__(
        self, features: tuple[str, ...] = RFM_FEATURES, min_k: int = 2, max_k: int = 8, random_state: int = 0
    ) -> None:
        self.features = features
        self.min_k = min_k
        self.max_k = max_k
        self.random_state = random_state

    def _matrix(self, X: pd.DataFrame) -> np.ndarray:
        _require(X, self.features)
        values = X[list(self.features)].to_numpy(dtype=float)
        if not np.isfinite(values).all():
            raise ValueError("segmentation features must be finite; fill or drop customers without history")
        return np.log1p(np.clip(values, 0, None))

    def fit(self, X: pd.DataFrame, y=None) -> BehaviourClusters:
        matrix = self._matrix(X)
        self.scaler_ = StandardScaler().fit(matrix)
        scaled = self.scaler_.transform(matrix)
        # A full covariance per cluster needs customers to learn from: a shop of three could not be fitted
        # at all (fewer samples than components), and a few dozen give every cluster a handful.
        most = max(1, min(self.max_k, len(scaled) // MIN_PER_CLUSTER))
        self.too_few_ = most < self.min_k
        fits = {
            k: GaussianMixture(k, covariance_type="full", n_init=2, random_state=self.random_state).fit(scaled)
            for k in range(min(self.min_k, most), most + 1)
        }
        self.bic_ = {k: float(m.bic(scaled)) for k, m in fits.items()}
        self.k_ = min(self.bic_, key=self.bic_.get)
        self.mixture_ = fits[self.k_]
        self.names_ = cluster_names(scaled, self.mixture_.predict(scaled), self.features)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        if not hasattr(self, "mixture_"):
            raise NotFittedError("BehaviourClusters is not fitted yet; call fit first")
        return self.mixture_.predict(self.scaler_.transform(self._matrix(X)))


def cluster_names(scaled: np.ndarray, labels: np.ndarray, features) -> dict[int, str]:
    """A name per cluster from the two features it stands out on most (its mean on the standardised log
    scale, in population standard deviations), e.g. "big spenders, frequent" (stronger words
    from 1.5 deviations); a cluster that stands out on nothing by half a deviation is "typical". Repeated names
    are numbered."""
    names: dict[int, str] = {}
    for label in np.unique(labels):
        centre = scaled[labels == label].mean(axis=0)
        order = [i for i in np.argsort(-np.abs(centre)) if abs(centre[i]) >= 0.5 and features[i] in TRAIT_WORDS]
        words = [TRAIT_WORDS[features[i]][(centre[i] < 0) * 2 + (abs(centre[i]) >= FAR)] for i in order[:2]]
        names[int(label)] = ", ".join(words) or "typical"
    counts = Counter(names.values())
    seen: Counter = Counter()
    for label, name in names.items():
        seen[name] += 1
        if counts[name] > 1:
            names[label] = f"{name} ({seen[name]})"
    return names


def segment_profiles(features: pd.DataFrame, segments: np.ndarray, churned: pd.Series | None = None) -> pd.DataFrame:
    """Per segment: size, share, mean yearly spend, orders and tenure, tier mix, and churn rate if labels (or
    churn probabilities, for an expected rate) are given."""
    frame = features.assign(segment=segments)
    grouped = frame.groupby("segment", observed=True)
    profile = pd.DataFrame(
        {
            "customers": grouped.size(),
            "share": grouped.size() / len(frame),
            "spend_365d": grouped["spend_365d"].mean(),
            "orders_365d": grouped["orders_365d"].mean(),
        }
    )
    if "tenure_days" in frame:
        profile["tenure_days"] = grouped["tenure_days"].mean()
    if "membership_tier" in frame:
        tiers = pd.crosstab(frame["segment"], frame["membership_tier"].fillna("unknown"), normalize="index")
        profile = profile.join(tiers.add_prefix("tier_"))
    if churned is not None:
        profile["churn_rate"] = (
            pd.Series(np.asarray(churned, dtype=float), index=frame.index).groupby(frame["segment"]).mean()
        )
    return profile.sort_values("customers", ascending=False)
