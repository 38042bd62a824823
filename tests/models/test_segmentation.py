"""RFM segments and behaviour clusters: named segments where they belong, k recovered, profiles add up."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spend.models.segmentation import SEGMENTS, BehaviourClusters, RFMSegmenter, segment_profiles


def population(n: int = 2_000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    orders = rng.poisson(3, n) + 1
    return pd.DataFrame(
        {
            "days_since_last_order": rng.uniform(0, 365, n),
            "orders_365d": orders,
            "spend_365d": orders * rng.gamma(4, 10, n),
            "tenure_days": rng.uniform(30, 900, n),
            "membership_tier": rng.choice(["basic", "silver", "gold"], n),
        }
    )


def test_extremes_land_in_the_expected_segments():
    segmenter = RFMSegmenter().fit(population())
    probes = pd.DataFrame(
        {"days_since_last_order": [1, 360, 340, 2], "orders_365d": [30, 1, 30, 1], "spend_365d": [5_000, 5, 5_000, 5]}
    )
    assert segmenter.predict(probes).tolist() == ["Champions", "Lost", "Can't lose", "New customers"]
    scores = segmenter.scores(probes)
    assert scores.loc[0].tolist() == [5, 5, 5] and scores.loc[1].tolist() == [1, 1, 1]


def test_scores_are_quintiles_of_the_fitted_population():
    data = population()
    scores = RFMSegmenter().fit(data).scores(data)
    shares = scores["r_score"].value_counts(normalize=True)
    assert set(shares.index) == {1, 2, 3, 4, 5} and (shares.between(0.18, 0.22)).all()
    assert set(RFMSegmenter().fit(data).predict(data)) <= set(SEGMENTS)


def test_clusters_choose_the_true_number_of_groups_by_bic():
    rng = np.random.default_rng(4)
    centres = [(10, 1, 20), (200, 8, 900), (60, 3, 150)]
    blocks = [
        pd.DataFrame(
            {
                "days_since_last_order": rng.normal(d, d * 0.1, 400).clip(0),
                "orders_365d": rng.normal(o, o * 0.1, 400).clip(0),
                "spend_365d": rng.normal(s, s * 0.1, 400).clip(0),
            }
        )
        for d, o, s in centres
    ]
    data = pd.concat(blocks, ignore_index=True)
    model = BehaviourClusters(max_k=6).fit(data)
    assert model.k_ == 3 and min(model.bic_, key=model.bic_.get) == 3
    labels = model.predict(data)
    assert all(len(set(labels[i * 400 : (i + 1) * 400])) == 1 for i in range(3))
    # Named from what they stand out on: the first block buys rarely, little and recently; the second
    # is lapsing but frequent and spends most.
    recent = model.names_[labels[0]]
    assert "recent" in recent or "rare buyers" in recent or "small spenders" in recent
    big = model.names_[labels[400]]
    assert {"big spenders", "frequent", "lapsing"} & set(big.split(", ")) and "small" not in big
    assert len(set(model.names_.values())) == 3


@pytest.mark.parametrize(("customers", "most"), [(3, 1), (59, 1), (90, 3)])
def test_a_small_shop_gets_as_many_clusters_as_its_customers_can_fit(customers, most):
    """Three customers could not be fitted at all (fewer samples than the mixture's components: an
    unexpected ValueError in `spend segments` and `spend publish`)."""
    rng = np.random.default_rng(5)
    data = pd.DataFrame(
        {
            "days_since_last_order": rng.uniform(1, 300, customers),
            "orders_365d": rng.integers(1, 9, customers),
            "spend_365d": rng.uniform(5, 500, customers),
        }
    )
    model = BehaviourClusters(max_k=6).fit(data)
    assert max(model.bic_) == most and model.too_few_ == (most < 2)
    assert set(model.predict(data)) <= set(range(model.k_)) and len(model.names_) == model.k_


def test_a_cluster_like_the_population_is_typical_and_repeated_names_are_numbered():
    from spend.models.segmentation import cluster_names

    scaled = np.array([[0.1, -0.2], [0.0, 0.1], [1.0, 0.0], [1.1, 0.1], [1.0, 0.2]])
    names = cluster_names(scaled, np.array([0, 0, 1, 2, 2]), ("spend_365d", "orders_365d"))
    assert names == {0: "typical", 1: "big spenders (1)", 2: "big spenders (2)"}


def test_profiles_add_up_and_show_churn():
    data = population()
    segments = RFMSegmenter().fit(data).predict(data)
    churned = data["days_since_last_order"] > 180
    profile = segment_profiles(data, segments, churned)
    assert profile["customers"].sum() == len(data) and profile["share"].sum() == pytest.approx(1.0)
    assert profile.loc["Lost", "churn_rate"] > profile.loc["Champions", "churn_rate"]
    assert {"tier_basic", "tier_gold", "tenure_days"} <= set(profile.columns)


def test_missing_or_non_finite_features_are_clear_errors():
    with pytest.raises(ValueError, match="missing spend_365d"):
        RFMSegmenter().fit(pd.DataFrame({"days_since_last_order": [1.0], "orders_365d": [1]}))
    bad = population(20).assign(spend_365d=np.nan)
    with pytest.raises(ValueError, match="must be finite"):
        BehaviourClusters().fit(bad)
