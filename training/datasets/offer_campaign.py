"""Every randomised multi-arm offer campaign whose window has passed, pooled: each assignment's features as
of the midnight before it (the offers_v1 service), its arm, and what the member bought in the window.

A shop's offer waves are each a randomised experiment, and one wave's arms of a few thousand members pin
down effects of a few units of margin only roughly (docs/offers.md): every closed campaign that sent the
YAML's offers is pooled, one row per assignment (a member in several waves has a row for each, with that
wave's features and outcome). A campaign whose window is still open is left out and the notes say so.

Outcome per assignment: margin in the window (revenue where no unit costs were ingested) minus what its
offer cost by the YAML's rules (models/offers.py offer_cost; points at the ledger's redemption rate over
the year before that wave). A random `holdout_share` of the members (fixed by their pseudonym, every wave
of theirs, so a retrain judges on the same members and no model sees another wave of a member it is
judged on) is kept out of fitting: every policy (Spend's, the best single offer, random, none) is valued
on it off-policy (models/offer_policy.py). The contenders the gate chooses from are refitted on all of it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import clone

from spend.core.errors import SpendError, first_few
from spend.core.experiments import OffersConfig
from spend.core.names import CUSTOMER_ID as ID
from spend.core.registry import ModelSpec
from spend.core.settings import SpendSettings
from spend.features.compute.customer_activity import LIFETIME
from spend.training.datasets import Evaluation
from spend.training.plots import policy_figure

STEPS = ("campaign", "holdout", "register")
NO_CAMPAIGN = "no randomised offer campaign: cannot estimate offer effects"


@dataclass
class OfferCampaign:
    name: str  # "campaign <id>", or how many were pooled and their span
    frame: pd.DataFrame  # customer_id, event_timestamp, campaign_id, arm, outcomes (spend ... net), holdout, features
    columns: list[str]  # feature columns
    redemption_rate: float  # the latest campaign's: what a point costs now
    notes: list[str]  # what this history could not give, one line each
    # The active customers' features when the model is trained: how far the inputs moved on their own
    # since the campaign (drift monitoring's natural movement, models/drift.py).
    recent: pd.DataFrame | None = None
    recent_at: pd.Timestamp | None = None

    def matrix(self, other: pd.DataFrame | None = None) -> pd.DataFrame:
        from spend.models.encoding import encode, learn_categories

        categories = learn_categories(self.frame[self.columns])
        return encode(self.frame if other is None else other, self.columns, categories, "offers")


def offer_campaigns(settings: SpendSettings, config: OffersConfig) -> pd.DataFrame:
    """Assignments of every campaign that sent one of the YAML's offers (errors name an unknown offer)."""
    from spend.features.ingest.store import OfflineStore

    rows = OfflineStore(settings.paths).read("campaigns", [ID, "campaign_id", "ts", "group", "offer"])
    if rows.empty or "offer" not in rows or rows["offer"].isna().all():
        hint = "ingest one with `spend ingest FILE --table campaigns`, each treated member's offer in `offer`"
        raise SpendError(f"{NO_CAMPAIGN} ({hint})")
    rows = rows[rows["campaign_id"].isin(rows.loc[rows["offer"].notna(), "campaign_id"])]
    unknown = sorted(set(rows["offer"].dropna()) - set(config.offers))
    if unknown:
        raise SpendError(f"campaigns: offer {', '.join(map(repr, unknown))} is not defined in offers.yaml's offers")
    return rows


