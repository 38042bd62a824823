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

from spend.models.pricing import CONTROLS, LAG, MIN_MOVE

NUISANCE_ALPHA = 1.0  # ridge penalty on standardised controls: about a hundred weeks, ten controls


def response_rmse(table: pd.DataFrame, panel: pd.DataFrame, periods) -> float:
    """How well elasticities predict units where prices moved: over consecutive weeks in `periods` whose
    log price changed, the root mean squared error of the change in log units predicted as elasticity x
    the change in log price (season and traffic move little from one week to the next)."""
    frame, step, moved = _steps(panel, periods)
    slope = frame["product_id"].map(table.set_index("product_id")["elasticity"])
    error = (step["log_units"] - slope * step["log_price"])[moved & slope.notna()]
    return float(np.sqrt(np.mean(error**2))) if len(error) else float("nan")


def moved_weeks(panel: pd.DataFrame, periods) -> int:
    """How many product weeks in `periods` moved their price from the week before: what `response_rmse`
    is computed on."""
    return int(_steps(panel, periods)[2].sum())


def _steps(panel: pd.DataFrame, periods) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """(the panel by product and week, each week's change from the one before, where the price moved)."""
    frame = panel.sort_values(["product_id", "period"])
    step = frame.groupby("product_id")[["log_units", "log_price", "period"]].diff()
    moved = (step["period"] == 1) & (step["log_price"].abs() > MIN_MOVE) & frame["period"].isin(periods)
    return frame, step, moved


def response_rloss(
    table: pd.DataFrame,
    panel: pd.DataFrame,
    fit_periods,
    periods,
    min_periods: int = 26,
    held: pd.DataFrame | None = None,
) -> float:
    """The R-learner loss of the elasticities in `table` over the product weeks in `periods`, with the
    controls' predictions of log units and log price learnt per product on `fit_periods` (see the module
    docstring). Products with fewer than `min_periods` weeks to learn from (pricing.yaml's, as for an
    elasticity of their own), or no elasticity, are left out; NaN when none is left. `held`: the same
    panel's `surprises`, when several tables are judged on it (they do not depend on the table)."""
    held = surprises(panel, fit_periods, periods, min_periods) if held is None else held
    slope = held["product_id"].map(table.set_index("product_id")["elasticity"]).astype(float)
    known = np.isfinite(slope)
    if not known.any():
        return float("nan")
    errors = held["units"][known] - slope[known] * held["price"][known]
    return float(np.sqrt(np.mean(errors**2)))


def surprises(panel: pd.DataFrame, fit_periods, periods, min_periods: int = 26) -> pd.DataFrame:
    """Per product with `min_periods` weeks in `fit_periods`: each week in `periods`, what the controls do
    not predict of its log units (`units`) and log price (`price`), by a ridge learnt on its weeks before."""
    columns = [*CONTROLS, LAG]
    parts = []
    for product, rows in panel.groupby("product_id", sort=False):
        fit_on, check_on = rows[rows["period"].isin(fit_periods)], rows[rows["period"].isin(periods)]
        if len(fit_on) < min_periods or check_on.empty:
            continue
        left = _ridge_residuals(
            fit_on[columns].to_numpy(dtype=float),
            fit_on[TARGETS].to_numpy(dtype=float),
            check_on[columns].to_numpy(dtype=float),
            check_on[TARGETS].to_numpy(dtype=float),
        )
        parts.append(pd.DataFrame({"product_id": product, "units": left[:, 0], "price": left[:, 1]}))
    if not parts:
        return pd.DataFrame({"product_id": pd.Series([], dtype=object), "units": [], "price": []})
    return pd.concat(parts, ignore_index=True)


TARGETS = ["log_units", "log_price"]


def _ridge_residuals(x: np.ndarray, y: np.ndarray, x_new: np.ndarray, y_new: np.ndarray) -> np.ndarray:
    """y_new less a ridge's prediction (NUISANCE_ALPHA, inputs standardised on `x`, an intercept), learnt
    on (x, y) for each column of y: what scikit-learn's StandardScaler + Ridge give, in one solve for both
    targets (that pipeline, fitted per product and target, was most of `spend train pricing`)."""
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale < 10 * np.finfo(float).eps] = 1.0  # a constant control, as StandardScaler leaves it
    z, z_new = (x - mean) / scale, (x_new - mean) / scale
    z_mean, y_mean = z.mean(axis=0), y.mean(axis=0)
    centred = z - z_mean
    gram = centred.T @ centred + NUISANCE_ALPHA * np.eye(z.shape[1])
    weights = np.linalg.solve(gram, centred.T @ (y - y_mean))
    return y_new - ((z_new - z_mean) @ weights + y_mean)
