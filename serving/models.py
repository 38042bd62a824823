"""Models the service answers with: each loaded from the MLflow registry by alias, swapped in place when
the alias moves, and kept serving when the registry cannot be reached.

A slot holds one immutable `Loaded` (model, version, feature service); a swap replaces the reference in
one assignment, so a request that already took the old one finishes with it and no request waits.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from spend.core.errors import SpendError
from spend.core.model_store import ModelStore
from spend.core.names import CHAMPION, registered_name
from spend.core.settings import SpendSettings


@dataclass(frozen=True)
class Loaded:
    model: object
    name: str
    version: int
    feature_service: str
    loaded_at: float


class ModelSlot:
    def __init__(self, settings: SpendSettings, model: str, feature_service: str, alias: str = CHAMPION) -> None:
        self.name, self.alias, self.feature_service = registered_name(model), alias, feature_service
        self.store = ModelStore(settings)
        self.current: Loaded | None = None
        self.last_error: str | None = None

    def _champion(self):
        return self.store.client.get_model_version_by_alias(self.name, self.alias)

    def load(self) -> Loaded:
        """Load the alias's version now (at start-up); an error names the model and what to do."""
        from mlflow.exceptions import MlflowException

        try:
            version = self._champion()
        except MlflowException as error:
            raise SpendError(f"no {self.name}@{self.alias} in the registry; train one with `spend train`") from error
        self.current = self._load_version(version)
        return self.current

    def _load_version(self, version) -> Loaded:
        model = self.store.load_version(version, self.feature_service)
        return Loaded(model, self.name, int(version.version), self.feature_service, time.time())

    def refresh(self) -> bool:
        """Swap to the alias's current version if it moved; True if swapped. A registry that cannot be
        reached, or a version that fails to load, leaves the loaded model serving (and says why)."""
        try:
            version = self._champion()
            if self.current is not None and int(version.version) == self.current.version:
                self.last_error = None
                return False
            self.current = self._load_version(version)
        except Exception as error:  # noqa: BLE001 - whatever the registry does, keep answering
            self.last_error = f"{type(error).__name__}: {error}"
            return False
        self.last_error = None
        return True
