"""Shape simulated entities into the canonical tables (as a shop's export would look, raw ids included)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from spend.simulate.catalog import Catalog
from spend.simulate.config import SimulationConfig

_STREETS = ("High Street", "Station Road", "Church Lane", "Park Avenue", "Mill Road", "King Street")


def _in_history(ts: pd.Series | np.ndarray, config: SimulationConfig) -> np.ndarray:
    ts = np.asarray(ts, dtype="datetime64[s]")
    return (ts >= config.start_ts) & (ts < config.start_ts + np.timedelta64(config.horizon_s, "s"))


def _iso(ts) -> np.ndarray:
    return np.char.add(np.datetime_as_string(np.asarray(ts, dtype="datetime64[s]"), unit="s"), "Z")


def customer_table(customers: pd.DataFrame) -> pd.DataFrame:
    i = customers.index.to_numpy()
    return pd.DataFrame(
        {
            "customer_id": customers["customer_id"].to_numpy(),
            "signup_ts": _iso(customers["signup_ts"]),
            "membership_tier": customers["membership_tier"].to_numpy(),
            "region": customers["region"].to_numpy(),
            "channel": customers["channel"].to_numpy(),
            "birth_year": customers["birth_year"].to_numpy(),
            # Personal fields, fake but shaped like real ones: ingestion must route them to the vault only.
            "name": [f"Customer {k}" for k in i],
            "email": [f"customer{k}@example.com" for k in i],
            "phone": [f"+44 7700 {k % 1_000_000:06d}" for k in i],
            "address": [
                f"{1 + k % 199} {_STREETS[k % len(_STREETS)]}, {r}" for k, r in zip(i, customers["region"], strict=True)
            ],
        }
    )


def transaction_table(
    orders: pd.DataFrame,
    lines: pd.DataFrame,
    returns: pd.DataFrame,
    customers: pd.DataFrame,
    catalog: Catalog,
    config: SimulationConfig,
) -> pd.DataFrame:
    in_window = _in_history(orders["ts"], config)
    bought = lines[in_window[lines["order"].to_numpy()]]
    back = returns[in_window[returns["order"].to_numpy()] & _in_history(returns["return_ts"], config)]
    frames = []
    for part, kind, prefix in ((bought, "purchase", "O"), (back, "return", "R")):
        o = orders.iloc[part["order"].to_numpy()]
        line_no = part.groupby("order").cumcount().to_numpy() + 1
        order_id = (
            np.char.add(prefix, o["order_id"].to_numpy().astype(str))[:] if prefix == "R" else o["order_id"].to_numpy()
        )
        ts = part["return_ts"].to_numpy() if kind == "return" else o["ts"].to_numpy()
        frames.append(
            pd.DataFrame(
                {
                    "event_id": np.char.add(np.char.add(order_id.astype(str), "-"), line_no.astype(str)),
                    "order_id": order_id,
                    "customer_id": customers["customer_id"].to_numpy()[o["customer"].to_numpy()],
                    "ts": ts.astype("datetime64[s]"),
                    "product_id": catalog.products["product_id"].to_numpy()[part["product"].to_numpy()],
                    "quantity": part["quantity"].to_numpy(),
                    "unit_price": part["unit_price"].to_numpy(),
                    "discount": part["discount"].to_numpy(),
                    "unit_cost": part["unit_cost"].to_numpy(),
                    "currency": "GBP",
                    "store_id": o["store_id"].to_numpy(),
                    "channel": o["channel"].to_numpy(),
                    "payment_method": o["payment_method"].to_numpy(),
                    "terminal_id": o["terminal_id"].replace("", None).to_numpy(),
                    "kind": kind,
                }
            )
        )
    table = pd.concat(frames, ignore_index=True).sort_values(["ts", "event_id"], kind="stable")
    return table.assign(ts=_iso(table["ts"])).reset_index(drop=True)


def points_table(ledger: pd.DataFrame, customers: pd.DataFrame, config: SimulationConfig) -> pd.DataFrame:
    ledger = ledger[_in_history(ledger["ts"], config)].reset_index(drop=True)
    return pd.DataFrame(
        {
            "event_id": [f"PT{k:09d}" for k in range(len(ledger))],
            "customer_id": customers["customer_id"].to_numpy()[ledger["customer"].to_numpy()],
            "ts": _iso(ledger["ts"]),
            "points": ledger["points"].to_numpy(),
            "kind": ledger["kind"].to_numpy(),
            "order_id": ledger["order_id"].to_numpy(),
        }
    )


def membership_table(changes: pd.DataFrame, customers: pd.DataFrame, config: SimulationConfig) -> pd.DataFrame:
    changes = changes[_in_history(changes["ts"], config)].reset_index(drop=True)
    return pd.DataFrame(
        {
            "event_id": [f"M{k:09d}" for k in range(len(changes))],
            "customer_id": customers["customer_id"].to_numpy()[changes["customer"].to_numpy()],
            "ts": _iso(changes["ts"]),
            "tier": changes["tier"].to_numpy(),
            "previous_tier": changes["previous_tier"].to_numpy(),
        }
    )


def _winback_ts(offset_day: int, config: SimulationConfig) -> np.datetime64:
    return config.start_ts + np.timedelta64(int(offset_day) * 86_400 + 9 * 3600, "s")


def winback_ids(offset_days: pd.Series, config: SimulationConfig) -> np.ndarray:
    """Each win-back wave's campaign id, from its day in the history."""
    ids = {d: f"winback-{np.datetime_as_string(_winback_ts(d, config), unit='D')}" for d in offset_days.unique()}
    return offset_days.map(ids).to_numpy()


