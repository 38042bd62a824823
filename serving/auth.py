"""API keys and roles for the service: who may call what.

Keys are random tokens shown once when created; only their SHA-256 is stored (a token of 256 random
bits needs no salt or slow hash: nothing to brute-force). Roles and what they may call:

- marketing: churn scores, recall lists, segments;
- pricing-engine: price quotes, fraud scores, demand forecasts;
- supply-chain: demand forecasts and replenishment suggestions (the ERP's key);
- data-scientist: everything, admin calls included, except erasure;
- admin: everything, erasure (`/v1/admin/erase`) included: only the data-protection role may erase;
- monitoring: GET /metrics only (a Prometheus scraper's key).
A missing or unknown key is 401, a known key without the permission 403; both say why.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from spend.core.errors import SpendError
from spend.core.files import exclusive, replace_atomically

# What each role may call besides the models' endpoints, which each model's spec grants
# (spend.core.registry: `serving.roles`, plus data-scientist and admin for every model).
BATCH_DECISIONS: dict[str, frozenset[str]] = {
    "marketing": frozenset({"recall", "segments"}),
    "pricing-engine": frozenset(),
    "supply-chain": frozenset(),
    "data-scientist": frozenset({"recall", "segments", "admin", "metrics"}),
    "admin": frozenset({"recall", "segments", "admin", "erase", "metrics"}),
    "monitoring": frozenset({"metrics"}),
}


@lru_cache(maxsize=1)
def permissions() -> dict[str, frozenset[str]]:
    """Role -> what it may call: the batch decisions above and the models the specs grant it."""
    from spend.core.registry import EVERYTHING, ROLES, permission, served

    granted = {role: set(BATCH_DECISIONS.get(role, ())) for role in ROLES}
    for model in served().values():
        for route in model.serving.routes:
            for role in set(model.serving.route_roles.get(route, model.serving.roles)) | set(EVERYTHING):
                granted[role].add(permission(model, route))
    return {role: frozenset(allowed) for role, allowed in granted.items()}


class KeyFileError(SpendError):
    """The key file exists and cannot be read: no key can be checked, so no call is authorised."""


class AuthError(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Caller:
    name: str
    role: str


# A key's name is written on every audit and log line of its calls: a system or team, never a person's
# address (no '@'), a line break or a paragraph.
KEY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def _check_name(name: str) -> None:
    if not name.strip():  # a blank name cannot be told apart in `keys list` or revoked by hand
        raise ValueError("key name: must not be blank; name the system or team, e.g. erp")
    if not KEY_NAME.fullmatch(name):
        shown = name if len(name) <= 64 else f"{name[:40]}... ({len(name)} characters)"
        raise ValueError(
            f"key name {shown!r}: at most 64 letters, digits, '.', '_' or '-', starting with a letter or "
            "digit; name the system or team, e.g. erp or pricing-engine"
        )


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_store(home: Path) -> KeyStore:
    """The service's key file under the data home."""
    return KeyStore(Path(home) / "serving" / "api_keys.json")


class KeyStore:
    """Hashed keys in a JSON file: {sha256: {"name": ..., "role": ...}}."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._cached: tuple[tuple[int, int], dict] | None = None

    def _load(self) -> dict[str, dict[str, str]]:
        """A copy of the keys, for changing them."""
        return dict(self._current())

    def _current(self) -> dict[str, dict[str, str]]:
        """The keys, re-read only when the file changed (a stat per call instead of a parse): a revoked
        key is refused on the next request. Not to be changed: the cache itself."""
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return {}
        version = (stat.st_ino, stat.st_mtime_ns, stat.st_size)  # a replaced file is a new inode
        if self._cached is None or self._cached[0] != version:
            self._cached = (version, self._parse())
        return self._cached[1]

    def _parse(self) -> dict[str, dict[str, str]]:
        try:
            keys = json.loads(self.path.read_text(encoding="utf-8"))
            entries = keys.values() if isinstance(keys, dict) else [None]
            if not all(isinstance(e, dict) and {"name", "role"} <= set(e) for e in entries):
                raise ValueError("not a map of key hashes to a name and a role")
        except (ValueError, UnicodeDecodeError) as error:  # JSONDecodeError is a ValueError
            raise KeyFileError(
                f"the key file {self.path} cannot be read ({error}): restore it from a backup, or move it away "
                "and add the keys again (`spend keys add`)"
            ) from error
        return keys

    def add(self, name: str, role: str) -> str:
        """Create a key for `name` with `role`; returns the key, which is not stored anywhere."""
        if role not in permissions():
            raise ValueError(f"unknown role {role!r}; roles: {', '.join(permissions())}")
        _check_name(name)
        with exclusive(self._lock):
            keys = self._load()
            if any(entry["name"] == name for entry in keys.values()):
                raise ValueError(f"a key named {name!r} exists; revoke it first")
            key = secrets.token_urlsafe(32)
            keys[_digest(key)] = {"name": name, "role": role}
            self._write(keys)
        return key

    @property
    def _lock(self) -> Path:
        return self.path.with_name(f".{self.path.name}.lock")

    def _write(self, keys: dict) -> None:
        """Replaced in one step (the service reads the file on every request), readable by the owner only."""
        replace_atomically(self.path, json.dumps(keys, indent=2, sort_keys=True))

    def list(self) -> list[dict[str, str]]:
        """Names and roles (never the keys, which are not stored)."""
        return sorted(self._load().values(), key=lambda e: e["name"])

    def revoke(self, name: str) -> bool:
        with exclusive(self._lock):
            keys = self._load()
            kept = {d: e for d, e in keys.items() if e["name"] != name}
            if len(kept) < len(keys):
                self._write(kept)
        return len(kept) < len(keys)

    def authorize(self, key: str | None, permission: str) -> Caller:
        if not key:
            raise AuthError(401, "missing API key: send it in the X-API-Key header")
        digest = _digest(key)
        entry = next((e for d, e in self._current().items() if hmac.compare_digest(d, digest)), None)
        if entry is None:
            raise AuthError(401, "unknown API key")
        roles = permissions()
        if permission not in roles[entry["role"]]:
            allowed = ", ".join(r for r, perms in roles.items() if permission in perms)
            raise AuthError(403, f"role {entry['role']!r} may not call {permission} endpoints (allowed: {allowed})")
        return Caller(entry["name"], entry["role"])
