"""The stored decision of a fraud scorer: a score threshold from an alert budget on validation payments."""

from __future__ import annotations

import numpy as np
import pandas as pd


class AlertThreshold:
    """The stored decision: a score threshold from an alert budget on validation payments."""

    def set_alert_budget(
        self, X: pd.DataFrame, days: np.ndarray, alerts_per_day: int, max_share: float = 1.0
    ) -> AlertThreshold:
        """Threshold such that, on these (validation) payments, no day raises more than `alerts_per_day`
        alerts nor more than `max_share` of its payments (rounded up): a shop with fewer payments a day
        than the analysts' capacity must not alert on every one."""
        scores = pd.Series(self.predict_proba(X))
        kept = []
        for _, day in scores.groupby(np.asarray(days)):
            allowed = min(alerts_per_day, int(np.ceil(max_share * len(day))))
            ranked = np.sort(day.to_numpy())[::-1]
            if allowed < len(ranked):  # the score of the first payment past the budget must not alert
                kept.append(float(ranked[allowed]))
        self.threshold_ = float(np.nextafter(max(kept), np.inf)) if kept else 0.0
        self.alerts_per_day_ = int(alerts_per_day)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """1 = raise an alert (score at or above the stored threshold; 0.5 before a budget is set)."""
        return (self.predict_proba(X) >= getattr(self, "threshold_", 0.5)).astype(int)
