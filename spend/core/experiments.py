"""Experiment configurations: the YAML schemas models declare in their specs, and the loader.

A model's YAML is experiments/<name>.yaml (shipped as spend.experiments), or the same file in the
folder SPEND_EXPERIMENTS names, which is looked in first. It is validated strictly: an unknown key, a
wrong type or an impossible value is an error that names it; the gate metric and the baselines must be
the model's own (spend.core.registry checks them against the spec).
"""

from __future__ import annotations

import os
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from spend.core.errors import SpendError
from spend.core.files import load_yaml, user_text, yaml_problem


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LabelConfig(Strict):
    horizon_days: int = Field(90, ge=7, le=730)


class SplitConfig(Strict):
    train_cutoffs: int = Field(3, ge=1, le=24)
    step_days: int = Field(30, ge=1, le=365)
    seasonal: bool = True  # training cut-offs a year before the holdout when the history allows


class GateConfig(Strict):
    metric: str | None = None  # None: the spec's gate metric
    min_improvement: float = Field(0.0, ge=0.0)


class MonitorConfig(Strict):
    """When today's inputs have drifted too far from the model's training inputs (`spend monitor`, and
    the gate before every promotion); docs/monitoring.md."""

    psi: float = Field(0.25, gt=0.0)  # a feature's population stability index above this
    missing_change: float = Field(0.10, gt=0.0, le=1.0)  # a feature's missing share up by more than this
    out_of_range: float = Field(0.05, gt=0.0, le=1.0)  # share of values outside the training range
    min_quality: float = Field(80.0, ge=0.0, le=100.0)  # a table's overall data-quality score below this
    live_drop: float = Field(0.05, ge=0.0)  # realised gate metric worse than the holdout's by more than this
    # A feature's PSI and range limits are at least this multiple of how far it moved between the
    # training inputs and the holdout on its own (seasons, a young shop ageing), scaled by how much
    # further from the training inputs today is than the holdout was: docs/monitoring.md.
    natural_multiplier: float = Field(1.5, ge=1.0)
    # A drift this many times past its limit also blocks promotion; below that it is flagged only.
    block_factor: float = Field(2.0, ge=1.0)


