"""Run the retail simulator end to end and assemble the canonical tables plus the ground truth."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from spend.simulate.baskets import build_lines, build_orders, build_returns
from spend.simulate.campaign import run_campaigns
from spend.simulate.catalog import build_calendar, build_catalog
from spend.simulate.config import CATEGORIES, SimulationConfig
from spend.simulate.customers import build_customers, simulate_purchases
from spend.simulate.dirt import add_dirt
from spend.simulate.fraud import inject_fraud
from spend.simulate.inventory import run_stock
from spend.simulate.loyalty import final_tiers, points_ledger, tier_changes
from spend.simulate.offers import (
    basket_factors,
    grow_baskets,
    offer_truth,
    order_values,
    points_multiplier,
    run_offer_campaigns,
)
from spend.simulate.tables import (
    campaign_table,
    customer_table,
    fraud_label_table,
    inventory_table,
    membership_table,
    offer_campaign_id,
    offer_campaign_table,
    points_table,
    product_table,
    transaction_table,
    winback_ids,
)

SIMULATION_STEPS = ("catalog", "customers", "campaign", "baskets", "stock", "fraud", "loyalty", "assemble")


@dataclass
class Simulation:
    tables: dict[str, pd.DataFrame]  # canonical tables, raw customer ids (ingestion pseudonymises them)
    truth: dict[str, pd.DataFrame]
    parameters: dict


def simulate(config: SimulationConfig, progress: Callable[[str], None] = lambda step: None) -> Simulation:
    streams = iter(np.random.default_rng(s) for s in np.random.SeedSequence(config.seed).spawn(9))
    progress("catalog")
    calendar = build_calendar(config)
    catalog = build_catalog(config, calendar, next(streams))
    progress("customers")
    customers = build_customers(config, next(streams))
    customers["signup_ts"] = config.start_ts + (customers["signup_day"] * 86_400).astype("int64").astype(
        "timedelta64[s]"
    )
    purchases = simulate_purchases(customers, calendar, config, next(streams))
    progress("campaign")
    purchases, campaign = run_campaigns(customers, purchases, calendar, config, next(streams))
    offers_rng = np.random.default_rng([config.seed, 13])  # its own stream: the other draws stay as they were
    offers = None
    if config.offer_campaign:
        purchases, offers = run_offer_campaigns(customers, purchases, calendar, config, offers_rng)
    customers["dropout_ts"] = _days_to_ts(purchases.dropout_day, config)
    progress("baskets")
    orders = build_orders(customers, purchases, catalog, config, next(streams))
    # Everybody buys at signup; shop opening hours can move that order within the day, so the signup
    # time is the first order's time (an event never predates its customer's signup).
    customers["signup_ts"] = orders.groupby("customer")["ts"].min().reindex(customers.index).to_numpy()
    lines = build_lines(orders, catalog, calendar, config, next(streams))
    if offers is not None:
        offer_order_value = order_values(lines, orders, offers, config)
        lines = grow_baskets(lines, basket_factors(orders, offers, config), offers_rng)
    basket_lines = orders.groupby("day_index").size() * config.mean_lines_per_order  # expected draws a day
    progress("stock")
    stores = [*catalog.stores["store_id"], "WEB", "APP"]
    stock = run_stock(orders, lines, stores, config, np.random.default_rng([config.seed, 11]))
    orders, lines = _kept_orders(orders, stock)
    progress("fraud")
    orders, lines, fraud = _fraud(orders, lines, customers, catalog, config, next(streams))
    returns = build_returns(lines, orders, catalog, next(streams))
    progress("loyalty")
    totals = _order_totals(orders, lines, returns)
    changes = tier_changes(customers, totals, config)
    customers["membership_tier"] = final_tiers(customers, changes)
    if offers is not None:
        totals["points_multiplier"] = _order_points(totals, orders, offers, config)
    ledger = points_ledger(totals[totals["amount"] > 0], config)
    progress("assemble")
    end = config.start_ts + np.timedelta64(config.horizon_s, "s")
    tables = {
        "customers": customer_table(customers[customers["signup_ts"] < end]),
        "transactions": transaction_table(orders, lines, returns, customers, catalog, config),
        "points": points_table(ledger, customers, config),
        "membership": membership_table(changes, customers, config),
        "campaigns": campaign_table(campaign, config),
    }
    tables["fraud_labels"] = fraud_label_table(fraud, config)
    tables["inventory"] = inventory_table(stock.inventory, catalog, config)
    tables["products"] = product_table(catalog, config)
    truth = _truth(customers, catalog, campaign, fraud, calendar, config)
    truth["demand"] = _demand_truth(stock.demand, catalog, calendar, config)
    truth["basket_lines"] = _basket_lines(basket_lines, calendar, config)
    if offers is not None:
        tables["campaigns"] = pd.concat([tables["campaigns"], offer_campaign_table(offers, config)], ignore_index=True)
        truth["offer_campaign"], truth["offer_effects"] = _offer_truth(offers, offer_order_value, ledger, config)
    tables["transactions"], truth["dirt"] = add_dirt(tables["transactions"], config.dirty_share, next(streams))
    return Simulation(tables, truth, _parameters(config))


def _fraud(orders, lines, customers, catalog, config, rng):
    """Inject fraud into card payments of the history; scenario 3 inflates the quantities of its orders."""
    window = (orders["day_index"] >= config.days).to_numpy()
    amount = (lines["quantity"] * lines["unit_price"] - lines["discount"]).groupby(lines["order"]).sum()
    payments = orders.loc[window, ["customer", "terminal_id"]].assign(
        day=orders.loc[window, "day_index"] - config.days,
        amount=amount.reindex(orders.index[window]).to_numpy(),
        card=(orders.loc[window, "payment_method"] == "card").to_numpy(),
    )
    genuine = payments.loc[payments["card"], "amount"]
    threshold = float(np.quantile(genuine, config.fraud_amount_quantile)) if len(genuine) else np.inf
    terminals = np.array(
        [f"{s}-T{t}" for s in catalog.stores["store_id"] for t in range(1, config.terminals_per_store + 1)]
    )
    labels = inject_fraud(
        payments,
        terminals,
        np.arange(len(customers)),
        config.fraud_terminal_rate,
        config.fraud_card_rate,
        threshold,
        rng,
    )
    factor = pd.Series(1, index=orders.index).where(~window, labels["amount_factor"].reindex(orders.index).fillna(1))
    lines = lines.assign(
        quantity=lines["quantity"] * factor.to_numpy()[lines["order"]],
        discount=np.round(lines["discount"] * factor.to_numpy()[lines["order"]], 2),
    )
    fraud = orders.loc[window, ["order_id", "ts", "customer", "terminal_id", "payment_method"]].assign(
        amount=payments["amount"] * labels["amount_factor"],
        scenario=labels["scenario"],
        is_fraud=labels["is_fraud"],
        threshold=threshold,
    )
    return orders, lines, fraud


def _redemption_rate(ledger: pd.DataFrame) -> float:
    """Points redeemed per point earned: what a point costs the shop, as a share of its value."""
    earned = ledger.loc[ledger["kind"] == "earn", "points"].sum()
    return float(-ledger.loc[ledger["kind"] == "redeem", "points"].sum() / max(earned, 1))


def _offer_truth(offers: pd.DataFrame, values: pd.DataFrame, ledger: pd.DataFrame, config) -> tuple:
    """(the assignment with each wave's order value and the redemption rate, the true effects per wave,
    member and offer), each row with its wave's campaign_id."""
    redemption = _redemption_rate(ledger)
    members = offers.merge(values, on="campaign_day", how="left").assign(redemption_rate=redemption)
    members.insert(0, "campaign_id", [offer_campaign_id(config, d) for d in members["campaign_day"]])
    effects = [
        offer_truth(wave, wave["order_spend"].iloc[0], wave["order_margin"].iloc[0], redemption).assign(
            campaign_id=campaign_id
        )
        for campaign_id, wave in members.groupby("campaign_id", sort=True)
    ]
    return members.drop(columns="customer_index"), pd.concat(effects, ignore_index=True)


