"""What a training run left in MLflow: its plots and the registered version's signature and input example."""

from __future__ import annotations

from spend.core.settings import SpendSettings
from spend.training.tracking import Registry


def assert_logged(settings: SpendSettings, model: str, version: int, plots: set[str]) -> None:
    """The version's run holds `plots` (names under plots/) and the model a signature and input example."""
    import mlflow.models

    registry = Registry(settings)
    run_id = registry.client.get_model_version(f"spend-{model}", str(version)).run_id
    logged = {a.path.removeprefix("plots/") for a in registry.client.list_artifacts(run_id, "plots")}
    assert plots <= logged, logged
    info = mlflow.models.get_model_info(f"models:/spend-{model}/{version}")
    assert info.signature is not None and info.saved_input_example_info is not None
