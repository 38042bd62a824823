"""OpenLineage events for what Spend's jobs read and write, so a catalogue (Marquez, Atlas, DataHub) can
collect Spend's lineage next to the rest of a company's.

Every ingest, feature build, training and publication emits one COMPLETE run event: the job
(`spend.ingest.transactions`, `spend.features.build`, `spend.train.churn`, `spend.publish`), its inputs
and outputs as datasets, each with its version where it has one (a file's SHA-256, a batch id, a model
version). Events always go to SPEND_HOME/lineage/openlineage.jsonl (one JSON event per line, the
client's file transport); with OPENLINEAGE_URL or OPENLINEAGE_CONFIG set, also where the OpenLineage
client's own configuration says (HTTP to Marquez, Kafka...). No customer id is ever in an event:
datasets are tables and files, not rows. Emitting never fails the job: a broken transport is logged.
"""

from __future__ import annotations

import logging
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

PRODUCER = "https://github.com/spend/spend"
EVENTS = Path("lineage") / "openlineage.jsonl"


@dataclass(frozen=True)
class Data:
    """A dataset in an event: Spend's own (namespace spend://PROJECT) or a source file (file://)."""

    name: str
    version: str | None = None
    namespace: str | None = None


def emit(home: Path, project: str, job: str, inputs: list[Data], outputs: list[Data]) -> None:
    """Emit one COMPLETE run event for `job` (spend.<job>)."""
    try:
        _emit(Path(home), project, job, inputs, outputs)
    except Exception as error:  # noqa: BLE001 - lineage is a record of the work, never a reason for it to fail
        logging.getLogger(__name__).warning("lineage event for %s not emitted: %s", job, error)


def _emit(home: Path, project: str, job: str, inputs: list[Data], outputs: list[Data]) -> None:
    from openlineage.client import OpenLineageClient
    from openlineage.client.event_v2 import Job, Run, RunEvent, RunState
    from openlineage.client.transport.file import FileConfig, FileTransport

    event = RunEvent(
        eventType=RunState.COMPLETE,
        eventTime=datetime.now(UTC).isoformat(),
        run=Run(runId=str(uuid.uuid4())),
        job=Job(namespace=f"spend://{project}", name=f"spend.{job}"),
        producer=PRODUCER,
        inputs=[_dataset(d, project) for d in inputs],
        outputs=[_dataset(d, project, output=True) for d in outputs],
    )
    path = home / EVENTS
    path.parent.mkdir(parents=True, exist_ok=True)
    OpenLineageClient(transport=FileTransport(FileConfig(log_file_path=str(path), append=True))).emit(event)
    if os.environ.get("OPENLINEAGE_URL") or os.environ.get("OPENLINEAGE_CONFIG"):
        OpenLineageClient().emit(event)


def _dataset(data: Data, project: str, output: bool = False):
    from openlineage.client.event_v2 import InputDataset, OutputDataset
    from openlineage.client.facet_v2 import dataset_version_dataset

    facets = {}
    if data.version is not None:
        facets["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion=data.version)
    kind = OutputDataset if output else InputDataset
    return kind(namespace=data.namespace or f"spend://{project}", name=data.name, facets=facets)
