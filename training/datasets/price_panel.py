"""Weekly product panels from the demand snapshots (every store summed; product x store days that closed
empty left out and made up for: models/pricing.py's product_days), judged on the last weeks.

Each estimator (the DML candidate and the OLS baselines) is fitted on the days before the holdout and
judged on the holdout weeks by `response_rmse` (models/price_response.py): how well its elasticities
predict the week-to-week change in units where the price moved. `response_rloss` (each week's price
surprise against its units' surprise, the controls' predictions taken out of both) is reported beside
it. The contenders the gate chooses from are refitted on the whole history, so a served elasticity uses
every week.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import pandas as pd
from sklearn.base import clone

from spend.core.errors import SpendError
from spend.core.experiments import PricingConfig
from spend.core.registry import ModelSpec
from spend.core.settings import SpendSettings
from spend.features.compute.catalogue import Catalogue
from spend.training.datasets import Evaluation
from spend.training.plots import elasticity_figure

STEPS = ("panel", "holdout", "register")


@dataclass
class Panel:
    daily: pd.DataFrame  # product_id, date, units, price, promo
    skipped: str | None  # what this history could not give the estimator, in one line
    catalogue: Catalogue = field(default_factory=lambda: Catalogue.of(pd.DataFrame()))

    def fit(self, estimator, until: pd.Timestamp | None = None, progress=None):
        """`estimator` fitted on the days up to `until` (every day by default), pooled by the catalogue's
        categories, with cross-price effects of its substitute groups."""
        daily = self.daily if until is None else self.daily[pd.to_datetime(self.daily["date"]) <= until]
        shelf = self.catalogue
        return estimator.fit(daily, categories=shelf.categories, substitutes=shelf.substitutes, progress=progress)


def read_panel(settings: SpendSettings, as_of=None) -> Panel:
    """Per product and day over every store (models/pricing.py's product_days of the demand history)."""
    from spend.models.demand import NO_PRICES
    from spend.models.pricing import product_days
    from spend.training.datasets.series_backtest import read_history

    series = read_history(settings, as_of)
    if not series.history["price"].notna().any():
        raise SpendError(
            f"pricing needs prices: {NO_PRICES}; ingest the sales with their prices (a report's sales amount "
            "is read as a price with --line-totals)"
        )
    shelf = series.catalogue
    skipped = "; ".join(n for n in (series.skipped, shelf.note) if n) or None
    return Panel(product_days(series.history), skipped, shelf)


def prepare(settings: SpendSettings, spec: ModelSpec, config: PricingConfig, as_of=None) -> Panel:
    return read_panel(settings, as_of)


def _cut(config: PricingConfig, data: Panel) -> pd.Timestamp:
    """The last day fitted on: holdout_weeks whole periods before the history's end. At least one product
    must have min_periods whole periods before it (every other product's elasticity is shrunk toward those
    that do); otherwise the error names the most any has and the flags that fit this history."""
    cut = _cut_at(data, config.holdout_weeks, config.period_days)
    most = _most_periods(data, [config.holdout_weeks], config.period_days)[0]
    if most < config.min_periods:
        raise SpendError(
            f"pricing needs a product with {config.min_periods} whole periods of {config.period_days} days "
            f"before a holdout of {config.holdout_weeks}: the history is too short (the most any product has "
            f"is {most}){_shorter(config, data)}"
        )
    return cut


def _cut_at(data: Panel, holdout: int, period_days: int) -> pd.Timestamp:
    return pd.to_datetime(data.daily["date"]).max() - pd.Timedelta(days=holdout * period_days)


def _most_periods(data: Panel, holdouts: list[int], period_days: int) -> list[int]:
    """For each holdout, the most whole periods any product has before it, as the estimator counts them
    when fitted there (periods run from the history's first day, so one panel up to the latest cut holds
    every earlier cut's whole periods)."""
    from spend.models.pricing import weekly_panel

    cuts = [_cut_at(data, h, period_days) for h in holdouts]
    before = data.daily[pd.to_datetime(data.daily["date"]) <= max(cuts)]
    if before.empty:
        return [0] * len(cuts)
    panel = weekly_panel(before, period_days)
    ends = panel["start"] + pd.Timedelta(days=period_days - 1)
    counts = [panel.loc[ends <= cut, "product_id"].value_counts() for cut in cuts]
    return [int(c.max()) if len(c) else 0 for c in counts]


def _shorter(config: PricingConfig, data: Panel) -> str:
    """The flags that fit this history: the longest holdout that leaves a product min_periods periods,
    else the shortest holdout with the most periods it leaves (PricingConfig's lowest bounds: a holdout
    of 4, 8 periods to fit on); where even those do not fit, what is needed."""
    lowest_holdout, lowest_fit = 4, 8
    holdouts = list(range(config.holdout_weeks - 1, lowest_holdout - 1, -1)) or [lowest_holdout]
    mosts = _most_periods(data, holdouts, config.period_days)
    for holdout, most in zip(holdouts, mosts, strict=True):
        if most >= config.min_periods:
            return f": --set holdout_weeks={holdout}"
    most = mosts[-1]
    if most < lowest_fit:
        return f"; a product needs at least {lowest_fit} before a holdout of {lowest_holdout} (the most is {most})"
    return f": --set holdout_weeks={lowest_holdout} --set min_periods={most}"


def build(spec: ModelSpec, config: PricingConfig, params: dict):
    fixed = {"period_days": config.period_days, "alpha": config.alpha, "min_periods": config.min_periods}
    return spec.estimator(**(fixed | params))


def _scorers(spec: ModelSpec, config: PricingConfig, params: dict) -> dict:
    out = {"spend": lambda: build(spec, config, params)}
    return out | {name: (lambda f=spec.baselines[name]: f(config)) for name in config.baselines}


@dataclass
class Holdout:
    """A panel split at the holdout: the weeks fitted on and the weeks judged, shared by every estimator
    judged on it (the response loss's ridge surprises do not depend on the estimator)."""

    config: PricingConfig
    data: Panel

    @cached_property
    def cut(self) -> pd.Timestamp:
        return _cut(self.config, self.data)

    @cached_property
    def panel(self) -> pd.DataFrame:
        from spend.models.pricing import weekly_panel

        return weekly_panel(self.data.daily, self.config.period_days)

    @cached_property
    def weeks(self) -> tuple:
        held = self.panel["start"] > self.cut
        return self.panel.loc[~held, "period"].unique(), self.panel.loc[held, "period"].unique()

    @cached_property
    def surprises(self) -> pd.DataFrame:
        from spend.models.price_response import surprises

        return surprises(self.panel, *self.weeks, self.config.min_periods)


def _judge(split: Holdout, make) -> dict[str, float]:
    from spend.models.price_response import response_rloss, response_rmse

    table = split.data.fit(make(), until=split.cut).elasticities()
    before, holdout = split.weeks
    return {
        "response_rloss": response_rloss(
            table, split.panel, before, holdout, split.config.min_periods, held=split.surprises
        ),
        "response_rmse": response_rmse(table, split.panel, holdout),
        "significant_share": float((table["ci_high"] < 0).mean()),
    }


def evaluate(spec: ModelSpec, config: PricingConfig, data: Panel, params: dict) -> Evaluation:
    scorers = _scorers(spec, config, params)
    split = Holdout(config, data)
    table = pd.DataFrame({name: _judge(split, make) for name, make in scorers.items()}).T
    if (config.gate.metric or spec.gate_metric) == "response_rmse" and table["response_rmse"].isna().all():
        raise SpendError(_unjudged(split))
    contenders = {name: data.fit(make()) for name, make in scorers.items()}
    details = {
        "products": int(data.daily["product_id"].nunique()),
        "holdout_from": split.cut.date().isoformat(),
        "skipped": data.skipped,
        # How the shop's total units move when all prices move together (price quotes share units by it).
        "shop_response": {
            k: (round(v, 4) if isinstance(v, float) else v) for k, v in contenders["spend"].shop_response_.items()
        },
    }
    products = data.daily[["product_id"]].drop_duplicates().head(5).reset_index(drop=True)
    return Evaluation(
        table[list(spec.metric_names)].astype(float),
        dict(params),
        {},
        {},
        details,
        contenders,
        example=products,
        figures={"elasticities.png": lambda: elasticity_figure(contenders["spend"].elasticities())},
    )


def _unjudged(split: Holdout) -> str:
    """Why the week-to-week check judged no estimator, in the shop's terms."""
    from spend.models.price_response import moved_weeks

    before, holdout = split.weeks
    where = f"the holdout's {len(holdout)} weeks from {split.cut.date().isoformat()}"
    if moved_weeks(split.panel, holdout) == 0:
        why = f"no product's price moved from one week to the next in {where}"
    else:
        why = (
            f"no product whose price moved in {where} has an elasticity from the weeks before (its price barely moved)"
        )
    return (
        f"train pricing: {why}, so the gate cannot judge any estimator, and nothing was registered; "
        "`spend elasticity` and `spend price-quote` fit on the whole history without a champion. "
        "A longer holdout (--set holdout_weeks=N) that reaches back to a price change, with price changes "
        "before it too, gives the gate something to judge"
    )


def champion_metrics(spec: ModelSpec, config: PricingConfig, data: Panel, model) -> dict[str, float]:
    """The champion's settings refitted before the same holdout."""
    return _judge(Holdout(config, data), lambda: clone(model))


def objective(spec: ModelSpec, config: PricingConfig, data: Panel):
    """The gate's metric on the weeks before the holdout (the holdout is never tuned on)."""
    before = data.daily[pd.to_datetime(data.daily["date"]) <= _cut(config, data)]
    earlier = Holdout(config, Panel(before, data.skipped, data.catalogue))

    def score(trial) -> float:
        params = spec.search_space(trial, config.search_space)
        return _judge(earlier, lambda: build(spec, config, params))[config.gate.metric]

    return score


def score(settings: SpendSettings, spec: ModelSpec, as_of=None, **_) -> tuple[pd.DataFrame, dict]:
    """The champion's elasticities (`spend score pricing`)."""
    from spend.core.model_store import ModelStore

    model, version = ModelStore(settings).load(spec.name, feature_service=spec.feature_service)
    table = model.elasticities()
    return table, {"model": f"{spec.name} v{version.version}", "products": len(table)}
