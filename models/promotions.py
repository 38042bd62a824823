"""The promotion outlook: the chance that a series is on promotion on a coming day that no plan speaks
for. A forecast that reads every such day as unpromoted falls short of the promotions' lift wherever the
shop promotes; one that knows nothing more than the recent weeks can still expect them at their rate.

Per series, from its recent days (`promo` above 0 counts as promoted): its promoted share of the last
WINDOW_DAYS, and whether it is promoted on its last day. Promotions run for days, so tomorrow looks like
today and the days after drift towards the share: chance(k days ahead) = share + (today - share) x
persistence^k, with persistence = P(promoted | promoted the day before) - P(promoted | not), pooled over
every series (a two-state Markov chain; decided and measured in docs/demand.md, "The promotion outlook").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

WINDOW_DAYS = 56  # within the days a fitted demand model keeps (KEEP_LAST_DAYS)


@dataclass(frozen=True)
class PromotionOutlook:
    share: pd.Series  # by unique_id: promoted share of the last WINDOW_DAYS
    today: pd.Series  # by unique_id: 1.0 when promoted on its last day
    persistence: float  # in [0, 1]

    def chance(self, unique_id: pd.Series, ahead: np.ndarray) -> np.ndarray:
        """The chance of a promotion `ahead` days (1 = tomorrow) after the series' last day."""
        share = unique_id.map(self.share).fillna(0.0).to_numpy(dtype=float)
        today = unique_id.map(self.today).fillna(0.0).to_numpy(dtype=float)
        return np.clip(share + (today - share) * self.persistence ** np.asarray(ahead, dtype=float), 0.0, 1.0)


def promotion_outlook(recent: pd.DataFrame, window_days: int = WINDOW_DAYS) -> PromotionOutlook | None:
    """The outlook from daily rows (unique_id, ds, promo); None when no day of the window was promoted."""
    days = recent[["unique_id", "ds", "promo"]].sort_values(["unique_id", "ds"])
    on = (days["promo"].fillna(0.0).to_numpy(dtype=float) > 0).astype(float)
    last = days["ds"].max()
    window = (days["ds"] > last - pd.Timedelta(days=window_days)).to_numpy()
    if not on[window].any():
        return None
    ids = days["unique_id"].astype(str).to_numpy()
    share = pd.Series(on[window]).groupby(ids[window]).mean()
    final = days.groupby("unique_id", observed=True)["ds"].transform("max").eq(days["ds"]).to_numpy()
    today = pd.Series(on[final], index=ids[final])
    return PromotionOutlook(share, today, _persistence(days, on))


def _persistence(days: pd.DataFrame, on: np.ndarray) -> float:
    """P(promoted | promoted the day before) - P(promoted | not), over consecutive days of each series."""
    same = days["unique_id"].to_numpy()[1:] == days["unique_id"].to_numpy()[:-1]
    next_day = (days["ds"].diff().dt.days == 1).to_numpy()[1:]
    pair = same & next_day
    before, after = on[:-1][pair], on[1:][pair]
    if not before.any() or before.all():
        return 0.0
    return float(np.clip(after[before == 1].mean() - after[before == 0].mean(), 0.0, 1.0))
