"""Per-model training configuration from experiments/<model>.yaml, validated strictly: an unknown key,
a wrong type or an impossible value is an error that names it."""

from __future__ import annotations

from datetime import date
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from spend.core.errors import SpendError

EXPERIMENTS = Path(str(resources.files("spend.experiments")))


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LabelConfig(Strict):
    horizon_days: int = Field(90, ge=7, le=730)


class SplitConfig(Strict):
    train_cutoffs: int = Field(3, ge=1, le=24)
    step_days: int = Field(30, ge=1, le=365)
    seasonal: bool = True  # training cut-offs a year before the holdout when the history allows


class GateConfig(Strict):
    metric: Literal["auc", "average_precision", "brier", "mae", "rmse", "spearman", "card_precision_at_100"] = (
        "average_precision"
    )
    min_improvement: float = Field(0.0, ge=0.0)


class TrainingConfig(Strict):
    model: str
    feature_service: str
    label: LabelConfig = LabelConfig()
    splits: SplitConfig = SplitConfig()
    baselines: tuple[Literal["bgnbd", "recency", "bgnbd_gamma_gamma"], ...] = ("bgnbd", "recency")
    gate: GateConfig = GateConfig()
    params: dict[str, float | int] = Field(default_factory=dict)
    search_space: dict[str, tuple[float, float]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _bounds_are_ordered(self) -> TrainingConfig:
        for name, (low, high) in self.search_space.items():
            if not low < high:
                raise ValueError(f"search_space.{name}: lower bound {low} must be below upper bound {high}")
        return self


class ProtocolConfig(Strict):
    """The Handbook's protocol: train a week, wait out the feedback delay, test a week."""

    train_start: date | None = None  # None: the latest week whose test labels are all known
    train_days: int = Field(7, ge=1, le=90)
    delay_days: int = Field(7, ge=0, le=60)
    test_days: int = Field(7, ge=1, le=90)
    validation_folds: int = Field(4, ge=1, le=12)
    top_k: int = Field(100, ge=1)


class FraudConfig(Strict):
    model: Literal["fraud"]
    feature_service: str
    protocol: ProtocolConfig = ProtocolConfig()
    alerts_per_day: int = Field(100, ge=1)  # the analysts' daily capacity: sets the stored threshold
    imbalance: tuple[Literal["none", "sqrt", "balanced"], ...] = ("none", "sqrt", "balanced")
    gate: GateConfig = GateConfig()
    params: dict[str, float | int] = Field(default_factory=dict)
    search_space: dict[str, tuple[float, float]] = Field(default_factory=dict)


def load_config(model: str, folder: Path = EXPERIMENTS, schema: type[Strict] = TrainingConfig):
    path = folder / f"{model}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in folder.glob("*.yaml"))) or "none"
        raise SpendError(f"unknown model {model!r}: no {path.name} in {folder} (known: {known})")
    try:
        return schema.model_validate(yaml.safe_load(path.read_text()) or {})
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise SpendError(f"{path.name}: {where}: {first['msg']}") from error
