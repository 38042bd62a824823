"""How well a ranking finds the customers a randomised campaign moves: uplift at k (treated minus control
outcome rate among the top k by predicted uplift), the Qini curve and its coefficient.

The uplift itself is estimated by econml's X-learner through models/offers.py's OfferUplift: a win-back
campaign is a two-arm offer campaign whose outcome is buying at all (training/campaigns.py).
"""

from __future__ import annotations

import numpy as np


def uplift_at_k(uplift, treatment, y, k: float = 0.3) -> float:
    """Observed outcome rate treated minus control among the top `k` share ranked by predicted uplift."""
    order = np.argsort(-np.asarray(uplift), kind="stable")[: max(int(len(uplift) * k), 1)]
    t, y = np.asarray(treatment)[order], np.asarray(y)[order]
    if t.sum() == 0 or (1 - t).sum() == 0:
        return float("nan")
    return float(y[t == 1].mean() - y[t == 0].mean())


def qini_curve(uplift, treatment, y) -> tuple[np.ndarray, np.ndarray]:
    """The Qini curve of a ranking: incremental responders among the top n (treated responders minus
    control responders scaled to the treated count), and the random ranking's straight line."""
    order = np.argsort(-np.asarray(uplift), kind="stable")
    t, y = np.asarray(treatment, dtype=float)[order], np.asarray(y, dtype=float)[order]
    n_t, n_c = np.cumsum(t), np.cumsum(1 - t)
    gained = np.cumsum(y * t) - np.cumsum(y * (1 - t)) * np.divide(n_t, n_c, out=np.zeros_like(n_t), where=n_c > 0)
    return gained, gained[-1] * np.arange(1, len(t) + 1) / len(t)


def qini_coefficient(uplift, treatment, y) -> float:
    """Area between the Qini curve of the ranking and the random ranking, normalised by the population."""
    gained, random = qini_curve(uplift, treatment, y)
    return float((gained - random).mean() / len(gained))