def read_campaign(settings: SpendSettings, config: OffersConfig, as_of=None) -> OfferCampaign:
    """Every offer campaign whose window has closed by `as_of` (default: the history's end), pooled."""
    from spend.features.ingest.store import OfflineStore
    from spend.training.dataset import order_lines

    rows = offer_campaigns(settings, config)
    lines = order_lines(OfflineStore(settings.paths))
    end = lines["ts"].max() if as_of is None else pd.Timestamp(as_of)
    started = rows.groupby("campaign_id")["ts"].min()
    done = started.index[started + pd.Timedelta(days=config.window_days) <= end]
    if done.empty:
        raise SpendError(f"{NO_CAMPAIGN} (the latest one's {config.window_days}-day window has not passed)")
    controlled = rows[rows["group"] == "control"]["campaign_id"].unique()
    uncontrolled = sorted(set(done) - set(controlled))
    done = done[done.isin(controlled)]
    if done.empty:
        raise SpendError(f"{NO_CAMPAIGN} ({_uncontrolled(uncontrolled)})")
    assigned = rows[rows["campaign_id"].isin(done)].drop_duplicates([ID, "campaign_id"])
    data = _frame(settings, config, assigned.sort_values(["ts", "campaign_id"], kind="stable"), lines)
    if len(done) + len(uncontrolled) < len(started):
        open_ = len(started) - len(done) - len(uncontrolled)
        data.notes.append(f"{open_} offer campaign(s) still inside their window left out")
    if uncontrolled:
        data.notes.append(_uncontrolled(uncontrolled))
    return data


def _uncontrolled(campaigns: list[str]) -> str:
    """A campaign that sent every member an offer measured nothing against sending none: pooled, its members
    had no chance of the control arm, and the policy values divided by that chance."""
    return (
        f"offer campaign(s) {first_few(campaigns)} left out: no control group (every member was sent an offer), "
        "so nothing measures what its members would have done without one"
    )


def _frame(settings: SpendSettings, config: OffersConfig, assigned: pd.DataFrame, lines: pd.DataFrame) -> OfferCampaign:
    from spend.features.store.config import feature_store
    from spend.features.store.training_set import training_set
    from spend.training.dataset import feature_columns

    assigned = assigned.reset_index(drop=True)
    rows = pd.DataFrame({ID: assigned[ID].to_numpy(), "event_timestamp": assigned["ts"].dt.normalize().to_numpy()})
    frame = training_set(feature_store(settings), rows, "offers_v1")
    columns = feature_columns(frame)
    frame.insert(2, "campaign_id", assigned["campaign_id"].astype(str).to_numpy())
    arm = np.where(assigned["group"].to_numpy() == "treatment", assigned["offer"].fillna("").to_numpy(), "control")
    if (arm == "").any():
        raise SpendError("campaigns: a treated member of a multi-arm campaign has no offer")
    frame["arm"] = arm
    outcome, margin_known = _outcomes(lines, assigned, config.window_days)
    frame[list(outcome.columns)] = outcome.to_numpy()
    rates, notes = _redemption_rates(settings, assigned)
    if not margin_known:
        notes.append("no unit costs: offers are judged on revenue, not margin")
    frame["cost"] = 0.0
    rate = frame["campaign_id"].map(rates).to_numpy()
    for name, offer in config.offers.items():
        chosen = (frame["arm"] == name).to_numpy()
        frame.loc[chosen, "cost"] = offer_costs(offer, frame.loc[chosen], config.point_value, rate[chosen])
    frame["net"] = frame["margin"] - frame["cost"]
    frame["holdout"] = [_in_holdout(p, config.holdout_share) for p in frame[ID]]
    ids = frame["campaign_id"].unique()
    name = f"campaign {ids[0]}" if len(ids) == 1 else f"{len(ids)} campaigns pooled ({ids[0]} to {ids[-1]})"
    return OfferCampaign(name, frame, columns, float(rates[ids[-1]]), notes)


def offer_costs(offer, frame: pd.DataFrame, point_value: float, rate) -> np.ndarray:
    from spend.models.offers import offer_cost

    return offer_cost(offer.kind, offer.value, frame["spend"], frame["orders"], point_value, rate)


def _outcomes(lines: pd.DataFrame, assigned: pd.DataFrame, window_days: int) -> tuple[pd.DataFrame, bool]:
    """Spend, margin and orders in each assignment's own window (row for row of `assigned`, zeros where the
    member bought nothing): a member in two waves has each wave's purchases, not both."""
    at = assigned[[ID, "ts"]].rename(columns={"ts": "at"}).assign(_row=np.arange(len(assigned)))
    bought = lines[lines["kind"] == "purchase"].merge(at, on=ID)
    inside = bought[(bought["ts"] >= bought["at"]) & (bought["ts"] < bought["at"] + pd.Timedelta(days=window_days))]
    per = inside.groupby("_row").agg(spend=("net", "sum"), margin=("margin", "sum"), orders=("order_id", "nunique"))
    return per.reindex(np.arange(len(assigned))).fillna(0.0).astype(float), bool(lines["unit_cost"].notna().any())


