"""A small data home ready to serve, for the service tests, the serving benchmark and trying `spend serve`:
a year of simulated history ending yesterday (online values are fresh; 40 products in 5 shops plus the
web and app shops, so the demand model is quick; simulated on a fixed calendar and moved to end then, so
the same purchases whatever the day: tests/support/calendar.py), the feature store, a churn champion, a fraud champion,
a demand champion, a pricing champion, a publication and one API key per role.

The fraud model here is a quick one on the retail history's card payments, registered as training would:
the full Handbook protocol (`spend train fraud`) is for the Handbook's own generator and dates.
"""

from __future__ import annotations

import warnings
from datetime import date
from pathlib import Path

import pandas as pd

from spend.core.settings import SpendSettings
from spend.features.compute.payments import FEATURES
from spend.features.ingest.pipeline import IngestOptions, ingest
from spend.features.store.build import build_snapshots
from spend.features.store.config import feature_store
from spend.features.store.definitions import build_repo
from spend.features.store.materialize import materialize
from spend.models.fraud import FraudModel
from spend.serving.auth import KeyStore
from spend.simulate.config import SimulationConfig
from spend.simulate.run import simulate
from spend.simulate.writer import TABLE_ORDER, write_simulation
from spend.training.fraud import payments_with_features
from spend.training.loop import train
from spend.training.publish import publish
from spend.training.tracking import Gate, Registry
from tests.support.calendar import FIXED_START, shift_to_today

ROLES = ("marketing", "pricing-engine", "supply-chain", "data-scientist", "monitoring")
TIME_COLUMNS = {table: ["ts"] for table in TABLE_ORDER if table not in ("customers", "products")} | {
    "customers": ["signup_ts"],
    "products": ["listed_at"],
}


def sample_home(settings: SpendSettings, root: Path, customers: int, seed: int = 5, products: int = 40) -> dict:
    """Build everything under `settings` (simulated CSVs under `root / 'sim'`); returns the as-of date, the
    churn training result, the fraud version and the keys by role."""
    as_of = feature_home(settings, root, customers, seed, products)
    churn = train(settings, "churn", as_of)
    fraud_version = register_quick_fraud_model(settings)
    register_quick_demand_model(settings)
    register_quick_pricing_model(settings)
    publish(settings, as_of)
    register_quick_offers_model_and_publish(settings, as_of)
    keys = KeyStore(settings.paths.home / "serving" / "api_keys.json")
    return {
        "as_of": as_of,
        "first": churn,
        "fraud_version": fraud_version,
        "keys": {role: keys.add(role, role) for role in ROLES},
    }


def feature_home(
    settings: SpendSettings, root: Path, customers: int, seed: int = 5, products: int = 40
) -> pd.Timestamp:
    """A year of simulated history ending yesterday, ingested, built, applied and materialised; returns
    today, the as-of date at which every customer's online values are fresh."""
    warnings.filterwarnings("ignore", message="On demand feature view is an experimental feature")
    config = SimulationConfig(
        customers=customers, days=365, seed=seed, start=FIXED_START, products=products, stores=5, offer_campaign=True
    )
    write_simulation(simulate(config), root / "sim")
    shift_to_today(root / "sim", config.days, TIME_COLUMNS)  # the same purchases whatever the day (calendar.py)
    for table in TABLE_ORDER:
        ingest(root / "sim" / f"{table}.csv", IngestOptions(table), settings)
    build_snapshots(settings)
    feature_store(settings).apply(build_repo(settings.paths.feature_snapshots).objects)
    materialize(settings)
    return pd.Timestamp(date.today(), tz="UTC")


def register_quick_fraud_model(settings: SpendSettings, model=None) -> int:
    """A fraud model (by default a small booster; a FraudBaseline as the gate would serve one) fitted on
    every labelled payment, with a threshold, registered as champion."""
    frame = payments_with_features(settings)
    X = frame[list(FEATURES)]
    model = (model or FraudModel(n_estimators=50)).fit(X, frame["is_fraud"])
    model.set_alert_budget(X, frame["ts"].dt.floor("D").to_numpy(), 5)
    metrics = {"spend_average_precision": 0.5}
    tags = {"feature_service": "fraud_v1"}
    gate = Gate("average_precision", 0.5, None, True)
    return Registry(settings).register("fraud", model, {}, metrics, tags, {}, gate).version


def register_quick_demand_model(settings: SpendSettings) -> int:
    from spend.models.demand import DemandForecaster
    from spend.training.datasets.series_backtest import read_history

    history = read_history(settings).history
    model = DemandForecaster(horizon=91, n_estimators=30, min_child_samples=20).fit(history)
    tags = {"feature_service": "demand_v1"}
    gate = Gate("wape", 0.5, None, True)
    return Registry(settings).register("demand", model, {}, {"spend_wape": 0.5}, tags, {}, gate).version


def register_quick_pricing_model(settings: SpendSettings) -> int:
    from spend.models.pricing import ElasticityEstimator, product_days
    from spend.training.datasets.series_backtest import read_history

    model = ElasticityEstimator(n_estimators=30).fit(product_days(read_history(settings).history))
    tags = {"feature_service": "pricing_v1"}
    gate = Gate("response_rmse", 0.5, None, True)
    return Registry(settings).register("pricing", model, {}, {"spend_response_rmse": 0.5}, tags, {}, gate).version


def register_quick_offers_model_and_publish(settings: SpendSettings, as_of: pd.Timestamp) -> int:
    """A small offers model on the simulated campaign, and an assignment published for the service."""
    from spend.core.experiments import OffersConfig, read_config
    from spend.models.offers import OfferUplift
    from spend.training.datasets.offer_campaign import read_campaign
    from spend.training.offers import AssignOptions, assign_offers, publish_offers

    data = read_campaign(settings, read_config("offers", OffersConfig))
    frame = data.frame
    model = OfferUplift(learner="t", n_estimators=30, min_child_samples=50)
    model.fit(frame[data.columns], frame["arm"].to_numpy(), frame["net"].to_numpy(), frame["cost"].to_numpy())
    gate = Gate("policy_value", 0.5, None, True)
    tags = {"feature_service": "offers_v1"}
    version = Registry(settings).register("offers", model, {}, {"spend_policy_value": 0.5}, tags, {}, gate).version
    assignment, report = assign_offers(settings, AssignOptions(budget=500.0, as_of=as_of))
    publish_offers(settings, assignment, report)
    return version
