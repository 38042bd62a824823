"""Daily demand per product x store: one global LightGBM over every series, built with mlforecast.

Inputs per series and day: lags and rolling means of units (mlforecast's recursive strategy feeds each
model its own forecasts for the days ahead), calendar and holiday features, two static levels (the
product's mean daily units over its stores, and the store's over its products), the product's category
where the history carries the catalogue's (`use_categories`), and the promotion of the day as a
known-future input.

Prices (`price_effect`): a shop sets prices in reaction to demand (dearer in season, discounts on slow
movers), so trees that read the price learn those reasons, not the price's effect. "elasticity" (the
default) estimates each product's own-price elasticity on the same history with the pricing model's
estimator (models/pricing.py, `elasticity_method`), keeps the price out of the trees (they forecast at
the prices of late, which their lags carry), and multiplies every forecast by (day's price / last price)
^ elasticity: a planned price (`predict(plan=...)`) moves the forecast by the elasticity, a day without
a plan keeps the last price and the trees' forecast. "learned" feeds the trees `price_ratio`, the day's
price over the product's median training price, as an input (every model before 2026-12-05).

Quantiles (P10, P50, P90 by default) come from one of two methods (`intervals`, chosen by backtest):
- "quantile": one LightGBM per quantile with the pinball objective;
- "conformal": one point LightGBM (Poisson: counts with many zeros) and mlforecast's conformal
  intervals from its residuals on the last `conformal_windows` horizons of the training data.
Every row also carries the expected units (`mean`): the Poisson model's forecast. On intermittent
series the median sits far below the mean (most days sell nothing), and what is ordered, sold or
earned adds up means, not medians: replenishment and pricing read `mean`.

Stock-outs (`stockouts`, chosen by backtest): on a day that closed with an empty shelf, sales are a
lower bound on demand. "impute" replaces them by the larger of the sales and the series' mean over its
previous in-stock days (lags then see the imputed value too); "exclude" keeps the value as an input but
gives the day no weight as a target.

Series the model has not seen, or saw for fewer than `min_history_days` days (a new product or a new
store), get the category-level fallback: the product's mean forecast over the stores that sell it; for a
product new everywhere, the median forecast of its category's products in the store, where the history
carries the catalogue's `category` (the `products` table), else the store's median over all its
products; each row says which (`method`). The fallback is scaled toward the series' own mean over the
days it has (`OWN_PRIOR_DAYS`).

Launches (`fit(..., launches=)`): catalogued products without a sale, listed within the last
`min_history_days` days of the history or after it, are forecast in every store from their category's
products there, as a new product is: scaled down by each day listed without a sale, and zero before the
listing day ("not listed yet"). A product listed earlier that never sold is not on sale: it has no forecast.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from lightgbm import LGBMRegressor
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError

from spend.core.experiments import DemandConfig
from spend.core.registry import ModelSpec, ServingSpec
from spend.models.plain_state import PlainState, from_plain, to_plain
from spend.models.promotions import PromotionOutlook, promotion_outlook
from spend.models.replenishment import daily_mean

SEP = "\x1f"
HISTORY_COLUMNS = ("product_id", "store_id", "date", "units", "price", "promo", "stockout")
# A forecast day's chance of a promotion no plan gave, and the units one would add (models/promotions.py)
PROMO = ("promo_chance", "promo_lift")
INTERVALS = ("quantile", "conformal")
MIN_BASELINE_DAYS = 28  # a statsforecast baseline's shortest series; shorter ones get their mean
KEEP_LAST_DAYS = 60  # history kept with a fitted model: the longest lag (28) plus its 28-day window, and a margin
STOCKOUTS = ("impute", "exclude")
PRICE_EFFECTS = ("elasticity", "learned")
NO_PRICES = "no sale in the history has a price (daily totals of units alone)"
FRAME_COLUMNS = ["unique_id", "ds", "y", "price_ratio", "promo", "product_level", "store_level"]
BOUNDS = {
    "n_estimators": (50, 400),
    "learning_rate": (0.02, 0.2),
    "num_leaves": (7, 127),
    "min_child_samples": (20, 500),
}


def black_friday_weekend(dates: pd.DatetimeIndex) -> np.ndarray:
    """1 on the Friday of 22-28 November and the two days after it."""
    days, out = pd.DatetimeIndex(dates), np.zeros(len(dates), dtype=bool)
    for back in (0, 1, 2):
        d = days - pd.Timedelta(days=back)
        out |= np.asarray((d.month == 11) & (d.dayofweek == 4) & (d.day >= 22) & (d.day <= 28))
    return out.astype(np.int8)


def days_to_christmas(dates: pd.DatetimeIndex) -> np.ndarray:
    """Days until the next 25 December, capped at 60 (the run-up is what moves demand)."""
    christmas = pd.to_datetime({"year": dates.year, "month": 12, "day": 25})
    gap = (pd.DatetimeIndex(christmas) - pd.DatetimeIndex(dates)).days.to_numpy()
    gap = np.where(gap < 0, gap + 365, gap)
    return np.minimum(gap, 60).astype(np.int16)


def search_space(trial, bounds: dict | None = None) -> dict:
    from spend.models.boosting import capacity_space

    return capacity_space(trial, bounds, BOUNDS)


class DemandForecaster(BaseEstimator):
    def __init__(
        self,
        horizon: int = 28,
        quantiles: tuple[float, ...] = (0.1, 0.5, 0.9),
        intervals: str = "quantile",
        stockouts: str = "impute",
        lags: tuple[int, ...] = (1, 7, 14, 28),
        n_estimators: int = 150,
        learning_rate: float = 0.08,
        num_leaves: int = 63,
        min_child_samples: int = 100,
        min_history_days: int = 28,
        conformal_windows: int = 2,
        price_effect: str = "elasticity",
        elasticity_method: str = "ols_controls",
        use_categories: bool = True,
        random_state: int = 0,
    ) -> None:
        self.horizon = horizon
        self.quantiles = quantiles
        self.intervals = intervals
        self.stockouts = stockouts
        self.lags = lags
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.min_history_days = min_history_days
        self.conformal_windows = conformal_windows
        self.price_effect = price_effect
        self.elasticity_method = elasticity_method
        self.use_categories = use_categories
        self.random_state = random_state

    # ----- fit -----

    def fit(self, history: pd.DataFrame, y=None, launches: pd.DataFrame | None = None) -> DemandForecaster:
        """`history`: one row per product x store x day (HISTORY_COLUMNS; `promo` and `stockout` may be
        empty), zero-sale days included. `launches`: catalogued products without a sale (product_id,
        category, ds: the listing day), forecast from their category (module docstring)."""
        from mlforecast.utils import PredictionIntervals

        self._check_params()
        history = _checked(history)
        self.price_range_ = _price_range(history)
        self.categories_ = _categories(history)
        self.elasticity_, self.price_note_ = self._elasticities(history)
        frame = self._frame(history)
        lengths = frame.groupby("unique_id", observed=True).size()
        self.known_series_ = np.asarray(lengths.index[lengths >= self.min_history_days], dtype=object)
        frame = frame[frame["unique_id"].isin(self.known_series_)]
        if frame.empty:
            raise ValueError(f"no series has {self.min_history_days} days of history to learn from")
        self._check_learnable(frame)
        self._remember(frame)
        self.forecaster_ = self._mlforecast(self._models())
        weights = self.stockouts == "exclude"
        intervals = (
            PredictionIntervals(n_windows=self.conformal_windows, h=self.horizon)
            if self.intervals == "conformal"
            else None
        )
        self.forecaster_.fit(
            frame[self._columns() + (["weight"] if weights else [])],
            static_features=self._statics,
            weight_col="weight" if weights else None,
            prediction_intervals=intervals,
        )
        self.static_ = frame.drop_duplicates("unique_id").set_index("unique_id")[["product_id", "store_id"]]
        self.unlearned_ = _short_series(history, self.known_series_)
        self.launches_ = _recent_launches(launches, history, self.last_date_, self.min_history_days)
        return self

    def update(self, history: pd.DataFrame) -> DemandForecaster:
        """Move the forecast origin to the end of `history` without refitting: the lags and rolling
        windows read the newest sales, while the models, reference prices and levels stay as fitted (a
        weekly re-forecast costs a prediction, not a training). `history` (HISTORY_COLUMNS) must hold
        the last KEEP_LAST_DAYS days of every series the model learned. Series too short to learn are read
        again from it, as are the launches that have sold since: their own days scale their fallback."""
        if not hasattr(self, "forecaster_"):
            raise NotFittedError("DemandForecaster is not fitted")
        history = _checked(history)
        frame = self._frame(history, learn=False)
        frame = frame[frame["unique_id"].isin(self.known_series_)]
        absent = len(self.known_series_) - frame["unique_id"].nunique()
        if absent:
            raise ValueError(f"the update history lacks {absent} of the {len(self.known_series_)} learned series")
        self._remember(frame)
        self.forecaster_ = self._attached(self.forecaster_.models_, getattr(self.forecaster_, "_cs_df", None))
        if hasattr(self, "unlearned_"):  # a model fitted before 2026-12-06 keeps none
            self.unlearned_ = _short_series(history, self.known_series_)
        if getattr(self, "launches_", None) is not None:
            self.launches_ = self.launches_[~self.launches_["product_id"].isin(set(history["product_id"]))]
        return self

    def _remember(self, frame: pd.DataFrame) -> None:
        """The origin, the last price per product, the recent days the lags need and the promotion
        outlook they give (derived here once, not on each forecast: it reads every series)."""
        self.last_date_ = frame["ds"].max()
        self.last_price_ = frame.sort_values("ds").groupby("product_id")["price"].last()
        recent = frame[frame["ds"] > self.last_date_ - pd.Timedelta(days=KEEP_LAST_DAYS)]
        self.recent_ = recent[self._columns()].reset_index(drop=True)
        outlook = promotion_outlook(self.recent_)
        self.promo_share_ = outlook.share if outlook else pd.Series(dtype=float)
        self.promo_today_ = outlook.today if outlook else pd.Series(dtype=float)
        self.promo_persistence_ = outlook.persistence if outlook else 0.0

    def _outlook(self) -> PromotionOutlook | None:
        """The promotion outlook of the model's last day (None: nothing was promoted of late)."""
        if not hasattr(self, "promo_share_"):  # a model fitted before 2026-12-07 derives it now
            return promotion_outlook(self.recent_)
        if self.promo_share_.empty:
            return None
        return PromotionOutlook(self.promo_share_, self.promo_today_, self.promo_persistence_)

    def _check_learnable(self, frame: pd.DataFrame) -> None:
        """A clear error where LightGBM would stop with its own: mlforecast drops each series' first days,
        whose lags and rolling windows are not filled yet, and a Poisson model cannot start from no units
        at all (a short or silent history, e.g. a few months of a small shop)."""
        warm = warmup_days(self.lags)
        rows = frame[frame.groupby("unique_id", observed=True).cumcount() >= warm]
        if "weight" in rows:
            rows = rows[rows["weight"] > 0]
        if rows.empty:
            raise ValueError(
                f"no series has more than {warm} days of history: a series' first {warm} days fill its lags "
                "and rolling windows, so nothing is left to learn from"
            )
        if rows["y"].sum() <= 0:
            raise ValueError(
                f"no units sold after each series' first {warm} days (which fill its lags and rolling windows): "
                "nothing to learn a forecast from"
            )

    def _check_params(self) -> None:
        if self.intervals not in INTERVALS:
            raise ValueError(f"intervals must be one of {', '.join(INTERVALS)}, not {self.intervals!r}")
        if self.stockouts not in STOCKOUTS:
            raise ValueError(f"stockouts must be one of {', '.join(STOCKOUTS)}, not {self.stockouts!r}")
        if 0.5 not in self.quantiles or any(not 0 < q < 1 for q in self.quantiles):
            raise ValueError("quantiles must lie in (0, 1) and include 0.5")
        if self.price_effect not in PRICE_EFFECTS:
            raise ValueError(f"price_effect must be one of {', '.join(PRICE_EFFECTS)}, not {self.price_effect!r}")

    @property
    def _by_elasticity(self) -> bool:
        """Whether planned prices move the forecast by the elasticity (a model fitted before 2026-12-05 has
        no `price_effect`: its trees learned the price)."""
        return getattr(self, "price_effect", "learned") == "elasticity"

    def unpriced(self, products: list[str]) -> tuple[list[str], str]:
        """Which of `products` a planned price does not move, and why."""
        if not self._by_elasticity:
            return [], ""
        learned = set(self.static_["product_id"])
        moving = set(self.elasticity_[self.elasticity_ < 0].index) & learned
        still = [p for p in products if p not in moving]
        reasons = ["no price effect was estimated for them"] if any(p in learned for p in still) else []
        if any(p not in learned for p in still):  # forecast from related series (the fallback)
            reasons.append("too little history to forecast on their own")
        return still, " or ".join(reasons)

    def outside_prices(self, plan: pd.DataFrame) -> pd.DataFrame:
        """The planned products with a price outside those their history shows (`low`, `high`): the
        forecast reads such a price as the nearest one shown."""
        if not self._by_elasticity or plan.empty:  # the trees' price is a ratio to a reference: not this
            return pd.DataFrame(columns=["low", "high"])
        span = plan[["product_id"]].join(self.price_range_, on="product_id")
        price = plan["price"].to_numpy(dtype=float)
        beyond = (price < span["low"].to_numpy()) | (price > span["high"].to_numpy())
        return self.price_range_.loc[sorted(set(plan.loc[beyond, "product_id"].astype(str)))]

    def _columns(self) -> list[str]:
        """The frame's columns mlforecast sees: with the elasticity's price effect, no price input; with
        the catalogue's categories, each series' category as a static input."""
        columns = FRAME_COLUMNS if not self._by_elasticity else [c for c in FRAME_COLUMNS if c != "price_ratio"]
        return columns + (["category_code"] if self._by_category else [])

    @property
    def _by_category(self) -> bool:
        """Whether the history carried categories (a model fitted before 2026-12-06 has none)."""
        return len(getattr(self, "category_codes_", ())) > 0

    @property
    def _statics(self) -> list[str]:
        return ["product_level", "store_level"] + (["category_code"] if self._by_category else [])

    def _elasticities(self, history: pd.DataFrame) -> tuple[pd.Series, str | None]:
        """Each product's own-price elasticity (models/pricing.py, on the same history), or none and why.
        The shop sets prices in reaction to demand (dearer in season, discounts on slow movers), so trees
        that read the price learned its reasons instead: a planned cut lowered most products' forecasts
        (docs/demand.md, "Planned prices")."""
        from spend.models.pricing import ElasticityEstimator, product_days

        if not self._by_elasticity:
            return pd.Series(dtype=float), None
        if not history["price"].notna().any():
            return pd.Series(dtype=float), f"price effect: {NO_PRICES}; planned prices do not move the forecast"
        try:
            categories = self.categories_ if len(self.categories_) else None
            estimator = ElasticityEstimator(method=self.elasticity_method)
            table = estimator.fit(product_days(history), categories=categories).table_
        except ValueError as error:
            return pd.Series(dtype=float), f"price effect: {error}; planned prices do not move the forecast"
        # A rise that sells more is the shop's reason for the price again (a few products' estimates):
        # such a product's forecast does not move with its price.
        elasticity = table.set_index("product_id")["elasticity"].astype(float).clip(upper=0.0)
        return elasticity, _unpriced(table)

    def _models(self) -> dict:
        common = dict(
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            num_leaves=self.num_leaves,
            min_child_samples=self.min_child_samples,
            subsample=0.8,
            subsample_freq=1,
            colsample_bytree=0.8,
            random_state=self.random_state,
            verbosity=-1,
            n_jobs=2,
        )
        # Poisson: its leaves keep the sum of predictions equal to the sum of units; Tweedie's (power
        # 1.5) under-predicted sparse counts by a sixth in sample.
        mean = UnweightedLGBM(objective="poisson", **common)
        if self.intervals == "conformal":
            return {"point": mean}
        return {_qname(q): UnweightedLGBM(objective="quantile", alpha=q, **common) for q in self.quantiles} | {
            "mean": mean
        }

    def _frame(self, history: pd.DataFrame, learn: bool = True) -> pd.DataFrame:
        """mlforecast's long frame (ids, dates, the (imputed) target, known-future inputs, static levels);
        `learn`: learn the reference prices and levels from `history` (fit), else use the fitted ones."""
        frame = history.sort_values(["product_id", "store_id", "date"], kind="stable").reset_index(drop=True)
        frame["unique_id"] = frame["product_id"] + SEP + frame["store_id"]
        stockout = frame["stockout"].fillna(0).to_numpy() > 0
        frame["y"] = frame["units"].astype(float)
        if self.stockouts == "impute":
            frame["y"] = _imputed(frame, stockout)
        frame["weight"] = np.where(stockout, 0.0, 1.0)
        # Learned from this history on every fit: a refit must not keep an earlier fit's tables.
        if learn:
            self.reference_price_ = frame.groupby("product_id")["price"].median()
        frame["price_ratio"] = _ratio(frame, self.reference_price_)
        frame["promo"] = frame["promo"].fillna(0.0).astype(float)
        if learn:
            self.product_level_ = frame.groupby("product_id")["y"].mean()
            self.store_level_ = frame.groupby("store_id")["y"].mean()
            named = sorted(set(self.categories_)) if self.use_categories else []
            self.category_codes_ = pd.Series(np.arange(len(named), dtype=float), index=named)
        frame["product_level"] = frame["product_id"].map(self.product_level_).fillna(0.0).to_numpy()
        frame["store_level"] = frame["store_id"].map(self.store_level_).fillna(0.0).to_numpy()
        if self._by_category:  # a product the catalogue does not name: -1, a category of its own
            category = frame["product_id"].map(self.categories_).map(self.category_codes_)
            frame["category_code"] = category.fillna(-1.0).to_numpy()
        return frame.rename(columns={"date": "ds"})

    # ----- state -----
    # skops (the model registry's format: no pickle code runs on load) cannot store pandas objects or
    # mlforecast's internals, so the state is plain: the fitted LightGBM models, the recent history the
    # lags need, the conformal scores and the learned tables as arrays. Loading rebuilds mlforecast's
    # object by preprocessing that recent history and attaching the models.

    def __getstate__(self) -> dict:
        state = {k: to_plain(v) for k, v in self.__dict__.items() if k not in ("forecaster_", "recent_")}
        if "forecaster_" in self.__dict__:
            forecaster = self.forecaster_
            state["models_"] = dict(forecaster.models_)
            state["recent_"] = to_plain(self.recent_)
            scores = getattr(forecaster, "_cs_df", None)
            state["conformity_"] = None if scores is None else to_plain(scores)
        return state

    def __setstate__(self, state: dict) -> None:
        models, scores = state.pop("models_", None), state.pop("conformity_", None)
        self.__dict__.update({k: from_plain(v) for k, v in state.items()})
        if models is not None:
            self.forecaster_ = self._attached(models, None if scores is None else from_plain(scores))

    def _attached(self, models: dict, scores: pd.DataFrame | None):
        """mlforecast's object rebuilt from the recent history with fitted models (and conformal scores)."""
        forecaster = self._mlforecast(models)
        forecaster.preprocess(self.recent_, static_features=self._statics, keep_last_n=KEEP_LAST_DAYS)
        forecaster.models_ = models
        if scores is not None:
            from mlforecast.utils import PredictionIntervals

            forecaster._cs_df = scores
            forecaster.prediction_intervals = PredictionIntervals(n_windows=self.conformal_windows, h=self.horizon)
        return forecaster

    def _mlforecast(self, models: dict):
        from mlforecast import MLForecast

        return MLForecast(
            models=models,
            freq="D",
            lags=list(self.lags),
            lag_transforms=_lag_transforms(),
            date_features=["dayofweek", "month", "dayofyear", black_friday_weekend, days_to_christmas],
        )

    # ----- predict -----

    def predict(
        self,
        horizon: int | None = None,
        plan: pd.DataFrame | None = None,
        series: pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        """Quantile forecasts for the `horizon` days after the training data: one row per product, store
        and day (product_id, store_id, date, p10, p50, p90, ..., method). `plan`: planned prices
        (product_id, store_id or empty for every store, date, price, optional promo); other days keep
        the last price seen and no promotion. `series`: the product x store pairs to forecast (default:
        every series learned); pairs not learned get the category-level fallback. Rows of pairs given in
        `horizon`'s place are the series (MLflow's python_function flavor calls `predict(rows)`)."""
        if not hasattr(self, "forecaster_"):
            raise NotFittedError("DemandForecaster is not fitted")
        horizon, series = _series_given(horizon, series)
        horizon = self.horizon if horizon is None else int(horizon)
        if not 1 <= horizon <= self.horizon:
            raise ValueError(f"horizon must be between 1 and {self.horizon} days (the horizon trained for)")
        wanted = self._wanted(series)
        missing = wanted[~wanted["unique_id"].isin(self.known_series_)]
        # A series without history borrows from the learned series of its product or store: forecast
        # those too, and answer only what was asked.
        learned = self.static_.reset_index()
        kin = learned[learned["product_id"].isin(missing["product_id"]) | learned["store_id"].isin(missing["store_id"])]
        known = pd.concat([wanted[wanted["unique_id"].isin(self.known_series_)], kin]).drop_duplicates("unique_id")
        out = self._forecast(known, horizon, plan) if len(known) else pd.DataFrame()
        if len(missing):
            categories = getattr(self, "categories_", None)  # a model fitted before 2026-12-06 has none
            short = getattr(self, "unlearned_", None)
            launches = getattr(self, "launches_", None)
            if launches is not None and len(launches):
                categories, short = _with_launches(categories, short, launches, missing, self.last_date_)
            fallback = _fallback(out, missing, self.quantiles, horizon, self.last_date_, categories, short)
            promos = _planned(fallback, plan)
            if promos.notna().any() and len(known):
                fallback = self._promoted_fallback(fallback, promos, known, horizon, plan, missing, categories, short)
            names = [*(_qname(q) for q in self.quantiles), "mean"]
            out = pd.concat([out, _before_listing(fallback, launches, names)], ignore_index=True)
        out = out[out["unique_id"].isin(wanted["unique_id"]) | out["unique_id"].isna()]
        columns = ["product_id", "store_id", "date", *(_qname(q) for q in self.quantiles), "mean", *PROMO, "method"]
        out[list(PROMO)] = out.reindex(columns=list(PROMO)).fillna(0.0)  # a fallback row's chance is not its own
        return (
            out.rename(columns={"ds": "date"})[columns]
            .sort_values(["product_id", "store_id", "date"])
            .reset_index(drop=True)
        )

    def _forecast(self, known: pd.DataFrame, horizon: int, plan: pd.DataFrame | None) -> pd.DataFrame:
        """The forecast under the plan; a day whose promotion no plan gives is the mix of its forecast
        without and with one, weighted by the series' chance of a promotion (models/promotions.py)."""
        grid = self._future(known, horizon, plan)
        unplanned = grid["promo"].isna().to_numpy()
        outlook = self._outlook() if unplanned.any() else None
        chance = np.zeros(len(grid))
        if outlook is not None:
            ahead = (grid["ds"] - self.last_date_).dt.days.to_numpy()
            chance[unplanned] = outlook.chance(grid["unique_id"], ahead)[unplanned]
        low = self._scored(known, horizon, grid.assign(promo=grid["promo"].fillna(0.0)))
        if not (chance > 0).any():
            return low.assign(promo_chance=0.0, promo_lift=0.0)
        high = self._scored(known, horizon, grid.assign(promo=grid["promo"].fillna(1.0)))
        high = low[["unique_id", "ds"]].merge(high, on=["unique_id", "ds"], how="left")
        weight = low[["unique_id", "ds"]].merge(grid[["unique_id", "ds"]].assign(chance=chance), how="left")
        weight = weight["chance"].fillna(0.0).to_numpy()
        names = [*(_qname(q) for q in self.quantiles), "mean"]
        mixed = low.copy()
        # quantiles averaged (not the mixture's own: the replenishment adds the promotion's spread
        # over a cover period from promo_chance and promo_lift, as one uncertain level for its days)
        mixed[names] = (1 - weight)[:, None] * low[names].to_numpy() + weight[:, None] * high[names].to_numpy()
        lift = np.where(weight > 0, high["mean"].to_numpy() - low["mean"].to_numpy(), 0.0)
        return mixed.assign(promo_chance=weight, promo_lift=lift)

    def _promoted_fallback(self, fallback, promos: pd.Series, known, horizon: int, plan, missing, categories, short):
        """Fallback rows on days the plan promotes or not (a launch's promotion): borrowed from the related
        series' forecasts with and without a promotion, mixed by the planned value, instead of from their
        forecasts at their own chance of one."""
        grid = self._future(known, horizon, plan)
        low, high = (
            _fallback(
                self._scored(known, horizon, grid.assign(promo=value)),
                missing,
                self.quantiles,
                horizon,
                self.last_date_,
                categories,
                short,
            )
            for value in (0.0, 1.0)
        )
        names = [*(_qname(q) for q in self.quantiles), "mean"]
        planned = promos.notna().to_numpy()
        weight = promos.fillna(0.0).to_numpy(dtype=float)[:, None]
        mixed = (1 - weight) * low[names].to_numpy(dtype=float) + weight * high[names].to_numpy(dtype=float)
        fallback = fallback.copy()
        fallback.loc[planned, names] = mixed[planned]
        return fallback

    def _scored(self, known: pd.DataFrame, horizon: int, grid: pd.DataFrame) -> pd.DataFrame:
        future = grid[[c for c in self._columns() if c != "y" and c not in self._statics]]
        level = [int(round(100 * (max(self.quantiles) - min(self.quantiles))))]
        ids = known["unique_id"].tolist()
        if self.intervals == "conformal":
            raw = self.forecaster_.predict(horizon, X_df=future, ids=ids, level=level)
        else:
            raw = self._quantile_paths(horizon, future, ids)
        out = self._quantile_columns(raw, level[0])
        if self._by_elasticity:
            out = self._priced(out, grid)
        out = out.merge(self.static_, left_on="unique_id", right_index=True)
        out["method"] = "model"
        return out

    def _priced(self, out: pd.DataFrame, grid: pd.DataFrame) -> pd.DataFrame:
        """Every figure times (day's price / last price) ^ elasticity. The trees forecast at the prices of
        late (their lags carry the level those prices sold at); the elasticity moves that to a planned
        price. Days without a plan keep the last price: no change. A price outside those the history shows
        counts as the nearest one shown: the elasticity says nothing beyond them."""
        day = out[["unique_id", "ds"]].merge(grid[["unique_id", "ds", "product_id", "price"]], how="left")
        low = day["product_id"].map(self.price_range_["low"]).to_numpy(dtype=float)
        high = day["product_id"].map(self.price_range_["high"]).to_numpy(dtype=float)
        day["price"] = np.clip(day["price"].to_numpy(dtype=float), low, high)
        ratio = _ratio(day, self.last_price_)
        elasticity = day["product_id"].map(self.elasticity_).fillna(0.0).to_numpy(dtype=float)
        factor = np.where(ratio > 0, ratio**elasticity, 1.0)
        names = [_qname(q) for q in self.quantiles] + ["mean"]
        out[names] = out[names].to_numpy(dtype=float) * factor[:, None]
        return out

    def _quantile_paths(self, horizon: int, future: pd.DataFrame, ids: list[str]) -> pd.DataFrame:
        """Every quantile along the median's path: the median model runs recursively (its forecasts feed
        the lags of the days after), and each other quantile model scores the same features, step by
        step. Run recursively on its own forecasts, the P90 model fed its P90s back as lags and drifted
        up day after day (and the P10 down): 28 days ahead the intervals covered 93% of outcomes, and a
        replenishment policy on them held three times the stock (docs/demand.md)."""
        median = _qname(0.5)
        steps: list[pd.DataFrame] = []

        def record(features: pd.DataFrame) -> pd.DataFrame:
            steps.append(features)
            return features

        models = self.forecaster_.models_
        try:
            self.forecaster_.models_ = {median: models[median]}
            raw = self.forecaster_.predict(horizon, X_df=future, ids=ids, before_predict_callback=record)
            if "mean" in models:  # its own recursion: a mean's lags are means, not medians
                self.forecaster_.models_ = {"mean": models["mean"]}
                raw["mean"] = self.forecaster_.predict(horizon, X_df=future, ids=ids)["mean"].to_numpy()
        finally:
            self.forecaster_.models_ = models

        # steps[k] holds every series' features for day k, one row per series in raw's series order (raw
        # is series-major: each series' days in turn); the median rescored from them must match raw's.
        def path(q: float) -> np.ndarray:
            return np.column_stack([models[_qname(q)].predict(f) for f in steps]).reshape(-1)

        if not np.allclose(path(0.5), raw[median].to_numpy()):
            raise RuntimeError("mlforecast's step features are not in the order of its forecasts")
        for q in self.quantiles:
            if q != 0.5:
                raw[_qname(q)] = path(q)
        return raw

    def _wanted(self, series: pd.DataFrame | None) -> pd.DataFrame:
        if series is None:
            wanted = self.static_.reset_index()
        else:
            wanted = series[["product_id", "store_id"]].astype(str).drop_duplicates().reset_index(drop=True)
            wanted["unique_id"] = wanted["product_id"] + SEP + wanted["store_id"]
        return wanted

    def _future(self, known: pd.DataFrame, horizon: int, plan: pd.DataFrame | None) -> pd.DataFrame:
        dates = pd.date_range(self.last_date_ + pd.Timedelta(days=1), periods=horizon, freq="D")
        grid = known[["unique_id", "product_id", "store_id"]].merge(pd.DataFrame({"ds": dates}), how="cross")
        grid["price"] = grid["product_id"].map(self.last_price_)
        grid["promo"] = np.nan  # not planned: the outlook's chance (_forecast)
        if plan is not None and len(plan):
            grid = _apply_plan(grid, plan)
        grid["price_ratio"] = _ratio(grid, self.reference_price_)
        return grid[["unique_id", "ds", "product_id", "price", "price_ratio", "promo"]]

    def _quantile_columns(self, raw: pd.DataFrame, level: int) -> pd.DataFrame:
        out = raw[["unique_id", "ds"]].copy()
        if self.intervals == "conformal":
            point = raw["point"].to_numpy()
            lo, hi = raw[f"point-lo-{level}"].to_numpy(), raw[f"point-hi-{level}"].to_numpy()
            for q in self.quantiles:
                if q < 0.5:
                    out[_qname(q)] = lo if q == min(self.quantiles) else point - (point - lo) * (0.5 - q) / 0.4
                elif q > 0.5:
                    out[_qname(q)] = hi if q == max(self.quantiles) else point + (hi - point) * (q - 0.5) / 0.4
                else:
                    out[_qname(q)] = point
        else:
            for q in self.quantiles:
                out[_qname(q)] = raw[_qname(q)].to_numpy()
        names = [_qname(q) for q in self.quantiles]
        values = np.sort(np.clip(out[names].to_numpy(dtype=float), 0, None), axis=1)  # ordered, never negative
        out[names] = values
        if self.intervals == "conformal":
            out["mean"] = np.clip(raw["point"].to_numpy(dtype=float), 0, None)
        elif "mean" in raw.columns:
            out["mean"] = np.clip(raw["mean"].to_numpy(dtype=float), 0, None)
        else:  # a model registered before the mean model existed
            out["mean"] = daily_mean(out["p10"], out["p50"], out["p90"])
        return out


def _qname(q: float) -> str:
    return f"p{int(round(100 * q))}"


class UnweightedLGBM(LGBMRegressor):
    """LightGBM that leaves rows of weight 0 (stock-out days) out of its data instead of weighting them:
    where every other weight is 1 it then trains unweighted, and LightGBM's weighted quantile objective
    (a weighted percentile per leaf and tree) costs about twice the unweighted one. Rows of weight 0 teach
    nothing either way; they only shifted the histogram bins and counted towards min_child_samples."""

    def fit(self, X, y, sample_weight=None, **kwargs):
        if sample_weight is not None:
            weight = np.asarray(sample_weight, dtype=float)
            keep = weight > 0
            rows = X.iloc[keep] if hasattr(X, "iloc") else X[keep]
            X, y, weight = rows, np.asarray(y)[keep], weight[keep]
            sample_weight = None if np.all(weight == 1.0) else weight
        return super().fit(X, y, sample_weight=sample_weight, **kwargs)


def warmup_days(lags) -> int:
    """Days at the start of a series before every lag and rolling window has a value."""
    windows = [lag + t.window_size - 1 for lag, transforms in _lag_transforms().items() for t in transforms]
    return max([*lags, *windows])


def _lag_transforms() -> dict:
    from mlforecast.lag_transforms import RollingMean, RollingStd

    return {1: [RollingMean(7), RollingMean(28)], 7: [RollingMean(7), RollingMean(28), RollingStd(28)]}


def _checked(history: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in ("product_id", "store_id", "date", "units", "price") if c not in history.columns]
    if missing:
        raise ValueError(f"demand history lacks column(s) {', '.join(missing)}")
    frame = history.copy()
    for column in ("promo", "stockout"):
        if column not in frame.columns:
            frame[column] = np.nan
    frame["product_id"], frame["store_id"] = frame["product_id"].astype(str), frame["store_id"].astype(str)
    frame["date"] = pd.to_datetime(frame["date"]).dt.tz_localize(None).dt.normalize()
    if frame.duplicated(["product_id", "store_id", "date"]).any():
        raise ValueError("demand history has more than one row for a product, store and day")
    return frame


def _wanted_rows(out: pd.DataFrame, asked: pd.DataFrame) -> pd.DataFrame:
    """The rows of `out` whose product x store pair is in `asked`."""
    if out.empty:
        return out
    keys = ["product_id", "store_id"]
    found = out[keys].merge(asked[keys].drop_duplicates(), on=keys, how="left", indicator=True)["_merge"]
    return out[(found == "both").to_numpy()]


def _series_given(horizon, series):
    """(horizon, series) where rows of product x store pairs may come in the horizon's place: MLflow's
    python_function flavor (a registered model loaded with `mlflow.pyfunc.load_model`) calls `predict(rows)`."""
    return (None, horizon) if isinstance(horizon, pd.DataFrame) else (horizon, series)


def _categories(history: pd.DataFrame) -> pd.Series:
    """Each product's category, where `history` carries one (the catalogue's: features/compute/catalogue.py)."""
    if "category" not in history.columns:
        return pd.Series(dtype=object, name="category")
    named = history.dropna(subset=["category"]).drop_duplicates("product_id")
    return pd.Series(named["category"].astype(str).to_numpy(), index=named["product_id"].to_numpy(), name="category")


def _unpriced(table: pd.DataFrame) -> str | None:
    """One line on the products the estimator gave no elasticity (their planned prices move nothing)."""
    missing = table[table["elasticity"].isna()]
    if missing.empty:
        return None
    why = missing["note"].fillna("no estimate").value_counts().index[0]
    which = "no product" if len(missing) == len(table) else f"{len(missing)} of {len(table)} products"
    return f"price effect: {which} with an elasticity (e.g. {why}); their planned prices do not move the forecast"


def _price_range(history: pd.DataFrame) -> pd.DataFrame:
    """Each product's lowest and highest daily price in the history (`low`, `high`)."""
    prices = history.groupby("product_id")["price"]
    return pd.DataFrame({"low": prices.min(), "high": prices.max()}).astype(float)


def _imputed(frame: pd.DataFrame, stockout: np.ndarray) -> np.ndarray:
    """On stock-out days, the larger of sales and the mean of the series' previous in-stock days."""
    in_stock = frame["y"].where(~stockout)
    mean = in_stock.groupby(frame["unique_id"]).transform(lambda s: s.shift(1).rolling(28, min_periods=1).mean())
    y = frame["y"].to_numpy(dtype=float)
    return np.where(stockout, np.fmax(y, mean.fillna(0.0).to_numpy()), y)


def _ratio(frame: pd.DataFrame, reference: pd.Series) -> np.ndarray:
    ref = frame["product_id"].map(reference).to_numpy(dtype=float)
    price = frame["price"].to_numpy(dtype=float)
    ratio = np.divide(price, ref, out=np.full(len(price), np.nan), where=ref > 0)
    return np.where(np.isfinite(ratio), ratio, 1.0)


def _planned(rows: pd.DataFrame, plan: pd.DataFrame | None) -> pd.Series:
    """The plan's promotion (0 to 1) of each row (product_id, store_id, ds); NaN where it gives none."""
    if plan is None or plan.empty or "promo" not in plan.columns:
        return pd.Series(np.nan, index=rows.index)
    grid = rows[["product_id", "store_id", "ds"]].assign(price=np.nan, promo=np.nan).reset_index(drop=True)
    return pd.Series(_apply_plan(grid, plan)["promo"].to_numpy(dtype=float), index=rows.index)


def _apply_plan(grid: pd.DataFrame, plan: pd.DataFrame) -> pd.DataFrame:
    """Planned prices over the defaults: a store's own line wins over a line for every store."""
    plan = plan.copy()
    plan["ds"] = pd.to_datetime(plan["date"]).dt.tz_localize(None).dt.normalize()
    plan["product_id"] = plan["product_id"].astype(str)
    stores = plan["store_id"] if "store_id" in plan.columns else pd.Series(None, index=plan.index, dtype=object)
    promo = plan["promo"] if "promo" in plan.columns else pd.Series(np.nan, index=plan.index)
    price = plan["price"] if "price" in plan.columns else pd.Series(np.nan, index=plan.index)
    plan = plan.assign(store_id=stores, promo=promo, price=price)
    for general in (True, False):
        part = plan[plan["store_id"].isna() == general]
        keys = ["product_id", "ds"] if general else ["product_id", "store_id", "ds"]
        if part.empty:
            continue
        part = part.assign(store_id=part["store_id"].astype(str)) if not general else part
        merged = grid.merge(part[keys + ["price", "promo"]], on=keys, how="left", suffixes=("", "_plan"))
        grid["price"] = merged["price_plan"].fillna(merged["price"]).to_numpy()
        grid["promo"] = merged["promo_plan"].fillna(merged["promo"]).to_numpy()
    return grid


def _short_series(history: pd.DataFrame, learned) -> pd.DataFrame:
    """The product x store pairs of `history` too short to learn, with their days and mean daily units on
    the days whose shelf did not close empty (their own evidence, which the fallback is scaled by)."""
    ids = history["product_id"] + SEP + history["store_id"]
    short = history[~ids.isin(learned)]
    in_stock = short["units"].where(short["stockout"].fillna(0).to_numpy() <= 0)
    return (
        short.assign(units=in_stock)
        .groupby(["product_id", "store_id"], as_index=False, sort=True)
        .agg(days=("units", "count"), units=("units", "mean"))
    )


def _own_level(rows: pd.DataFrame, names: list[str], short: pd.DataFrame | None) -> pd.DataFrame:
    """The fallback's forecasts scaled toward each series' own mean over its few days: a Poisson-gamma
    update whose prior is the fallback's level, worth OWN_PRIOR_DAYS days."""
    if short is None or "days" not in short or rows.empty:
        return rows
    keys = ["product_id", "store_id"]
    prior = rows.groupby(keys, sort=False)["mean"].transform("mean").to_numpy()
    own = rows[keys].merge(short, on=keys, how="left")
    days, units = own["days"].fillna(0).to_numpy(dtype=float), own["units"].fillna(0).to_numpy(dtype=float)
    scaled = (days > 0) & (prior > 0)
    level = (days * units + OWN_PRIOR_DAYS * prior) / (days + OWN_PRIOR_DAYS)
    factor = np.where(scaled, level / np.where(prior > 0, prior, 1.0), 1.0)
    return rows.assign(**{n: rows[n].to_numpy() * factor for n in names})


def _recent_launches(launches, history: pd.DataFrame, last_date, window_days: int) -> pd.DataFrame:
    """The launches (product_id, category, ds) a forecast is given for: not in `history`, and listed
    within `window_days` before its last day or after it."""
    columns = ["product_id", "category", "ds"]
    if launches is None or len(launches) == 0:
        return pd.DataFrame({c: pd.Series(dtype="datetime64[ns]" if c == "ds" else object) for c in columns})
    rows = launches[columns].assign(product_id=launches["product_id"].astype(str), ds=pd.to_datetime(launches["ds"]))
    rows = rows[~rows["product_id"].isin(set(history["product_id"]))]
    return rows[rows["ds"] > last_date - pd.Timedelta(days=window_days)].reset_index(drop=True)


def _with_launches(categories, short, launches: pd.DataFrame, missing: pd.DataFrame, last_date):
    """The fallback's categories and own days with the launches': each launch pair's days on sale so far,
    all without a sale."""
    named = pd.Series(launches["category"].to_numpy(), index=launches["product_id"].to_numpy(), name="category")
    categories = named if categories is None or categories.empty else pd.concat([categories, named])
    pairs = missing[["product_id", "store_id"]].merge(launches[["product_id", "ds"]], on="product_id")
    days = ((last_date - pairs["ds"]).dt.days + 1).clip(lower=0)
    own = pairs[["product_id", "store_id"]].assign(days=days.to_numpy(), units=0.0)
    short = own if short is None or short.empty else pd.concat([short, own], ignore_index=True)
    return categories, short


def _before_listing(rows: pd.DataFrame, launches: pd.DataFrame | None, names: list[str]) -> pd.DataFrame:
    """A launch's days before its listing day: nothing on sale, nothing forecast."""
    if launches is None or rows.empty or len(launches) == 0:
        return rows
    listed = rows["product_id"].map(launches.set_index("product_id")["ds"])
    before = (rows["ds"] < listed).to_numpy()
    if not before.any():
        return rows
    rows = rows.copy()
    rows.loc[before, names] = 0.0
    rows.loc[before, "method"] = "not listed yet"
    return rows


# The fallback as a prior worth this many days of the series' own sales: a product's first week outweighs
# it, one day's zero does not set the forecast to zero (docs/demand.md has the measured choice).
OWN_PRIOR_DAYS = 3
FALLBACKS = ("product fallback", "category fallback", "store fallback")


def _fallback(
    out: pd.DataFrame,
    missing: pd.DataFrame,
    quantiles,
    horizon: int,
    last_date,
    categories: pd.Series | None = None,
    short: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The category-level fallback for series without their own history (module docstring), scaled by
    what the series sold on its own few days (`short`); zero when nothing related was learned. Each
    pair takes the first of its product's mean over the stores that sell it, its category's median in
    the store, the store's median, that has any forecast."""
    names = [_qname(q) for q in quantiles] + ["mean"]
    dates = pd.DataFrame({"ds": pd.date_range(last_date + pd.Timedelta(days=1), periods=horizon, freq="D")})
    out = out if len(out) else pd.DataFrame(columns=["product_id", "store_id", "ds", *names])
    categories = pd.Series(dtype=object) if categories is None else categories
    out = out.assign(category=out["product_id"].map(categories))
    tables = (
        (["product_id"], out.groupby(["product_id", "ds"], as_index=False)[names].mean()),
        (["category", "store_id"], out.groupby(["category", "store_id", "ds"], as_index=False)[names].median()),
        (["store_id"], out.groupby(["store_id", "ds"], as_index=False)[names].median()),
    )
    pairs = missing[["product_id", "store_id"]].drop_duplicates().reset_index(drop=True)
    pairs["category"] = pairs["product_id"].map(categories)
    grid = pairs.merge(dates, how="cross")  # each pair's days together, in the pairs' order
    method = np.full(len(pairs), "no history", dtype=object)
    values = np.zeros((len(grid), len(names)))
    for (keys, table), name in reversed(list(zip(tables, FALLBACKS, strict=True))):  # the first that has one wins
        has = pairs[keys].merge(table[keys].drop_duplicates(), how="left", indicator=True)["_merge"].eq("both")
        has = has.to_numpy()
        method[has] = name
        found = grid.merge(table, on=[*keys, "ds"], how="left")[names].fillna(0.0).to_numpy()
        values[np.repeat(has, horizon)] = found[np.repeat(has, horizon)]
    rows = grid[["product_id", "store_id", "ds"]].assign(**dict(zip(names, values.T, strict=True)))
    rows = _own_level(rows, names, short)
    return rows.assign(method=np.repeat(method, horizon), unique_id=None)


class BaselineForecaster(PlainState, BaseEstimator):
    """A statsforecast baseline behind the forecaster's interface, so the gate can serve it when it wins:
    `fit` keeps the series' last `history_days` of units (26 weeks: AutoETS takes about 0.075 s per
    series on a year, and its smoothing weighs recent weeks anyway), `predict` runs the method on them,
    on both cores. Planned prices are ignored: these methods have no inputs beyond the series. A pair
    without units in those weeks (a product new to a store) and a catalogued launch get the
    forecaster's fallback from the pairs these methods forecast (`_fallback`), as DemandForecaster's do."""

    def __init__(
        self, method: str = "SeasonalNaive", season_length: int = 7, horizon: int = 28, history_days: int = 182
    ) -> None:
        self.method = method
        self.season_length = season_length
        self.horizon = horizon
        self.history_days = history_days

    def fit(self, history: pd.DataFrame, y=None, launches: pd.DataFrame | None = None) -> BaselineForecaster:
        """`launches`: catalogued products without a sale (product_id, category, ds), forecast from their
        category's forecasts in each store, as DemandForecaster's are."""
        frame = _checked(history)
        self.last_date_ = frame["date"].max()
        self.categories_ = _categories(frame)
        self.launches_ = _recent_launches(launches, frame, self.last_date_, MIN_BASELINE_DAYS)
        frame = frame[frame["date"] > self.last_date_ - pd.Timedelta(days=self.history_days)]
        # statsforecast's ETS refuses a series shorter than its parameters need ("tiny datasets"): a series
        # with under four weeks gets its own mean on every day ahead instead.
        pairs = frame.drop_duplicates(["product_id", "store_id"])[["product_id", "store_id"]]
        self.static_ = pairs.set_index(pairs["product_id"] + SEP + pairs["store_id"]).rename_axis("unique_id")
        lengths = frame.groupby(["product_id", "store_id"])["date"].transform("size")
        short = frame[lengths < MIN_BASELINE_DAYS].groupby(["product_id", "store_id"], as_index=False)["units"]
        self.short_ = short.mean()
        frame = frame[lengths >= MIN_BASELINE_DAYS]
        self.series_ = pd.DataFrame(
            {
                "unique_id": frame["product_id"] + SEP + frame["store_id"],
                "ds": frame["date"],
                "y": frame["units"].astype(float),
            }
        )
        return self

    def unpriced(self, products: list[str]) -> tuple[list[str], str]:
        """Which of `products` a planned price does not move (all), and why."""
        return list(products), f"the served forecaster is the {self.method} baseline, which reads no prices"

    def update(self, history: pd.DataFrame) -> BaselineForecaster:
        """Move the origin to the end of `history`: these methods learn nothing but the series, so this is
        a fit, keeping the launches that have not sold since."""
        launches = getattr(self, "launches_", None)
        self.fit(history)
        if launches is not None:  # a model fitted before 2026-12-06 keeps none
            self.launches_ = launches[~launches["product_id"].isin(set(history["product_id"]))].reset_index(drop=True)
        return self

    def predict(self, horizon: int | None = None, plan=None, series: pd.DataFrame | None = None) -> pd.DataFrame:
        if not hasattr(self, "series_"):
            raise NotFittedError("BaselineForecaster is not fitted")
        horizon, series = _series_given(horizon, series)
        horizon = self.horizon if horizon is None else int(horizon)
        missing = self._unlearned(series)
        if missing.empty:
            return self._methods(horizon, series)
        # Forecast the learned pairs of the missing pairs' products and stores as well: the fallback
        # borrows from them. Then answer only what was asked.
        learned = self.static_.reset_index(drop=True)
        kin = learned[learned["product_id"].isin(missing["product_id"]) | learned["store_id"].isin(missing["store_id"])]
        asked = learned if series is None else series[["product_id", "store_id"]].astype(str)
        out = self._methods(horizon, pd.concat([asked, kin], ignore_index=True).drop_duplicates())
        return pd.concat([_wanted_rows(out, asked), self._fallback(out, missing, horizon)], ignore_index=True)

    def _unlearned(self, series: pd.DataFrame | None) -> pd.DataFrame:
        """The pairs asked for (by default: every learned one) that these methods have no units of."""
        if series is None:
            return pd.DataFrame(columns=["product_id", "store_id"])
        asked = series[["product_id", "store_id"]].astype(str).drop_duplicates()
        known = asked.merge(self.static_, on=["product_id", "store_id"], how="left", indicator=True)["_merge"]
        return asked[(known == "left_only").to_numpy()].reset_index(drop=True)

    def _fallback(self, out: pd.DataFrame, missing: pd.DataFrame, horizon: int) -> pd.DataFrame:
        """DemandForecaster's fallback over these methods' forecasts (its launches' zero days before listing)."""
        categories, short = getattr(self, "categories_", None), None
        launches = getattr(self, "launches_", None)
        if launches is not None and len(launches):
            categories, short = _with_launches(categories, short, launches, missing, self.last_date_)
        quantiles, names = (0.1, 0.5, 0.9), ["p10", "p50", "p90", "mean"]
        rows = _fallback(
            out.rename(columns={"date": "ds"}), missing, quantiles, horizon, self.last_date_, categories, short
        )
        rows = _before_listing(rows, launches, names)
        return rows.rename(columns={"ds": "date"})[["product_id", "store_id", "date", *names, "method"]]

    def _methods(self, horizon: int, series: pd.DataFrame | None) -> pd.DataFrame:
        """The method's forecasts of the learned pairs in `series` (default: every one)."""
        from statsforecast import StatsForecast
        from statsforecast import models as sf

        model = {
            "SeasonalNaive": lambda: sf.SeasonalNaive(season_length=self.season_length),
            "AutoETS": lambda: sf.AutoETS(season_length=self.season_length),
            "CrostonOptimized": lambda: sf.CrostonOptimized(),
        }[self.method]()
        data = self.series_
        if series is not None:
            wanted = series["product_id"].astype(str) + SEP + series["store_id"].astype(str)
            data = data[data["unique_id"].isin(set(wanted))]
        intervals = self.method != "CrostonOptimized"
        if data.empty:
            return self._short_series(horizon, series)
        out = StatsForecast(models=[model], freq="D", n_jobs=2).forecast(
            h=horizon, df=data, level=[80] if intervals else None
        )
        alias = str(model)
        point = out[alias].to_numpy(dtype=float)
        lo = out[f"{alias}-lo-80"].to_numpy(dtype=float) if intervals else point
        hi = out[f"{alias}-hi-80"].to_numpy(dtype=float) if intervals else point
        ids = out["unique_id"].astype(str).str.split(SEP, n=1, expand=True)
        values = np.sort(np.clip(np.column_stack([lo, point, hi]), 0, None), axis=1)
        frame = pd.DataFrame(
            {
                "product_id": ids[0].to_numpy(),
                "store_id": ids[1].to_numpy(),
                "date": out["ds"].to_numpy(),
                "p10": values[:, 0],
                "p50": values[:, 1],
                "p90": values[:, 2],
                "mean": np.clip(point, 0, None),
                "method": self.method,
            }
        )
        return pd.concat([frame, self._short_series(horizon, series)], ignore_index=True)

    def _short_series(self, horizon: int, series: pd.DataFrame | None) -> pd.DataFrame:
        short = self.short_
        if series is not None:
            wanted = series[["product_id", "store_id"]].astype(str).drop_duplicates()
            short = short.merge(wanted, on=["product_id", "store_id"])
        if short.empty:
            return pd.DataFrame()
        dates = pd.date_range(self.last_date_ + pd.Timedelta(days=1), periods=horizon, freq="D")
        rows = short.merge(pd.DataFrame({"date": dates}), how="cross")
        units = rows["units"]
        return rows.assign(p10=units, p50=units, p90=units, mean=units, method="series mean").drop(columns="units")


SPEC = ModelSpec(
    name="demand",
    summary="daily demand quantiles per product x store, with replenishment (mlforecast + LightGBM)",
    estimator=DemandForecaster,
    config=DemandConfig,
    feature_service="demand_v1",
    dataset="series_backtest",
    label="units",
    metrics=None,  # per rolling-origin window, against the baselines: the dataset strategy computes them
    metric_names=("wape", "mase", "bias", "pinball", "coverage_80"),
    gate_metric="wape",
    lower_is_better=frozenset({"wape", "mase", "pinball"}),
    predict=lambda model, X: model.predict(series=X),
    baselines={
        "seasonal_naive": lambda config: BaselineForecaster("SeasonalNaive", config.season_length),
        "auto_ets": lambda config: BaselineForecaster("AutoETS", config.season_length),
        "croston_optimized": lambda config: BaselineForecaster("CrostonOptimized", config.season_length),
    },
    search_space=search_space,
    serving=ServingSpec(
        roles=("supply-chain",),
        routes={"/v1/demand/forecast": "demand_forecast", "/v1/replenishment/suggest": "replenishment_suggest"},
        route_roles={"/v1/demand/forecast": ("supply-chain", "pricing-engine")},
    ),
)
