"""Erase customers on request (GDPR art. 17, PIPL art. 47): every store under the data home and the online
store, then the vault, and a deny list so the same id is refused if it comes back.

What is searched (docs/privacy.md has the rule for each):
- the offline store and the quarantine (Parquet per batch; only the files holding the customer are
  rewritten), the lines batches took back (kept to undo them), the feature snapshots, the online store
  (SQLite or Redis);
- the published decisions (recall list, segments), whose manifest is rewritten so a running service
  reloads them;
- every other table file under SPEND_HOME (CSV, Parquet, Excel: reports, `--out` exports, the demo's
  source files), searched for the pseudonym and the raw id in any text column;
- the vault (identity and personal fields), then the deny list (a keyed hash, neither id nor pseudonym).
Text files that mention the customer (JSON, logs) are listed in the receipt, not edited.

All under the ingest lock: an ingest running at the same time commits before or after, never between.
"""

from __future__ import annotations

import json
import os
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from spend.core.audit import command_audit
from spend.core.errors import SpendError
from spend.core.files import replace_with
from spend.core.ids import canonical_id
from spend.core.names import CUSTOMER_ID as ID
from spend.core.names import MANIFEST
from spend.core.privacy.erasing import erasing
from spend.core.privacy.pseudonym import written_pseudonym
from spend.core.privacy.vault import IdentityVault
from spend.core.settings import SpendSettings
from spend.features.governance.scrub import TABULAR, TEXT, mentions, parquet_files, scrub_file, scrub_parquet
from spend.features.ingest.lock import ledger_lock

# Handled by name (the stores above) or holding no customer data by design (ledgers, keys, the audit
# trail and logs, which never carry ids; MLflow's database holds parameters and metrics).
_NOT_WALKED = (
    *("offline", "quarantine", "retracted", "features", "published", "staging", "vault", "feast", "audit", "logs"),
)


class ErasureIncomplete(SpendError):
    """A store could not be reached: what was done stays done, and the same request finishes the rest."""


@dataclass
class Receipt:
    """What one erasure request removed, store by store; no ids except the unknown ones the caller gave."""

    request: str
    customers: int
    found: int
    already_erased: int
    unknown: int
    removed: dict[str, int] = field(default_factory=dict)
    files_rewritten: int = 0
    not_removed: list[str] = field(default_factory=list)
    unknown_ids: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def erase_customers(settings: SpendSettings, raw_ids: Iterable[str], reason: str = "", who: str = "") -> Receipt:
    """Remove the customers behind these ids (the shop's own ids) from every store, write the audit record
    (`who` asked, for `reason`) and return the receipt; harmless to repeat."""
    asked = list(dict.fromkeys(str(r).strip() for r in raw_ids if str(r).strip()))
    if not asked:
        raise SpendError("erase: no customer id given (arguments or --from-file)")
    key = settings.pseudonym_key.get_secret_value().encode("utf-8")
    # Each id as ingestion spells it (NFKC) and as written: a home that ingested "Cafe\u0301" before ids
    # were spelled one way holds that customer under the written spelling, in its pseudonym and exports.
    spelled = {a: {written_pseudonym(s, key): s for s in (canonical_id(a), a)} for a in asked}  # pseudonym: id
    of = {p: s for a in asked for p, s in spelled[a].items()}
    vault = IdentityVault(settings.paths.vault, key)
    with ledger_lock(settings.paths.home):
        before = vault.denied(of)
        known = set(vault.reidentify(of)) if settings.paths.vault.exists() else set()
        found, removed, rewritten, left = _scrub_home(settings, of)
        with erasing(settings.paths.home):  # a running service's write of card windows: before or after
            removed["online store"] = _erase_online(settings, list(of))
            forgotten = vault.erase(of)
    removed["vault identities"] = forgotten["identities"]
    removed["vault personal fields"] = forgotten["personal"]
    pseudonym_of = {p: p for p in of} | {r: p for p, r in of.items()}  # a raw id found counts for its customer
    seen = known | {pseudonym_of[t] for t in found}
    found_ids = [a for a in asked if spelled[a].keys() & seen]
    erased_before = [a for a in asked if not spelled[a].keys() & seen and spelled[a].keys() & before]
    stored = seen | set(before)
    unknown = [a for a in asked if not spelled[a].keys() & stored]
    receipt = Receipt(
        request=f"erasure-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}",
        customers=len(asked),
        found=len(found_ids),
        already_erased=len(erased_before),
        unknown=len(unknown),
        removed=removed,
        files_rewritten=rewritten,
        not_removed=left,
        unknown_ids=unknown,
    )
    command_audit(settings.paths.home).write(
        user=who, action="erase", **audit_record(receipt, reason, list(of.values()))
    )
    return receipt


