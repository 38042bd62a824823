"""One installed import name: a wheel of Spend holds the `spend` package and nothing else at the top
level, every source folder with an __init__.py is in it, and no module imports a bare top-level name
(`features`, `models`, `training`, `serving`) that only resolves from a source checkout."""

from __future__ import annotations

import pathlib
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
MAPPED = {"features", "models", "training", "serving", "experiments"}


def _packages() -> tuple[list[str], dict[str, str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    return config["packages"], config["package-dir"]


def test_every_source_package_is_listed_for_the_wheel():
    listed, folders = _packages()
    found = set()
    for package, folder in folders.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder)
            found.add(".".join([package, *relative.parts]))
    assert sorted(found - set(listed)) == [], "add these packages to [tool.setuptools] packages in pyproject.toml"


def test_no_module_imports_a_bare_top_level_name():
    # At a line's start, or inside a string run by another interpreter ("from training.cli import main").
    bare = re.compile(r"(^\s*|[\"'])(from|import)\s+(features|models|training|serving|experiments)\b", re.M)
    offenders = [
        str(path.relative_to(ROOT))
        for folder in (*MAPPED, "spend", "tests", "benchmarks")
        for path in (ROOT / folder).rglob("*.py")
        if path != pathlib.Path(__file__).resolve() and bare.search(path.read_text())
    ]
    assert offenders == []


@pytest.mark.slow
def test_the_wheel_installs_one_top_level_package(tmp_path):
    source = tmp_path / "source"  # a copy: setuptools leaves build/ in the tree it builds
    _, folders = _packages()
    for folder in set(folders.values()):
        shutil.copytree(ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path)]
    subprocess.run(
        [*build, str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("spend-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"spend"}
    assert "spend/experiments/churn.yaml" in names and "spend/features/examples/data/online_retail_ii.csv.xz" in names
    assert "spend/cli/__init__.py" in names and "spend/serving/service.py" in names


def test_the_bento_installs_the_service_without_development_tools():
    """The bento's requirements are the service's dependencies pinned as in development, and no test or
    development tool (they were the development lock, pytest, ruff and hypothesis included)."""
    import yaml

    bento = yaml.safe_load((ROOT / "bentofile.yaml").read_text())
    served = _pins(ROOT / bento["python"]["requirements_txt"])
    developed = _pins(ROOT / "requirements.lock")
    assert not {"pytest", "ruff", "hypothesis", "schemathesis", "pytest-timeout"} & set(served)
    assert {"bentoml", "feast", "lightgbm", "mlflow"} <= set(served)
    assert all(developed.get(name) == version for name, version in served.items())


def _pins(path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        if "==" in line and not line.lstrip().startswith("#"):
            name, version = line.split("==")
            pins[name.strip().split("[")[0].lower()] = version.split(";")[0].strip()
    return pins
