"""The canonical consumption tables: their fields, cross-field rules and the pandera schema built from them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
import pandera.pandas as pa

from spend.features.schema import words
from spend.features.schema.fields import (  # noqa: F401 (SchemaContext and default_context re-exported)
    FieldSpec,
    Kind,
    RowRule,
    Rule,
    SchemaContext,
    at_most,
    category_field,
    default_context,
    id_field,
    isin,
    non_negative,
    non_zero,
    not_before_earliest,
    not_in_future,
    planned_within_a_year,
    row_rule,
    zero_or_one,
)
from spend.features.schema.order_discount import order_discount_field, order_discount_rules
from spend.features.schema.order_status import cancelled_at_field, refunded_rule, status_field

SCHEMA_VERSION = "1"
CHANNELS = ("pos", "web", "app")
PERSONAL_FIELDS = ("name", "email", "phone", "address")


@dataclass(frozen=True)
class TableSpec:
    name: str
    description: str
    key: str  # identity of a record: a second record with the same key is a duplicate or a conflict
    time_column: str  # partitions the offline store by month
    fields: Callable[[SchemaContext], tuple[FieldSpec, ...]]
    row_rules: Callable[[SchemaContext], tuple[RowRule, ...]] = lambda ctx: ()
    personal_fields: tuple[str, ...] = ()
    checks_signup: bool = True  # events of a customer may not predate the customer's signup
    streams: bool = True  # new rows keep arriving, so freshness (timeliness) applies
    replaces: bool = False  # a stored key's changed row is its new version (a catalogue), not a conflict

    def field_map(self, ctx: SchemaContext) -> dict[str, FieldSpec]:
        return {f.name: f for f in self.fields(ctx)}

    def required_columns(self, ctx: SchemaContext) -> list[str]:
        return [f.name for f in self.fields(ctx) if f.required and f.name != "event_id"]

    def schema(
        self, ctx: SchemaContext, extra: tuple[RowRule, ...] = (), with_row_rules: bool = True
    ) -> pa.DataFrameSchema:
        """The pandera schema; ingestion leaves row rules out and runs them through `row_rule_failures`."""
        columns = {
            f.name: pa.Column(
                f.dtype,
                checks=[r.check for r in f.rules],
                nullable=f.nullable,
                required=False,  # presence is checked before parsing, with a one-line error
                description=f.description,
                metadata={"unit": f.unit, "kind": f.kind.value},
            )
            for f in self.fields(ctx)
        }
        rules = (*self.row_rules(ctx), *extra) if with_row_rules else ()
        return pa.DataFrameSchema(columns, checks=[r.check for r in rules], strict=False, name=self.name)


def _event_id() -> FieldSpec:
    return id_field(
        "event_id",
        "Unique id of the record in the source system; derived from the row's content when absent, "
        "so an exact repeat of a line counts as a duplicate.",
        required=False,
        nullable=True,
    )


def _customer_id(ctx: SchemaContext, *, nullable: bool = False) -> FieldSpec:
    return id_field(
        "customer_id",
        "Customer (or card) id. Replaced by a keyed HMAC-SHA256 pseudonym before storage.",
        nullable=nullable,
        pseudonymised=True,
    )


def _ts(ctx: SchemaContext, description: str, name: str = "ts", planned: bool = False) -> FieldSpec:
    """A timestamp of something that happened, or (`planned`) that may be planned up to a year ahead."""
    ahead = planned_within_a_year(ctx.now) if planned else not_in_future(ctx.now)
    return FieldSpec(name, Kind.TIMESTAMP, description, unit="UTC", rules=(ahead, not_before_earliest(ctx.earliest)))


def _transaction_fields(ctx: SchemaContext) -> tuple[FieldSpec, ...]:
    currency_rule = Rule(
        "known_currency",
        "an ISO 4217 code listed in SPEND_CURRENCIES (SPEND_DEFAULT_CURRENCY alone when not set)",
        isin(ctx.currencies, "known_currency"),
    )
    return (
        _event_id(),
        id_field("order_id", "Order (basket, invoice or return slip) the line belongs to."),
        _customer_id(ctx, nullable=ctx.allow_anonymous),
        _ts(ctx, "When the line was purchased or returned."),
        FieldSpec(
            "time_zone",
            Kind.TEXT,
            "The zone the line's local time is in, for a shop whose stores keep different clocks (Square's "
            "Time Zone): an IANA name, a UTC offset (+01:00), or a display name such as Pacific Time (US & "
            "Canada); stored as the IANA name or offset. Blank: SPEND_TIMEZONE. A zone it cannot read is "
            "`unknown_zone`.",
            required=False,
            nullable=True,
            content="never",  # the instant it gives ts is the line's content already
        ),
        id_field("product_id", "Product (SKU) id."),
        FieldSpec(
            "quantity",
            Kind.FLOAT,
            "Units on the line: positive for a purchase, negative for a return.",
            unit="units",
            rules=(non_zero("non_zero_quantity"),),
        ),
        FieldSpec(
            "unit_price",
            Kind.FLOAT,
            "Shelf price of one unit before discount (blank only in daily totals of units alone: unknown).",
            unit="currency",
            required=not ctx.prices_optional,
            nullable=ctx.prices_optional,
            rules=(non_negative("non_negative_price"),),
        ),
        id_field(
            "store_id", "Store, or the web/app shop, that sold the line.", required=False, nullable=True, expected=True
        ),
        category_field(
            "channel", "Sales channel.", CHANNELS, required=False, nullable=True, expected=True, words=words.CHANNELS
        ),
        FieldSpec(
            "discount",
            Kind.FLOAT,
            "Money taken off the whole line; a file that writes every discount signed against its line "
            "(negative on a sale, as Square does) is read as their sizes.",
            unit="currency",
            required=False,
            nullable=True,
            rules=(non_negative("non_negative_discount"),),
        ),
        FieldSpec(
            "on_promotion",
            Kind.FLAG,
            "1 when the line sold on a promotion its discount does not show (a daily total's promotion flag, as "
            "Favorita's onpromotion); a line with a discount counts as promoted either way. Blank: not known.",
            required=False,
            nullable=True,
            content="given",  # added after homes stored lines
            rules=(zero_or_one(),),
        ),
        FieldSpec(
            "unit_cost",
            Kind.FLOAT,
            "Cost of one unit to the business.",
            unit="currency",
            required=False,
            expected=True,
            nullable=True,
            rules=(non_negative("non_negative_cost"),),
        ),
        FieldSpec(
            "currency",
            Kind.TEXT,
            "Currency of unit_price, discount and unit_cost (case-insensitive, stored upper-case); "
            "SPEND_DEFAULT_CURRENCY when empty.",
            required=False,
            expected=True,
            rules=(currency_rule,),
        ),
        category_field(
            "payment_method",
            "How the order was paid.",
            ("card", "cash", "wallet", "voucher", "points", "other"),
            required=False,
            expected=True,
            nullable=True,
            words=words.PAYMENT_METHODS,
        ),
        id_field("terminal_id", "Payment terminal of a card-present payment.", required=False, nullable=True),
        category_field(
            "kind",
            "purchase or return (a voided line is quarantined); inferred from the sign of quantity when empty.",
            ("purchase", "return"),
            required=False,
            expected=True,
            words=words.LINE_KINDS,
        ),
        status_field(),
        cancelled_at_field(),
        order_discount_field(),
    )


def _transaction_rules(ctx: SchemaContext) -> tuple[RowRule, ...]:
    bound = ctx.max_line_amount
    return (
        row_rule(
            "quantity",
            "sign_matches_kind",
            "quantity must be > 0 on a purchase and < 0 on a return",
            lambda df: (
                ~(
                    ((df["kind"] == "purchase") & (df["quantity"] < 0))
                    | ((df["kind"] == "return") & (df["quantity"] > 0))
                ).fillna(False)
            ),
        ),
        row_rule(
            "unit_price",
            "positive_price_on_purchase",
            "unit_price must be > 0 on a purchase",
            lambda df: ~((df["kind"] == "purchase") & (df["unit_price"] <= 0)).fillna(False),
        ),
        row_rule(
            "quantity",
            "absurd_amount",
            f"|quantity x unit_price| must be at most SPEND_MAX_LINE_AMOUNT ({bound:,.0f})",
            lambda df: ~((df["quantity"] * df["unit_price"]).abs() > bound).fillna(False),
        ),
        row_rule(
            "quantity",
            "absurd_units",
            f"|quantity| must be at most SPEND_MAX_LINE_UNITS ({ctx.max_line_units:,.0f}); a line without a "
            "price has no amount to bound",
            lambda df: ~(df["quantity"].abs() > ctx.max_line_units).fillna(False),
        ),
        row_rule(
            "discount",
            "discount_within_line_amount",
            "discount must not exceed |quantity x unit_price|",
            lambda df: ~(_optional(df, "discount") > (df["quantity"] * df["unit_price"]).abs() + 1e-9).fillna(False),
        ),
        _one_value_per(
            "customer_id",
            "one_customer_per_order",
            "every line of an order in the file must name the same customer "
            "(numbers that restart per store or day: --order-within)",
            ["order_id"],
            ["customer_id"],
        ),
        *order_discount_rules(),
        refunded_rule(),
        _signup_rule(),
    )


def _signup_rule() -> RowRule:
    # `_signup_ts` is joined in from stored customers by the ingestion pipeline; unknown customers pass.
    return row_rule(
        "ts",
        "before_customer_signup",
        "the event must not predate the customer's signup_ts",
        lambda df: ~(df["ts"] < _optional(df, "_signup_ts", "datetime64[us, UTC]")).fillna(False),
    )


def _optional(df, column: str, dtype: str = "Float64"):
    """A column that may be absent from the frame: absent means all empty."""
    import pandas as pd

    return df[column] if column in df.columns else pd.Series(pd.NA, index=df.index).astype(dtype)


def _customer_fields(ctx: SchemaContext) -> tuple[FieldSpec, ...]:
    return (
        _customer_id(ctx),
        _ts(
            ctx,
            "When the customer signed up (first contact for shops without accounts); blank, or a list without "
            "the column, takes the customer's first stored transaction.",
            name="signup_ts",
        ),
        category_field(
            "membership_tier",
            "Tier at the time of the export (SPEND_TIERS).",
            ctx.tiers,
            required=False,
            nullable=True,
            expected=True,
        ),
        FieldSpec(
            "region", Kind.TEXT, "Region or country of the customer.", required=False, nullable=True, expected=True
        ),
        category_field(
            "channel",
            "Channel the customer signed up through.",
            CHANNELS,
            required=False,
            nullable=True,
            expected=True,
            words=words.CHANNELS,
        ),
        FieldSpec(
            "birth_year",
            Kind.INT,
            "Year of birth (coarse on purpose).",
            required=False,
            nullable=True,
            rules=(
                Rule(
                    "plausible_birth_year",
                    "between 1900 and 2020",
                    pa.Check(lambda s: s.between(1900, 2020), name="plausible_birth_year"),
                ),
            ),
        ),
    )


def _points_fields(ctx: SchemaContext) -> tuple[FieldSpec, ...]:
    return (
        _event_id(),
        _customer_id(ctx),
        _ts(ctx, "When the points moved."),
        FieldSpec(
            "points",
            Kind.INT,
            "Points moved: positive on earn, negative on redeem or expire.",
            unit="points",
            rules=(non_zero("non_zero_points"), _plausible_count("plausible_points", "points")),
        ),
        category_field(
            "kind", "Why the points moved.", ("earn", "redeem", "expire", "adjust"), words=words.POINTS_KINDS
        ),
        id_field("order_id", "Order that earned or spent the points.", required=False, nullable=True),
    )


def _points_rules(ctx: SchemaContext) -> tuple[RowRule, ...]:
    return (
        row_rule(
            "points",
            "sign_matches_kind",
            "points must be > 0 on earn and < 0 on redeem or expire",
            lambda df: (
                ~(
                    ((df["kind"] == "earn") & (df["points"] < 0))
                    | (df["kind"].isin(["redeem", "expire"]) & (df["points"] > 0))
                ).fillna(False)
            ),
        ),
        _signup_rule(),
    )


def _membership_fields(ctx: SchemaContext) -> tuple[FieldSpec, ...]:
    return (
        _event_id(),
        _customer_id(ctx),
        _ts(ctx, "When the tier changed."),
        category_field("tier", "Tier from this time on (SPEND_TIERS).", ctx.tiers),
        category_field(
            "previous_tier", "Tier before the change; empty on joining.", ctx.tiers, required=False, nullable=True
        ),
    )


def _membership_rules(ctx: SchemaContext) -> tuple[RowRule, ...]:
    return (
        row_rule(
            "tier",
            "changes_tier",
            "tier must differ from previous_tier",
            lambda df: ~(df["tier"] == _optional(df, "previous_tier")).fillna(False),
        ),
        _one_value_per(
            "tier",
            "one_tier_per_time",
            "another row of the file moves the same customer to another tier at the same time",
            ["customer_id", "ts"],
            ["tier"],
        ),
        _signup_rule(),
    )


def _campaign_fields(ctx: SchemaContext) -> tuple[FieldSpec, ...]:
    return (
        _event_id(),
        id_field("campaign_id", "Campaign the customer was assigned in."),
        _customer_id(ctx),
        _ts(ctx, "When the customer was assigned (and, if treated, contacted)."),
        category_field("group", "Randomised arm.", ("treatment", "control")),
        category_field(
            "contact_channel",
            "How treated customers were contacted.",
            ("email", "sms", "push", "mail"),
            required=False,
            nullable=True,
        ),
        id_field(
            "offer",
            "The offer a treated customer was sent, in a multi-arm offer campaign (experiments/offers.yaml "
            "names them); empty for control and for single-offer campaigns.",
            required=False,
            nullable=True,
        ),
    )


def _fraud_label_fields(ctx: SchemaContext) -> tuple[FieldSpec, ...]:
    return (
        _event_id(),
        id_field("order_id", "The card payment (order) the label is about."),
        _ts(ctx, "When the outcome became known (investigation or chargeback), not when the payment happened."),
        FieldSpec(
            "is_fraud",
            Kind.FLAG,
            "1 if the payment was confirmed fraudulent, 0 if confirmed genuine.",
            rules=(zero_or_one(),),
        ),
    )


# Beyond these a count or a lead time is a typing slip (a date in a days column, an exponent): a lead time
# of a billion days reached replenishment, which then asked for a forecast a billion days long, and 1e15
# points earned on one order went into the members' balances.
MAX_COUNT = 1e9
MAX_LEAD_TIME_DAYS = 365


def _inventory_fields(ctx: SchemaContext) -> tuple[FieldSpec, ...]:
    return (
        _event_id(),
        id_field("product_id", "Product (SKU) id."),
        id_field("store_id", "Store (or web/app shop) holding the stock."),
        _ts(ctx, "When the stock was counted: the close of the day it describes."),
        FieldSpec(
            "on_hand",
            Kind.FLOAT,
            "Units on the shelf and in the back room at the count; 0 after a sell-out. Below 0 where the till "
            "sold units the stock system had not booked in (POS and web shops allow it): stored as counted, a "
            "stock-out day for the features, and 0 units for replenishment, which says so on the row.",
            unit="units",
            rules=(_plausible_count(),),
        ),
        FieldSpec(
            "on_order",
            Kind.FLOAT,
            "Units ordered from the supplier and not yet received.",
            unit="units",
            required=False,
            nullable=True,
            expected=True,
            rules=(non_negative("non_negative_on_order"), _plausible_count()),
        ),
        FieldSpec(
            "lead_time_days",
            Kind.FLOAT,
            "Days from placing an order to its arrival, for this product (or its supplier).",
            unit="days",
            required=False,
            nullable=True,
            expected=True,
            rules=(
                non_negative("non_negative_lead_time"),
                at_most("lead_time_within_a_year", MAX_LEAD_TIME_DAYS, f"at most {MAX_LEAD_TIME_DAYS} days"),
            ),
        ),
    )


def _product_fields(ctx: SchemaContext) -> tuple[FieldSpec, ...]:
    return (
        id_field("product_id", "Product (SKU) id, as transactions name it."),
        _ts(
            ctx,
            "When the product was (or will be) listed, up to a year ahead: a launch not yet on sale is forecast from "
            "its category from that day; blank, or a catalogue without the column, takes the product's stored "
            "listing date, else its first stored sale.",
            name="listed_at",
            planned=True,
        ),
        FieldSpec(
            "category",
            Kind.TEXT,
            "Product category (a department, family or type): pricing pools elasticities toward it, and demand "
            "forecasts a product it has not seen from its category's.",
        ),
        FieldSpec(
            "substitute_group",
            Kind.TEXT,
            "Products that replace one another (sizes or brands of one item): pricing estimates the cross-price "
            "effects within a group.",
            required=False,
            nullable=True,
        ),
    )


def _plausible_count(name: str = "plausible_count", unit: str = "units"):
    return at_most(name, MAX_COUNT, f"at most {MAX_COUNT:,.0f} {unit} either way", True)


def _inventory_rules(ctx: SchemaContext) -> tuple[RowRule, ...]:
    return (
        _one_value_per(
            "on_hand",
            "one_count_per_time",
            "another row of the file counts the same product and store at the same time with other values",
            ["product_id", "store_id", "ts"],
            ["on_hand", "on_order", "lead_time_days"],
            blank_is_a_value=True,
        ),
    )


def _one_value_per(
    field_name: str, name: str, text: str, keys: list[str], values: list[str], blank_is_a_value: bool = False
) -> RowRule:
    """A rule across rows: False on every row whose `keys` are shared by a row with other `values` (which
    one is right cannot be known, and keeping the later would drop the other silently); the same values
    twice are a duplicate, removed as any other. A blank is ignored unless `blank_is_a_value` (a count
    without on_order against one with 0). It reads the keys and values alone (`RowRule.reads`)."""

    def check(df: pd.DataFrame) -> pd.Series:
        present = [c for c in values if c in df.columns]
        grouped = df.groupby(keys, dropna=False, sort=False)[present]
        return ~(grouped.transform("nunique", dropna=not blank_is_a_value) > 1).any(axis=1)

    return row_rule(field_name, name, text, check, among_valid=True, reads=(*keys, *values))


TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (
        TableSpec(
            "transactions",
            "One line per purchased or returned item. A blank cell of an order-level field (customer_id, ts, "
            "store_id, channel, currency, payment_method, terminal_id) takes the value its order's other lines "
            "in the file give, when they give exactly one (exports that write an order's fields on its first "
            "line only); blanks of an order whose lines disagree stay blank.",
            "event_id",
            "ts",
            _transaction_fields,
            _transaction_rules,
        ),
        TableSpec(
            "customers",
            "One row per customer; personal fields go to the vault only. A customers list says who each customer "
            "is today: a customer's changed row, ingested later, replaces the stored one (a new tier or region; "
            "a blank sign-up date keeps the stored one; new contact details replace the vault's even when "
            "nothing else changed), and two rows of one customer in one file are a conflict.",
            "customer_id",
            "signup_ts",
            _customer_fields,
            personal_fields=PERSONAL_FIELDS,
            checks_signup=False,
            replaces=True,
        ),
        TableSpec(
            "points",
            "Loyalty points ledger: earn, redeem, expire, adjust.",
            "event_id",
            "ts",
            _points_fields,
            _points_rules,
        ),
        TableSpec("membership", "Membership tier changes.", "event_id", "ts", _membership_fields, _membership_rules),
        TableSpec(
            "campaigns",
            "Assignments of a randomised marketing campaign (treatment or control).",
            "event_id",
            "ts",
            _campaign_fields,
            lambda ctx: (_signup_rule(),),
            streams=False,
        ),
        TableSpec(
            "fraud_labels",
            "Confirmed outcomes of card payments; they arrive after a feedback delay.",
            "event_id",
            "ts",
            _fraud_label_fields,
            checks_signup=False,
        ),
        TableSpec(
            "products",
            "The product catalogue: one row per product, its category and substitute group. A catalogue says what "
            "each product is today: a product's changed row, ingested later, replaces its stored one (a new "
            "category or group; a blank listing date keeps the stored one), the same row again is a duplicate, "
            "and two rows of one product in one file are a conflict.",
            "product_id",
            "listed_at",
            _product_fields,
            checks_signup=False,
            streams=False,
            replaces=True,
        ),
        TableSpec(
            "inventory",
            "Stock counts per product x store: on hand and on order at the close of a day, with lead times.",
            "event_id",
            "ts",
            _inventory_fields,
            _inventory_rules,
            checks_signup=False,
        ),
    )
}
