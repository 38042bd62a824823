"""Request and response bodies of the service (pydantic): what the OpenAPI document shows callers.

Request validators read the settings once per process (`settings()`): the same bounds as ingestion
(amount, currency, clock skew), so a payment the batch path would quarantine is a 400 here, naming the field.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from datetime import date as date_type
from functools import lru_cache
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from spend.core.ids import canonical_id
from spend.core.privacy.pseudonym import PREFIX
from spend.core.settings import SpendSettings

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _pseudonymous(value: str) -> str:
    """A shop's own id sent where a pseudonym belongs would only ever be "not found": refused, saying why."""
    if not value.startswith(PREFIX):
        raise ValueError(
            f"not a pseudonymous id ({PREFIX}...): this endpoint answers by the pseudonyms Spend publishes "
            "(the recall list, `spend score`); the shop's own ids are not stored"
        )
    return value


CustomerIds = Annotated[
    list[
        Annotated[
            str,
            Field(min_length=1, max_length=128, json_schema_extra={"pattern": f"^{PREFIX}"}),
            AfterValidator(_pseudonymous),
        ]
    ],
    Field(min_length=1, max_length=10_000, description=f"Pseudonymous customer ids ({PREFIX}...)"),
]


_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_text(pattern: str, example: str):
    """Times are ISO 8601 text only: pydantic would read a number (or a text of digits) as epoch seconds or
    milliseconds by its size, and a day sent with a time would lose the time; each is a client's bug."""

    def check(value: object) -> object:
        if isinstance(value, date_type):  # in-process callers pass the objects themselves
            return value
        if not isinstance(value, str) or not re.fullmatch(pattern, value):
            shown = {bool: "true or false", int: "a number", float: "a number"}.get(type(value), repr(value)[:40])
            raise ValueError(f"must be ISO 8601 text like {example}, not {shown}")
        return value

    return BeforeValidator(check)


Moment = Annotated[datetime, _iso_text(_ISO_DAY.pattern + r"[Tt ].+", "2026-01-31T12:00:00Z")]
Day = Annotated[date_type, _iso_text(_ISO_DAY.pattern, "2026-01-31")]
# JSON numbers only: "12.5" or true as a price is a client's bug to report, not to guess at; and finite ones
# (Python's JSON reads Infinity and NaN: an infinite price passed every bound a price has).
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]


@lru_cache(maxsize=1)
def settings() -> SpendSettings:
    """Read once per process: request validators must not parse the environment on every call."""
    return SpendSettings()


class Served(BaseModel):
    """What every decision says about itself."""

    model: str = Field(description="Registered model name (spend-<model>)")
    version: int = Field(description="Registered model version in use")
    degraded: bool = Field(False, description="True: answered from defaults because a dependency failed")
    degraded_reason: str | None = None


class ChurnScore(BaseModel):
    customer_id: str
    found: bool = Field(description="False: no online features for this customer (unknown or expired)")
    churn_probability: float | None = None
    churn_band: str | None = None
    reasons: list[str] = []
    features_at: float | None = Field(None, description="Epoch seconds of the feature values used")


class ChurnResponse(Served):
    scores: list[ChurnScore]


class CustomerScore(BaseModel):
    customer_id: str
    found: bool = Field(description="False: no online features for this customer (unknown or expired)")
    score: float | None = Field(None, description="The model's score on the customer's online features")
    features_at: float | None = Field(None, description="Epoch seconds of the newest feature values used")


class CustomerScoresResponse(Served):
    """The generic endpoint of a declared customer model (its spec's routes name no method)."""

    scores: list[CustomerScore]


class Transaction(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is refused, not ignored

    order_id: str = Field(min_length=1, max_length=64)
    card_id: str = Field(min_length=1, max_length=64, description="The card (customer) id; pseudonymised here")
    terminal_id: str = Field(min_length=1, max_length=64)
    ts: Moment = Field(description="When the payment was made (ISO 8601 with offset)")
    # Checked in the validator, not with gt=0: BentoML writes an OpenAPI 3.0 document, where an
    # exclusive minimum is `minimum: 0, exclusiveMinimum: true` (pydantic writes the 3.1 form).
    # Strict: "12.5" or true as an amount is a client's bug to report, not to guess at (JSON numbers only).
    amount: float = Field(
        strict=True,
        description="In `currency`; more than 0, at most SPEND_MAX_LINE_AMOUNT",
        json_schema_extra={"minimum": 0, "exclusiveMinimum": True},
    )
    currency: str = Field(
        default_factory=lambda: settings().default_currency,
        min_length=3,
        max_length=3,
        description="ISO 4217 code among SPEND_CURRENCIES; SPEND_DEFAULT_CURRENCY when absent",
    )
    basket_size: int = Field(1, ge=1, le=10_000, strict=True)

    @field_validator("ts")
    @classmethod
    def _not_in_the_future(cls, ts: datetime) -> datetime:
        if ts.tzinfo is None:
            raise ValueError("needs a UTC offset (e.g. 2026-01-31T12:00:00Z)")
        if ts > datetime.now(UTC) + timedelta(seconds=settings().future_tolerance_seconds):
            raise ValueError("is in the future")
        if ts < EPOCH:  # schemathesis found year 3 (pandas' clock starts in 1677; card payments later)
            raise ValueError("must be on or after 1970-01-01")
        return ts

    @field_validator("amount")
    @classmethod
    def _positive_and_not_absurd(cls, amount: float) -> float:
        if not amount > 0:
            raise ValueError("must be greater than 0")
        if amount > settings().max_line_amount:
            raise ValueError(f"must be at most {settings().max_line_amount:,.0f} (SPEND_MAX_LINE_AMOUNT)")
        return amount

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, currency: str) -> str:
        known = settings().currencies
        if currency.upper() not in known:
            shown = ", ".join(sorted(known)[:10]) + (", ..." if len(known) > 10 else "")
            raise ValueError(f"unknown currency {currency!r}; this service takes {shown} (SPEND_CURRENCIES)")
        return currency.upper()