def audit_record(receipt: Receipt, reason: str, raw_ids: Iterable[str]) -> dict:
    """The receipt as the audit trail keeps it: counts and the request, no id, and the reason with any id
    it quotes blanked."""
    for raw in raw_ids:
        reason = reason.replace(str(raw), "[id]") if str(raw) else reason
    record = {k: v for k, v in receipt.as_dict().items() if k not in ("unknown_ids", "not_removed")}
    return record | {"not_removed": len(receipt.not_removed), "reason": reason}


def _scrub_home(settings: SpendSettings, of: dict[str, str]) -> tuple[set, dict[str, int], int, list[str]]:
    """Rows removed per store, the targets found, the files rewritten and the text files left."""
    home = settings.paths.home
    pseudonyms = pa.array(list(of), type=pa.string())
    everything = pa.array([*of, *of.values()], type=pa.string())
    found: Counter = Counter()
    removed: dict[str, int] = {}
    rewritten = 0

    def count(label: str, hits: Counter) -> None:
        nonlocal rewritten
        found.update(hits)
        rewritten += bool(hits)
        if hits:
            removed[label] = removed.get(label, 0) + sum(hits.values())

    for root, label, targets, columns, by_table in (
        (settings.paths.offline, "offline store", pseudonyms, {ID}, True),
        (settings.paths.quarantine, "quarantine", everything, None, True),
        (settings.paths.feature_snapshots, "feature snapshots", pseudonyms, {ID}, False),
        (settings.paths.published, "published decisions", everything, None, False),
    ):
        for path in parquet_files(root):
            name = path.relative_to(root).parts[0] if by_table else path.relative_to(root).parts[0].split(".")[0]
            count(f"{label} ({name})", scrub_parquet(path, targets, columns))
    for path in parquet_files(settings.paths.retracted):  # <batch>/<table>/...: kept to undo the batch
        count(
            f"taken-back lines ({path.relative_to(settings.paths.retracted).parts[1]})",
            scrub_parquet(path, pseudonyms, {ID}),
        )
    if any(k.startswith("published decisions") for k in removed):
        _touch_manifest(settings.paths.published)
    left = []
    for path in _other_files(home):
        if path.suffix.lower() in TABULAR:
            count("files under SPEND_HOME", scrub_file(path, everything))
        elif mentions(path, everything.to_pylist()):
            left.append(str(path.relative_to(home)))
    return set(found), removed, rewritten, left


def _other_files(home: Path) -> list[Path]:
    skipped = {home / name for name in _NOT_WALKED}
    files = []
    for folder, subfolders, names in os.walk(home):
        here = Path(folder)
        subfolders[:] = [s for s in subfolders if here / s not in skipped]
        files += [here / n for n in names if Path(n).suffix.lower() in (*TABULAR, *TEXT) and not n.startswith(".")]
    return sorted(files)


def _touch_manifest(folder: Path) -> None:
    """Record the erasure in the publication's manifest: the service reloads a publication whose manifest
    changed, so the erased customers leave its recall list and segments too."""
    path = folder / MANIFEST
    if not path.exists():
        return
    manifest = json.loads(path.read_text(encoding="utf-8")) | {"erased_at": datetime.now(UTC).isoformat()}
    text = json.dumps(manifest, indent=2, default=str)
    replace_with(path, lambda temporary: temporary.write_text(text, encoding="utf-8"))


def _erase_online(settings: SpendSettings, pseudonyms: list[str]) -> int:
    """Entities removed from the online store of the configured environment; an unreachable production
    store fails the request (it can be repeated: the other stores are already done)."""
    from spend.features.store.online_erase import delete_entities

    try:
        return delete_entities(settings, ID, pseudonyms)
    except Exception as error:  # noqa: BLE001 - any store failure leaves the erasure incomplete
        raise ErasureIncomplete(
            f"erase: the online store could not be reached ({type(error).__name__}); the other stores are done, "
            "run the same erasure again when it is back"
        ) from error
