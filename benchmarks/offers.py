"""Offer targeting against its baselines, on a simulated history whose offer effects are known.

One simulated year with --waves randomised multi-arm offer campaigns a month apart, the last 85% of the
way in (control and four offers, a fifth of the members each; spend/simulate/offers.py). Spend pools every
wave (training/datasets/offer_campaign.py). Effects are learned on the training members' assignments of
every wave (offers.yaml's holdout_share of the members kept out, all their waves) with each of econml's
learners (dr, x, t); every policy is then applied to the held-out members of the last wave under the same
budget (half of what the oracle would spend without one), and valued with that wave's truth (expected net
margin added per member, given each member's hidden state):
- Spend: the learned effects, assigned by the LP (models/offer_assignment.py);
- best single offer: the offer with the best average effect on the training members, to as many as the
  budget pays for; random: a random offer to random members until the budget is spent;
- bayes: the LP on the effects as the best forecast from the data gives them (the simulator's population
  known, each member seen through its purchases, tier and channel; reported, no goal);
- oracle: the LP on the true effects and costs; none: nothing.
Beside the truth, the doubly robust estimate of Spend's policy on the held-out members with its 90%
interval (models/offer_policy.py). Last, the LP's time to assign 1,000,000 members (the held-out members'
effects repeated with noise) under a budget. --waves 1 is the single campaign measured before.

    python benchmarks/offers.py [--customers 72000] [--seed 5] [--waves 4] [--home DIR] [--json]
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from benchmarks.report import benchmark_parser, figure, quiet_libraries, show_figures  # noqa: E402
from benchmarks.simulated import simulate_history  # noqa: E402
from spend.core.experiments import OffersConfig, read_config  # noqa: E402
from spend.core.privacy.pseudonym import pseudonymise  # noqa: E402
from spend.core.settings import SpendSettings  # noqa: E402
from spend.features.ingest.pipeline import IngestOptions, ingest  # noqa: E402
from spend.features.store import quiet_feast  # noqa: E402
from spend.features.store.build import build_snapshots  # noqa: E402
from spend.features.store.config import feature_store  # noqa: E402
from spend.features.store.definitions import build_repo  # noqa: E402
from spend.models.offer_assignment import NONE, assign  # noqa: E402
from spend.models.offer_policy import ArmOutcomes, dr_scores, policy_value  # noqa: E402
from spend.models.offers import BestSingleOffer, OfferUplift  # noqa: E402
from spend.simulate.config import config_from_parameters  # noqa: E402
from spend.simulate.offers import bayes_offer_truth  # noqa: E402
from spend.simulate.oracle import bayes_expected_orders, observed_history  # noqa: E402
from spend.training.datasets.offer_campaign import read_campaign  # noqa: E402

KEY = "benchmark-key-0123456789abcdef0123"
TABLES = ("customers", "transactions", "points", "membership", "campaigns")
LEARNERS = ("dr", "x", "t")


def log(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def build(home: Path, customers: int, seed: int, waves: int) -> None:
    sim = home.parent / "sim"
    log(f"simulating {customers:,} customers, {waves} offer wave(s)")
    simulate_history(sim, customers, seed=seed, options=("--offer-waves", str(waves)))
    settings = SpendSettings(home=home, pseudonym_key=KEY)
    for table in TABLES:
        log(f"ingesting {table}")
        ingest(sim / f"{table}.csv", IngestOptions(table), settings)
    log("building feature snapshots")
    last = pd.to_datetime(pd.read_csv(sim / "transactions.csv", usecols=["ts"])["ts"]).max()
    build_snapshots(settings, last.normalize() + pd.Timedelta(days=1))
    feature_store(settings).apply(build_repo(settings.paths.feature_snapshots).objects)
    (home / "built").write_text("ok")


def truth_matrix(sim: Path, campaign: str, members: pd.Series, offers: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(members, offers) true net margin change and true cost in `campaign`, in the frame's member order."""
    effects = pd.read_parquet(sim / "ground_truth" / "offer_effects.parquet")
    return per_member(effects[effects["campaign_id"] == campaign], "true", members, offers)


def per_member(effects: pd.DataFrame, prefix: str, members: pd.Series, offers: list[str]):
    """(members, offers) `{prefix}_net_uplift` and `{prefix}_cost` of a long per-member-and-offer frame
    with the simulator's ids, in the order of `members` (pseudonyms)."""
    effects = effects.assign(customer_id=pseudonymise(effects["customer_id"], KEY.encode()).to_numpy())
    net = effects.pivot(index="customer_id", columns="offer", values=f"{prefix}_net_uplift")[offers]
    cost = effects.pivot(index="customer_id", columns="offer", values=f"{prefix}_cost")[offers]
    return net.reindex(members).to_numpy(), cost.reindex(members).to_numpy()