class FraudScore(Served):
    order_id: str
    fraud_score: float
    alert: bool = Field(description="fraud_score at or above the model's stored threshold")
    threshold: float
    reasons: list[str]
    features_at: dict[str, float | None] = Field(description="Epoch seconds of the online values used, per view")
    pushed: bool = Field(
        description="The card's updated windows were kept for its next payment (written to the online store "
        "within SPEND_SERVING_PUSH_SECONDS)"
    )


class FraudBatchResponse(Served):
    scores: list[FraudScore]


class RecallEntry(BaseModel):
    customer_id: str
    churn_probability: float
    churn_band: str
    reasons: list[str]
    segment: str
    clv: float = Field(description="Expected margin over the CLV horizon")
    uplift: float | None = Field(description="Estimated reduction in P(churn) from a contact; None: no estimate")
    save_rate: float
    expected_saved_margin: float = Field(description="P(churn) x CLV x save rate: the ranking key")


class RecallResponse(Served):
    published_at: str = Field(description="When `spend publish` wrote this list")
    as_of: str
    clv_source: str | None
    uplift_source: str | None
    total: int = Field(description="Customers matching the filters, within top_k")
    offset: int
    next_offset: int | None = Field(description="Offset of the next page; None on the last page")
    customers: list[RecallEntry]


class SegmentOf(BaseModel):
    customer_id: str
    found: bool = Field(description="False: not among the published active customers")
    segment: str | None = None
    cluster: int | None = None
    cluster_name: str | None = Field(None, description="What the cluster stands out on, e.g. 'big spenders, frequent'")


class SegmentResponse(BaseModel):
    published_at: str
    as_of: str
    customers: list[SegmentOf]
    profiles: dict[str, dict[str, dict[str, float]]] = Field(
        description="Profiles of the segments and clusters these customers are in (size, spend, orders, churn)"
    )


class OfferOf(BaseModel):
    customer_id: str
    found: bool = Field(description="False: not among the members of the published assignment")
    offer: str | None = Field(None, description="The offer to send, or 'none'")
    expected_margin: float | None = Field(None, description="Expected margin added in the offer's window")
    expected_cost: float | None = Field(None, description="Expected cost of the offer")
    expected_net: float | None = Field(None, description="Expected margin minus cost")
    reason: str | None = Field(None, description="Why this offer, or why none")


class OffersResponse(BaseModel):
    published_at: str = Field(description="When `spend offers assign --publish` wrote this assignment")
    as_of: str
    model: str = Field(description="The offers model version that estimated the effects")
    budget: float
    customers: list[OfferOf]


RawCustomerIds = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=128)]],
    Field(min_length=1, max_length=10_000, description="The shop's own customer ids, as in its exports"),
]


class ErasureReceipt(BaseModel):
    request: str = Field(description="The erasure's reference in the audit trail")
    customers: int = Field(description="Distinct ids asked for")
    found: int = Field(description="Customers found in some store and erased")
    already_erased: int = Field(description="Erased before, nothing left to remove")
    unknown: int = Field(description="Never stored: nothing to remove")
    removed: dict[str, int] = Field(description="Rows (or online entities, vault records) removed, by store")
    files_rewritten: int
    not_removed: list[str] = Field(description="Text files under SPEND_HOME that mention a customer, not edited")
    unknown_ids: list[str] = Field(description="The ids asked for that were never stored")


class Health(BaseModel):
    status: str = Field(description="ok; partial (some model or the publication missing); not ready")
    models: dict[str, int | None]
    missing: list[str] = Field([], description="Models not loaded, and 'published' without a publication")
    registry_error: dict[str, str | None]
    published_at: str | None = Field(None, description="When the served recall list and segments were published")
    online_store: str = Field(description="ok, or why the online store cannot be read or written")
    pending_windows: int = Field(0, description="Cards' updated spending windows not yet written online")
    monitoring: dict[str, str] = Field(
        {}, description="`spend monitor`'s last verdict per model: ok, or breach and the first reason"
    )


