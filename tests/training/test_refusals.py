"""Params a model does not take, or values its library refuses, end as one error naming them."""

from __future__ import annotations

import numpy as np
import pytest

from spend.core.errors import SpendError
from spend.core.registry import spec
from spend.training.config import load_config
from spend.training.refusals import params_refused, raised_in


@pytest.mark.parametrize("name", ["churn", "fraud", "demand", "pricing", "offers"])
def test_a_misspelt_param_is_refused_when_the_config_is_read_naming_it(name):
    """It was an unexpected TypeError from the estimator, after the data had been read."""
    said = rf"{name}.yaml: params.num_leafs: not a parameter of {name} \(its parameters: "
    with pytest.raises(SpendError, match=said):
        load_config(spec(name), overrides=("params.num_leafs=7",))


@pytest.mark.parametrize("name", ["churn", "fraud", "demand", "pricing", "offers"])
def test_a_search_bound_the_model_does_not_tune_is_refused_when_the_config_is_read(name):
    """It failed every Optuna trial, with Optuna's warnings on the terminal, then an unexpected ValueError."""
    with pytest.raises(SpendError, match=rf"{name}.yaml: search_space: no search space for bogus; known: "):
        load_config(spec(name), overrides=("search_space.bogus=[1,2]",))
    assert load_config(spec(name), overrides=("search_space.num_leaves=[4,8]",)).search_space["num_leaves"]


def _fit(**params):
    import lightgbm

    x = np.arange(40, dtype=float).reshape(-1, 1)
    lightgbm.LGBMRegressor(verbose=-1, **params).fit(x, x[:, 0])


@pytest.mark.parametrize(
    ("params", "said"),
    [
        ({"num_leaves": -1}, "params (num_leaves=-1): LightGBM refused the fit: Check failed: (num_leaves) > (1)"),
        (
            {"n_estimators": -5, "learning_rate": 0.1},
            "params (n_estimators=-5): LightGBM refused the fit: Number of boosting rounds must be greater than 0",
        ),
    ],
)
def test_a_value_lightgbm_refuses_is_said_with_the_param_and_without_its_source_path(params, said):
    with pytest.raises(SpendError) as refused, params_refused(spec("churn"), params):
        _fit(**params)
    assert str(refused.value).startswith(f"churn.yaml: {said}") and " at /" not in str(refused.value)


def test_errors_outside_the_libraries_pass_through_and_a_refusal_naming_no_param_blames_none():
    with pytest.raises(ZeroDivisionError), params_refused(spec("churn"), {"num_leaves": 7}):
        _ = 1 / 0  # not raised in a library: left as it is
    with pytest.raises(SpendError) as refused, params_refused(spec("churn"), {"learning_rate": 0.1}):
        _fit(num_leaves=-1)  # the library names a value not configured: no param is blamed
    assert str(refused.value) == "churn: LightGBM refused the fit: Check failed: (num_leaves) > (1)"
    with (
        pytest.raises(SpendError, match=r"params \(min_child_samples=-1\)"),
        params_refused(spec("churn"), {"min_child_samples": -1}),
    ):
        _fit(min_child_samples=-1)  # LightGBM calls it min_data_in_leaf
    try:
        _fit(num_leaves=-1)
    except Exception as error:  # noqa: BLE001 - the point of the test
        assert raised_in(error) == "LightGBM"


def test_reading_a_models_settings_does_not_import_the_training_loop():
    """`spend forecast` read the demand YAML through the training loop, whose imports (Feast among them)
    took 6 of its 12 seconds on the demo's home."""
    import subprocess
    import sys

    code = (
        "import sys; import spend.training.forecasting; from spend.training.config import load_config; "
        "from spend.core.registry import spec; load_config(spec('demand')); "
        "print(sorted(m for m in ('feast', 'spend.training.loop') if m in sys.modules))"
    )
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert shown.stdout.strip() == "[]"