def campaign_table(campaign: pd.DataFrame, config: SimulationConfig) -> pd.DataFrame:
    """One row per wave and eligible customer, each wave its own campaign id."""
    ids = winback_ids(campaign["campaign_day"], config)
    rank = campaign.groupby("campaign_day").cumcount().to_numpy()
    ts = np.array([_winback_ts(d, config) for d in campaign["campaign_day"].to_numpy()], dtype="datetime64[s]")
    return pd.DataFrame(
        {
            "event_id": [f"{c}-{k:07d}" for c, k in zip(ids, rank, strict=True)],
            "campaign_id": ids,
            "customer_id": campaign["customer_id"].to_numpy(),
            "ts": _iso(ts),
            "group": np.where(campaign["treated"], "treatment", "control"),
            "contact_channel": np.where(campaign["treated"], "email", None),
            "offer": None,
        }
    )


def offer_campaign_ts(config: SimulationConfig, day: int) -> np.datetime64:
    """When an offer wave on `day` of the history was sent (9:00)."""
    return config.start_ts + np.timedelta64(int(day) * 86_400 + 9 * 3600, "s")


def offer_campaign_id(config: SimulationConfig, day: int) -> str:
    return f"offers-{np.datetime_as_string(offer_campaign_ts(config, day), unit='D')}"


def offer_campaign_table(assignment: pd.DataFrame, config: SimulationConfig) -> pd.DataFrame:
    """One row per wave and member: the wave's id, send time, group and offer."""
    return pd.concat(
        [_offer_wave_table(wave, config, int(day)) for day, wave in assignment.groupby("campaign_day", sort=True)],
        ignore_index=True,
    )


def _offer_wave_table(assignment: pd.DataFrame, config: SimulationConfig, day0: int) -> pd.DataFrame:
    day, campaign_id = offer_campaign_ts(config, day0), offer_campaign_id(config, day0)
    treated = (assignment["arm"] != "control").to_numpy()
    return pd.DataFrame(
        {
            "event_id": [f"{campaign_id}-{k:07d}" for k in range(len(assignment))],
            "campaign_id": campaign_id,
            "customer_id": assignment["customer_id"].to_numpy(),
            "ts": _iso(np.full(len(assignment), day)),
            "group": np.where(treated, "treatment", "control"),
            "contact_channel": np.where(treated, "email", None),
            "offer": np.where(treated, assignment["arm"].to_numpy(), None),
        }
    )


