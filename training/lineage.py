"""Lineage, asked from either end: what produced a model version (batches and their files, the snapshot
build, the feature service, the code commit, parameters, the gate's verdict), and what a batch went into
(snapshot builds, model versions, publications). From the batch ledger, MLflow and the manifests; the same
facts are emitted as OpenLineage events as the jobs run (spend/core/lineage.py)."""

from __future__ import annotations

import json

from spend.core.errors import SpendError
from spend.core.names import MANIFEST, registered_name
from spend.core.registry import spec, specs
from spend.core.settings import SpendSettings
from spend.features.ingest.catalog import BatchCatalog, BatchRecord
from spend.features.store.manifest import read_manifest
from spend.training.tracking import LINEAGE, Registry

TAG_LIMIT = 5_000  # MLflow's tag length: a longer batch list is only whole in the LINEAGE artifact


def model_lineage(settings: SpendSettings, name: str, version: int | None = None) -> dict:
    model = spec(name.removeprefix("spend-"))
    registry = Registry(settings)
    found = _version(registry, model.name, version)
    run = registry.client.get_run(found.run_id)
    inputs = registry.document(found, LINEAGE) or {"batches": _tagged_batches(run.data.tags)}
    ledger = {b.batch_id: b for b in BatchCatalog(settings.paths.catalog).batches()}
    return {
        "model": model.name,
        "version": int(found.version),
        "aliases": list(found.aliases),
        "feature_service": found.tags.get("feature_service"),
        "code_commit": run.data.tags.get("git_commit"),
        "trained_as_of": run.data.tags.get("as_of"),
        "served_scorer": found.tags.get("scorer", "spend"),
        "params": dict(run.data.params),
        "gate": json.loads(found.tags["gate"]) if "gate" in found.tags else None,
        "snapshots_built_at": inputs.get("snapshots_built_at"),
        "snapshots_until": inputs.get("snapshots_until"),
        "batches": [_batch(batch_id, ledger.get(batch_id)) for batch_id in inputs["batches"]],
    }


def batch_lineage(settings: SpendSettings, batch_id: str) -> dict:
    ledger = {b.batch_id: b for b in BatchCatalog(settings.paths.catalog).batches()}
    if batch_id not in ledger:
        raise SpendError(f"no batch {batch_id!r} in the ledger; `spend batches` lists them")
    return {
        "batch": _batch(batch_id, ledger[batch_id]),
        "snapshots": _snapshot_build(settings, batch_id),
        "models": _models_using(settings, batch_id),
        "publications": _publication(settings, batch_id),
    }


def _version(registry: Registry, name: str, version: int | None):
    if version is None:
        found = registry.version_by_alias(name)
        if found is None:
            raise SpendError(
                f"no {name} champion; train one with `spend train {name}`, or give a version (`spend models list`)"
            )
        return found
    try:
        return registry.client.get_model_version(registered_name(name), str(version))
    except Exception as error:  # noqa: BLE001 - MLflow's not-found is an exception of its own
        raise SpendError(f"{name} has no version {version}; `spend models list` shows them") from error


def _batch(batch_id: str, record: BatchRecord | None) -> dict:
    if record is None:
        return {"batch_id": batch_id, "note": "no longer in the ledger"}
    return {
        "batch_id": batch_id,
        "table": record.table_name,
        "source": record.source,
        "file_sha256": record.file_sha256,
        "committed_at": record.committed_at,
        "received": record.received,
        "accepted": record.accepted,
    }


def _tagged_batches(tags: dict) -> list[str]:
    return [b for b in tags.get("batches", "").split(",") if b]


def _snapshot_build(settings: SpendSettings, batch_id: str) -> dict | None:
    built = read_manifest(settings)
    if not built:
        return None
    return {"built_at": built["built_at"], "until": built["until"]} if batch_id in built["batches"] else None


def _models_using(settings: SpendSettings, batch_id: str) -> list[dict]:
    registry = Registry(settings)
    out = []
    for name in specs():
        for found in registry.client.search_model_versions(f"name='{registered_name(name)}'"):
            tags = registry.client.get_run(found.run_id).data.tags
            listed = _tagged_batches(tags)
            if batch_id not in listed and len(tags.get("batches", "")) >= TAG_LIMIT:
                listed = (registry.document(found, LINEAGE) or {}).get("batches", [])
            if batch_id in listed:  # a search's versions come without their aliases: asked for one by one
                aliases = registry.client.get_model_version(found.name, found.version).aliases
                out.append({"model": name, "version": int(found.version), "aliases": list(aliases)})
    return sorted(out, key=lambda m: (m["model"], m["version"]))


def _publication(settings: SpendSettings, batch_id: str) -> list[dict]:
    path = settings.paths.published / MANIFEST
    if not path.exists():
        return []
    manifest = json.loads(path.read_text(encoding="utf-8"))
    if batch_id not in manifest.get("batches", []):
        return []
    return [{"published_at": manifest["published_at"], "as_of": manifest["as_of"]}]
