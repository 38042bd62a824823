"""BG/NBD and Gamma-Gamma: the published CDNOW fit, parameter recovery, and the estimator contract."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spend.models.bgnbd import BetaGeoModel, GammaGammaModel, customer_lifetime_value

CDNOW = Path(__file__).resolve().parents[1] / "data" / "cdnow_customers_summary.csv"


def test_bgnbd_reproduces_the_published_cdnow_fit():
    model = BetaGeoModel().fit(pd.read_csv(CDNOW))
    # Fader, Hardie & Lee (2005), Table 1: to three significant digits.
    assert float(f"{model.r_:.3g}") == 0.243
    assert float(f"{model.alpha_:.4g}") == 4.414
    assert float(f"{model.a_:.3g}") == 0.793
    assert float(f"{model.b_:.4g}") == 2.426
    assert round(model.log_likelihood_, 1) == -9582.4


def simulate_bgnbd(n: int, r: float, alpha: float, a: float, b: float, seed: int) -> pd.DataFrame:
    """The BG/NBD generative story, customer by customer (vectorised over purchases)."""
    rng = np.random.default_rng(seed)
    lam, p = rng.gamma(r, 1 / alpha, n), rng.beta(a, b, n)
    T = rng.uniform(30, 52, n)
    t, x, last = np.zeros(n), np.zeros(n), np.zeros(n)
    alive = np.ones(n, dtype=bool)
    while alive.any():
        t[alive] += rng.exponential(1 / lam[alive])
        bought = alive & (t < T)
        x[bought] += 1
        last[bought] = t[bought]
        alive = bought & (rng.random(n) >= p)
    return pd.DataFrame({"frequency": x, "recency": last, "T": T})


def test_bgnbd_recovers_known_parameters():
    truth = {"r": 0.6, "alpha": 8.0, "a": 0.9, "b": 3.0}
    model = BetaGeoModel().fit(simulate_bgnbd(20_000, **truth, seed=3))
    for name, value in truth.items():
        assert getattr(model, f"{name}_") == pytest.approx(value, rel=0.15), name


def test_bgnbd_predictions_are_coherent():
    data = pd.read_csv(CDNOW)
    model = BetaGeoModel().fit(data)
    alive = model.p_alive(data)
    assert ((alive >= 0) & (alive <= 1)).all() and (alive[data["frequency"] == 0] == 1).all()
    assert np.allclose(model.p_no_purchase(data, 0.0), 1.0)
    assert (model.p_no_purchase(data, 52) <= model.p_no_purchase(data, 10) + 1e-12).all()
    # Published: a customer with x=2, t_x=30.43, T=38.86 is expected to make 1.226 purchases in 39 weeks.
    one = pd.DataFrame({"frequency": [2], "recency": [30.43], "T": [38.86]})
    assert model.expected_purchases(one, 39)[0] == pytest.approx(1.226, abs=0.005)


def test_expected_purchases_without_the_hypergeometric_equal_the_closed_form():
    """The quadrature used where the closed form overflows gives the closed form where both are finite."""
    from spend.models.bgnbd import _expected_if_alive

    data = pd.read_csv(CDNOW)
    model = BetaGeoModel().fit(data)
    closed = model.expected_purchases(data, 39) / model.p_alive(data)
    x, T = data["frequency"].to_numpy(dtype=float), data["T"].to_numpy(dtype=float)
    quadrature = _expected_if_alive(model.r_, model.alpha_, model.a_, model.b_, x, T, 39)
    np.testing.assert_allclose(quadrature, closed, rtol=1e-9)


def test_a_shop_where_everyone_buys_at_one_steady_rate_gets_finite_expected_purchases():
    """Every customer buying about monthly and nobody leaving sends r and alpha to their bounds, where the
    hypergeometric overflows: every expected purchase (and the recall list's every value) was NaN."""
    rng = np.random.default_rng(1)
    T = rng.uniform(140, 600, 3_000)
    x = rng.poisson(T / 14)  # every fortnight, and nobody leaves: a seed whose fit reaches the overflow
    recency = np.array([rng.uniform(0, age, n).max() if n else 0.0 for age, n in zip(T, x, strict=True)])
    data = pd.DataFrame({"frequency": x, "recency": recency, "T": T})
    model = BetaGeoModel().fit(data)
    expected = model.expected_purchases(data, 365)
    assert np.isfinite(expected).all()
    assert np.median(expected) == pytest.approx(365 / 14, rel=0.1)  # a steady fortnightly buyer, alive


def test_gamma_gamma_recovers_known_parameters():
    rng = np.random.default_rng(8)
    n, p, q, v = 20_000, 6.0, 4.0, 15.0
    x = rng.integers(1, 12, n)
    nu = rng.gamma(q, 1 / v, n)
    m = np.array([rng.gamma(p, 1 / nu_i, k).mean() for nu_i, k in zip(nu, x, strict=True)])
    model = GammaGammaModel().fit(pd.DataFrame({"frequency": x, "monetary_value": m}))
    assert (model.p_, model.q_, model.v_) == pytest.approx((p, q, v), rel=0.2)
    spend = model.expected_spend(pd.DataFrame({"frequency": [0, 50], "monetary_value": [0.0, 40.0]}))
    assert spend[0] == pytest.approx(model.v_ * model.p_ / (model.q_ - 1))
    assert spend[1] == pytest.approx(40.0, rel=0.05)  # many purchases: their own average dominates


def test_lifetime_value_is_purchases_times_spend_times_margin():
    data = simulate_bgnbd(3_000, 0.6, 8.0, 0.9, 3.0, seed=1).assign(monetary_value=25.0)
    purchases = BetaGeoModel().fit(data)
    spend = GammaGammaModel().fit(data.assign(monetary_value=np.random.default_rng(2).gamma(5, 5, len(data))))
    clv = customer_lifetime_value(purchases, spend, data, horizon=52, margin=0.3)
    expected = purchases.expected_purchases(data, 52) * spend.expected_spend(data) * 0.3
    np.testing.assert_allclose(clv, expected)


def test_bad_input_names_the_problem():
    with pytest.raises(ValueError, match="missing T"):
        BetaGeoModel().fit(pd.DataFrame({"frequency": [1], "recency": [1]}))
    with pytest.raises(ValueError, match="recency <= T"):
        BetaGeoModel().fit(pd.DataFrame({"frequency": [1], "recency": [5], "T": [2]}))
    with pytest.raises(ValueError, match="monetary_value must be > 0"):
        GammaGammaModel().fit(pd.DataFrame({"frequency": [2], "monetary_value": [0.0]}))
