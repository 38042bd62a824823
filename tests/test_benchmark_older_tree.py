"""benchmarks/serving_ab.sh runs an older commit's service: its `spend.*` packages must come from that
commit's folders, not from the venv's editable install of this checkout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FINDER = ROOT / "benchmarks" / "older_tree"
WHERE = "import spend, spend.serving.thing as t; print(spend.__file__); print(t.__file__); print(t.MARK)"


def _older_tree(root: Path) -> Path:
    (root / "spend").mkdir(parents=True)
    (root / "serving").mkdir()
    (root / "spend" / "__init__.py").write_text("")
    (root / "serving" / "__init__.py").write_text("")
    (root / "serving" / "thing.py").write_text("MARK = 'older'\n")
    (root / "pyproject.toml").write_text(
        '[tool.setuptools.package-dir]\n"spend" = "spend"\n"spend.serving" = "serving"\n'
    )
    return root


def _imported(tree: Path, finder: bool, code: str = WHERE) -> list[str]:
    env = os.environ | {"PYTHONPATH": f"{FINDER}:{tree}" if finder else str(tree)}
    env = env | {"SPEND_AB_TREE": str(tree)} if finder else {k: v for k, v in env.items() if k != "SPEND_AB_TREE"}
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=tree, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.split()


def test_the_older_trees_packages_are_imported_from_its_folders(tmp_path):
    tree = _older_tree(tmp_path / "older")
    spend, thing, mark = _imported(tree, finder=True)
    assert Path(spend).is_relative_to(tree) and Path(thing) == tree / "serving" / "thing.py" and mark == "older"


def test_a_process_the_older_tree_starts_imports_it_too(tmp_path):
    tree = _older_tree(tmp_path / "older")
    child = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {WHERE!r}], check=True)"
    assert _imported(tree, finder=True, code=child)[1] == str(tree / "serving" / "thing.py")


def test_without_the_finder_the_editable_install_gives_this_checkouts_service(tmp_path):
    # Why the finder exists: with the older tree on the path alone, `spend` is the older tree's and
    # `spend.serving` this checkout's, so both sides of a comparison ran one service.
    tree = _older_tree(tmp_path / "older")
    code = "import spend, spend.serving as s; print(spend.__file__); print(s.__file__)"
    spend, serving = _imported(tree, finder=False, code=code)
    assert Path(spend).is_relative_to(tree) and Path(serving) == ROOT / "serving" / "__init__.py"