def _redemption_rates(settings: SpendSettings, assigned: pd.DataFrame) -> tuple[dict[str, float], list[str]]:
    """Each campaign's redemption rate as of its send (the ledger read once for all), and the notes (one
    per kind of gap)."""
    from spend.features.ingest.store import OfflineStore

    ledger = OfflineStore(settings.paths).read("points", ["ts", "points", "kind"])
    rates, notes = {}, []
    for campaign_id, at in assigned.groupby("campaign_id")["ts"].min().items():
        rates[str(campaign_id)], missing = redemption_rate(ledger, at)
        notes = notes or missing
    return rates, notes


def redemption_rate(ledger: pd.DataFrame, at: pd.Timestamp) -> tuple[float, list[str]]:
    """Points redeemed per point earned in the ledger's year before `at` (1.0, and a note, without one)."""
    if not ledger.empty:
        ledger = ledger[(ledger["ts"] < at) & (ledger["ts"] >= at - pd.Timedelta(days=365))]
    earned = ledger.loc[ledger["kind"] == "earn", "points"].sum() if not ledger.empty else 0
    if earned <= 0:
        return 1.0, ["no points earned in the year before the campaign: a point costs its full value"]
    return float(min(-ledger.loc[ledger["kind"] == "redeem", "points"].sum() / earned, 1.0)), []


def _in_holdout(pseudonym: str, share: float) -> bool:
    digest = hashlib.blake2b(str(pseudonym).encode(), digest_size=8, person=b"offers-holdout").digest()
    return int.from_bytes(digest, "big") / 2**64 < share


def prepare(settings: SpendSettings, spec: ModelSpec, config: OffersConfig, as_of=None) -> OfferCampaign:
    from spend.training.dataset import latest_day

    data = read_campaign(settings, config, as_of)
    at = latest_day(settings) if as_of is None else pd.Timestamp(as_of)
    try:
        data.recent, data.recent_at = current_inputs(settings, spec, config, at), at
    except SpendError:  # no snapshot that day: drift limits without the natural movement
        data.notes.append(f"no feature snapshot on {at:%Y-%m-%d}: drift limits without the inputs' own movement")
    return data


def current_inputs(settings: SpendSettings, spec: ModelSpec, config: OffersConfig, as_of: pd.Timestamp) -> pd.DataFrame:
    """Every active customer's offer features at `as_of`: whom an assignment would score today."""
    from spend.training.dataset import feature_columns
    from spend.training.scoring import active_features

    frame = active_features(settings, pd.Timestamp(as_of), spec.feature_service)
    return frame[feature_columns(frame)]


def build(spec: ModelSpec, config: OffersConfig, params: dict):
    # The tier ladder is the shop's (SPEND_TIERS): the effects split its upper tiers from its lower ones.
    return spec.estimator(**({"learner": config.learner, "tiers": SpendSettings().tiers} | params))


def _scorers(spec: ModelSpec, config: OffersConfig, params: dict) -> dict:
    out = {"spend": lambda: build(spec, config, params)}
    return out | {name: (lambda f=spec.baselines[name]: f(config)) for name in config.baselines}


def _fit(make, data: OfferCampaign, rows: np.ndarray):
    X, frame = data.frame[data.columns], data.frame
    return make().fit(
        X[rows], frame["arm"].to_numpy()[rows], frame["net"].to_numpy()[rows], frame["cost"].to_numpy()[rows]
    )


def policies(data: OfferCampaign, fitted: dict, rng_seed: int = 0) -> dict[str, np.ndarray]:
    """Each policy's arm per holdout member (0: control), unconstrained: the best offer when it pays; and
    a random offer for everyone, which is judged but never served."""
    X = data.frame.loc[data.frame["holdout"].to_numpy(), data.columns]
    offers = sorted(set(data.frame["arm"]) - {"control"})
    out = {}
    for name, model in fitted.items():
        net = model.effects(X).net
        out[name] = np.where(net.max(axis=1) > 0, net.argmax(axis=1) + 1, 0)
    out["random"] = np.random.default_rng(rng_seed).integers(1, len(offers) + 1, len(X))
    return out


