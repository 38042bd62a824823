"""BG/NBD purchase model and Gamma-Gamma spend model, fitted by maximum likelihood: the transparent CLV baseline.

BG/NBD (Fader, Hardie & Lee 2005): while alive a customer buys at rate lambda ~ Gamma(r, alpha); after each
purchase they drop out with probability p ~ Beta(a, b). Inputs per customer: `frequency` (repeat purchases),
`recency` (time of the last purchase since the first) and `T` (time since the first purchase), in one unit
(days or weeks). Gamma-Gamma (Fader, Hardie & Lee 2005b): average spend per purchase, independent of
frequency, with population parameters p, q, v.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import betaln, gammaln, hyp2f1, logsumexp
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError

RFM_COLUMNS = ("frequency", "recency", "T")
BGNBD_INPUTS = ("purchase_days_total", "days_since_last_order", "days_since_first_order")  # feature store


def _rfm(X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    missing = [c for c in RFM_COLUMNS if c not in X]
    if missing:
        raise ValueError(f"BG/NBD needs columns {', '.join(RFM_COLUMNS)}; missing {', '.join(missing)}")
    x, t_x, T = (np.asarray(X[c], dtype=float) for c in RFM_COLUMNS)
    if (x < 0).any() or (t_x < 0).any() or (t_x > T).any():
        raise ValueError("BG/NBD needs frequency >= 0 and 0 <= recency <= T for every customer")
    return x, t_x, T


class BetaGeoModel(BaseEstimator):
    """BG/NBD. `fit` estimates r_, alpha_, a_, b_ and log_likelihood_ (sum over customers)."""

    def __init__(self, penalizer: float = 0.0, max_iter: int = 2_000) -> None:
        self.penalizer = penalizer
        self.max_iter = max_iter

    @staticmethod
    def log_likelihood(params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        r, alpha, a, b = params
        common = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
        alive = betaln(a, b + x) - betaln(a, b) - (r + x) * np.log(alpha + T)
        dropped = betaln(a + 1, b + x - 1) - betaln(a, b) - (r + x) * np.log(alpha + t_x)
        terms = np.where(x > 0, dropped, -np.inf)
        return common + logsumexp(np.stack([alive, terms]), axis=0)

    def fit(self, X: pd.DataFrame, y=None) -> BetaGeoModel:
        x, t_x, T = _rfm(X)
        scale = max(float(T.max()), 1.0)  # fit on a unit scale: the optimiser is then insensitive to days vs weeks

        def loss(log_params: np.ndarray) -> float:
            r, alpha, a, b = np.exp(log_params)
            # Rescaling time shifts the log-likelihood by a constant (sum of x log scale): same optimum.
            with np.errstate(all="ignore"):
                ll = self.log_likelihood(np.array([r, alpha, a, b]), x, t_x / scale, T / scale).mean()
            value = -ll + self.penalizer * np.sum(np.exp(log_params) ** 2)
            return float(value) if np.isfinite(value) else 1e10  # steer the search away from overflow

        # Bounded log-parameters (each within e^-10..e^10): data far from BG/NBD cannot send the search to inf.
        result = minimize(
            loss,
            np.zeros(4),
            method="L-BFGS-B",
            bounds=[(-10.0, 10.0)] * 4,
            options={"maxiter": self.max_iter, "ftol": 1e-13, "gtol": 1e-9},
        )
        if not np.isfinite(result.fun) or result.fun >= 1e10:
            raise RuntimeError(f"BG/NBD found no finite likelihood: {result.message}")
        # L-BFGS-B can stop with an 'abnormal' line search right at the optimum; keep the fit, say so.
        self.converged_ = bool(result.success)
        self.r_, alpha, self.a_, self.b_ = np.exp(result.x)
        self.alpha_ = alpha * scale
        self.log_likelihood_ = float(self.log_likelihood(self.params_, x, t_x, T).sum())
        self.n_customers_ = len(x)
        return self

    @property
    def params_(self) -> np.ndarray:
        if not hasattr(self, "r_"):
            raise NotFittedError("BetaGeoModel is not fitted yet; call fit first")
        return np.array([self.r_, self.alpha_, self.a_, self.b_])

    def p_alive(self, X: pd.DataFrame) -> np.ndarray:
        r, alpha, a, b = self.params_
        x, t_x, T = _rfm(X)
        log_ratio = (
            np.log(a) - np.log(np.maximum(b + x - 1, 1e-12)) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
        )
        return np.where(x > 0, 1 / (1 + np.exp(log_ratio)), 1.0)

    def expected_purchases(self, X: pd.DataFrame, t: float) -> np.ndarray:
        """Expected number of purchases in the next `t` time units, given each customer's history."""
        r, alpha, a, b = self.params_
        x, t_x, T = _rfm(X)
        z = t / (alpha + T + t)
        with np.errstate(all="ignore"):
            head = (a + b + x - 1) / (a - 1)
            tail = 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, z)
            expected = head * tail
        # The hypergeometric overflows for extreme fits (a shop where everyone buys at one steady rate
        # sends r and alpha to their bounds): every customer's value was NaN, and so was the recall list.
        broken = ~np.isfinite(expected)
        if broken.any():
            expected[broken] = _expected_if_alive(r, alpha, a, b, x[broken], T[broken], t)
        return expected * self.p_alive(X)

    def p_no_purchase(self, X: pd.DataFrame, t: float) -> np.ndarray:
        """P(no purchase in the next `t`): dead, or alive with no purchase (drop-out only follows a purchase)."""
        r, alpha, _, _ = self.params_
        x, _, T = _rfm(X)
        alive = self.p_alive(X)
        return (1 - alive) + alive * ((alpha + T) / (alpha + T + t)) ** (r + x)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.p_alive(X)