class ExperimentConfig(Strict):
    """What every model's YAML has: its name, baselines, gate, booster parameters and search bounds."""

    model: str
    baselines: tuple[str, ...] = ()
    gate: GateConfig = GateConfig()
    monitor: MonitorConfig = MonitorConfig()
    params: dict[str, float | int | str] = Field(default_factory=dict)
    search_space: dict[str, tuple[float, float]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _bounds_are_ordered(self) -> ExperimentConfig:
        for name, (low, high) in self.search_space.items():
            if not low < high:
                raise ValueError(f"search_space.{name}: lower bound {low} must be below upper bound {high}")
        return self


class CohortConfig(ExperimentConfig):
    """Customer models trained on point-in-time cohorts (churn, clv)."""

    label: LabelConfig = LabelConfig()
    splits: SplitConfig = SplitConfig()


class ProtocolConfig(Strict):
    """The Handbook's protocol: train a week, wait out the feedback delay, test a week."""

    train_start: date | None = None  # None: the latest week whose test labels are all known
    train_days: int = Field(7, ge=1, le=90)
    delay_days: int = Field(7, ge=0, le=60)
    test_days: int = Field(7, ge=1, le=90)
    validation_folds: int = Field(4, ge=1, le=12)
    top_k: int = Field(100, ge=1)
    # With train_start unset, training and test windows grow by whole multiples of train_days/test_days
    # until a training window holds about this many frauds (a small shop's week holds a handful); 0: never.
    min_train_frauds: int = Field(20, ge=0)


class FraudConfig(ExperimentConfig):
    protocol: ProtocolConfig = ProtocolConfig()
    alerts_per_day: int = Field(100, ge=1)  # the analysts' daily capacity: sets the stored threshold
    # ... and at most this share of a day's payments, so a small shop is not alerted on every payment
    max_alert_share: float = Field(0.02, gt=0, le=1)
    imbalance: tuple[str, ...] = ("none", "sqrt", "balanced")
    # Weights of a random forest blended with the booster (0: the booster alone), chosen by prequential
    # validation after the imbalance handling (models/fraud.py).
    forest_weights: tuple[float, ...] = (0.0,)

    @field_validator("forest_weights")
    @classmethod
    def _weights_in_range(cls, weights: tuple[float, ...]) -> tuple[float, ...]:
        bad = [w for w in weights if not 0 <= w < 1]
        if not weights or bad:
            raise ValueError(f"forest_weights: each at least 0 and below 1, and at least one (got {list(weights)})")
        return weights


class BacktestConfig(Strict):
    """Rolling-origin backtest: `windows` forecasts of the horizon, the last ending on the history's last
    day, each origin `step_days` (default: the horizon) before the next."""

    windows: int = Field(3, ge=1, le=12)
    step_days: int | None = Field(None, ge=1, le=365)


class DemandConfig(ExperimentConfig):
    """The demand forecaster: horizon, backtest, the choices the backtest makes, training window."""

    horizon_days: int = Field(28, ge=1, le=182)
    max_horizon_days: int = Field(91, ge=1, le=365)  # the longest horizon `spend forecast` accepts
    history_days: int = Field(730, ge=56, le=3650)  # training days before each origin (speed)
    season_length: int = Field(7, ge=1, le=366)  # the baselines' and MASE's season: weekly
    backtest: BacktestConfig = BacktestConfig()
    intervals: Literal["quantile", "conformal"] = "quantile"  # chosen by benchmarks/demand.py's variants
    stockouts: Literal["impute", "exclude"] = "exclude"  # chosen by benchmarks/demand.py's variants

    @model_validator(mode="after")
    def _horizons(self) -> DemandConfig:
        if self.horizon_days > self.max_horizon_days:
            raise ValueError(f"horizon_days {self.horizon_days} exceeds max_horizon_days {self.max_horizon_days}")
        return self


class PricingConfig(ExperimentConfig):
    """Price elasticities: the weekly panel, the intervals, the holdout the estimators are judged on."""

    period_days: int = Field(7, ge=1, le=31)  # units summed per product over this many days
    holdout_weeks: int = Field(13, ge=4, le=52)  # the last periods, kept out of fitting, to judge on
    alpha: float = Field(0.10, gt=0.0, lt=0.5)  # 1 - the intervals' coverage
    min_periods: int = Field(26, ge=8, le=520)  # fewer: the category prior


class OfferConfig(Strict):
    """One offer and what it costs the shop when it is used (docs/offers.md)."""

    kind: Literal["coupon", "points", "shipping"]
    # coupon: percent off every order in the window; points: the points multiplier on those orders;
    # shipping: the fee the shop pays per order in the window.
    value: float = Field(gt=0.0)

    @model_validator(mode="after")
    def _value_fits_kind(self) -> OfferConfig:
        if self.kind == "coupon" and self.value >= 100:
            raise ValueError(f"a coupon's value is a percent below 100, not {self.value}")
        if self.kind == "points" and self.value <= 1:
            raise ValueError(f"a points offer's value is a multiplier above 1, not {self.value}")
        return self


class OffersConfig(ExperimentConfig):
    """Offer targeting: the offers, how their effects are judged, and the rules an assignment keeps."""

    offers: dict[str, OfferConfig]
    learner: Literal["dr", "x", "t"] = "x"  # econml learner of the effects, chosen in docs/offers.md
    window_days: int = Field(30, ge=1, le=180)  # an offer's outcome: what the member buys in this window
    contact_days: int = Field(30, ge=0, le=365)  # at most one offer per member in this many days
    point_value: float = Field(0.01, gt=0.0)  # currency per point, before the ledger's redemption rate
    holdout_share: float = Field(0.3, gt=0.05, lt=0.8)  # of the campaign, to judge policies on
    alpha: float = Field(0.10, gt=0.0, lt=0.5)  # 1 - the policy values' interval coverage

    @model_validator(mode="after")
    def _offers_named(self) -> OffersConfig:
        if not self.offers:
            raise ValueError("offers: name at least one offer")
        if "control" in self.offers or "none" in self.offers:
            raise ValueError("offers: 'control' and 'none' are not offer names")
        return self


def folders() -> list[Path]:
    """Where experiment YAMLs are looked for, first match wins: SPEND_EXPERIMENTS, then the shipped ones."""
    shipped = Path(str(resources.files("spend.experiments")))
    extra = os.environ.get("SPEND_EXPERIMENTS")
    return ([Path(extra)] if extra else []) + [shipped]


def read_config(
    name: str, schema: type[ExperimentConfig], path: Path | None = None, overrides: tuple[str, ...] = ()
) -> ExperimentConfig:
    """experiments/<name>.yaml (or `path`, a user's copy), with `overrides` ("key.sub=value", the value
    read as YAML) applied, validated by `schema`; an error names the file, the key and the problem."""
    option = "--config"
    if path is None:
        path = next((folder / f"{name}.yaml" for folder in folders() if (folder / f"{name}.yaml").is_file()), None)
        if path is None:
            looked = ", ".join(str(folder) for folder in folders())
            raise SpendError(f"model {name!r} has no {name}.yaml (looked in {looked})")
        option = str(path.parent)
    raw = load_yaml(user_text(path, option), path.name) or {}
    raw = apply_overrides(raw, overrides)
    try:
        config = schema.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        source = path.name + (" with --set" if overrides else "")
        raise SpendError(f"{source}: {where}: {first['msg']}") from error
    if config.model != name:
        raise SpendError(f"{path.name}: model: {config.model!r} must be {name!r}, the model trained")
    return config


def apply_overrides(raw: dict, overrides: tuple[str, ...]) -> dict:
    """`raw` with each "a.b=value" set (the value parsed as YAML: 90 is a number, [1, 2] a list)."""
    out = dict(raw)
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise SpendError(f"--set: {item!r} must be KEY=VALUE (e.g. label.horizon_days=90)")
        parts = key.strip().split(".")
        node = out
        for part in parts[:-1]:
            child = node.get(part)
            node[part] = dict(child) if isinstance(child, dict) else {}
            node = node[part]
        try:
            node[parts[-1]] = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise SpendError(f"--set: the value of {key} is not YAML: {yaml_problem(error)}") from error
    return out