def _order_points(totals: pd.DataFrame, orders: pd.DataFrame, offers: pd.DataFrame, config) -> np.ndarray:
    """Each order total's points multiplier (returns, whose ids are not orders', earn nothing anyway)."""
    multiplier = pd.Series(points_multiplier(orders, offers, config), index=orders["order_id"].to_numpy())
    return totals["order_id"].map(multiplier).fillna(1.0).to_numpy()


def _kept_orders(orders: pd.DataFrame, stock) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Orders that kept a line after stock-outs (a shopper who found every item sold out bought nothing),
    renumbered, with their lines pointing at the new positions."""
    position = np.cumsum(stock.keep_orders) - 1
    lines = stock.lines.assign(order=position[stock.lines["order"].to_numpy()]).reset_index(drop=True)
    return orders[stock.keep_orders].reset_index(drop=True), lines


def _demand_truth(demand: pd.DataFrame, catalog, calendar, config: SimulationConfig) -> pd.DataFrame:
    """True daily demand and what was sold, per product x store over the history."""
    window = demand[demand["day_index"] >= config.days]
    return pd.DataFrame(
        {
            "product_id": catalog.products["product_id"].to_numpy()[window["product"].to_numpy()],
            "store_id": window["store"].to_numpy(),
            "date": calendar.days[window["day_index"].to_numpy()],
            "demand": window["demand"].to_numpy(),
            "sold": window["sold"].to_numpy(),
        }
    )


def _basket_lines(per_day: pd.Series, calendar, config: SimulationConfig) -> pd.DataFrame:
    """Expected product draws per day over the history (before stock-outs): with the choice weights, the
    expected demand at any prices (spend/simulate/demand_truth.py)."""
    days = np.arange(config.days, 2 * config.days)
    return pd.DataFrame({"date": calendar.days[days], "lines": per_day.reindex(days, fill_value=0).to_numpy(float)})


def _days_to_ts(days: np.ndarray, config: SimulationConfig) -> pd.Series:
    """Days from the start as timestamps; infinite (never dropped out) becomes NaT."""
    finite = np.isfinite(days)
    seconds = np.where(finite, days * 86_400, 0).astype("int64")
    ts = pd.Series(config.start_ts + seconds.astype("timedelta64[s]"))
    return ts.where(finite)


def _order_totals(orders: pd.DataFrame, lines: pd.DataFrame, returns: pd.DataFrame) -> pd.DataFrame:
    net = (lines["quantity"] * lines["unit_price"] - lines["discount"]).groupby(lines["order"]).sum()
    bought = orders[["order_id", "customer", "ts"]].assign(amount=net.reindex(orders.index).fillna(0).to_numpy())
    refund = (returns["quantity"] * returns["unit_price"] + returns["discount"]).groupby(returns["order"]).sum()
    first_return = returns.groupby("order")["return_ts"].min()
    back = pd.DataFrame(
        {
            "order_id": "R" + orders["order_id"].to_numpy()[refund.index].astype(str),
            "customer": orders["customer"].to_numpy()[refund.index],
            "ts": first_return.reindex(refund.index).to_numpy(),
            "amount": refund.to_numpy(),
        }
    )
    return pd.concat([bought, back], ignore_index=True)


def _truth(customers, catalog, campaign, fraud, calendar, config) -> dict[str, pd.DataFrame]:
    window = slice(config.days, 2 * config.days)
    days = calendar.days[window]
    prices = pd.DataFrame(
        {
            "product_id": np.repeat(catalog.products["product_id"].to_numpy(), len(days)),
            "date": np.tile(days.to_numpy(), len(catalog.products)),
            "list_price": catalog.list_price[:, window].ravel(),
            "promo_depth": catalog.promo_depth[:, window].ravel(),
        }
    )
    columns = [
        "customer_id",
        "tier_at_signup",
        "region",
        "channel",
        "base_rate",
        "segment_multiplier",
        "purchase_rate_per_day",
        "dropout_prob",
        "signup_ts",
        "home_store",
    ]
    return {
        "customers": customers[columns + ["dropout_ts"]],
        "products": catalog.products.drop(columns=["category_index"]),
        "substitutes": catalog.substitutes,
        "prices": prices,
        "campaign": campaign.drop(columns=["customer_index"]).assign(
            campaign_id=winback_ids(campaign["campaign_day"], config)
        ),
        "fraud": fraud.assign(customer_id=customers["customer_id"].to_numpy()[fraud["customer"]]).drop(
            columns="customer"
        ),
        "visit_season": pd.DataFrame({"date": days, "visit_multiplier": calendar.visit_season[window]}),
        "category_season": pd.DataFrame(
            {
                "category": np.repeat(CATEGORIES, len(days)),
                "date": np.tile(days.to_numpy(), len(CATEGORIES)),
                "choice_multiplier": calendar.category_season[:, window].ravel(),
            }
        ),
    }


def _parameters(config: SimulationConfig) -> dict:
    return {
        "config": {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in vars(config).items()},
        "bgnbd": {
            "r": config.bgnbd_r,
            "alpha": config.bgnbd_alpha,
            "a": config.bgnbd_a,
            "b": config.bgnbd_b,
            "rate_unit": "purchases per day, before segment multipliers",
        },
        "segment_multipliers": {
            "tier": dict(zip(("basic", "silver", "gold", "platinum"), config.tier_rate, strict=True)),
            "region": dict(zip(config.regions, config.region_rate, strict=True)),
            "channel": dict(zip(("pos", "web", "app"), config.channel_rate, strict=True)),
        },
        "promo_lift": config.promo_lift,
    }
