"""Makes a process import `spend` from an older checkout (SPEND_AB_TREE), for benchmarks/serving_ab.sh.

The venv's editable install maps each `spend.*` package to this checkout's folders (spend.serving ->
serving/), and its finder answers for any package the path does not hold: with only the older tree on
PYTHONPATH, `spend` came from it but `spend.serving`, `spend.features`, `spend.models` and
`spend.training` came from this checkout, so both sides of a comparison ran the same service code. This
finder goes first and maps the packages to the older tree's folders, read from its own pyproject.toml.
A process inherits it through PYTHONPATH, so the service the benchmark starts imports the same tree.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tomllib
from pathlib import Path


class OlderTree:
    def __init__(self, root: Path) -> None:
        project = tomllib.loads((root / "pyproject.toml").read_text())
        dirs = project.get("tool", {}).get("setuptools", {}).get("package-dir", {})
        self.folders = {name: root / folder for name, folder in dirs.items() if name}

    def find_spec(self, name, path=None, target=None):
        folder = self.folders.get(name)
        if folder is None or not (folder / "__init__.py").is_file():
            return None
        return importlib.util.spec_from_file_location(
            name, folder / "__init__.py", submodule_search_locations=[str(folder)]
        )


if os.environ.get("SPEND_AB_TREE"):
    sys.meta_path.insert(0, OlderTree(Path(os.environ["SPEND_AB_TREE"])))
