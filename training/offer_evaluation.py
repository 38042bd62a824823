"""`spend offers evaluate`: each policy's doubly robust value on the held-out members of the pooled offer
campaigns. The champion is refitted with its own settings on the training members first (the registered
one saw the holdout too), as the gate judges it."""

from __future__ import annotations

import numpy as np
from sklearn.base import clone

from spend.core.experiments import OffersConfig, read_config
from spend.core.model_store import ModelStore
from spend.core.registry import spec
from spend.core.settings import SpendSettings
from spend.training.datasets.offer_campaign import _fit, judge, read_campaign


def evaluate_policies(settings: SpendSettings) -> dict:
    offers = spec("offers")
    config = read_config("offers", OffersConfig)
    model, version = ModelStore(settings).load(offers.name, feature_service=offers.feature_service)
    data = read_campaign(settings, config)
    train = ~data.frame["holdout"].to_numpy()
    fitted = {"champion": _fit(lambda: clone(model), data, train)}
    fitted |= {name: _fit(lambda f=offers.baselines[name]: f(config), data, train) for name in offers.baselines}
    table = judge(config, data, fitted)
    policies = {
        name: {
            "value": float(row["policy_value"]),
            "low": float(row["policy_value_low"]),
            "high": float(row["policy_value_high"]),
            "offered_share": float(row["offered_share"]),
        }
        for name, row in table.iterrows()
    }
    holdout = int((~train).sum())
    notes = [
        f"{data.name}: {holdout:,} held-out assignments of {len(train):,}; values are net margin "
        f"added per member against no offer, {1 - config.alpha:.0%} intervals, without a budget",
        *data.notes,
    ]
    best = max(policies, key=lambda k: policies[k]["value"])
    return {
        "title": f"offer policies on the held-out campaign (offers v{version.version})",
        "model_version": int(version.version),
        "campaign": data.name,
        "holdout_members": holdout,
        "policies": policies,
        "best": best,
        "notes": notes,
        "treated_share": float(np.mean(data.frame["arm"] != "control")),
    }
