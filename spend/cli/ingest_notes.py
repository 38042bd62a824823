"""The lines under `spend ingest`'s tables: for each reason rows were quarantined that has a way out, the
way out; then what the ingest did that its counts do not show (lines repeated, unpriced, dated, filled).
One rule per line: (when it applies, what it says), both read off the report."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from spend.core.settings import SpendSettings

if TYPE_CHECKING:  # the CLI imports this module for TS_FORMATS at start-up: no pandas then
    from spend.features.ingest.pipeline import IngestReport

TS_FORMATS = (
    "a strftime format (e.g. '%d/%m/%Y %H:%M'), unix / unix_ms for seconds / milliseconds since 1970 UTC, or "
    "excel for a spreadsheet's serial days (45413.4375)"
)

Rule = tuple[Callable[["IngestReport"], bool], Callable[["IngestReport"], str]]


def _has(suffix: str) -> Callable[[IngestReport], bool]:
    """A reason (`field:rule`) ending in `suffix` among the quarantined."""
    return lambda r: any(reason.endswith(suffix) for reason in r.quarantined_by_reason)


def _timestamps(report: IngestReport) -> str:
    from spend.features.ingest.ts_formats import format_hint

    return "timestamps not in ISO 8601 need --ts-format; " + (format_hint(report.suggested_ts_formats) or TS_FORMATS)


def _currencies(report: IngestReport) -> str:
    accepted = ", ".join(sorted(SpendSettings().currencies))
    return (
        f"lines in a currency this home does not take (it takes {accepted}): a shop selling in another one sets "
        "SPEND_DEFAULT_CURRENCY; one selling in several lists them in SPEND_CURRENCIES, and their amounts are "
        "then summed as they are, unconverted"
    )


def _repeated(report: IngestReport) -> str:
    said = (
        "kept as lines of their own (--keep-repeated-lines)"
        if report.repeated_kept
        else "counted as duplicates; if a till writes one line per item scanned, ingest with --keep-repeated-lines"
    )
    return f"lines repeating another line of this file exactly, without an event_id: {report.repeated_lines:,}, {said}"


def _from_orders(report: IngestReport) -> str:
    taken = ", ".join(f"{column} {count:,}" for column, count in report.from_orders_file.items())
    return f"line cells taken from their order's row in the orders file (--orders): {taken}"


def _filled(report: IngestReport) -> str:
    filled = ", ".join(f"{column} {count:,}" for column, count in report.filled_from_order.items())
    return f"lines whose order-level cells were blank took their order's values from its other lines: {filled}"


DECIMAL: Rule = (
    _has(":not_a_float"),
    lambda r: (
        "numbers written with a decimal comma (12,50) need --decimal ','; commas grouping thousands are read "
        "before a decimal point only (1,250.00: 1,250 could be 1.25)"
    ),
)

# Tables whose rows are dated by their first transaction: (their date in words, its field).
_CHANGES = {"products": "a new category or group", "customers": "a new tier, region or sign-up date"}
_LISTED = {"customers": ("sign-up date", "signup_ts"), "products": ("listing date", "listed_at")}


RULES: tuple[Rule, ...] = (
    (_has(":unparsable_timestamp"), _timestamps),
    (
        lambda r: r.table == "transactions" and "customer_id:missing" in r.quarantined_by_reason,
        lambda r: (
            "lines without a customer (guest checkouts, walk-in sales) are kept as anonymous purchases with "
            "--allow-anonymous: demand and pricing count them, customer models leave them out"
        ),
    ),
    (
        _has(":not_before_earliest"),
        lambda r: (
            "dates before SPEND_EARLIEST_TS (1990-01-01 unless set) are taken for a missing date (1900-01-01, "
            "1970-01-01); a history that truly starts earlier sets SPEND_EARLIEST_TS"
        ),
    ),
    (
        _has("_local_time"),
        lambda r: (
            "local times that SPEND_TIMEZONE passes twice or never (a daylight-saving change) cannot be "
            "placed: export them with their UTC offset (e.g. 2026-10-25T02:30:00+01:00)"
            + (
                "; or, for the hour passed twice, ingest the same export again with --repeated-hour first (or "
                "second): each line then stored in that pass, at most an hour off"
                if any(k.endswith(":ambiguous_local_time") for k in r.quarantined_by_reason)
                else ""
            )
        ),
    ),
    (
        _has("row:field_count"),
        lambda r: (
            "rows with more or fewer fields than the header (a delimiter inside unquoted text?) are "
            f"quarantined whole, without their values; `spend quarantine --table {r.table}` lists each one's source row"
        ),
    ),
    (
        _has("row:totals_line"),
        lambda r: (
            "the export's totals lines (a cell saying Total, Subtotal or Sum on a line missing a required field) "
            "are quarantined as row:totals_line: they are sums of the lines above, not sales"
        ),
    ),
    (
        _has("row:not_json_object"),
        lambda r: (
            "JSON lines that are not one object with each key once (a line cut short, a bare value) are "
            f"quarantined whole, without their values; `spend quarantine --table {r.table}` lists each one's source row"
        ),
    ),
    (
        _has("quantity:non_zero_quantity"),
        lambda r: (
            "lines of zero units (a daily report's products that sold nothing that day) are quarantined: the "
            "demand features already count a day without lines as zero sales, so nothing is lost"
        ),
    ),
    (
        _has("customer_id:one_customer_per_order"),
        lambda r: (
            "lines of one order number naming two customers: if the till's numbers restart per store or day, "
            "give --order-within store_id,day (the columns that make a number one order)"
        ),
    ),
    (
        _has(":malformed_id"),
        lambda r: (
            "ids are 1 to 64 characters without commas, semicolons, tabs, line breaks or other control or "
            f"invisible characters; `spend quarantine --table {r.table}` shows the rows"
        ),
    ),
    (
        _has("currency:symbol_disagrees"),
        lambda r: (
            "prices whose symbol or code ($, £, €, EUR, ...) cannot mean the line's currency (SPEND_DEFAULT_CURRENCY "
            f"{SpendSettings().default_currency} when the line names none): give the currency column, or set the "
            "home's currency"
        ),
    ),
    (_has("currency:known_currency"), _currencies),
    DECIMAL,
    (lambda r: r.repeated_lines > 0, _repeated),
    (
        lambda r: r.without_price > 0,
        lambda r: (
            f"daily totals without a price: {r.without_price:,}; demand forecasts and replenishment read "
            "their units, price elasticities, quotes and revenue figures need prices (a sales amount column, with "
            "--line-totals)"
        ),
    ),
    (
        lambda r: r.dated_by_first_line > 0,
        lambda r: (
            f"{r.table} without a {_LISTED[r.table][0]} took their stored one, or their first transaction's: "
            f"{r.dated_by_first_line:,}"
        ),
    ),
    (
        lambda r: r.table in _LISTED and f"{_LISTED[r.table][1]}:missing" in r.quarantined_by_reason,
        lambda r: (
            f"{r.table} without a {_LISTED[r.table][0]} and without a stored transaction have no date to take: "
            f"ingest the transactions first, then this file again (its {r.table} already stored count as "
            "duplicates)"
        ),
    ),
    (
        lambda r: r.replaced > 0,
        lambda r: (
            f"{r.table} whose stored row this file changes ({_CHANGES.get(r.table, 'new content')}): "
            f"{r.replaced:,} replaced"
        ),
    ),
    (
        lambda r: r.visit_orders > 0,
        lambda r: (
            f"lines without order numbers grouped into orders by customer, time and store (--no-order-ids): "
            f"{r.visit_orders:,} orders"
        ),
    ),
    (lambda r: r.unit_lines, lambda r: "each line read as one unit (--one-unit-per-line)"),
    (
        lambda r: r.case_variant_customers > 0,
        lambda r: (
            f"customer ids equal to another of this file but for letter case: {r.case_variant_customers:,}, "
            "kept as different customers (two spellings of one e-mail are two customers: if they are one, write "
            "them alike in the export)"
        ),
    ),
    (
        lambda r: r.person_lines > 0,
        lambda r: (
            f"customer ids read as their persons' (--person-ids): {r.person_customer_ids:,} customer ids on "
            f"{r.person_lines:,} lines are {r.persons:,} persons"
        ),
    ),
    (
        _has("customer_id:not_in_person_file"),
        lambda r: (
            "lines whose customer id the persons file gives no person for were quarantined: export the customers "
            "file with the orders, for the same period"
        ),
    ),
    (
        _has("customer_id:blank_person_in_person_file"),
        lambda r: (
            "lines whose customer id the persons file holds with a blank person were quarantined: fill in their "
            "persons (a customer with no person of its own may be given its customer id as one)"
        ),
    ),
    (lambda r: bool(r.from_orders_file), _from_orders),
    (
        lambda r: bool(r.replaced_by_orders),
        lambda r: (
            "line cells that differed from their order's row in the orders file, replaced by the order's "
            f"(the order's record): {', '.join(f'{c} {n:,}' for c, n in r.replaced_by_orders.items())}"
        ),
    ),
    (
        _has("order_id:not_in_orders_file"),
        lambda r: (
            "lines of orders the orders file does not hold were quarantined: export both files for the "
            "same period (an order placed after the orders file was written has no row in it yet)"
        ),
    ),
    (
        _has("order_status:cancelled"),
        lambda r: (
            "lines of orders whose status says they never became sales (cancelled, voided, failed, ...) were "
            "quarantined: they are no purchases"
        ),
    ),
    (
        _has("cancelled_at:cancelled"),
        lambda r: "lines of orders with a cancellation time (cancelled_at) were quarantined: they are no purchases",
    ),
    (
        lambda r: r.returns_signed > 0,
        lambda r: (
            f"return lines written with positive quantities (the export's kind says return), stored as units "
            f"given back: {r.returns_signed:,}"
        ),
    ),
    (
        _has("kind:voided_line"),
        lambda r: "voided lines (rung up and taken off) were quarantined: they are no sales",
    ),
    (
        lambda r: r.retracted > 0,
        lambda r: (
            "lines stored before as sales of orders this export says were cancelled or refunded, removed: "
            f"{r.retracted:,} (`spend features build` to see them gone from the features)"
        ),
    ),
    (
        _has("order_status:refunded_without_return_lines"),
        lambda r: (
            "lines of fully refunded orders without their return lines in the file were quarantined: alone they "
            "would count as sales (an export that lists refunds as lines, as Shopify's orders JSON does, keeps them)"
        ),
    ),
    (
        lambda r: r.partly_refunded_alone > 0,
        lambda r: (
            f"orders partially refunded count whole, their refunds being no lines of this file: "
            f"{r.partly_refunded_alone:,} (an export that lists refunds as lines, as Shopify's orders JSON does, "
            "or a refunds report ingested too, nets them out)"
        ),
    ),
    (lambda r: bool(r.filled_from_order), _filled),
    (
        lambda r: r.discounts_signed > 0,
        lambda r: (
            f"discounts written signed against their lines (negative on a sale, as Square writes them), read as "
            f"the money taken off: {r.discounts_signed:,} lines"
        ),
    ),
    (
        lambda r: r.order_discounts_spread > 0,
        lambda r: (
            f"orders whose discount (order_discount) was spread over their lines in proportion to their amounts: "
            f"{r.order_discounts_spread:,}"
        ),
    ),
    (
        lambda r: r.order_discounts_kept > 0,
        lambda r: (
            f"orders with an order_discount whose lines carry discounts of their own, kept as they are (nothing "
            f"spread; the order's figure may hold a shipping discount no line bears): {r.order_discounts_kept:,}"
        ),
    ),
    (
        lambda r: r.orders_replaced > 0,
        lambda r: (
            f"stored orders replaced by their lines in this export (--replace-orders): {r.orders_replaced:,}, "
            f"{r.lines_replaced:,} stored lines removed (`spend features build` to see the orders as they are now)"
        ),
    ),
    (
        lambda r: r.accepted_after_refusal > 0,
        lambda r: (
            f"lines an earlier ingest quarantined went in now (what their reason asked for was given): "
            f"{r.accepted_after_refusal:,}"
        ),
    ),
)


def notes(report: IngestReport, hint_decimal: bool = True) -> list[str]:
    """The lines that apply to `report`, in RULES' order; `hint_decimal` False leaves out the decimal
    comma's (a caller that knows the numbers' mark)."""
    rules = [rule for rule in RULES if hint_decimal or rule is not DECIMAL]
    return [say(report) for applies, say in rules if applies(report)]