# A product or store id, spelt as ingestion stores it (Unicode NFKC: "Ｐ１" is P1), so a caller that keeps
# the export's full-width or decomposed spelling finds the product rather than a 404.
def _item_id(value: str) -> str:
    spelt = canonical_id(value)
    if not spelt.strip():  # an ideographic space is one character, and nothing once spelt as ingestion does
        raise ValueError("must not be blank")
    return spelt


ItemId = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_item_id)]
ItemIds = Annotated[list[ItemId], Field(min_length=1, max_length=1_000)]


class PlannedPrice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: ItemId
    store_id: ItemId | None = Field(None, description="None: every store")
    date: Day = Field(description="A day after the demand model's history")
    price: Number | None = Field(
        None, ge=0.01, description="Planned unit price (the currency of the history); None: the last price"
    )
    promo: bool | None = Field(
        None,
        strict=True,  # true or false in JSON, as amounts are JSON numbers: "yes" is the CSV plan's word
        description="On promotion that day or not (the promotion calendar); None: its series' chance of one",
    )

    @model_validator(mode="after")
    def _plans_something(self) -> PlannedPrice:
        if self.price is None and self.promo is None:
            raise ValueError("a planned day sets a price, a promo, or both")
        return self


class DemandDay(BaseModel):
    product_id: str
    store_id: str
    date: str
    p10: float
    p50: float
    p90: float
    mean: float = Field(description="Expected units: what adds up over days and stores (the median does not)")
    promo_chance: float = Field(
        0.0, description="Chance of a promotion no plan gave that the figures hold (0: none, or the plan's day)"
    )
    promo_lift: float = Field(0.0, description="Expected units such a promotion adds that day")
    method: str = Field(description="model, or the fallback a series without history got (product or store)")


class DemandForecastResponse(Served):
    start: str = Field(description="First forecast day: the day after the model's history")
    days: int
    forecasts: list[DemandDay]


class Suggestion(BaseModel):
    product_id: str
    store_id: str
    on_hand: float | None = Field(description="null without stock counts")
    on_order: float | None = Field(description="null without stock counts")
    lead_time_days: float
    cover_days: int = Field(description="Lead time plus review days: what the order must cover")
    cover_p50: float
    cover_p90: float
    target_stock: float
    suggested_order: float | None = Field(description="null without stock counts: order the target less stock")
    expected_fill_rate: float | None = Field(description="null without stock counts")
    reason: str


class ReplenishmentResponse(Served):
    as_of: str
    service_level: float
    review_days: int
    skipped: str | None = Field(None, description="What the answer could not include, and why")
    suggestions: list[Suggestion]


class QuoteProduct(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: ItemId
    price: Number = Field(ge=0.01, description="Today's price")
    cost: Number = Field(ge=0, description="Unit cost: the margin floor is measured on it")
    floor: Number | None = Field(None, ge=0.01, description="Lowest allowed price (a minimum advertised price)")
    cap: Number | None = Field(None, ge=0.01, description="Highest allowed price (a competitor's price)")


class QuoteRules(BaseModel):
    # Inclusive bounds only: the served OpenAPI document is 3.0, whose exclusive bounds are flags, and
    # property-based clients (schemathesis) cannot read pydantic's numeric ones.
    model_config = ConfigDict(extra="forbid")

    margin_floor: Number = Field(0.0, ge=0, le=0.99, description="Minimum (price - cost) / price")
    max_change: Number = Field(0.10, ge=0.001, le=0.99, description="Largest change from today's price, either way")
    endings: list[Number] = Field([0.99], max_length=100, description="Allowed cents; [] for any cent")
    max_volume_loss: Number | None = Field(None, ge=0, le=1, description="Largest share of units the quote may lose")
    max_interval_width: Number = Field(2.0, ge=0.01, description="Wider elasticity interval: the price is kept")


class PriceQuote(BaseModel):
    product_id: str
    current_price: float
    price: float
    change: float
    expected_units: float = Field(description="Units a day at the quoted price (all stores)")
    units_low: float
    units_high: float
    expected_margin: float
    margin_low: float
    margin_high: float
    binding: str = Field(
        description="The rule that stops the price where it is, or why it was kept; 'not quoted: ' and why where "
        "no price keeps every rule (today's below cost, say): the product keeps today's price"
    )


class PriceQuoteResponse(Served):
    objective: str
    stores: list[str] | None = Field(description="The stores asked for; elasticities and prices are per product")
    shop_elasticity: float | None = Field(
        description="How the shop's total units move when all its prices move together, as the quotes used it to "
        "share out units a dearer product loses; null: each product quoted alone (every lost unit leaves the shop)"
    )
    not_quoted: int = Field(description="Products that keep today's price because none keeps every rule")
    quotes: list[PriceQuote]
