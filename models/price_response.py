"""How well elasticities hold up on weeks they were not fitted on: the pricing gate's metrics.

- `response_rmse` (the gate's, experiments/pricing.yaml): over consecutive held-out weeks whose log price
  moved, the root mean squared error of the change in log units predicted as elasticity x the change in
  log price (season and traffic move little from one week to the next).
- `response_rloss` (reported beside it): the R-learner's loss (Nie and Wager 2021). A ridge regression on
  the controls (season, holidays, trend, promotions, traffic, last week's units), per product and fitted
  on the weeks before the holdout only, predicts each held-out week's log units and log price; the score
  is the root mean squared error of the units' surprise against elasticity x the price's surprise.

A shop moves prices in reaction to demand, so either check can be fooled the way a naive regression is.
Measured against the truth on simulated shops (docs/pricing.md, "Judging elasticities"), the response
loss puts naive OLS clearly last with two years of history but crowned it on one year, where the
seasonal controls cannot be learnt; the week-to-week check picked the truly best method on all three
shops tried, by margins of a few thousandths. So the gate keeps the week-to-week check.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from spend.models.pricing import CONTROLS, LAG, MIN_MOVE

NUISANCE_ALPHA = 1.0  # ridge penalty on standardised controls: about a hundred weeks, ten controls


def response_rmse(table: pd.DataFrame, panel: pd.DataFrame, periods) -> float:
    """How well elasticities predict units where prices moved: over consecutive weeks in `periods` whose
    log price changed, the root mean squared error of the change in log units predicted as elasticity x
    the change in log price (season and traffic move little from one week to the next)."""
    frame = panel.sort_values(["product_id", "period"])
    step = frame.groupby("product_id")[["log_units", "log_price", "period"]].diff()
    moved = (step["period"] == 1) & (step["log_price"].abs() > MIN_MOVE) & frame["period"].isin(periods)
    slope = frame["product_id"].map(table.set_index("product_id")["elasticity"])
    error = (step["log_units"] - slope * step["log_price"])[moved & slope.notna()]
    return float(np.sqrt(np.mean(error**2))) if len(error) else float("nan")


def response_rloss(table: pd.DataFrame, panel: pd.DataFrame, fit_periods, periods, min_periods: int = 26) -> float:
    """The R-learner loss of the elasticities in `table` over the product weeks in `periods`, with the
    controls' predictions of log units and log price learnt per product on `fit_periods` (see the module
    docstring). Products with fewer than `min_periods` weeks to learn from (pricing.yaml's, as for an
    elasticity of their own), or no elasticity, are left out; NaN when none is left."""
    slope = table.set_index("product_id")["elasticity"]
    columns = [*CONTROLS, LAG]
    errors = []
    for product, rows in panel.groupby("product_id", sort=False):
        value = slope.get(product)
        fit_on, check_on = rows[rows["period"].isin(fit_periods)], rows[rows["period"].isin(periods)]
        if value is None or not np.isfinite(value) or len(fit_on) < min_periods or check_on.empty:
            continue
        units = _surprise(fit_on, check_on, columns, "log_units")
        price = _surprise(fit_on, check_on, columns, "log_price")
        errors.append(units - value * price)
    if not errors:
        return float("nan")
    return float(np.sqrt(np.mean(np.concatenate(errors) ** 2)))


def _surprise(fit_on: pd.DataFrame, check_on: pd.DataFrame, columns: list[str], target: str) -> np.ndarray:
    """What the controls do not predict of `target` on `check_on`, by a ridge learnt on `fit_on`."""
    model = make_pipeline(StandardScaler(), Ridge(alpha=NUISANCE_ALPHA))
    model.fit(fit_on[columns].to_numpy(dtype=float), fit_on[target].to_numpy(dtype=float))
    return check_on[target].to_numpy(dtype=float) - model.predict(check_on[columns].to_numpy(dtype=float))