def bayes_matrix(sim: Path, campaign: str, members: pd.Series, offers: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(members, offers) net margin change and cost as the best forecast from the data gives them: the
    simulator's population known, each member seen only through its purchases and its tier and channel
    (spend/simulate/offers.bayes_offer_truth)."""
    truth = sim / "ground_truth"
    config = config_from_parameters(json.loads((truth / "parameters.json").read_text()))
    waves = pd.read_parquet(truth / "offer_campaign.parquet")
    wave = waves[waves["campaign_id"] == campaign].reset_index(drop=True)
    customers = pd.read_parquet(truth / "customers.parquet")
    start = pd.Timestamp(config.start, tz="UTC")
    at = start + pd.Timedelta(days=int(wave["campaign_day"].iloc[0]))
    lines = pd.read_csv(sim / "transactions.csv", usecols=["customer_id", "order_id", "ts", "kind"])
    history = observed_history(lines, at, start, wave["customer_id"])
    expected = bayes_expected_orders(config, customers, history, at, config.offer_window_days).to_numpy()
    return per_member(bayes_offer_truth(customers, wave, expected), "bayes", members, offers)


def true_value(choice: np.ndarray, net: np.ndarray, cost: np.ndarray) -> tuple[float, float]:
    """Per member: true net margin added and true cost of giving member i offer choice[i] (NONE: nothing)."""
    given = choice != NONE
    rows = np.flatnonzero(given)
    n = len(choice)
    return float(net[rows, choice[given]].sum() / n), float(cost[rows, choice[given]].sum() / n)


def random_within(budget: float, cost: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random offer to random members, each costing its offer's average, until the budget is spent."""
    choice = np.full(len(cost), NONE)
    order = rng.permutation(len(cost))
    offer = rng.integers(0, cost.shape[1], len(cost))
    spent = np.cumsum(cost[order, offer[order]])
    keep = order[spent <= budget]
    choice[keep] = offer[keep]
    return choice


def run(home: Path, sim: Path) -> dict:
    quiet_feast()
    settings = SpendSettings(home=home, pseudonym_key=KEY)
    config = read_config("offers", OffersConfig)
    data = read_campaign(settings, config)
    frame = data.frame
    last = frame["event_timestamp"].max()  # the last wave: its truth judges every policy
    kept_out = frame["holdout"].to_numpy()
    hold, train = kept_out & (frame["event_timestamp"] == last).to_numpy(), ~kept_out
    campaign = str(frame.loc[hold, "campaign_id"].iloc[0])
    X, arm, net, cost = frame[data.columns], frame["arm"].to_numpy(), frame["net"].to_numpy(), frame["cost"].to_numpy()
    offers = sorted(set(arm) - {"control"})
    true_net, true_cost = truth_matrix(sim, campaign, frame.loc[hold, "customer_id"], offers)
    oracle_all = np.where(true_net.max(axis=1) > 0, true_net.argmax(axis=1), NONE)
    budget = 0.5 * true_value(oracle_all, true_net, true_cost)[1] * hold.sum()
    log(f"{data.name}: {train.sum():,} training assignments, {hold.sum():,} held out; budget {budget:,.0f}")
    result = {
        "campaigns": int(frame["campaign_id"].nunique()),
        "members": int((frame["event_timestamp"] == last).sum()),
        "train_assignments": int(train.sum()),
        "holdout": int(hold.sum()),
        "budget": budget,
        "arms": frame["arm"].value_counts().to_dict(),
    }
    policies = {}
    for learner in LEARNERS:
        started = time.perf_counter()
        model = OfferUplift(learner=learner, **config.params).fit(X[train], arm[train], net[train], cost[train])
        effects = model.effects(X[hold])
        result[f"fit_{learner}_s"] = time.perf_counter() - started
        policies[f"spend_{learner}"] = assign(effects.net, effects.cost, budget).choice
        result[f"corr_{learner}"] = float(np.corrcoef(effects.net.ravel(), true_net.ravel())[0, 1])
        seconds, correlation = result[f"fit_{learner}_s"], result[f"corr_{learner}"]
        log(f"{learner}: fitted in {seconds:.1f} s, correlation with the truth {correlation:.3f}")
    if result["campaigns"] > 1:  # the same learner on the last wave's training members alone: what pooling adds
        alone = train & (frame["event_timestamp"] == last).to_numpy()
        alone_model = OfferUplift(learner=config.learner, **config.params)
        learned = alone_model.fit(X[alone], arm[alone], net[alone], cost[alone]).effects(X[hold])
        policies["last_wave_only"] = assign(learned.net, learned.cost, budget).choice
    single = BestSingleOffer().fit(X[train], arm[train], net[train], cost[train]).effects(X[hold])
    policies["best_single"] = assign(single.net, single.cost, budget).choice
    policies["random"] = random_within(budget, single.cost, np.random.default_rng(0))
    log("the best forecast from the data (bayes)")
    bayes_net, bayes_cost = bayes_matrix(sim, campaign, frame.loc[hold, "customer_id"], offers)
    result["corr_bayes"] = float(np.corrcoef(bayes_net.ravel(), true_net.ravel())[0, 1])
    policies["bayes"] = assign(bayes_net, bayes_cost, budget).choice
    policies["oracle"] = assign(true_net, true_cost, budget).choice
    policies["none"] = np.full(hold.sum(), NONE)
    for name, choice in policies.items():
        value, spent = true_value(choice, true_net, true_cost)
        result[f"true_{name}"], result[f"true_cost_{name}"] = value, spent
        result[f"offered_{name}"] = float((choice != NONE).mean())
    encoded = data.matrix()  # the outcome models take numbers; the offer models encode text themselves
    mu = ArmOutcomes().fit(encoded[train], arm[train], net[train])
    scores = dr_scores(mu.predict(encoded[hold]), mu.arms_, arm[hold], net[hold])
    spend_choice = policies[f"spend_{config.learner}"]
    estimate = policy_value(scores, np.where(spend_choice == NONE, 0, spend_choice + 1), 0.10)
    result |= {"dr_value": estimate.value, "dr_low": estimate.low, "dr_high": estimate.high}
    result |= lp_scale(effects, budget, hold.sum())
    return result


def lp_scale(effects, budget: float, members: int, size: int = 1_000_000) -> dict:
    """Seconds to assign `size` members: the last learner's held-out effects repeated, with noise."""
    rng = np.random.default_rng(1)
    rows = rng.integers(0, len(effects.net), size)
    shape = (size, effects.net.shape[1])
    net = effects.net[rows] * rng.lognormal(0, 0.1, shape)
    cost = effects.cost[rows] * rng.lognormal(0, 0.1, shape)
    started = time.perf_counter()
    done = assign(net, cost, budget * size / members)
    return {"lp_1m_s": time.perf_counter() - started, "lp_1m_offered": int((done.choice != NONE).sum())}


def figures(result: dict, learner: str) -> list[dict]:
    spend, single, oracle = result[f"true_spend_{learner}"], result["true_best_single"], result["true_oracle"]
    covered = result["dr_low"] <= spend <= result["dr_high"]
    return [
        figure(
            "true net margin per member, Spend vs best single offer", spend, single, ">= 1.25x", spend >= 1.25 * single
        ),
        figure(
            "true net margin per member, Spend vs the oracle",
            spend,
            oracle,
            ">= 0.80x",
            spend >= 0.8 * oracle,
            bayes=round(result["true_bayes"], 4),  # the best from the data, reported beside it
        ),
        figure(
            "DR 90% interval covers Spend's true value",
            result["dr_value"],
            spend,
            f"[{result['dr_low']:.3f}, {result['dr_high']:.3f}] covers the truth",
            covered,
        ),
        figure(
            "assign 1,000,000 members under a budget (s)", result["lp_1m_s"], None, "< 60 s", result["lp_1m_s"] < 60
        ),
    ]


def main() -> None:
    quiet_libraries()
    parser = benchmark_parser(__doc__, customers=72_000, customers_help="About 50,000 of them are campaign members.")
    parser.add_argument("--seed", type=int, default=5, help="The simulation's seed (settings are chosen on another).")
    parser.add_argument("--waves", type=int, default=4, help="Offer campaigns a month apart, pooled.")
    parser.add_argument("--home", type=Path, help="Keep the built home here and reuse it.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="spend-offers-") as temporary:
        home = (args.home or Path(temporary)) / "home"
        if not (home / "built").exists():
            build(home, args.customers, args.seed, args.waves)
        result = run(home, home.parent / "sim")
    learner = read_config("offers", OffersConfig).learner
    print(
        f"{result['campaigns']} campaign(s) pooled, {result['train_assignments']:,} training assignments; last wave "
        f"{result['members']:,} members, {result['holdout']:,} held out; budget {result['budget']:,.0f}"
    )
    print(f"{'policy':<16}{'true net/member':>16}{'true cost/member':>18}{'offered':>10}")
    for name in (
        *(f"spend_{k}" for k in LEARNERS),
        "last_wave_only",
        "best_single",
        "random",
        "bayes",
        "oracle",
        "none",
    ):
        if f"true_{name}" not in result:
            continue
        print(
            f"{name:<16}{result[f'true_{name}']:>16.3f}{result[f'true_cost_{name}']:>18.3f}{result[f'offered_{name}']:>10.1%}"
        )
    print(f"DR estimate of spend_{learner}: {result['dr_value']:.3f} [{result['dr_low']:.3f}, {result['dr_high']:.3f}]")
    print(
        "correlation of learned and true net effects: "
        + ", ".join(f"{k} {result[f'corr_{k}']:.3f}" for k in (*LEARNERS, "bayes"))
    )
    print(f"LP, 1,000,000 members: {result['lp_1m_s']:.1f} s ({result['lp_1m_offered']:,} offered)")
    rows = figures(result, learner)
    show_figures(rows)
    if args.json:
        print(json.dumps({"benchmark": "offers", "results": result, "figures": rows}, indent=2, default=float))


if __name__ == "__main__":
    main()
