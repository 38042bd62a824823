"""Reading the MLflow model registry, shared by training and serving: versions by alias, and loading a
version with the check that it was trained on the feature service the caller reads.

Loading goes through the version's own artifact location, not a `models:/` URI, so no process-wide
MLflow URI is set here: a service or a test with two data homes reads each from its own store. Writing
(runs, registration, aliases) is spend.training.tracking's.
"""

from __future__ import annotations

from spend.core.errors import NoModel, SpendError
from spend.core.names import CHAMPION, PREFIX, registered_name
from spend.core.settings import SpendSettings


class ModelStore:
    def __init__(self, settings: SpendSettings, connect_timeout: float | None = None) -> None:
        """`connect_timeout`: seconds a PostgreSQL registry may take to accept a connection (the service
        sets it, so a registry that never answers fails its calls instead of holding them)."""
        import mlflow

        self.settings = settings
        self.uri = _with_connect_timeout(settings.model_tracking_uri(), connect_timeout)
        self.client = mlflow.MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)

    def version_by_alias(self, model: str, alias: str = CHAMPION):
        """The version holding `alias`, or None when there is none (or no such model)."""
        from mlflow.exceptions import MlflowException

        try:
            return self.client.get_model_version_by_alias(registered_name(model), alias)
        except MlflowException:
            return None

    def load_version(self, version, feature_service: str | None = None):
        """Load a registered version; refuse one trained on another feature service version."""
        import mlflow.sklearn

        trained_on = version.tags.get("feature_service")
        if feature_service is not None and trained_on != feature_service:
            raise SpendError(
                f"{version.name.removeprefix(PREFIX)} v{version.version} was trained on feature service "
                f"{trained_on!r}, not {feature_service!r}; retrain it before loading"
            )
        source = self.client.get_model_version_download_uri(version.name, version.version)
        return mlflow.sklearn.load_model(source)

    def load(self, model: str, alias: str = CHAMPION, feature_service: str | None = None):
        """(fitted model, registry version) of `model@alias`; an error says how to get one."""
        version = self.version_by_alias(model, alias)
        if version is None:
            from spend.core.registry import train_hint

            raise NoModel(f"no {model}@{alias}; {train_hint(model)}", model)
        return self.load_version(version, feature_service), version


def _with_connect_timeout(uri: str, seconds: float | None) -> str:
    if seconds is None or not uri.startswith("postgresql") or "connect_timeout=" in uri:
        return uri
    return f"{uri}{'&' if '?' in uri else '?'}connect_timeout={max(2, round(seconds))}"  # libpq: whole seconds, >= 2
