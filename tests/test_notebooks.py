"""notebooks/: stored without outputs, importing only the package (and the standard library, pandas),
and executed from top to bottom on a small shop."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

FOLDER = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(FOLDER.glob("*.ipynb"))
ALLOWED = {"spend", "pandas", *sys.stdlib_module_names}


def test_there_is_a_tour_for_each_user():
    assert {p.name for p in NOTEBOOKS} == {"data_scientist_tour.ipynb", "analyst_tour.ipynb"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_notebook_is_stored_clean_and_imports_only_the_package(path):
    book = nbformat.read(path, as_version=4)
    for cell in book.cells:
        if cell.cell_type != "code":
            continue
        assert not cell.outputs and cell.execution_count is None, f"{path.name} is stored with outputs"
        for node in ast.walk(ast.parse(cell.source)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names += [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
            for name in names:
                assert name.split(".")[0] in ALLOWED, f"{path.name} imports {name}"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_notebook_runs_from_top_to_bottom(path, tmp_path, monkeypatch):
    monkeypatch.setenv("SPEND_TOUR_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SPEND_TOUR_CUSTOMERS", "600")
    monkeypatch.setenv("SPEND_TOUR_TRIALS", "2")
    monkeypatch.setenv("SPEND_PSEUDONYM_KEY", "test-pseudonym-key")
    book = nbformat.read(path, as_version=4)
    NotebookClient(book, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in book.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
