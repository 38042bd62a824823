"""An unreachable production backend is one clear line naming the setting, not a driver traceback."""

from __future__ import annotations

import uuid

import pytest
from typer.testing import CliRunner

from spend.cli import app
from tests.conftest import require_service

runner = CliRunner()


def test_an_unusable_registry_names_the_setting(settings, monkeypatch):
    monkeypatch.setenv("SPEND_ENV", "production")
    monkeypatch.setenv(
        "SPEND_REGISTRY_URL", f"postgresql+psycopg://postgres:secret@127.0.0.1:5432/no_{uuid.uuid4().hex[:6]}"
    )
    result = runner.invoke(app, ["features", "apply"])
    assert result.exit_code == 2, result.output
    assert "SPEND_REGISTRY_URL: cannot use the registry" in result.output
    assert "secret" not in result.output and "Traceback" not in result.output


@pytest.mark.service
def test_an_unreachable_redis_names_the_setting(settings, monkeypatch):
    require_service("PostgreSQL", "127.0.0.1", 5432)
    monkeypatch.setenv("SPEND_ENV", "production")
    monkeypatch.setenv("SPEND_FEATURE_PROJECT", f"spend_test_{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv("SPEND_REGISTRY_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    monkeypatch.setenv("SPEND_REDIS_URL", "127.0.0.1:1")
    assert runner.invoke(app, ["features", "apply"]).exit_code == 0  # declaring needs only the registry
    result = runner.invoke(app, ["features", "get", "customer", "C0000001"])
    assert result.exit_code == 2, result.output
    assert "SPEND_REDIS_URL: cannot reach Redis at 127.0.0.1:1" in result.output


def test_materialising_before_a_build_names_the_step_to_run_first(settings):
    assert runner.invoke(app, ["features", "apply"]).exit_code == 0  # declarations, but no snapshots yet
    result = runner.invoke(app, ["features", "materialize"])
    assert result.exit_code == 2, result.output
    assert "run `spend features build` first" in result.output and "unexpected" not in result.output
