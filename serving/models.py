"""Models the service answers with: each loaded from the MLflow registry by alias, swapped in place when
the alias moves, and kept serving when the registry cannot be reached.

A slot holds one immutable `Loaded` (model, version, feature service); a swap replaces the reference in
one assignment, so a request that already took the old one finishes with it and no request waits.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from spend.core.errors import SpendError
from spend.core.model_store import ModelStore
from spend.core.names import CHAMPION, registered_name
from spend.core.registry import train_hint
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
        self.model, self.alias, self.feature_service = model, alias, feature_service
        self.name = registered_name(model)  # MLflow's name; answers, logs and errors say `model` (one form)
        self.store = ModelStore(settings, connect_timeout=settings.serving_registry_timeout_seconds)
        self.current: Loaded | None = None
        self.last_error: str | None = None  # what failed, for health: never a path, host or port

    def _champion(self):
        return self.store.client.get_model_version_by_alias(self.name, self.alias)

    def load(self) -> Loaded:
        """The alias's version, loaded now (for callers outside the service's follower: benchmarks); an
        error says what failed."""
        self.refresh()
        if self.current is None:
            raise SpendError(self.last_error or f"no {self.model}@{self.alias}")
        return self.current

    def _load_version(self, version) -> Loaded:
        model = self.store.load_version(version, self.feature_service)
        prepare = getattr(model, "prepare_to_serve", None)
        if prepare is not None:  # work a model would otherwise do on its first request
            prepare()
        return Loaded(model, self.model, int(version.version), self.feature_service, time.time())

    def refresh(self) -> bool:
        """Load the alias's version if it is not the one loaded; True if swapped. A registry that cannot be
        reached, no such alias, or a version that fails to load leave the loaded model serving (or none)
        and say what failed in `last_error`; the details go to the service's log."""
        from mlflow.exceptions import MlflowException

        try:
            version = self._champion()
        except MlflowException as error:
            missing = error.error_code == "RESOURCE_DOES_NOT_EXIST"
            return self._failed(
                f"no {self.model}@{self.alias} in the registry; {train_hint(self.model)}"
                if missing
                else f"the model registry refused the lookup ({type(error).__name__})",
                error,
            )
        except Exception as error:  # noqa: BLE001 - whatever the registry does, keep answering
            return self._failed(f"the model registry cannot be reached ({type(error).__name__})", error)
        if self.current is not None and int(version.version) == self.current.version:
            self.last_error = None
            return False
        try:
            self.current = self._load_version(version)
        except Exception as error:  # noqa: BLE001 - a version that fails to load leaves the old one serving
            return self._failed(f"{self.model} v{version.version} cannot be loaded ({type(error).__name__})", error)
        self.last_error = None
        return True

    def _failed(self, public: str, error: Exception) -> bool:
        logging.getLogger("spend.serving.registry").warning("%s: %s", public, error)
        self.last_error = public
        return False
