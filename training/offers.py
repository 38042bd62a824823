"""Offers for today's members: each active member's expected net margin and cost per offer from the offers
champion, then one offer or none each, by the assignment LP (models/offer_assignment.py) under a budget,
a stock per offer, the contact cap (no offer to a member contacted in the last contact_days: any treated
campaign row or published offer) and an exclusion list.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from spend.core.errors import SpendError
from spend.core.experiments import OffersConfig, read_config
from spend.core.model_store import ModelStore
from spend.core.names import CUSTOMER_ID as ID
from spend.core.settings import SpendSettings

NONE = "none"


@dataclass
class AssignOptions:
    budget: float
    stock: Path | None = None  # CSV: offer, stock
    exclude: Path | None = None  # the shop's own customer ids: one per line, or a table's column of them
    as_of: pd.Timestamp | None = None
    exclude_column: str = "customer_id"  # the exclusion table's column of ids

    def check(self) -> None:
        if not np.isfinite(self.budget) or self.budget < 0:
            raise SpendError(f"--budget: must be a finite number >= 0, got {self.budget:g}")


def member_effects(settings: SpendSettings, as_of=None) -> tuple[pd.DataFrame, dict]:
    """Every active member's expected net margin and cost per offer (`spend score offers`)."""
    frame, effects, version = _effects(settings, as_of)
    columns = {ID: frame[ID].to_numpy(), "as_of": frame["event_timestamp"].to_numpy()}
    for k, offer in enumerate(effects.offers):
        columns[f"net_{offer}"] = effects.net[:, k]
        columns[f"cost_{offer}"] = effects.cost[:, k]
    out = pd.DataFrame(columns | {"model_version": int(version.version)})
    return out, {"model": f"offers v{version.version}", "members": len(out), "offers": effects.offers}


def _champion(settings: SpendSettings):
    from spend.core.registry import spec

    offers = spec("offers")
    return ModelStore(settings).load(offers.name, feature_service=offers.feature_service)


def _effects(settings: SpendSettings, as_of, champion=None):
    from spend.training.dataset import latest_day
    from spend.training.scoring import active_features

    model, version = champion or _champion(settings)
    as_of = latest_day(settings) if as_of is None else pd.Timestamp(as_of)
    frame = active_features(settings, as_of, "offers_v1")
    return frame, model.effects(frame[model.features_]), version


def assign_offers(settings: SpendSettings, options: AssignOptions) -> tuple[pd.DataFrame, dict]:
    """(one row per active member: the offer or none, expected margin, cost and net, and why; a report)."""
    from spend.models.offer_assignment import NONE as NO_OFFER
    from spend.models.offer_assignment import assign

    options.check()
    config = read_config("offers", OffersConfig)
    champion = _champion(settings)
    stock = read_stock(options.stock, list(champion[0].offers_))  # bad input fails before the features are read
    never = excluded(settings, options.exclude, options.exclude_column)
    frame, effects, version = _effects(settings, options.as_of, champion)
    as_of = pd.Timestamp(frame["event_timestamp"].iloc[0])
    allowed = ~frame[ID].isin(never | contacted(settings, config, as_of)).to_numpy()
    result = assign(effects.net, effects.cost, options.budget, stock, allowed)
    chosen = result.choice != NO_OFFER
    pick = np.where(chosen, result.choice, 0)
    rows = np.arange(len(frame))
    out = pd.DataFrame(
        {
            ID: frame[ID].to_numpy(),
            "offer": np.where(chosen, np.asarray(effects.offers, dtype=object)[pick], NONE),
            "expected_margin": np.where(chosen, effects.margin[rows, pick], 0.0),
            "expected_cost": np.where(chosen, effects.cost[rows, pick], 0.0),
            "expected_net": np.where(chosen, effects.net[rows, pick], 0.0),
            "reason": result.reason,
            "as_of": as_of,
            "model_version": int(version.version),
        }
    ).sort_values("expected_net", ascending=False, kind="stable")
    mix = out.loc[out["offer"] != NONE, "offer"].value_counts()
    report = {
        "model": f"offers v{version.version}",
        "as_of": as_of.date().isoformat(),
        "members": len(out),
        "offered": int(chosen.sum()),
        "mix": {offer: int(mix.get(offer, 0)) for offer in effects.offers},
        "budget": options.budget,
        "expected_cost": round(result.cost, 2),
        "expected_net_margin": round(result.net, 2),
        "not_allowed": int((~allowed).sum()),
        # how many of the exclusion list are members today: a list that matches none is worth a look
        "excluded": {"listed": len(never), "members": int(frame[ID].isin(never).sum())},
        "split_members": result.split_members,
        "why_none": {str(k): int(v) for k, v in out.loc[out["offer"] == NONE, "reason"].value_counts().items()},
    }
    return out.reset_index(drop=True), report