def inventory_table(inventory: pd.DataFrame, catalog: Catalog, config: SimulationConfig) -> pd.DataFrame:
    """One stock count per product x store at the close of each day of the history."""
    part = inventory[inventory["day_index"] >= config.days]
    close = config.start_ts + ((part["day_index"].to_numpy() - config.days) * 86_400 + 86_399).astype("timedelta64[s]")
    product = catalog.products["product_id"].to_numpy()[part["product"].to_numpy()]
    store = part["store"].to_numpy().astype(str)
    return pd.DataFrame(
        {
            "event_id": np.char.add(np.char.add(np.char.add("I", product.astype(str)), store), _iso(close)),
            "product_id": product,
            "store_id": store,
            "ts": _iso(close),
            "on_hand": part["on_hand"].to_numpy(),
            "on_order": part["on_order"].to_numpy(),
            "lead_time_days": part["lead_time_days"].to_numpy(),
        }
    )


LAUNCHES = 2  # catalogued products listed a week after the history ends: forecast from their category
LAUNCH_AFTER_DAYS = 7


def product_table(catalog: Catalog, config: SimulationConfig) -> pd.DataFrame:
    """The catalogue: each product's category, and a substitute group per set of substitutes (the pairs
    joined where they share a product), every product listed on the history's first day; and LAUNCHES
    products, not sold in the history, listed a week after it ends in its most common categories."""
    products = catalog.products["product_id"].astype(str)
    group = pd.Series(pd.NA, index=products, dtype=object)
    for k, (a, b) in enumerate(sorted(catalog.substitutes[["product_id", "substitute_id"]].itertuples(index=False))):
        joined = [g for g in (group[a], group[b]) if not pd.isna(g)]
        name = joined[0] if joined else f"G{k + 1:03d}"
        for old in joined[1:]:
            group[group == old] = name
        group[[a, b]] = name
    listed = pd.DataFrame(
        {
            "product_id": products.to_numpy(),
            "listed_at": _iso(np.full(len(products), config.start_ts)),
            "category": catalog.products["category"].to_numpy(),
            "substitute_group": group.to_numpy(),
        }
    )
    launch_ts = config.start_ts + np.timedelta64((config.days + LAUNCH_AFTER_DAYS) * 86_400, "s")
    launches = pd.DataFrame(
        {
            "product_id": [f"P{len(products) + j:05d}" for j in range(LAUNCHES)],
            "listed_at": _iso(np.full(LAUNCHES, launch_ts)),
            "category": np.resize(catalog.products["category"].value_counts().index.to_numpy(), LAUNCHES),
            "substitute_group": pd.NA,
        }
    )
    return pd.concat([listed, launches], ignore_index=True)


FEEDBACK_DELAY_DAYS = 7  # the Fraud Detection Handbook's delay before a payment's outcome is known


def fraud_label_table(fraud: pd.DataFrame, config: SimulationConfig) -> pd.DataFrame:
    """One label per card payment of the history, known a week later (if that is still inside the history)."""
    card = fraud[fraud["payment_method"] == "card"]
    known = card["ts"].to_numpy().astype("datetime64[s]") + np.timedelta64(FEEDBACK_DELAY_DAYS * 86_400, "s")
    card = card.assign(known=known)[_in_history(known, config)]
    return pd.DataFrame(
        {
            "event_id": "L" + card["order_id"].astype(str).to_numpy(),
            "order_id": card["order_id"].to_numpy(),
            "ts": _iso(card["known"]),
            "is_fraud": card["is_fraud"].astype(int).to_numpy(),
        }
    )
