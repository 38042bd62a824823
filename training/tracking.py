"""The one module that talks to MLflow: runs, the model registry, aliases and the quality gate.

Backends: local (default) is SQLite under SPEND_HOME/mlflow; production is PostgreSQL (SPEND_TRACKING_URL).
Artifacts go under SPEND_HOME/mlflow/artifacts in both. Registered models are named `spend-<model>`;
`@champion` is what serving loads, `@challenger` a registered model that did not pass the gate, and
`@previous-champion` what `rollback` restores.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import logging
import os
import re
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from spend.core.errors import SpendError
from spend.core.files import exclusive
from spend.core.model_store import ModelStore
from spend.core.names import CHALLENGER, CHAMPION, PREFIX, PREVIOUS, registered_name
from spend.core.settings import SpendSettings

REQUIREMENTS = ("scikit-learn", "lightgbm", "pandas", "numpy", "scipy")


@dataclass(frozen=True)
class Gate:
    """The gate's verdict: the new version's score on the gate metric, the champion's on the same
    holdout (None when there is no champion), and whether the new version passed."""

    metric: str
    score: float
    champion_score: float | None
    passed: bool
    blocked: str | None = None  # today's inputs drifted from its training inputs (training/monitoring.py)
    won: bool = True  # beat the champion (or there was none): passed unless blocked


@dataclass
class Registered:
    name: str
    version: int
    run_id: str
    alias: str  # champion or challenger after the gate


REFERENCE_PROFILE = "monitoring/reference.json"  # the training inputs' profile, beside the model
LINEAGE = "lineage/inputs.json"  # every ingestion batch and the snapshot build the model was trained from


class Registry(ModelStore):
    """The model store plus everything that writes: runs, tuning, registration, the gate, aliases."""

    def __init__(self, settings: SpendSettings) -> None:
        import mlflow

        super().__init__(settings)
        self.mlflow = mlflow
        _route_mlflow_prints()

    def _fluent(self) -> None:
        """MLflow's fluent API (runs, log_model) writes through process-wide URIs: set them to this
        store's just before writing, since another store may have been used since."""
        self.mlflow.set_tracking_uri(self.uri)
        self.mlflow.set_registry_uri(self.uri)

    def _experiment(self, model: str) -> str:
        name = registered_name(model)
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        artifacts = (self.settings.paths.home / "mlflow" / "artifacts").resolve()
        return self.client.create_experiment(name, artifact_location=artifacts.as_uri())

    @contextmanager
    def gate_lock(self, model: str) -> Iterator[None]:
        """One gate at a time per model: reading the champion's score, registering and moving the aliases.
        Two trainings at once each compared themselves with the champion from before either registered,
        so both were crowned and the later one won, better or not. A PostgreSQL registry (shared by
        every host of a production deployment) is locked in the database, with a session advisory lock
        that a dead process releases; a local registry with flock under the data home."""
        if self.uri.startswith("postgresql"):
            with _advisory_lock(self.uri, f"spend-gate-{registered_name(model)}"):
                yield
        else:
            with exclusive(self.settings.paths.home / "mlflow" / f"gate-{model}.lock"):
                yield

    @contextmanager
    def session(self, model: str, run_name: str) -> Iterator[str]:
        """One parent run for a training: tuning trials and the final fit are its nested runs. Yields
        the run's id."""
        self._fluent()
        with self.mlflow.start_run(experiment_id=self._experiment(model), run_name=run_name) as run:
            yield run.info.run_id

    def tune(
        self,
        model: str,
        objective,
        trials: int,
        metric_name: str,
        minimize: bool = False,
        on_trial: Callable[[int, int, float, float], None] = lambda number, total, value, best: None,
    ) -> dict:
        """An Optuna study (TPE, seeded) of `trials` trials, each a nested MLflow run named "trial N"
        (optuna-integration's MLflow callback) under the active run, or under a "tuning" run when none
        is active; `on_trial(number, total, value, best)` after each. Returns the best parameters."""
        import optuna
        from optuna_integration.mlflow import MLflowCallback

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        callback = MLflowCallback(
            tracking_uri=self.uri,
            metric_name=metric_name,
            create_experiment=False,
            mlflow_kwargs={"nested": True},
        )

        def report(study, trial) -> None:
            on_trial(trial.number + 1, trials, float(trial.value), float(study.best_value))

        self._fluent()
        self.mlflow.set_experiment(experiment_id=self._experiment(model))
        direction = "minimize" if minimize else "maximize"
        study = optuna.create_study(direction=direction, sampler=optuna.samplers.TPESampler(seed=0))
        with nullcontext() if self.mlflow.active_run() else self.mlflow.start_run(run_name=f"{model} tuning"):
            study.optimize(objective, n_trials=trials, callbacks=[callback, report])
        return study.best_params

    def register(
        self,
        model: str,
        estimator,
        params: dict,
        metrics: dict[str, float],
        tags: dict[str, str],
        tables: dict[str, pd.DataFrame],
        gate: Gate,
        example: tuple[pd.DataFrame, object] | None = None,
        figures: dict[str, object] | None = None,
        documents: dict[str, dict] | None = None,
    ) -> Registered:
        """Log the final fit (a nested run "final fit" under the active session, else a run of its own)
        with the fitted model, its signature and input example, the comparison tables, `figures` and the
        JSON `documents` by artifact path (the training inputs' profile, REFERENCE_PROFILE; what it was
        trained from, LINEAGE); register it, and move @champion
        only if it passed the gate."""
        import mlflow.sklearn

        self._fluent()
        nested = self.mlflow.active_run() is not None
        name = "final fit" if nested else f"{model} final fit"
        with self.mlflow.start_run(experiment_id=self._experiment(model), run_name=name, nested=nested) as run:
            self.mlflow.log_params(params)
            self.mlflow.log_metrics(metrics)
            self.mlflow.set_tags(tags | {"git_commit": _git_commit(), "data_home": str(self.settings.home)})
            with tempfile.TemporaryDirectory() as tmp:
                for table_name, table in tables.items():
                    table.to_csv(Path(tmp) / f"{table_name}.csv")
                self.mlflow.log_artifacts(tmp, artifact_path="evaluation")
            for file, figure in (figures or {}).items():
                self.mlflow.log_figure(figure, f"plots/{file}")
            for artifact, document in (documents or {}).items():
                self.mlflow.log_dict(document, artifact)
            info = mlflow.sklearn.log_model(
                estimator,
                name="model",
                pip_requirements=_requirements(),
                registered_model_name=registered_name(model),
                skops_trusted_types=_own_types(estimator),
                **_signature(example),
            )
        version = int(info.registered_model_version)
        for key in ("feature_service", "as_of", "scorer"):
            if key in tags:
                self.client.set_model_version_tag(registered_name(model), str(version), key, tags[key])
        self.client.set_model_version_tag(
            registered_name(model),
            str(version),
            "gate",
            json.dumps(dataclasses.asdict(gate)),
        )
        if gate.passed:
            self._crown(model, version)
        else:
            self.client.set_registered_model_alias(registered_name(model), CHALLENGER, str(version))
        return Registered(registered_name(model), version, run.info.run_id, CHAMPION if gate.passed else CHALLENGER)

    def reference_profile(self, version) -> dict | None:
        """The training inputs' profile logged with a model version, or None (an older version)."""
        return self.document(version, REFERENCE_PROFILE)

    def document(self, version, artifact: str) -> dict | None:
        """A JSON document logged with a model version's run, or None."""
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # a bar per small JSON: noise
        try:
            with tempfile.TemporaryDirectory() as tmp:
                path = self.client.download_artifacts(version.run_id, artifact, tmp)
                return json.loads(Path(path).read_text(encoding="utf-8"))
        except Exception:  # noqa: BLE001 - MLflow raises several kinds for a missing artifact
            return None

    def _crown(self, model: str, version: int) -> None:
        """`version` becomes @champion; the champion it replaces becomes @previous-champion. A version
        holds one role: crowning a challenger takes its @challenger alias away."""
        name = registered_name(model)
        current = self.version_by_alias(model, CHAMPION)
        if current is not None and int(current.version) != version:
            self.client.set_registered_model_alias(name, PREVIOUS, current.version)
        challenger = self.version_by_alias(model, CHALLENGER)
        if challenger is not None and int(challenger.version) == version:
            self.client.delete_registered_model_alias(name, CHALLENGER)
        self.client.set_registered_model_alias(name, CHAMPION, str(version))

    def promote(self, model: str, version: int, check=None) -> None:
        """Make `version` the champion; `check(version) -> reason or None` may refuse it first."""
        try:
            found = self.client.get_model_version(registered_name(model), str(version))
        except Exception as error:
            known = sorted(
                int(v.version) for v in self.client.search_model_versions(f"name='{registered_name(model)}'")
            )
            listed = ", ".join(map(str, known)) or "none yet"
            raise SpendError(f"{model} has no version {version} (versions: {listed})") from error
        reason = None if check is None else check(found)
        if reason:
            raise SpendError(reason)
        with self.gate_lock(model):
            self._crown(model, version)

    def rollback(self, model: str) -> int:
        """Make the previous champion the champion again; returns its version. The alias is used up: a
        second rollback says there is nothing to roll back to, instead of flipping back to the version
        just rolled away from (`spend models promote` brings that one back on purpose)."""
        name = registered_name(model)
        with self.gate_lock(model):
            previous = self.version_by_alias(model, PREVIOUS)
            if previous is None:
                raise SpendError(f"{name} has no previous champion to roll back to")
            self.client.set_registered_model_alias(name, CHAMPION, previous.version)
            self.client.delete_registered_model_alias(name, PREVIOUS)
        return int(previous.version)

    def versions(self, model: str | None = None) -> pd.DataFrame:
        """Every registered version: model, version, aliases, gate result, feature service, run."""
        rows = []
        for registered in self.client.search_registered_models():
            if model is not None and registered.name != registered_name(model):
                continue
            aliases: dict[str, list[str]] = {}
            for alias, version in (registered.aliases or {}).items():
                aliases.setdefault(str(version), []).append(alias)
            for version in self.client.search_model_versions(f"name='{registered.name}'"):
                rows.append(
                    {
                        "model": registered.name.removeprefix(PREFIX),  # the name every command takes
                        "version": int(version.version),
                        "aliases": ",".join(sorted(aliases.get(str(version.version), []))),
                        "feature_service": version.tags.get("feature_service", ""),
                        "gate": version.tags.get("gate", ""),
                        "scorer": version.tags.get("scorer", "spend"),
                        "run_id": version.run_id,
                    }
                )
        return pd.DataFrame(rows).sort_values(["model", "version"]) if rows else pd.DataFrame(rows)


