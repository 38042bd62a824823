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

from dataclasses import dataclass
from functools import cached_property

import pandas as pd
from sklearn.base import clone

from spend.core.errors import SpendError
from spend.core.experiments import PricingConfig
from spend.core.registry import ModelSpec
from spend.core.settings import SpendSettings
from spend.training.datasets import Evaluation
from spend.training.plots import elasticity_figure

STEPS = ("panel", "holdout", "register")


@dataclass
class Panel:
    daily: pd.DataFrame  # product_id, date, units, price, promo
    skipped: str | None  # what this history could not give the estimator, in one line


def read_panel(settings: SpendSettings, as_of=None) -> Panel:
    """Per product and day over every store (models/pricing.py's product_days of the demand history)."""
    from spend.models.pricing import product_days
    from spend.training.datasets.series_backtest import read_history

    series = read_history(settings, as_of)
    return Panel(product_days(series.history), series.skipped)


def prepare(settings: SpendSettings, spec: ModelSpec, config: PricingConfig, as_of=None) -> Panel:
    return read_panel(settings, as_of)


def _cut(config: PricingConfig, data: Panel) -> pd.Timestamp:
    """The last day fitted on: holdout_weeks whole periods before the history's end."""
    last = pd.to_datetime(data.daily["date"]).max()
    cut = last - pd.Timedelta(days=config.holdout_weeks * config.period_days)
    if (cut - pd.to_datetime(data.daily["date"]).min()).days < config.min_periods * config.period_days:
        raise SpendError(
            f"pricing needs {config.min_periods} periods of {config.period_days} days before a holdout of "
            f"{config.holdout_weeks}: the history is too short"
        )
    return cut


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

    daily = split.data.daily
    table = make().fit(daily[pd.to_datetime(daily["date"]) <= split.cut]).elasticities()
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
    contenders = {name: make().fit(data.daily) for name, make in scorers.items()}
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


def champion_metrics(spec: ModelSpec, config: PricingConfig, data: Panel, model) -> dict[str, float]:
    """The champion's settings refitted before the same holdout."""
    return _judge(Holdout(config, data), lambda: clone(model))


def objective(spec: ModelSpec, config: PricingConfig, data: Panel):
    """The gate's metric on the weeks before the holdout (the holdout is never tuned on)."""
    earlier = Holdout(config, Panel(data.daily[pd.to_datetime(data.daily["date"]) <= _cut(config, data)], data.skipped))

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