def read_stock(path: Path | None, offers: list[str]) -> np.ndarray | None:
    """Per offer, how many may go out (unlimited where the file does not say)."""
    if path is None:
        return None
    from spend.core.user_tables import read_table

    table = read_table(path, "--stock", names=("offer", "stock"))
    missing = [c for c in ("offer", "stock") if c not in table]
    if missing:
        raise SpendError(f"--stock: {path.name} needs column(s) {', '.join(missing)}")
    unknown = sorted(set(table["offer"].astype(str)) - set(offers))
    if unknown:
        raise SpendError(
            f"--stock: offer {', '.join(map(repr, unknown))} is not one the offers model knows ({', '.join(offers)})"
        )
    twice = table["offer"].astype(str)[table["offer"].astype(str).duplicated()]
    if not twice.empty:
        raise SpendError(f"--stock: offer {twice.iloc[0]!r} is listed twice; one row per offer")
    stock = pd.to_numeric(table["stock"], errors="coerce")
    whole = stock.notna() & np.isfinite(stock) & (stock >= 0) & (stock == np.floor(stock))
    if not whole.all():
        row = int(np.flatnonzero(~whole.to_numpy())[0])
        raise SpendError(
            f"--stock: stock must be a whole number >= 0 on every row (row {row + 1}: {table['stock'].iloc[row]}; "
            "leave an offer out for no limit)"
        )
    given = dict(zip(table["offer"].astype(str), stock, strict=True))
    return np.array([float(given.get(offer, np.inf)) for offer in offers])


def excluded(settings: SpendSettings, path: Path | None, column: str = ID) -> set[str]:
    """The exclusion list's customers, pseudonymised with the home's key; a list that cannot be read whole
    is refused (a CSV row read as one id would exclude nobody, silently)."""
    if path is None:
        return set()
    from spend.core.id_lists import read_id_list
    from spend.core.privacy.pseudonym import pseudonymise

    raw = read_id_list(path, "--exclude", column, "--exclude-column", "no offer was assigned")
    key = settings.pseudonym_key.get_secret_value().encode("utf-8")
    return set(pseudonymise(pd.Series(raw, dtype=str), key))


def contacted(settings: SpendSettings, config: OffersConfig, as_of: pd.Timestamp) -> set[str]:
    """Members contacted in the contact_days before `as_of`: treated in a campaign, or sent a published offer."""
    from spend.core.names import OFFERS
    from spend.features.ingest.store import OfflineStore

    since = as_of - pd.Timedelta(days=config.contact_days)
    rows = OfflineStore(settings.paths).read("campaigns", [ID, "ts", "group"])
    out = set()
    if not rows.empty:
        recent = rows[(rows["group"] == "treatment") & (rows["ts"] >= since) & (rows["ts"] < as_of)]
        out |= set(recent[ID])
    published = settings.paths.published / OFFERS
    if published.exists():
        sent = pd.read_parquet(published, columns=[ID, "offer", "as_of"])
        at = pd.to_datetime(sent["as_of"])
        sent = sent[(sent["offer"] != NONE) & (at >= since) & (at < as_of)]
        out |= set(sent[ID])
    return out


def publish_offers(settings: SpendSettings, assignment: pd.DataFrame, report: dict) -> dict:
    """Put the assignment where the service answers from: published/offers.parquet, and an `offers` entry
    in the publication's manifest (rewritten last, so a running service reloads both)."""
    import json

    from spend.core.files import replace_with
    from spend.core.names import MANIFEST, OFFERS
    from spend.features.governance.after_erasure import without_erased
    from spend.features.ingest.lock import ledger_lock

    folder = settings.paths.published
    manifest_path = folder / MANIFEST
    if not manifest_path.exists():
        raise SpendError("nothing is published yet: run `spend publish`, then `spend offers assign --publish`")
    columns = [ID, "offer", "expected_margin", "expected_cost", "expected_net", "reason", "as_of", "model_version"]
    entry = {k: report[k] for k in ("model", "as_of", "members", "offered", "mix", "budget", "expected_cost")}
    with ledger_lock(settings.paths.home):  # an erasure, or `spend publish`'s manifest, before or after
        kept = without_erased(settings, assignment[columns])
        replace_with(folder / OFFERS, lambda staging: kept.to_parquet(staging, index=False))
        entry["published_at"] = pd.Timestamp.now(tz="UTC").isoformat()
        manifest = json.loads(manifest_path.read_text(encoding="utf-8")) | {"offers": entry}
        text = json.dumps(manifest, indent=2, default=str)
        replace_with(manifest_path, lambda staging: staging.write_text(text, encoding="utf-8"))
    return entry
