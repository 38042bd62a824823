"""A real `bentoml serve` process over a data home built by training/sample_home.py, shared by the local
and production service tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx

from spend.core.settings import SpendSettings
from spend.serving.launch import environment_for, start


def start_service(settings: SpendSettings, log: Path) -> tuple[subprocess.Popen, str, float]:
    return start(environment_for(settings), log)


def post(url: str, path: str, body: dict, key: str | None = None, timeout: float = 30) -> httpx.Response:
    headers = {"X-API-Key": key} if key else {}
    return httpx.post(f"{url}{path}", json=body, headers=headers, timeout=timeout)