def judge(config: OffersConfig, data: OfferCampaign, fitted: dict) -> pd.DataFrame:
    """Every policy's doubly robust value per holdout member, with its interval."""
    from spend.models.offer_policy import ArmOutcomes, dr_scores, policy_value

    frame, X = data.frame, data.matrix()
    train, hold = ~frame["holdout"].to_numpy(), frame["holdout"].to_numpy()
    mu = ArmOutcomes().fit(X[train], frame["arm"].to_numpy()[train], frame["net"].to_numpy()[train])
    arm, net, campaigns = (frame[c].to_numpy()[hold] for c in ("arm", "net", "campaign_id"))
    scores = dr_scores(mu.predict(X[hold]), mu.arms_, arm, net, campaigns)  # each wave's own arm shares
    chosen = policies(data, fitted)
    members = frame.loc[hold, ID].to_numpy()  # a member's waves are one cluster
    values = {name: policy_value(scores, choice, config.alpha, members) for name, choice in chosen.items()}
    table = pd.DataFrame(
        {
            name: {
                "policy_value": v.value,
                "policy_value_low": v.low,
                "policy_value_high": v.high,
                "offered_share": float((chosen[name] > 0).mean()),
            }
            for name, v in values.items()
        }
    ).T
    return table


def evaluate(spec: ModelSpec, config: OffersConfig, data: OfferCampaign, params: dict) -> Evaluation:
    train = ~data.frame["holdout"].to_numpy()
    scorers = _scorers(spec, config, params)
    fitted = {name: _fit(make, data, train) for name, make in scorers.items()}
    table = judge(config, data, fitted)
    contenders = {name: _fit(make, data, np.ones(len(data.frame), dtype=bool)) for name, make in scorers.items()}
    counts = data.frame["arm"].value_counts()
    details = {
        "campaign": data.name,
        "campaigns": int(data.frame["campaign_id"].nunique()),
        "members": len(data.frame),
        "holdout_members": int(data.frame["holdout"].sum()),
        "arms": {str(k): int(v) for k, v in counts.items()},
        "redemption_rate": data.redemption_rate,
        "skipped": "; ".join(data.notes) or None,
    }
    example = data.frame[data.columns].head(5)
    return Evaluation(
        table[list(spec.metric_names)].astype(float),
        dict(params),
        {"campaign": data.name},
        {},
        details,
        contenders,
        example=example,
        # The campaign's members at assignment, against today's active customers for drift monitoring.
        reference=data.frame[data.columns],
        recent=data.recent,
        reference_at=pd.Timestamp(data.frame["event_timestamp"].min()),
        recent_at=data.recent_at,
        trends=LIFETIME,
        figures={"policy_values.png": lambda: policy_figure(table)},
    )


def champion_metrics(spec: ModelSpec, config: OffersConfig, data: OfferCampaign, model) -> dict[str, float]:
    """The champion's settings refitted on the same training members, judged on the same holdout."""
    fitted = _fit(lambda: clone(model), data, ~data.frame["holdout"].to_numpy())
    table = judge(config, data, {"champion": fitted})
    return table.loc["champion"].to_dict()


def objective(spec: ModelSpec, config: OffersConfig, data: OfferCampaign):
    """The DR value of the unconstrained policy on a validation share of the training members."""
    train = data.frame[~data.frame["holdout"]].reset_index(drop=True)
    inner = OfferCampaign(
        data.name,
        train.assign(holdout=[_in_holdout(f"tune-{p}", 0.3) for p in train[ID]]),
        data.columns,
        data.redemption_rate,
        data.notes,
    )

    def score(trial) -> float:
        params = spec.search_space(trial, config.search_space)
        fitted = {"spend": _fit(lambda: build(spec, config, params), inner, ~inner.frame["holdout"].to_numpy())}
        return float(judge(config, inner, fitted).loc["spend", "policy_value"])

    return score


def score(settings: SpendSettings, spec: ModelSpec, as_of=None, **_) -> tuple[pd.DataFrame, dict]:
    """`spend score offers`: every active member's expected net margin per offer (no budget)."""
    from spend.training.offers import member_effects

    frame, summary = member_effects(settings, as_of)
    return frame, summary
