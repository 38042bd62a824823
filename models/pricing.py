"""Own-price elasticities per product, with confidence intervals, by double machine learning.

Shops set prices in reaction to demand (dearer in season, promotions when sales are slow), so a
regression of units on price mixes the price's effect with the reasons the price moved. Double machine
learning (econml's LinearDML, Chernozhukov et al. 2018) partials the controls out of both sides first:
two nuisance models (a ridge regression, then LightGBM on what it leaves: `RidgeThenBoosted`) predict
log units and log price from the controls, cross-fitted (each period's prediction comes from models
that did not see it), and the elasticity is the linear effect of the price residual on the units
residual, with a heteroskedasticity-robust interval.

- Panel: one row per product and period (`period_days`, default a week): units summed, the mean of the
  daily prices (not weighted by units: that weight is itself moved by the price), the share of days on
  promotion. Daily product counts are small (a median product sells a few units a day over every store)
  and log(1 + units) of small counts flattens elasticities by about mean / (1 + mean); a week's sum
  brings that under 5% for most products.
- Controls: yearly seasonality (two harmonics), Black Friday and the Christmas run-up, trend, promotion
  share and last period's log units.
- Cross-price effects: for declared substitutes, their log prices are further treatments beside the
  product's own.
- Shrinkage: estimates are pooled toward their category's mean by empirical Bayes (DerSimonian-Laird
  between-product variance); a noisy estimate moves most. A product with too little history or price
  variation gets its category's mean with the category's spread as its interval (`method`: category
  prior). The categories' means are pooled toward the shop's in turn, and the spread within categories
  is one figure from all of them (`_priors`). A category of fewer than three estimates, and products the
  catalogue does not name, are pooled toward the whole shop; without categories, the shop is one category.
- Beside DML, for comparison: `ols` (log units on log price) and `ols_controls` (plus the controls), both
  with Newey-West intervals.
- The shop's response (`shop_response`): how the shop's total units move when all its prices move
  together. A product's own elasticity holds the shop's traffic fixed, so the units it loses to a price
  rise partly go to the shop's other products; price quotes need both (models/price_quotes.py `Shop`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import NotFittedError

from spend.core.experiments import PricingConfig
from spend.core.registry import ModelSpec, ServingSpec
from spend.models.plain_state import PlainState

METHODS = ("dml", "ols", "ols_controls")
DAILY_COLUMNS = ("product_id", "date", "units", "price")
# The shop's own controls (season, holidays, trend, promotions); a product's also hold the shop's traffic.
SHOP_CONTROLS = (
    "season_sin",
    "season_cos",
    "season_sin2",
    "season_cos2",
    "black_friday",
    "christmas",
    "trend",
    "promo",
)
CONTROLS = (*SHOP_CONTROLS, "log_traffic")
LAG = "lag_log_units"
PRIOR = "category prior"
UNCATEGORISED = "uncategorised"  # a product the catalogue does not name: pooled toward the shop
WHOLE_SHOP = "all"  # the one category of a fit without a catalogue
RECENT_DAYS = 28  # a quote starts from the mean day of the last four weeks
MIN_MOVE = 0.005  # a week-to-week change in log price below this is no price move
COLUMNS = (
    "product_id",
    "elasticity",
    "ci_low",
    "ci_high",
    "se",
    "method",
    "n_days",
    "price_sd",
    "raw_elasticity",
    "raw_se",
    "note",
)


def product_days(history: pd.DataFrame) -> pd.DataFrame:
    """Per product and day over every store, from product x store days (product_id, store_id, date,
    units, price, promo, stockout): units, the day's price and promotion share. A store day that closed
    empty sold less than its demand: its units are left out and the day's units scaled up by the share
    of the product's sales that the stores still in stock usually make (at most 2x: a day with less
    than half its usual stores in stock counts what they sold, twice)."""
    frame = history.copy()
    out = frame["stockout"].fillna(0.0).to_numpy() > 0 if "stockout" in frame.columns else np.zeros(len(frame), bool)
    totals = frame.groupby(["product_id", "store_id"])["units"].transform("sum")
    share = totals / frame.groupby("product_id")["units"].transform("sum").where(lambda t: t > 0)
    frame["in_units"] = np.where(out, 0.0, frame["units"])
    frame["in_share"] = np.where(out, 0.0, share.fillna(0.0))
    day = frame.groupby(["product_id", "date"]).agg(
        in_units=("in_units", "sum"), in_share=("in_share", "sum"), price=("price", "first"), promo=("promo", "first")
    )
    day["units"] = day["in_units"] / day["in_share"].clip(lower=0.5)
    return day.reset_index()[["product_id", "date", "units", "price", "promo"]]


def weekly_panel(daily: pd.DataFrame, period_days: int = 7) -> pd.DataFrame:
    """Per product and whole period: units, price, promo share, log units and price, the controls."""
    from spend.models.demand import black_friday_weekend

    missing = [c for c in DAILY_COLUMNS if c not in daily.columns]
    if missing:
        raise ValueError(f"the price history lacks column(s) {', '.join(missing)}")
    frame = daily.copy()
    frame["date"] = pd.to_datetime(frame["date"]).dt.tz_localize(None).dt.normalize()
    if "promo" not in frame.columns:
        frame["promo"] = 0.0
    first = frame["date"].min()
    frame["period"] = (frame["date"] - first).dt.days // period_days
    dates = pd.DatetimeIndex(frame["date"])
    frame["black_friday"] = black_friday_weekend(dates)
    frame["christmas"] = ((dates.month == 12) & (dates.day <= 24)).astype(float)
    panel = (
        frame.groupby(["product_id", "period"])
        .agg(
            units=("units", "sum"),
            price=("price", "mean"),
            promo=("promo", "mean"),
            black_friday=("black_friday", "max"),
            christmas=("christmas", "mean"),
            days=("date", "nunique"),
            start=("date", "min"),
        )
        .reset_index()
    )
    panel = panel[(panel["days"] == period_days) & (panel["price"] > 0)].copy()
    angle = 2 * np.pi * (panel["start"].dt.dayofyear + period_days / 2) / 365.25
    panel["season_sin"], panel["season_cos"] = np.sin(angle), np.cos(angle)
    panel["season_sin2"], panel["season_cos2"] = np.sin(2 * angle), np.cos(2 * angle)
    panel["trend"] = panel["period"] * period_days / 365.25
    panel["log_units"] = np.log1p(panel["units"].astype(float))
    # The other products' units that period: the shop's traffic (holidays, weather, its own seasons), which
    # one product's price barely moves. Its own units left out: they are the outcome (with one product the
    # control was the outcome itself, and the elasticity 0 with no uncertainty; a big seller's was pulled
    # toward 0).
    total = panel.groupby("period")["units"].transform("sum")
    panel["log_traffic"] = np.log1p(total - panel["units"])
    panel["log_price"] = np.log(panel["price"].astype(float))
    panel = panel.sort_values(["product_id", "period"])
    previous = panel.groupby("product_id")["log_units"].shift(1)
    consecutive = panel.groupby("product_id")["period"].diff() == 1
    panel[LAG] = previous.where(consecutive)
    return panel.dropna(subset=[LAG]).reset_index(drop=True)


class ElasticityEstimator(PlainState, BaseEstimator):
    def __init__(
        self,
        method: str = "dml",
        period_days: int = 7,
        cv: int = 5,
        n_estimators: int = 100,
        learning_rate: float = 0.05,
        num_leaves: int = 4,
        min_child_samples: int = 15,
        alpha: float = 0.10,
        min_periods: int = 26,
        min_price_sd: float = 0.02,
        shrink: bool = True,
        random_state: int = 0,
    ) -> None:
        self.method = method
        self.period_days = period_days
        self.cv = cv
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.alpha = alpha
        self.min_periods = min_periods
        self.min_price_sd = min_price_sd
        self.shrink = shrink
        self.random_state = random_state

    def fit(
        self,
        daily: pd.DataFrame,
        y=None,
        categories: pd.Series | None = None,
        substitutes: pd.DataFrame | None = None,
        progress=None,
    ) -> ElasticityEstimator:
        """`daily`: product_id, date, units (over every store), price (the day's net unit price), promo
        (share on promotion, optional). `categories`: category per product_id (optional). `substitutes`:
        product_id, substitute_id pairs whose cross effects to estimate (optional). `progress(done, total)`
        is called after each product."""
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, not {self.method!r}")
        panel = weekly_panel(daily, self.period_days)
        if panel.empty:
            raise ValueError(f"no product has two whole periods of {self.period_days} days to learn from")
        prices = panel.pivot(index="period", columns="product_id", values="log_price")
        pairs = _pairs(substitutes)
        own, cross = [], []
        total = panel["product_id"].nunique()
        for done, (row, effects) in enumerate(self._each_product(panel, prices, pairs), start=1):
            own.append(row)
            cross += effects
            if progress is not None:
                progress(done, total)
        table = pd.DataFrame(own)
        groups = (
            pd.Series(WHOLE_SHOP, index=table["product_id"])
            if categories is None
            else categories.reindex(table["product_id"]).fillna(UNCATEGORISED)
        )
        self.table_ = _shrunk(table, groups.to_numpy(), self.alpha, self.shrink)[list(COLUMNS)]
        self.cross_ = pd.DataFrame(
            cross, columns=["product_id", "substitute_id", "cross_elasticity", "ci_low", "ci_high", "method"]
        )
        self.categories_ = groups
        self.shop_response_ = shop_response(panel, self.alpha, self.min_periods)
        dates = pd.to_datetime(daily["date"])
        recent = daily[dates > dates.max() - pd.Timedelta(days=RECENT_DAYS)]
        self.recent_ = recent.groupby("product_id").agg(units=("units", "mean"), price=("price", "last"))
        self.span_ = (dates.min().date().isoformat(), dates.max().date().isoformat())  # the days learnt from
        return self

    def quote_inputs(self) -> pd.DataFrame:
        """Per product: elasticity, interval and mean daily units over the last RECENT_DAYS days, what a
        price quote starts from (models/price_quotes.py)."""
        table = self.elasticities()[["product_id", "elasticity", "ci_low", "ci_high"]]
        return table.merge(self.recent_["units"], left_on="product_id", right_index=True)

    def shop(self):
        """The shop around any quote (models/price_quotes.py `Shop`): its mean daily units over every
        product over the last RECENT_DAYS days, and its response to all prices moving together; None
        where that response could not be estimated (or the model predates it): each product's lost
        units are then taken to leave the shop. The response is held between the products' own
        elasticities' mean (weighted by their recent units: every lost unit leaves the shop) and 0 (every
        lost unit stays): beyond the mean, raising one price would drive shoppers away from the others
        too, which a confounded index (bulk orders at lower unit prices) suggests more often than shops
        show it."""
        from spend.models.price_quotes import Shop

        response = getattr(self, "shop_response_", None)
        if response is None or response["elasticity"] is None:
            return None
        table = self.table_.set_index("product_id")["elasticity"]
        units = self.recent_["units"].reindex(table.index).fillna(0.0).to_numpy()
        mean = float(np.average(table, weights=units)) if units.sum() > 0 else float(table.mean())
        return Shop(units=float(self.recent_["units"].sum()), elasticity=min(max(response["elasticity"], mean), 0.0))

    def predict(self, X) -> pd.DataFrame:
        """The elasticities of the products in `X` (rows with a product_id, or ids): what the gate scores
        and MLflow's python_function flavor answers."""
        return self.elasticities(X["product_id"] if isinstance(X, pd.DataFrame) else X)

    def elasticities(self, products=None) -> pd.DataFrame:
        if not hasattr(self, "table_"):
            raise NotFittedError("ElasticityEstimator is not fitted")
        table = self.table_
        return table if products is None else table[table["product_id"].isin(list(products))].reset_index(drop=True)

    # ----- one product -----

    def _each_product(self, panel: pd.DataFrame, prices: pd.DataFrame, pairs: dict):
        """Each product's (row, cross effects), in product order. Double machine learning cross-fits ten
        boosters per product, one core each: on a shop of thousands of products the products are shared
        among the machine's cores (each product's fit is seeded, so the answer is the same either way)."""
        tasks = []
        for product, frame in panel.groupby("product_id", sort=True):
            others = [s for s in pairs.get(product, []) if s in prices.columns]
            tasks.append((product, frame, prices.loc[frame["period"], others].to_numpy(), others))
        workers = _workers(len(tasks)) if self.method == "dml" else 1
        if workers == 1:
            return (self._one(*task) for task in tasks)
        from joblib import Parallel, delayed

        run = Parallel(n_jobs=workers, return_as="generator", batch_size=16)
        return run(delayed(self._one)(*task) for task in tasks)

    def _one(self, product, frame: pd.DataFrame, substitute_prices: np.ndarray, others: list[str]):
        n_days = len(frame) * self.period_days
        price_sd = float(frame["log_price"].std()) if len(frame) > 1 else 0.0
        row = {"product_id": product, "n_days": n_days, "price_sd": price_sd, "method": self.method, "note": ""}
        if len(frame) < self.min_periods:
            return row | {"raw_elasticity": np.nan, "raw_se": np.nan, "note": f"only {n_days} days"}, []
        if price_sd < self.min_price_sd:
            note = f"too little price variation (sd of log price {price_sd:.3f})"
            return row | {"raw_elasticity": np.nan, "raw_se": np.nan, "note": note}, []
        treatments = np.column_stack([frame["log_price"].to_numpy(), substitute_prices])
        keep = np.isfinite(treatments).all(axis=1)
        y, t = frame["log_units"].to_numpy()[keep], treatments[keep]
        controls = frame[[*CONTROLS, LAG]].to_numpy(dtype=float)[keep]
        controls = controls[:, controls.std(axis=0) > 0]  # a constant control (no promotions) says nothing
        effect, se = self._effects(y, t, controls)
        z = norm.ppf(1 - self.alpha / 2)
        cross = [
            (
                product,
                o,
                float(effect[k + 1]),
                float(effect[k + 1] - z * se[k + 1]),
                float(effect[k + 1] + z * se[k + 1]),
                self.method,
            )
            for k, o in enumerate(others)
        ]
        return row | {"raw_elasticity": float(effect[0]), "raw_se": float(se[0])}, cross

    def _effects(self, y: np.ndarray, t: np.ndarray, controls: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.method == "dml":
            return self._dml(y, t, controls)
        import statsmodels.api as sm

        x = t if self.method == "ols" else np.column_stack([t, controls])
        fit = sm.OLS(y, sm.add_constant(x, has_constant="add")).fit(cov_type="HAC", cov_kwds={"maxlags": 4})
        width = t.shape[1]
        return np.asarray(fit.params)[1 : 1 + width], np.asarray(fit.bse)[1 : 1 + width]

    def _dml(self, y: np.ndarray, t: np.ndarray, controls: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from econml.dml import LinearDML
        from sklearn.model_selection import KFold
        from sklearn.multioutput import MultiOutputRegressor

        def nuisance():
            return RidgeThenBoosted(
                n_estimators=self.n_estimators,
                learning_rate=self.learning_rate,
                num_leaves=self.num_leaves,
                min_child_samples=self.min_child_samples,
                random_state=self.random_state,
            )

        model_t = nuisance() if t.shape[1] == 1 else MultiOutputRegressor(nuisance())
        dml = LinearDML(
            model_y=nuisance(),
            model_t=model_t,
            cv=KFold(self.cv, shuffle=True, random_state=self.random_state),
            random_state=self.random_state,
        )
        dml.fit(y, t if t.shape[1] > 1 else t[:, 0], X=None, W=controls)
        effect = np.atleast_1d(dml.intercept_).astype(float)
        return effect, np.atleast_1d(dml.intercept__inference().stderr).astype(float)


class RidgeThenBoosted(RegressorMixin, BaseEstimator):
    """DML's nuisance model: a ridge regression on the controls, then LightGBM on what it leaves. With
    about a hundred weekly rows per product, trees alone shrink the smooth seasonal confounding toward
    the mean and leave it in the residuals DML regresses (docs/pricing.md has the figures); the ridge
    takes the smooth part and the trees what is not linear."""

    def __init__(
        self,
        n_estimators: int = 100,
        learning_rate: float = 0.05,
        num_leaves: int = 4,
        min_child_samples: int = 15,
        random_state: int = 0,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.random_state = random_state

    def fit(self, X, y) -> RidgeThenBoosted:
        from lightgbm import LGBMRegressor
        from sklearn.linear_model import RidgeCV

        self.ridge_ = RidgeCV(alphas=np.logspace(-3, 3, 13)).fit(X, y)
        self.trees_ = LGBMRegressor(
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            num_leaves=self.num_leaves,
            min_child_samples=self.min_child_samples,
            random_state=self.random_state,
            verbose=-1,
            n_jobs=1,
        ).fit(X, y - self.ridge_.predict(X))
        return self

    def predict(self, X) -> np.ndarray:
        return self.ridge_.predict(X) + self.trees_.predict(X)


def shop_response(panel: pd.DataFrame, alpha: float = 0.10, min_periods: int = 26) -> dict:
    """How the shop's total units respond when all its prices move together: per period, log total units
    on a price index (each product's log price against its median, weighted by the product's units over
    the history), with the seasonal controls, promotion share and last period's log total; OLS with a
    Newey-West interval. One series of a hundred-odd weeks: cross-fitted nuisances (DML) would have too
    few rows to learn from. Returns elasticity, ci_low, ci_high, se, periods, note (None and why where
    it cannot be estimated)."""
    import statsmodels.api as sm

    weight = panel.groupby("product_id")["units"].transform("sum")
    relative = panel["log_price"] - panel.groupby("product_id")["log_price"].transform("median")
    frame = panel.assign(weighted=relative * weight, weight=weight)
    periods = frame.groupby("period").agg(
        weighted=("weighted", "sum"),
        weight=("weight", "sum"),
        units=("units", "sum"),
        **{c: (c, "mean") for c in SHOP_CONTROLS},
    )
    periods = periods[(periods["units"] > 0) & (periods["weight"] > 0)]
    periods["index"] = periods["weighted"] / periods["weight"]
    periods["log_units"] = np.log(periods["units"].astype(float))
    consecutive = pd.Series(periods.index, index=periods.index).diff() == 1
    periods["lag"] = periods["log_units"].shift(1).where(consecutive)
    periods = periods.dropna(subset=["lag"])
    none = {"elasticity": None, "ci_low": None, "ci_high": None, "se": None, "periods": len(periods)}
    if len(periods) < min_periods:
        return none | {"note": f"only {len(periods)} periods"}
    if periods["index"].std() < MIN_MOVE:
        return none | {"note": "the shop's prices never moved together"}
    controls = periods[[*SHOP_CONTROLS, "lag"]]
    controls = controls.loc[:, controls.std() > 0]
    x = sm.add_constant(np.column_stack([periods["index"], controls]), has_constant="add")
    fit = sm.OLS(periods["log_units"].to_numpy(), x).fit(cov_type="HAC", cov_kwds={"maxlags": 4})
    effect, se, z = float(fit.params[1]), float(fit.bse[1]), norm.ppf(1 - alpha / 2)
    return {
        "elasticity": effect,
        "ci_low": float(effect - z * se),
        "ci_high": float(effect + z * se),
        "se": se,
        "periods": len(periods),
        "note": "",
    }


PARALLEL_FROM = 64  # products: below it, starting worker processes costs more than it saves


def _workers(tasks: int) -> int:
    """Processes for `tasks` products: the cores this process may use (joblib counts CPU quotas too; at most
    4), or 1 for a few products."""
    from joblib import cpu_count

    return 1 if tasks < PARALLEL_FROM else max(1, min(cpu_count(), 4))


def _pairs(substitutes: pd.DataFrame | None) -> dict[str, list[str]]:
    if substitutes is None or substitutes.empty:
        return {}
    return substitutes.groupby("product_id")["substitute_id"].apply(list).to_dict()


def _shrunk(table: pd.DataFrame, groups: np.ndarray, alpha: float, shrink: bool) -> pd.DataFrame:
    """Estimates pooled toward their category's mean (empirical Bayes), and a category prior where a
    product has none. A category with fewer than three estimates to learn from is pooled toward the whole
    shop's instead; a shop with fewer than three, not at all."""
    out = table.copy()
    z = norm.ppf(1 - alpha / 2)
    out["elasticity"], out["se"] = out["raw_elasticity"], out["raw_se"]
    theta_all, se_all = out["raw_elasticity"].to_numpy(), out["raw_se"].to_numpy()
    known_all = np.isfinite(theta_all) & np.isfinite(se_all) & (se_all > 0)
    categories, shop = _priors(theta_all, se_all, known_all, groups)
    for group in np.unique(groups):
        rows = np.flatnonzero(groups == group)
        theta, se, known = theta_all[rows], se_all[rows], known_all[rows]
        prior = categories.get(group, shop)
        if prior is None:  # too few to learn from anywhere: the products' own figures only
            continue
        mean, mean_se, tau2 = prior
        if shrink:
            if tau2 > 0:
                precision = 1 / se[known] ** 2 + 1 / tau2
                pulled, spread = (theta[known] / se[known] ** 2 + mean / tau2) / precision, np.sqrt(1 / precision)
            else:  # no spread between products: every one is the category's mean
                pulled, spread = mean, mean_se
            out.loc[out.index[rows[known]], "elasticity"] = pulled
            out.loc[out.index[rows[known]], "se"] = spread
        unknown = out.index[rows[~known]]
        out.loc[unknown, "elasticity"] = mean
        out.loc[unknown, "se"] = np.sqrt(tau2 + mean_se**2)
        out.loc[unknown, "method"] = PRIOR
    out["ci_low"] = out["elasticity"] - z * out["se"]
    out["ci_high"] = out["elasticity"] + z * out["se"]
    return out


def _priors(theta: np.ndarray, se: np.ndarray, known: np.ndarray, groups: np.ndarray) -> tuple[dict, tuple | None]:
    """({category: (mean, its standard error, between-product variance)} for categories of at least three
    estimates, the shop's own). Category means are themselves pooled toward the shop's by the spread
    between categories; where they do not differ beyond their noise (a catalogue's departments that
    respond alike), every category takes the shop's prior, whose spread is learnt from every product."""
    shop = _random_effects(theta[known], se[known]) if known.sum() >= 3 else None
    own, sizes = {}, {}
    for group in np.unique(groups):
        rows = known & (groups == group)
        if group != UNCATEGORISED and rows.sum() >= 3:
            own[group], sizes[group] = _random_effects(theta[rows], se[rows]), rows.sum()
    if len(own) < 2:
        return own, shop
    means, mean_ses = np.array([p[0] for p in own.values()]), np.array([p[1] for p in own.values()])
    grand, _, between = _random_effects(means, mean_ses)
    if between == 0:  # the categories' means do not differ beyond their noise: the shop is the prior
        return {}, shop
    # One spread within categories, from all of them: a category of twenty products estimates its own
    # spread too roughly (too small a spread pulls every product to the mean and its interval misses).
    within = float(np.average([p[2] for p in own.values()], weights=[sizes[g] - 1 for g in own]))
    pooled = {}
    for group, (mean, mean_se, _) in own.items():
        precision = 1 / mean_se**2 + 1 / between
        pooled[group] = ((mean / mean_se**2 + grand / between) / precision, np.sqrt(1 / precision), within)
    return pooled, shop


def _random_effects(theta: np.ndarray, se: np.ndarray) -> tuple[float, float, float]:
    """DerSimonian-Laird: the category's mean, its standard error and the between-product variance."""
    w = 1 / se**2
    fixed = np.sum(w * theta) / w.sum()
    q = np.sum(w * (theta - fixed) ** 2)
    tau2 = max(0.0, (q - (len(theta) - 1)) / (w.sum() - np.sum(w**2) / w.sum()))
    w_re = 1 / (se**2 + tau2)
    return float(np.sum(w_re * theta) / w_re.sum()), float(np.sqrt(1 / w_re.sum())), float(tau2)


def search_space(trial, bounds: dict | None = None) -> dict:
    from spend.models.boosting import capacity_space

    return capacity_space(
        trial,
        bounds,
        {"n_estimators": (30, 300), "learning_rate": (0.01, 0.2), "num_leaves": (2, 15), "min_child_samples": (5, 40)},
    )


SPEC = ModelSpec(
    name="pricing",
    summary="own- and cross-price elasticities with intervals (double machine learning), and price quotes",
    estimator=ElasticityEstimator,
    config=PricingConfig,
    feature_service="pricing_v1",
    dataset="price_panel",
    label="units",
    metrics=None,  # on the holdout weeks, by the dataset strategy (models/price_response.py)
    metric_names=("response_rmse", "response_rloss", "significant_share"),
    gate_metric="response_rmse",
    lower_is_better=frozenset({"response_rloss", "response_rmse"}),
    # X: product ids, or a frame of them (the run's input example)
    predict=lambda model, X: model.predict(X),
    baselines={
        "ols_controls": lambda config: ElasticityEstimator(method="ols_controls", period_days=config.period_days),
        "ols": lambda config: ElasticityEstimator(method="ols", period_days=config.period_days),
    },
    search_space=search_space,
    serving=ServingSpec(roles=("pricing-engine",), routes={"/v1/price/quote": "price_quote"}),
)