def _route_mlflow_prints() -> None:
    """MLflow prints its own events ("Successfully registered model ...") to stderr through one stream
    object, which its autologging re-enables at will: its writes go to the log instead (SPEND_HOME/logs,
    and the terminal with --verbose), where the rest of MLflow's records go."""
    from mlflow.utils.logging_utils import MLFLOW_LOGGING_STREAM

    log = logging.getLogger("spend.mlflow")  # not under "mlflow", whose own handler writes to this stream
    MLFLOW_LOGGING_STREAM.write = lambda text: log.info(text.rstrip()) if text.strip() else None
    MLFLOW_LOGGING_STREAM.flush = lambda: None


def _own_types(estimator) -> list[str]:
    """Models are stored with skops (no arbitrary pickle code runs on load); the classes of a model Spend
    trained itself (its own, LightGBM's, scikit-learn's) are declared trusted when it is saved."""
    import skops.io

    return skops.io.get_untrusted_types(data=skops.io.dumps(estimator))


def _requirements() -> list[str]:
    # Pinned from what is installed: MLflow's own inference of requirements costs seconds per model.
    return [f"{name}=={importlib.metadata.version(name)}" for name in REQUIREMENTS]


def _signature(example: tuple[pd.DataFrame, object] | None) -> dict:
    """log_model's signature and input example from a few input rows and the model's answers to them."""
    if example is None:
        return {}
    from mlflow.models import infer_signature

    rows, output = example
    # Whole-number columns declared as doubles: a count may be missing when the model is called, which an
    # integer column cannot hold (MLflow warns of it, on the terminal of a notebook that trains).
    whole = {name: "float64" for name, column in rows.items() if pd.api.types.is_integer_dtype(column)}
    rows = rows.astype(whole) if whole else rows
    return {"signature": infer_signature(rows, output), "input_example": typical_row(rows)}


def typical_row(rows: pd.DataFrame) -> pd.DataFrame:
    """One made-up input row (each column's median, or its most common value): MLflow keeps the input
    example with the model for good, and an erased customer's row must not be in it (docs/privacy.md)."""
    values = {
        name: [
            column.quantile(0.5, interpolation="nearest")
            if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
            else column.mode(dropna=True).iloc[0]
            if column.notna().any()
            else None
        ]
        for name, column in rows.items()
    }
    return pd.DataFrame(values).astype(rows.dtypes.to_dict(), errors="ignore")


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=Path(__file__).resolve().parent
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@contextmanager
def _advisory_lock(uri: str, name: str) -> Iterator[None]:
    """PostgreSQL's session advisory lock on `name` (hashed to its key), on a connection of its own."""
    import psycopg

    url = re.sub(r"^postgresql\+\w+://", "postgresql://", uri)  # SQLAlchemy's driver suffix: libpq has none
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("SELECT pg_advisory_lock(hashtext(%s))", (name,))
        try:
            yield
        finally:
            connection.execute("SELECT pg_advisory_unlock(hashtext(%s))", (name,))
