"""Parameters of the consumption-history simulator; every number here is ground truth the tests can recover."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import date

import numpy as np

CATEGORIES = ("grocery", "beverages", "household", "apparel", "electronics", "toys", "garden", "seasonal")
# The canonical tables a simulation writes, in the order they are ingested.
TABLE_ORDER = (
    "customers",
    "transactions",
    "products",
    "points",
    "membership",
    "campaigns",
    "fraud_labels",
    "inventory",
)
REGIONS = ("north", "south", "east", "west", "central")
CHANNELS = ("pos", "web", "app")
TIERS = ("basic", "silver", "gold", "platinum")


@dataclass(frozen=True)
class SimulationConfig:
    customers: int = 10_000
    days: int = 365
    seed: int = 7
    start: date = date(2025, 1, 1)  # fixed, so the same seed gives the same bytes on any day
    products: int = 200
    stores: int = 20
    terminals_per_store: int = 5
    # BG/NBD population: purchase rate per day ~ Gamma(r, 1/alpha) x segment multipliers; dropout ~ Beta(a, b).
    bgnbd_r: float = 0.9
    bgnbd_alpha: float = 30.0
    bgnbd_a: float = 0.6
    bgnbd_b: float = 4.0
    tier_share: tuple[float, ...] = (0.70, 0.20, 0.08, 0.02)
    tier_rate: tuple[float, ...] = (1.0, 1.4, 1.9, 2.5)
    region_share: tuple[float, ...] = (0.25, 0.25, 0.2, 0.2, 0.1)
    region_rate: tuple[float, ...] = (1.0, 0.9, 1.1, 1.0, 1.2)
    channel_share: tuple[float, ...] = (0.5, 0.3, 0.2)
    channel_rate: tuple[float, ...] = (1.0, 0.8, 1.3)
    mean_lines_per_order: float = 2.5
    promo_lift: float = 1.3  # demand multiplier on promotion on top of the price effect
    price_season: float = 0.3  # list prices follow the category's season: season multiplier ** this
    promo_off_season: float = 1.0  # promotions start more often off season: rate x season ** -this (0.5-2x)
    promo_slow_movers: float = 2.0  # the least popular quarter of products is promoted this much more often
    substitute_pairs: int = 10
    tier_thresholds: tuple[float, ...] = (0.0, 400.0, 1_200.0, 3_000.0)  # cumulative spend for each tier
    campaign_day: int | None = None  # default: 60% into the history
    campaign_window_days: int = 30
    # Win-back waves: the campaign repeated every `campaign_every_days` from campaign_day, each wave
    # eligible and randomised afresh (a shop's monthly win-back mailing). One wave unless asked for, so
    # the histories the earlier benchmarks were measured on stay byte-for-byte the same.
    campaign_waves: int = 1
    campaign_every_days: int = 30
    # A randomised multi-arm offer campaign (spend/simulate/offers.py). Off unless asked for, so the
    # histories the earlier benchmarks were measured on stay byte-for-byte the same; `spend simulate`
    # and `spend demo` turn it on.
    offer_campaign: bool = False
    offer_day: int | None = None  # default: 85% into the history, its window ending inside it
    offer_window_days: int = 30
    # Offer waves: the multi-arm campaign repeated every `offer_every_days`, the last one on offer_day
    # (each randomised afresh on the purchases the earlier ones caused). One unless asked for.
    offer_waves: int = 1
    offer_every_days: int = 30
    fraud_terminal_rate: float = 2 / 10_000  # compromised terminals per terminal per day (Handbook: 2 of 10,000)
    fraud_card_rate: float = 3 / 5_000  # compromised cards per customer per day (Handbook: 3 of 5,000)
    fraud_amount_quantile: float = 0.995  # scenario 1 threshold, as a quantile of legitimate POS order amounts
    lead_time_days: tuple[int, int] = (2, 7)  # supplier lead time per product, drawn uniformly in this range
    review_days: int = 7  # each product x store is reviewed and reordered once a week
    order_cover: float = 2.0  # order up to this multiple of trailing sales over lead time plus review
    min_daily_rate: float = 0.1  # a series with no recent sales still orders as if selling this much
    dirty_share: float = 0.0  # share of transaction lines corrupted like a real export (see dirt.py)
    regions: tuple[str, ...] = field(default=REGIONS)

    @property
    def start_ts(self) -> np.datetime64:
        return np.datetime64(self.start.isoformat(), "s")

    @property
    def horizon_s(self) -> int:
        return self.days * 86_400

    @property
    def campaign_offset_days(self) -> int:
        return self.campaign_day if self.campaign_day is not None else int(self.days * 0.6)

    @property
    def campaign_wave_days(self) -> list[int]:
        return [self.campaign_offset_days + k * self.campaign_every_days for k in range(self.campaign_waves)]

    @property
    def offer_offset_days(self) -> int:
        if self.offer_day is not None:
            return self.offer_day
        return max(min(int(self.days * 0.85), self.days - self.offer_window_days), 0)

    @property
    def offer_wave_days(self) -> list[int]:
        last, every = self.offer_offset_days, self.offer_every_days
        return [last - (self.offer_waves - 1 - k) * every for k in range(self.offer_waves)]


def config_from_parameters(parameters: dict) -> SimulationConfig:
    """The configuration a simulation ran with, from its ground_truth/parameters.json."""
    known = {f.name: f for f in fields(SimulationConfig)}
    values = {}
    for key, value in parameters["config"].items():
        if key not in known:
            continue
        if key == "start":
            value = date.fromisoformat(value)
        values[key] = tuple(value) if isinstance(value, list) else value
    return SimulationConfig(**values)
