"""What an assignment policy is worth, estimated off-policy on a randomised campaign it did not choose.

Doubly robust (Dudik et al. 2011): for member i and arm a,
    score[i, a] = mu(x_i, a) + 1{arm_i = a} / e_a x (y_i - mu(x_i, arm_i)),
with mu an outcome model fitted on other members and e_a the arm's share of the campaign (randomised, so
known). A policy's value is the mean over members of score[i, its arm] - score[i, control]: the net
margin it adds per member against sending nothing. Unbiased when either mu or e is right, and e is; the
interval is the normal one from the members' spread (clustered by member when rows pool several waves).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from lightgbm import LGBMRegressor
from scipy.stats import norm

from spend.models.offers import CONTROL, check_arms


class ArmOutcomes:
    """mu(x, a): one regressor of the outcome per arm, on that arm's members."""

    def __init__(self, random_state: int = 0) -> None:
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, arm, y) -> ArmOutcomes:
        arm, y = check_arms(arm), np.asarray(y, dtype=float)
        self.arms_ = [CONTROL, *sorted(set(arm) - {CONTROL})]
        self.models_ = {
            a: LGBMRegressor(
                n_estimators=150,
                learning_rate=0.05,
                num_leaves=8,
                min_child_samples=100,
                random_state=self.random_state,
                verbose=-1,
            ).fit(X[arm == a], y[arm == a])
            for a in self.arms_
        }
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.column_stack([self.models_[a].predict(X) for a in self.arms_])


@dataclass
class PolicyValue:
    value: float  # net margin added per member against no offer
    se: float
    low: float
    high: float
    members: int

    def as_dict(self) -> dict[str, float]:
        return {"value": self.value, "se": self.se, "low": self.low, "high": self.high, "members": self.members}


def dr_scores(mu: np.ndarray, arms: list[str], arm, y, campaigns=None) -> np.ndarray:
    """(members, arms) doubly robust scores; `arms` names mu's columns, control first. With `campaigns`
    (which campaign each row was randomised in), each row's propensity is its arm's share in its own
    campaign: pooled waves that split their members differently would otherwise be reweighted wrongly."""
    arm, y = np.asarray(arm, dtype=object), np.asarray(y, dtype=float)
    index = pd.Index(arms)
    taken = index.get_indexer(arm)
    if (taken < 0).any():
        raise ValueError(f"arms {sorted(set(arm[taken < 0]))} have no outcome model")
    if campaigns is None:
        share = (np.bincount(taken, minlength=len(arms)) / len(arm))[taken]
    else:
        pair = pd.DataFrame({"campaign": np.asarray(campaigns), "arm": taken})
        share = (
            pair.groupby(["campaign", "arm"])["arm"].transform("size")
            / pair.groupby("campaign")["arm"].transform("size")
        ).to_numpy()
    residual = y - mu[np.arange(len(y)), taken]
    scores = mu.copy()
    scores[np.arange(len(y)), taken] += residual / share
    return scores


def policy_value(scores: np.ndarray, choice: np.ndarray, alpha: float = 0.10, members=None) -> PolicyValue:
    """Value of giving row i arm choice[i] (a column of `scores`; 0 is control) against control. With
    `members` (who each row is), the standard error is clustered by member (CR1): a member sent offers in
    several waves is not several independent draws."""
    gain = scores[np.arange(len(choice)), choice] - scores[:, 0]
    mean = float(gain.mean())
    if members is None:
        se = float(gain.std(ddof=1) / np.sqrt(len(gain)))
    else:
        sums = pd.Series(gain - mean).groupby(np.asarray(members)).sum().to_numpy()
        groups = len(sums)
        se = float(np.sqrt(groups / max(groups - 1, 1) * np.sum(sums**2)) / len(gain))
    z = norm.ppf(1 - alpha / 2)
    return PolicyValue(mean, se, mean - z * se, mean + z * se, len(gain))
