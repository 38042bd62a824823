"""The estimator contract, checked the same way over every model in models/."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from spend.models.bgnbd import BetaGeoModel, GammaGammaModel
from spend.models.churn import ChurnModel
from spend.models.clv import MarginModel
from spend.models.fraud import FraudModel
from spend.models.offers import OfferUplift
from spend.models.segmentation import BehaviourClusters, RFMSegmenter


def data(n: int = 400) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    T = rng.uniform(20, 40, n)
    recency = T * rng.uniform(0, 1, n)
    frequency = rng.poisson(2, n).astype(float)
    X = pd.DataFrame(
        {
            "frequency": frequency,
            "recency": np.where(frequency > 0, recency, 0.0),
            "T": T,
            "monetary_value": rng.gamma(5, 5, n),
            "days_since_last_order": rng.uniform(0, 300, n),
            "orders_365d": frequency + 1,
            "spend_365d": rng.gamma(3, 50, n),
        }
    )
    return X, (rng.random(n) < 0.3).astype(int), (rng.random(n) < 0.5).astype(int)


MODELS = {
    "bgnbd": (BetaGeoModel(), lambda m, X, y, t: m.fit(X)),
    "gamma-gamma": (GammaGammaModel(), lambda m, X, y, t: m.fit(X)),
    "rfm": (RFMSegmenter(), lambda m, X, y, t: m.fit(X)),
    "clusters": (BehaviourClusters(max_k=3), lambda m, X, y, t: m.fit(X)),
    "offers": (
        OfferUplift(n_estimators=20, min_child_samples=20),
        lambda m, X, y, t: m.fit(X, np.where(t == 1, "coupon", "control"), y.astype(float), np.zeros(len(y))),
    ),
    "churn": (ChurnModel(n_estimators=20), lambda m, X, y, t: m.fit(X, y)),
    "margin": (MarginModel(n_estimators=20), lambda m, X, y, t: m.fit(X, X["spend_365d"] * y)),
    "fraud": (FraudModel(n_estimators=20), lambda m, X, y, t: m.fit(X, y)),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_estimator_contract(name):
    model, fit = MODELS[name]
    assert clone(model).get_params() == model.get_params()
    assert not [k for k in vars(model) if k.endswith("_")], "__init__ must only store parameters"
    X, y, t = data()
    with pytest.raises(NotFittedError):
        model.predict(X)
    fresh = clone(model)
    assert fit(fresh, X, y, t) is fresh, "fit must return self"
    assert [k for k in vars(fresh) if k.endswith("_")], "learned attributes end in _"
    assert len(fresh.predict(X)) == len(X)


def test_every_model_and_baseline_the_registry_can_hold_has_predict():
    """MLflow's sklearn flavor adds the python_function flavor (`mlflow.pyfunc.load_model(...).predict`)
    only to an estimator with `predict`: pricing's estimator and the churn and offers baselines had none,
    so a registered version could not answer a notebook."""
    from spend.core.experiments import read_config
    from spend.core.registry import specs

    for spec in specs().values():
        config = read_config(spec.name, spec.config)  # the shipped experiments/<name>.yaml
        made = {"spend": spec.estimator} | {name: make(config) for name, make in spec.baselines.items()}
        for name, estimator in made.items():
            assert callable(getattr(estimator, "predict", None)), f"{spec.name}: {name}"