class GammaGammaModel(BaseEstimator):
    """Gamma-Gamma spend model on customers with at least one repeat purchase: fit(X with frequency and
    monetary_value) estimates p_, q_, v_."""

    def __init__(self, max_iter: int = 2_000) -> None:
        self.max_iter = max_iter

    @staticmethod
    def log_likelihood(params: np.ndarray, x: np.ndarray, m: np.ndarray) -> np.ndarray:
        p, q, v = params
        return (
            gammaln(p * x + q)
            - gammaln(p * x)
            - gammaln(q)
            + q * np.log(v)
            + (p * x - 1) * np.log(m)
            + p * x * np.log(x)
            - (p * x + q) * np.log(v + m * x)
        )

    def fit(self, X: pd.DataFrame, y=None) -> GammaGammaModel:
        x, m = self._inputs(X)
        keep = x > 0
        x, m = x[keep], m[keep]
        scale = float(np.median(m))
        result = minimize(
            lambda lp: -self.log_likelihood(np.exp(lp), x, m / scale).mean(),
            np.zeros(3),
            method="L-BFGS-B",
            options={"maxiter": self.max_iter},
        )
        if not result.success:
            raise RuntimeError(f"Gamma-Gamma did not converge: {result.message}")
        self.p_, self.q_, v = np.exp(result.x)
        self.v_ = v * scale
        self.log_likelihood_ = float(self.log_likelihood(np.array([self.p_, self.q_, self.v_]), x, m).sum())
        return self

    @staticmethod
    def _inputs(X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        if "frequency" not in X or "monetary_value" not in X:
            raise ValueError("Gamma-Gamma needs columns frequency and monetary_value")
        x, m = np.asarray(X["frequency"], dtype=float), np.asarray(X["monetary_value"], dtype=float)
        if ((x > 0) & (m <= 0)).any():
            raise ValueError("monetary_value must be > 0 for customers with repeat purchases")
        return x, m

    def expected_spend(self, X: pd.DataFrame) -> np.ndarray:
        """Expected average spend per future purchase; the population mean for customers without repeats."""
        if not hasattr(self, "p_"):
            raise NotFittedError("GammaGammaModel is not fitted yet; call fit first")
        x, m = self._inputs(X)
        p, q, v = self.p_, self.q_, self.v_
        population = v * p / (q - 1)
        weight = p * x / (p * x + q - 1)
        return np.where(x > 0, (1 - weight) * population + weight * m, population)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.expected_spend(X)


def customer_lifetime_value(
    purchases: BetaGeoModel, spend: GammaGammaModel, X: pd.DataFrame, horizon: float, margin: float = 1.0
) -> np.ndarray:
    """Expected margin over the next `horizon`: expected purchases x expected spend per purchase x margin."""
    return purchases.expected_purchases(X, horizon) * spend.expected_spend(X) * margin


def _expected_if_alive(r, alpha, a, b, x: np.ndarray, T: np.ndarray, t: float, nodes: int = 32) -> np.ndarray:
    """BG/NBD's expected purchases in the next `t` of a customer alive now, without the hypergeometric:
    given alive, lambda ~ Gamma(r + x, alpha + T) and p ~ Beta(a, b + x), independent, and a customer
    buys (1 - exp(-lambda p t)) / p times; integrating lambda leaves a mean over p, taken by Gauss
    quadrature on the Beta. Equal to the closed form where both are finite (tests/models/test_bgnbd.py)."""
    out = np.empty(len(x))
    for value in np.unique(x):
        p, weight = _beta_nodes(a, b + value, nodes)
        at = x == value
        scale = t / (alpha + T[at, None])
        out[at] = (weight * -np.expm1(-(r + value) * np.log1p(p * scale)) / p).sum(axis=1)
    return out


def _beta_nodes(a: float, b: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss nodes and weights (summing to 1) of Beta(a, b), by Golub-Welsch on the Jacobi matrix of the
    weight (1 - u)^(b - 1) (1 + u)^(a - 1), p = (1 + u) / 2. scipy's roots_jacobi overflows (2^(a + b))
    for the extreme fits this serves."""
    from scipy.linalg import eigh_tridiagonal

    al, be = b - 1.0, a - 1.0
    k = np.arange(n, dtype=float)
    s = 2 * k + al + be
    with np.errstate(divide="ignore", invalid="ignore"):
        diag = (be**2 - al**2) / (s * (s + 2))
    diag[0] = (be - al) / (al + be + 2)
    k, s = k[1:], s[1:]
    off = np.sqrt(4 * k * (k + al) * (k + be) * (k + al + be) / (s**2 * (s + 1) * (s - 1)))
    u, vectors = eigh_tridiagonal(diag, off)
    return (1 + u) / 2, vectors[0] ** 2


def summary_from_features(X: pd.DataFrame) -> pd.DataFrame:
    """BG/NBD's frequency (repeat purchase days), recency and T in days from the feature store; a customer
    with no known first order counts as new (all zeros)."""
    first = X["days_since_first_order"].to_numpy(dtype=float)
    last = X["days_since_last_order"].to_numpy(dtype=float)
    T = np.nan_to_num(first, nan=0.0).clip(min=0.0)
    recency = np.nan_to_num(first - last, nan=0.0).clip(0.0, T)
    frequency = np.nan_to_num(X["purchase_days_total"].to_numpy(dtype=float) - 1, nan=0.0).clip(min=0.0)
    return pd.DataFrame({"frequency": frequency, "recency": recency, "T": T})
