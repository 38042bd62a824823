"""Write a simulation to disk: canonical tables as CSV, ground truth as Parquet plus a JSON of parameters.

Files are written byte-for-byte the same for the same configuration and seed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from spend.simulate.config import TABLE_ORDER
from spend.simulate.run import Simulation

__all__ = ["TABLE_ORDER", "write_simulation"]


def write_simulation(simulation: Simulation, out: Path) -> dict[str, int]:
    out = Path(out)
    truth_dir = out / "ground_truth"
    truth_dir.mkdir(parents=True, exist_ok=True)
    counts = {}
    for name in TABLE_ORDER:
        frame = simulation.tables[name]
        frame.to_csv(out / f"{name}.csv", index=False, lineterminator="\n")
        counts[name] = len(frame)
    for name, frame in simulation.truth.items():
        table = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
        # No pandas metadata and a fixed writer string: same input, same bytes.
        table = table.replace_schema_metadata(None)
        pq.write_table(table, truth_dir / f"{name}.parquet", compression="zstd")
    (truth_dir / "parameters.json").write_text(json.dumps(simulation.parameters, indent=2, sort_keys=True) + "\n")
    return counts
