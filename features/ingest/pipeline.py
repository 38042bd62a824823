"""Ingest one export into the offline store: read, parse, pseudonymise, validate, deduplicate, commit.

Every received row ends in exactly one of: accepted (offline store), quarantined (with a reason)
or duplicate (already received), so `accepted + quarantined + duplicates == received` always holds.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, time, timedelta
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from spend.core import lineage
from spend.core.audit import command_audit
from spend.core.errors import SpendError
from spend.core.privacy.pseudonym import pseudonymise
from spend.core.privacy.vault import IdentityVault
from spend.core.settings import SpendSettings
from spend.features.ingest.catalog import BatchRecord
from spend.features.ingest.daily_totals import as_order_lines
from spend.features.ingest.discounts import Spread, orders_counted, signed_discounts, spread_order_discounts
from spend.features.ingest.identity import among, classify, content_hash, derive_event_ids, with_occurrence
from spend.features.ingest.line_kinds import VOIDED, signed_returns, voided_lines
from spend.features.ingest.lock import ledger_lock
from spend.features.ingest.money import currency_from_symbols, strip_symbols, symbol_disagreements
from spend.features.ingest.no_record import REASONS as NO_RECORD
from spend.features.ingest.no_record import no_record_rows
from spend.features.ingest.order_fields import ORDER_LEVEL, fill_from_order
from spend.features.ingest.order_headers import Headed, check_orders_option, read_order_headers, with_order_headers
from spend.features.ingest.order_headers import reasons as header_reasons
from spend.features.ingest.order_keys import check_order_within, compose_order_ids
from spend.features.ingest.parse import DECIMAL_MARKS, REPEATED_HOUR, Parsed, parse_frame
from spend.features.ingest.person_ids import (
    BLANK_PERSON,
    NOT_IN_PERSONS,
    Joined,
    check_person_ids_option,
    read_person_ids,
    with_person_ids,
)
from spend.features.ingest.readers import MALFORMED, file_sha256, joined_parts, read_export, refuse_unused_maps
from spend.features.ingest.refusals import as_kept, probe_column, read_since, relink
from spend.features.ingest.replace_orders import COLUMNS as ORDER_COLUMNS
from spend.features.ingest.replace_orders import check_option as check_replace_option
from spend.features.ingest.replace_orders import replacing
from spend.features.ingest.retract import Undo, retract_orders, returned
from spend.features.ingest.signups import (
    DATED_BY_FIRST_LINE,
    dated_by_first_line,
    known_dates,
    with_signup_column,
)
from spend.features.ingest.stock_reports import with_count_time
from spend.features.ingest.store import OfflineStore
from spend.features.ingest.suggest import line_total_column, map_flags, order_number_column, suggested_maps
from spend.features.ingest.ts_formats import suggested_formats
from spend.features.ingest.validate import failed, first_reason_per_row, row_rule_failures, schema_failures
from spend.features.ingest.visits import as_unit_lines, as_visit_lines, visit_order_ids
from spend.features.ingest.visits import check_options as check_visit_options
from spend.features.schema.fields import TEXT, FieldSpec, Kind, RowRule, SchemaContext, default_context
from spend.features.schema.order_status import NEVER_SOLD, partly_refunded_alone
from spend.features.schema.order_status import REASONS as STATUS_REASONS
from spend.features.schema.tables import PERSONAL_FIELDS, SCHEMA_VERSION, TABLES, TableSpec


@dataclass(frozen=True)
class IngestOptions:
    table: str
    mapping: dict[str, str] = field(default_factory=dict)
    encoding: str = "utf-8"
    ts_format: str | None = None
    allow_anonymous: bool = False  # transactions without a customer are kept as anonymous purchases
    extra_rules: tuple[RowRule, ...] = ()  # source-specific rules, e.g. non-product codes
    decimal: str = "."  # "," for exports whose numbers read 12,50 (points may group thousands: 1.234,50)
    order_within: tuple[str, ...] = ()  # columns (or "day") that complete an order number (order_keys.py)
    line_totals: bool = False  # unit_price holds the line's total: divided by the quantity
    daily_totals: bool = False  # each row is a product's units on a day: an anonymous order of its own
    counted_at: str | None = None  # a stock report without a date: every row's count time (stock_reports.py)
    keep_repeated_lines: bool = False  # a line repeating another of the file exactly is a line of its own
    header_row: int = 1  # CSV and Excel: the line the column names are on (a report's title above them)
    sheet: str | None = None  # Excel: the sheet to read (the first when None)
    orders: str | None = None  # transactions: a file of one row per order whose fields the lines take
    no_order_ids: bool = False  # no order numbers: a customer's lines at one time in one store are an order
    one_unit_per_line: bool = False  # no quantity column: one row per item bought
    person_ids: str | None = None  # a file naming each customer id's person (ids made per order: Olist)
    replace_orders: bool = False  # each order of the file is the order as it is now (replace_orders.py)
    repeated_hour: str | None = None  # "first"/"second": the pass of the hour clocks go back over (parse.py)

    def __post_init__(self) -> None:
        if self.decimal not in DECIMAL_MARKS:
            raise SpendError(f"--decimal: {self.decimal!r} is not a decimal mark; use '.' or ','")
        if self.repeated_hour not in (None, *REPEATED_HOUR):
            raise SpendError(f"--repeated-hour: {self.repeated_hour!r} is not a pass; use first or second")
        if self.orders is not None:
            check_orders_option(self.table, self.daily_totals, self.order_within)
        if self.person_ids is not None:
            fields = list(table_spec(self.table).field_map(default_context()))
            check_person_ids_option(self.table, fields, self.daily_totals)
        if self.no_order_ids or self.one_unit_per_line:
            check_visit_options(self.table, self.daily_totals, self.order_within, self.orders, self.no_order_ids)
        if self.replace_orders:
            check_replace_option(self.table, self.daily_totals)


@dataclass
class IngestReport:
    batch_id: str
    table: str
    source: str
    file_sha256: str
    received: int
    accepted: int
    quarantined: int
    duplicates: int
    quarantined_by_reason: dict[str, int]
    ignored_columns: list[str]
    new_identities: int
    filled_from_order: dict[str, int] = field(default_factory=dict)
    from_orders_file: dict[str, int] = field(default_factory=dict)  # line cells taken from --orders, per field
    replaced_by_orders: dict[str, int] = field(default_factory=dict)  # line cells --orders' order row replaced
    visit_orders: int = 0  # --no-order-ids: the orders the accepted lines were grouped into
    unit_lines: bool = False  # --one-unit-per-line: every line read as one unit
    case_variant_customers: int = 0  # customer ids of the file equal to another of it but for letter case
    person_lines: int = 0  # --person-ids: rows whose customer id was read as its person's
    person_customer_ids: int = 0  # the distinct customer ids among them
    persons: int = 0  # the distinct persons those ids are
    without_price: int = 0  # accepted daily totals of units alone (their price unknown)
    repeated_lines: int = 0  # rows repeating another of the file exactly: duplicates, or kept with the option
    repeated_kept: bool = False  # --keep-repeated-lines: those rows are lines of their own
    dated_by_first_line: int = 0  # customers without a sign-up date, dated by their first transaction
    replaced: int = 0  # accepted rows that replace a stored row of their key (TableSpec.replaces)
    retracted: int = 0  # stored lines removed: their order's export now says it was cancelled (retract.py)
    orders_replaced: int = 0  # --replace-orders: stored orders whose lines this export's replaced
    lines_replaced: int = 0  # the stored lines removed for them
    accepted_after_refusal: int = 0  # accepted rows an earlier batch had quarantined (its fix given since)
    returns_signed: int = 0  # return lines whose positive quantities were read as units given back
    order_discounts_spread: int = 0  # orders whose discount was spread over their accepted lines
    order_discounts_kept: int = 0  # orders with a discount whose lines kept their own (nothing spread)
    partly_refunded_alone: int = 0  # orders partially refunded whose lines count whole (no return lines)
    discounts_signed: int = 0  # accepted lines whose discount was written negative on a sale, read as its size
    suggested_ts_formats: list[str] = field(default_factory=list)
    suggested_maps: list[str] = field(default_factory=list)  # for ignored columns that look like optional ones
    schema_version: str = SCHEMA_VERSION

    def as_dict(self) -> dict:
        return asdict(self)


def table_spec(name: str) -> TableSpec:
    if name not in TABLES:
        raise SpendError(f"--table: unknown table {name!r}; expected one of {', '.join(TABLES)}")
    return TABLES[name]


# Rows of a customer erased on request are refused (not re-pseudonymised): the quarantine keeps only their
# place in the file and this reason (docs/privacy.md).
ERASED = "customer_id:erased"

INGEST_STEPS = ("read", "parse", "validate", "deduplicate", "write")


def ingest(
    path: Path,
    options: IngestOptions,
    settings: SpendSettings,
    now: datetime | None = None,
    progress: Callable[[str], None] = lambda step: None,
) -> IngestReport:
    """Ingest one file; `progress` is called with each of INGEST_STEPS as it starts."""
    table_spec(options.table)
    progress("read")
    beside = [Path(f) for f in (options.orders, options.person_ids) if f is not None]
    raw = read_export(
        Path(path), options.mapping, options.encoding, options.header_row, options.sheet, maps_optional=bool(beside)
    )
    maps, encoding = options.mapping, options.encoding
    headers = None if options.orders is None else read_order_headers(Path(options.orders), raw, maps, encoding)
    persons = None if options.person_ids is None else read_person_ids(Path(options.person_ids), maps, encoding)
    digest = file_sha256(Path(path))
    if beside:  # the files share the maps: one no file has is refused; the batch is all of them
        applied = [f.attrs.get("maps_applied", []) for f in (raw, headers, persons) if f is not None]
        refuse_unused_maps(maps, [Path(path), *beside], applied)
        digest = hashlib.sha256("+".join([digest, *map(file_sha256, beside)]).encode()).hexdigest()
    source = str(path) if options.sheet is None else f"{path} (sheet {options.sheet})"
    return ingest_frame(raw, source, digest, options, settings, now, progress, Companions(headers, persons))


@dataclass(frozen=True)
class Companions:
    """Files read beside an export: its orders (`--orders`) and its customers' persons (`--person-ids`)."""

    headers: pd.DataFrame | None = None
    persons: pd.Series | None = None


@dataclass
class Checked:
    """Rows parsed, pseudonymised and validated, before anything is stored."""

    specs: dict
    typed: pd.DataFrame
    raw_customer: pd.Series | None
    parse_failures: pd.DataFrame
    content: pd.Series  # hash of each row's values, the key excluded (replay detection)
    reasons: pd.DataFrame  # indexed by invalid row: `reason` (first failure) and `reasons` (all)
    filled: dict[str, int]  # blank order-level cells filled from their order's other lines, per column
    dated: int  # customers without a sign-up date, dated by their first stored transaction (signups.py)
    repeated: int  # rows without a key of their own repeating an earlier row of the file exactly
    ts_formats: list[str]  # formats that read every timestamp that did not parse (ts_formats.py)
    from_orders_file: dict[str, int]  # blank line cells taken from the orders file (`--orders`), per field
    replaced_by_orders: dict[str, int]  # line cells that differed from their order's row, replaced by it
    case_variants: int  # customer ids equal to another of the file but for letter case
    key_given: pd.Series  # rows whose key the export gave (not derived from their content)
    persons: tuple[int, int, int] = (0, 0, 0)  # --person-ids: rows joined, their customer ids, their persons
    signed_returns: int = 0  # returns written with positive quantities, read as units given back
    spread: Spread | None = None  # lines given a share of their order's discount (discounts.py)
    signed_discounts: int = 0  # discounts written signed against their lines, read as their sizes


def check_rows(
    raw: pd.DataFrame,
    source: str,
    options: IngestOptions,
    settings: SpendSettings,
    started: datetime,
    progress: Callable[[str], None] = lambda step: None,
    companions: Companions | None = None,
) -> Checked:
    """Every rule of the table (and `options.extra_rules`) over `raw`; what ingestion and batch scoring
    share. `companions`: the orders file (`--orders`), whose fields the lines take, and the persons file
    (`--person-ids`), whose persons their customer ids are."""
    spec = table_spec(options.table)
    within = options.order_within
    companions = companions or Companions()
    headed = Headed(raw, failed(), {})
    if companions.headers is not None:
        headed = with_order_headers(raw, companions.headers, Path(options.orders or "orders").name)
        raw = headed.raw
    joined = Joined(raw, failed(), 0, 0, 0)
    if companions.persons is not None:
        joined = with_person_ids(raw, companions.persons)
        raw = joined.raw
    voided = failed()
    if spec.name == "transactions":
        raw, voided = voided_lines(raw)
    if options.daily_totals:
        raw, within = as_order_lines(raw, spec.name, within)
    if options.no_order_ids:
        raw = as_visit_lines(raw)
    if options.one_unit_per_line:
        raw = as_unit_lines(raw)
    if options.counted_at is not None:
        raw = with_count_time(raw, spec.name, options.counted_at)
    raw = with_signup_column(raw, spec.name)
    ctx = SchemaContext(
        now=started + timedelta(seconds=settings.future_tolerance_seconds),
        earliest=datetime.combine(settings.earliest_ts, time(0), tzinfo=UTC),
        max_line_amount=settings.max_line_amount,
        max_line_units=settings.max_line_units,
        currencies=settings.currencies,
        allow_anonymous=options.allow_anonymous or options.daily_totals,
        prices_optional=options.daily_totals,
        tiers=settings.tiers,
    )
    specs = spec.field_map(ctx)
    private = [name for name, f in specs.items() if f.pseudonymised] + list(PERSONAL_FIELDS)
    found = [c for c in raw.columns if c != MALFORMED]
    check_order_within(options.order_within, spec.name, list(specs), found, private)  # the user's, not daily
    made = ("order_id",) * options.no_order_ids + ("quantity",) * options.one_unit_per_line  # not the file's
    _require_columns(raw, spec, ctx, source, made)
    progress("parse")
    money = [name for name, f in specs.items() if f.unit == "currency"]
    unsymbolled, symbols = strip_symbols(raw, money)
    parsed = parse_frame(
        unsymbolled, specs, options.ts_format, settings.timezone, options.decimal, options.repeated_hour
    )
    timestamps = [name for name, f in specs.items() if f.kind is Kind.TIMESTAMP]
    # Totals lines leave blank a field that may not be: a customer may be, with --allow-anonymous.
    never_blank = [name for name, f in specs.items() if f.required and not f.nullable]
    unsplit = no_record_rows(raw, options.mapping, never_blank)
    ts_formats = suggested_formats(  # a repeated header's "InvoiceDate" is no timestamp to read
        raw.drop(index=unsplit["row"]) if len(unsplit) else raw,  # a copy of every column: only if needed
        timestamps,
        parsed.failures[~parsed.failures["row"].isin(unsplit["row"])],
        options.ts_format,
    )
    if len(unsplit):  # their values are empty: the row's own reason first, and its text in its identity
        parsed = Parsed(parsed.frame, pd.concat([unsplit, parsed.failures]).astype({"row": "int64"}))
    typed = compose_order_ids(parsed.frame, raw, within, settings.timezone)
    typed, filled = (typed, {}) if options.no_order_ids else fill_from_order(typed, raw, within)
    typed = _fill_defaults(currency_from_symbols(typed, raw, symbols), settings)
    typed, signed = signed_returns(typed) if spec.name == "transactions" else (typed, 0)
    if options.line_totals:
        typed = _unit_prices(typed, spec.name)
    typed, unsigned = signed_discounts(typed) if spec.name == "transactions" else (typed, 0)
    typed, spread = spread_order_discounts(typed) if spec.name == "transactions" else (typed, None)
    key = settings.pseudonym_key.get_secret_value().encode("utf-8")
    raw_customer = typed["customer_id"].copy() if "customer_id" in typed else None
    if raw_customer is not None:
        typed["customer_id"] = pseudonymise(raw_customer, key)
    if options.no_order_ids:
        typed["order_id"] = visit_order_ids(typed)
    typed, dated = dated_by_first_line(typed, raw, spec.name, partial(known_dates, OfflineStore(settings.paths)))
    content = row_content(typed, specs, spec.key)
    key_given = typed[spec.key].notna()
    read = ~content.index.isin(parsed.failures["row"])  # unreadable rows differ by their text, not content
    repeated = int((content[read].duplicated() & ~key_given[read]).sum())
    if options.keep_repeated_lines or options.one_unit_per_line:  # a row per item: a repeat is one more unit
        content = with_occurrence(content, key_given)
    if "event_id" in typed:
        typed["event_id"] = derive_event_ids(typed["event_id"], content)
    progress("validate")
    with_signup = _with_signup(typed, spec, OfflineStore(settings.paths))
    rules = (*options.extra_rules, *spec.row_rules(ctx))
    failures = pd.concat(
        [
            parsed.failures,
            headed.failures,  # before the cross-row rules: another customer's line is not the order's
            joined.failures,
            voided,
            symbol_disagreements(typed, symbols),
            schema_failures(with_signup, spec.schema(ctx, with_row_rules=False)),
            row_rule_failures(with_signup, tuple(r for r in rules if not r.among_valid)),
        ]
    )
    across = tuple(r for r in rules if r.among_valid)  # cross-row rules judge valid rows only
    failures = pd.concat([failures, row_rule_failures(_valid_rows(with_signup, failures["row"], across), across)])
    failures = pd.concat([_erased_customers(typed, settings), failures])
    if len(unsplit):  # an unsplit row's fields are all empty: its own reason says it all
        own = failures["reason"].isin(NO_RECORD)
        failures = failures[~failures["row"].isin(unsplit["row"]) | own]
    order = [ERASED, *NO_RECORD, *header_reasons(), NOT_IN_PERSONS, BLANK_PERSON, *STATUS_REASONS, VOIDED]
    order += _rule_order(spec, ctx, options.extra_rules)
    reasons = first_reason_per_row(failures, order)
    return Checked(
        specs,
        typed,
        raw_customer,
        parsed.failures,
        content,
        reasons,
        filled,
        dated,
        repeated,
        ts_formats,
        from_orders_file=headed.filled,
        replaced_by_orders=headed.replaced,
        case_variants=case_variants(raw_customer),
        persons=(joined.lines, joined.ids, joined.persons),
        signed_returns=signed,
        spread=spread,
        signed_discounts=unsigned,
        key_given=key_given,
    )


def ingest_frame(
    raw: pd.DataFrame,
    source: str,
    digest: str,
    options: IngestOptions,
    settings: SpendSettings,
    now: datetime | None = None,
    progress: Callable[[str], None] = lambda step: None,
    companions: Companions | None = None,
) -> IngestReport:
    """Ingest rows already read (text or typed columns, canonical names); `digest` identifies the source;
    `companions`: the files read beside it (`--orders`, `--person-ids`)."""
    spec = table_spec(options.table)
    raw = raw.reset_index(drop=True)  # source_row in the quarantine counts data rows from 1
    started = now or datetime.now(UTC)
    batch_id = f"{spec.name}-{started:%Y%m%dT%H%M%S%f}-{digest[:8]}-{uuid.uuid4().hex[:6]}"
    checked = check_rows(raw, source, options, settings, started, progress, companions)
    batch = Batch(batch_id, spec, raw, source, digest, started, options, checked)
    progress("deduplicate")
    with ledger_lock(settings.paths.home):  # deduplicate against, and commit after, every other ingest
        store = OfflineStore(settings.paths)
        store.sweep()  # files a killed ingest left outside the ledger
        return _commit(store, batch, settings, progress)


@dataclass(frozen=True)
class Batch:
    """One export on its way in: what it is, where it came from, and its checked rows."""

    batch_id: str
    spec: TableSpec
    raw: pd.DataFrame
    source: str
    digest: str
    started: datetime
    options: IngestOptions
    checked: Checked


def _commit(store: OfflineStore, batch: Batch, settings: SpendSettings, progress) -> IngestReport:
    """Deduplicate against what is committed, write, and record the batch in the ledger (under the lock)."""
    spec, raw, checked, batch_id = batch.spec, batch.raw, batch.checked, batch.batch_id
    specs, typed, raw_customer = checked.specs, checked.typed, checked.raw_customer
    reasons = _erased_meanwhile(typed, checked.reasons, settings)
    invalid = pd.Series(typed.index.isin(reasons.index), index=typed.index)
    key_present, key_given = typed[spec.key].notna(), checked.key_given  # present: given or derived
    # A derived event id is in every stored identity, so the row hash mixes in every present key.
    row_hash = _row_hash(checked.content, typed[spec.key], key_present, raw, specs, checked.parse_failures)
    # Stored keys only where a key can conflict (one the export gives) or a replacing table is read by it:
    # a derived key is a hash of the content, which the row hash compares already.
    keyed = [spec.key] if spec.replaces or key_given.any() else []
    columns = ["row_hash", *keyed, *(ORDER_COLUMNS if batch.options.replace_orders else [])]
    stored = store.latest(spec.name, spec.key, columns) if spec.replaces else store.read(spec.name, columns)
    replace = replacing(typed, row_hash, invalid, stored) if batch.options.replace_orders else None
    live = stored if replace is None else stored[~replace.stored]  # the lines an edited order replaces: gone
    kept = live["row_hash"].to_numpy(dtype="int64") if len(live) else np.zeros(0, dtype="int64")
    # A replacing table's changed row is a new version: only today's rows make a row a duplicate (a
    # category changed and changed back is stored again), no stored key conflicts, and a row refused
    # as one of two in a file may come again alone.
    conflict = f"{spec.key}:duplicate_{spec.key}"
    listed = store.read_quarantine(spec.name, ["row_hash", probe_column(raw.columns), *_reason(spec)])
    refused = listed[listed["reason"] != conflict] if spec.replaces and len(listed) else listed
    before = refused["row_hash"].to_numpy(dtype="int64")
    seen = among(row_hash, before)  # rows refused before, as they are now
    stored_keys = pd.Series(dtype=object) if spec.replaces or live.empty or not keyed else live[spec.key].dropna()
    status = classify(row_hash, typed[spec.key], key_given, invalid, kept, seen, stored_keys)
    taken_back = _taken_back(reasons, typed, store, spec.name)
    # A stored sale's order exported again as cancelled or refunded: its lines are no duplicates of the
    # sale but why the sale is retracted (retract.py), so they are quarantined with their reason.
    if taken_back.any():
        again = taken_back & (status == "duplicate") & row_hash.isin(stored["row_hash"] if len(stored) else [])
        status = status.mask(again, "invalid")
    reason = reasons["reason"].reindex(typed.index)
    reason[status == "conflict"] = conflict

    progress("write")
    keep = status == "accepted"
    accepted = typed[keep].assign(
        batch_id=pd.Categorical.from_codes(np.zeros(int(keep.sum()), dtype=np.int8), categories=[batch_id]),
        ingested_at=batch.started,
        row_hash=row_hash[keep],
    )
    quarantined = _quarantine_rows(raw, typed, specs, status, reason, reasons, row_hash, batch_id)
    # Lines quarantined before for a value that did not parse, read now: stored, or refused for another
    # reason (refusals.py)
    judged = keep | status.isin(["invalid", "conflict"])
    kept_now = as_kept(raw, typed, specs, np.flatnonzero(judged.to_numpy())) if len(before) else None
    read_now = read_since(store, spec.name, kept_now, row_hash[judged], kept, listed) if kept_now is not None else {}
    moves = store.stage(batch_id, spec.name, accepted, quarantined, spec.time_column)
    try:
        # A row already stored may still bring new contact details (they are not part of its content).
        resent = (status == "duplicate") & row_hash.isin(stored["row_hash"] if spec.personal_fields else [])
        new_identities = _remember_identities(settings, raw, raw_customer, typed, status, spec, resent)
        store.publish(batch_id, moves)
        ignored, absent = _ignored(raw, specs, spec, batch.options), [c for c in specs if c not in raw.columns]
        report = IngestReport(
            batch_id=batch_id,
            table=spec.name,
            source=batch.source,
            file_sha256=batch.digest,
            received=len(raw),
            accepted=len(accepted),
            quarantined=len(quarantined),
            duplicates=int((status == "duplicate").sum()),
            quarantined_by_reason=dict(sorted(Counter(quarantined["reason"]).items())),
            ignored_columns=ignored,
            suggested_maps=[f"{old}={new}" for old, new in suggested_maps(absent, ignored)],
            new_identities=new_identities,
            filled_from_order=batch.checked.filled,
            from_orders_file=batch.checked.from_orders_file,
            replaced_by_orders=batch.checked.replaced_by_orders,
            visit_orders=int(accepted["order_id"].nunique()) if batch.options.no_order_ids else 0,
            unit_lines=batch.options.one_unit_per_line,
            case_variant_customers=batch.checked.case_variants,
            person_lines=batch.checked.persons[0],
            person_customer_ids=batch.checked.persons[1],
            persons=batch.checked.persons[2],
            returns_signed=_accepted_returns(keep, typed) if batch.checked.signed_returns else 0,
            **_discounts_spread(keep, typed, batch.checked.spread),
            partly_refunded_alone=_partly_refunded(keep, typed) if spec.name == "transactions" else 0,
            discounts_signed=_accepted_discounts(keep, typed) if batch.checked.signed_discounts else 0,
            without_price=int(accepted["unit_price"].isna().sum()) if "unit_price" in accepted else 0,
            repeated_lines=batch.checked.repeated,
            repeated_kept=batch.options.keep_repeated_lines or batch.options.one_unit_per_line,
            dated_by_first_line=batch.checked.dated,
            replaced=int(among(typed.loc[keep, spec.key], stored[spec.key]).sum()) if spec.replaces else 0,
            accepted_after_refusal=_after_refusal(row_hash[keep], seen[keep.to_numpy()], read_now),
            suggested_ts_formats=batch.checked.ts_formats,
        )
        store.catalog.commit(_record(report, batch.started, batch.options))
    except BaseException:
        store.discard(batch_id, moves)
        raise
    relink(store.quarantine_files(spec.name), read_now)  # after the commit: a crash leaves them listed as out
    undo = Undo(settings.paths.offline, settings.paths.retracted / batch_id)  # `spend batches --remove` undoes
    if replace is not None and len(replace.orders):  # after the commit, as a retraction: the same file mends it
        earlier = [f for f in store.files(spec.name) if batch_id not in Path(f).name]
        report.orders_replaced = len(replace.orders)
        report.lines_replaced = retract_orders(earlier, replace.orders, undo)
        command_audit(settings.paths.home).write(
            user="", action="replace edited orders", batch=batch_id, lines=report.lines_replaced
        )
    if taken_back.any():  # after the commit: a crash before it is mended by ingesting the same file again
        orders = typed.loc[taken_back, ["order_id", "customer_id"]]
        report.retracted = retract_orders(store.files(spec.name), orders, undo)
        if report.retracted:
            command_audit(settings.paths.home).write(
                user="", action="retract cancelled or refunded orders", batch=batch_id, lines=report.retracted
            )
    source = Path(batch.source)
    lineage.emit(
        settings.paths.home,
        settings.feature_project,
        f"ingest.{spec.name}",
        [lineage.Data(str(source.resolve()) if source.exists() else batch.source, batch.digest, "file")],
        [lineage.Data(f"offline.{spec.name}", batch_id)],
    )
    return report


def _taken_back(reasons: pd.DataFrame, typed: pd.DataFrame, store: OfflineStore, table: str) -> pd.Series:
    """The lines of orders this export says were cancelled, or refunded without their return lines where
    none are stored either: a stored sale of theirs is retracted (retract.py)."""
    reason = reasons["reason"].reindex(typed.index)
    taken = reason.isin(STATUS_REASONS).to_numpy(dtype=bool)
    refunded = taken & ~reason.isin(NEVER_SOLD).to_numpy(dtype=bool)
    if refunded.any():  # a refund whose return lines a refunds export stored: the sale and return net out
        taken[refunded] = ~returned(store.files(table), typed.loc[refunded, ["order_id", "customer_id"]]).to_numpy()
    return pd.Series(taken, index=typed.index)


def row_content(typed: pd.DataFrame, specs: dict[str, FieldSpec], key: str) -> pd.Series:
    """Each row's content hash: every field but the key, by how the field counts (FieldSpec.content)."""
    columns = [c for c, f in specs.items() if c != key and f.content != "never"]
    return content_hash(typed[columns], when_given={c for c in columns if specs[c].content == "given"})


def case_variants(raw_customer: pd.Series | None) -> int:
    """How many distinct customer ids equal another of them but for letter case (Bob@Example.com and
    bob@example.com): kept as different customers, since an id's case may matter, but worth a look."""
    if raw_customer is None:
        return 0
    distinct = pd.Series(raw_customer.dropna().unique(), dtype=object)
    folded = distinct.astype(str).str.casefold()
    return int(folded.duplicated(keep=False).sum())


def _require_columns(raw: pd.DataFrame, spec: TableSpec, ctx: SchemaContext, source: str, made=()) -> None:
    """Every required column, or one error naming the missing ones and the flags that fit the file's;
    `made`: columns an option gave the rows, not the file."""
    missing = [c for c in spec.required_columns(ctx) if c not in raw.columns]
    if missing:
        added = [*made, *(c for c, _ in DATED_BY_FIRST_LINE.values() if c in raw.columns and raw[c].isna().all())]
        found = [c for c in raw.columns if c != MALFORMED and c not in added]
        # A file of another table gets that table, not the flags that would read it as this one.
        fits = _other_tables(spec, ctx, found) or _what_fits(spec, ctx, missing, found, raw)
        raise SpendError(
            f"{Path(source).name}: missing required column(s) {', '.join(missing)} for table {spec.name} "
            f"(found {', '.join(found)}); map foreign names with --map old=new{fits}"
        )


def _what_fits(spec: TableSpec, ctx: SchemaContext, missing: list[str], found: list[str], raw: pd.DataFrame) -> str:
    """The flags to paste for a file lacking required columns: the `--map`s its names suggest (the optional
    columns' too: one command), a sales amount read as a price, and the option for a report of another
    shape (daily totals naming no order or customer, a stock report naming no date)."""
    optional = [c for c in spec.field_map(ctx) if c not in found and c not in missing]
    pairs = suggested_maps(missing + optional, found)
    numbered = order_number_column(raw, missing, pairs)
    pairs = [(numbered, "order_id"), *pairs] if numbered is not None else pairs
    mapped = {new for _, new in pairs}
    flags = map_flags([f"{old}={new}" for old, new in pairs])
    total = line_total_column(missing, found, pairs)
    if total is not None:
        flags = f"{flags} {map_flags([f'{total}=unit_price'])} --line-totals".strip()
    hints = [f" (it looks like: {flags})"] if flags else []
    if spec.name == "transactions" and {"order_id", "customer_id"} <= set(missing) - mapped:
        hints.append("; a daily sales report (units per product and day, no orders or customers) takes --daily-totals")
    unmapped = set(missing) - mapped
    if spec.name == "transactions" and "order_id" in unmapped and "customer_id" not in unmapped:
        hints.append("; a purchase log without order numbers takes --no-order-ids (a customer's visit is an order)")
    if spec.name == "transactions" and "quantity" in unmapped:
        hints.append("; an export of one row per item, without quantities, takes --one-unit-per-line")
    order_level = (set(missing) - mapped) & set(ORDER_LEVEL)
    if spec.name == "transactions" and order_level and "order_id" in found:
        hints.append(
            f"; order lines whose order's {', '.join(sorted(order_level))} are in a file of their own (an orders "
            "export) take it with --orders ORDERS_FILE"
        )
    if spec.name == "inventory" and "ts" in set(missing) - mapped:
        hints.append("; a stock report without its count's date takes --counted-at 'YYYY-MM-DD HH:MM'")
    return "".join(hints)


def _other_tables(spec: TableSpec, ctx: SchemaContext, found: list[str]) -> str:
    """The tables whose required columns the file has (`--table` is transactions unless given, and a
    customers file read as transactions lacks their order columns)."""
    fitting = [t for t in TABLES.values() if t.name != spec.name and set(t.required_columns(ctx)) <= set(found)]
    return "".join(f"; it has the columns of the {t.name} table: --table {t.name}" for t in fitting)


def _unit_prices(typed: pd.DataFrame, table: str) -> pd.DataFrame:
    """unit_price from a line total: the total over the quantity (a return's negative total over its
    negative quantity is a positive price; a zero quantity has none, and its own rule quarantines it)."""
    if "unit_price" not in typed:
        raise SpendError(f"--line-totals: the {table} table has no unit_price to divide")
    quantity = typed["quantity"].where(typed["quantity"] != 0)
    return typed.assign(unit_price=typed["unit_price"] / quantity)


def _fill_defaults(typed: pd.DataFrame, settings: SpendSettings) -> pd.DataFrame:
    typed = typed.copy()
    if "currency" in typed:
        currency = typed["currency"].str.upper()
        typed["currency"] = currency.fillna(settings.default_currency) if currency.isna().any() else currency
    if "kind" in typed and "quantity" in typed and typed["kind"].isna().any():
        inferred = pd.Series(np.where(typed["quantity"] < 0, "return", "purchase"), index=typed.index, dtype=TEXT)
        typed["kind"] = typed["kind"].fillna(inferred.where(typed["quantity"].notna()))
    return typed


def _accepted_returns(keep: pd.Series, typed: pd.DataFrame) -> int:
    return int((keep & (typed["kind"] == "return").fillna(False)).sum())


def _valid_rows(frame: pd.DataFrame, failed: pd.Series, rules: tuple[RowRule, ...]) -> pd.DataFrame:
    """The rows no other rule refused, with the columns `rules` read (all where one does not say): a copy of
    every column of a large export cost more than the rules themselves."""
    if not rules:
        return frame.iloc[:0]
    if all(r.reads is not None for r in rules):
        frame = frame[[c for c in dict.fromkeys(c for r in rules for c in r.reads) if c in frame.columns]]
    if not len(failed):
        return frame
    keep = np.ones(len(frame), dtype=bool)
    at = frame.index.get_indexer(failed.unique())
    keep[at[at >= 0]] = False
    return frame[keep]


def _reason(spec) -> list[str]:
    """The quarantine's reasons are read only for a replacing table (a key conflict there is no refusal of
    the row itself); elsewhere they are not needed, and a large quarantine's would be read for nothing."""
    return ["reason"] if spec.replaces else []


def _after_refusal(accepted: pd.Series, seen: np.ndarray, read_now: dict[int, int]) -> int:
    """Accepted rows an earlier batch had quarantined: by their identity then (`seen`, per accepted row),
    or by the one read now."""
    now = np.fromiter(read_now.values(), dtype="int64", count=len(read_now))
    return int((seen | among(accepted.to_numpy(dtype="int64"), now)).sum())


def _accepted_discounts(keep: pd.Series, typed: pd.DataFrame) -> int:
    return int((keep & (typed["discount"] > 0).fillna(False)).sum())


def _partly_refunded(keep: pd.Series, typed: pd.DataFrame) -> int:
    return orders_counted(keep & partly_refunded_alone(typed), typed["order_id"])


def _discounts_spread(keep: pd.Series, typed: pd.DataFrame, spread: Spread | None) -> dict[str, int]:
    if spread is None:
        return {}
    return {
        "order_discounts_spread": orders_counted(keep & spread.lines, typed["order_id"]),
        "order_discounts_kept": orders_counted(keep & spread.kept, typed["order_id"]),
    }


def _row_hash(
    content: pd.Series,
    key: pd.Series,
    key_present: pd.Series,
    raw: pd.DataFrame,
    specs: dict,
    parse_failures: pd.DataFrame,
) -> pd.Series:
    """Identity of a received row: its parsed content, plus its key where it has one (given, or derived
    from the content: stored identities have mixed derived event ids in from the start, so they still do),
    plus the raw text of rows with unparsable values (NA once parsed, which would make two different bad
    rows look alike)."""
    row_hash = content.copy()
    mix = key_present.to_numpy().copy()
    bad_rows = parse_failures["row"].unique()
    fingerprint = pd.Series("", index=content.index, dtype=TEXT)
    if len(bad_rows):
        text_columns = [c for c in [*specs, MALFORMED] if c in raw.columns and c != "customer_id"]
        fingerprint.loc[bad_rows] = _joined(raw.loc[bad_rows, text_columns])
        mix[bad_rows] = True
    if mix.any():
        parts = pd.DataFrame({"content": content[mix], "key": key[mix].fillna(""), "raw": fingerprint[mix]})
        row_hash[mix] = content_hash(parts)
    return row_hash


def _joined(frame: pd.DataFrame) -> pd.Series:
    """Each row's texts joined by a unit separator (a row-wise join took minutes on a million bad rows)."""
    columns = [frame[c].astype(TEXT).fillna("") for c in frame.columns]
    if not columns:
        return pd.Series("", index=frame.index, dtype=TEXT)
    return columns[0].str.cat(columns[1:], sep="\x1f") if len(columns) > 1 else columns[0]


def _with_signup(typed: pd.DataFrame, spec: TableSpec, store: OfflineStore) -> pd.DataFrame:
    if not spec.checks_signup or "customer_id" not in typed:
        return typed
    customers = store.current("customers", ["customer_id", "signup_ts"])
    if customers.empty:
        return typed
    signup = customers.set_index("customer_id")["signup_ts"]
    codes, distinct = pd.factorize(typed["customer_id"])  # look up each distinct customer once
    position = np.where(codes >= 0, signup.index.get_indexer(distinct)[codes], -1)  # -1: unknown -> NaT
    return typed.assign(_signup_ts=pd.Series(signup.array.take(position, allow_fill=True), index=typed.index))


def _erased_customers(typed: pd.DataFrame, settings: SpendSettings) -> pd.DataFrame:
    """Failures `customer_id:erased` for rows whose customer is on the vault's deny list."""
    none = pd.DataFrame({"row": pd.Series([], dtype="int64"), "reason": pd.Series([], dtype="object")})
    if "customer_id" not in typed or not settings.paths.vault.exists():
        return none
    vault = IdentityVault(settings.paths.vault, settings.pseudonym_key.get_secret_value().encode("utf-8"))
    denied = vault.denied(typed["customer_id"].dropna().unique())
    if not denied:
        return none
    rows = typed.index[typed["customer_id"].isin(denied).to_numpy()].to_numpy(dtype="int64")
    return pd.DataFrame({"row": rows, "reason": ERASED})


def _erased_meanwhile(typed: pd.DataFrame, reasons: pd.DataFrame, settings: SpendSettings) -> pd.DataFrame:
    """`reasons` with the rows of customers erased while the batch was checked (outside the ledger lock,
    which an erasure takes) refused as erased: stored, they would bring the customer back."""
    late = _erased_customers(typed, settings)
    late = late[~late["row"].isin(reasons.index[(reasons["reason"] == ERASED).to_numpy(dtype=bool)])]
    if late.empty:
        return reasons
    rows = late["row"].to_numpy()
    before = reasons["reasons"].reindex(rows)
    listed = [ERASED if pd.isna(other) else f"{ERASED};{other}" for other in before]
    erased = pd.DataFrame({"reason": ERASED, "reasons": listed}, index=pd.Index(rows, name=reasons.index.name))
    return pd.concat([reasons.drop(index=rows, errors="ignore"), erased]).sort_index()


def _rule_order(spec: TableSpec, ctx: SchemaContext, extra: tuple[RowRule, ...]) -> list[str]:
    """Which reason a row reports when it breaks several rules: source rules, parsing, then dictionary order."""
    order: list[str] = [r.reason for r in extra]  # a source-specific rule is the most telling reason
    for f in spec.fields(ctx):
        order += [
            f"{f.name}:{r}"
            for r in (
                "malformed_id",
                "unparsable_timestamp",
                "ambiguous_local_time",
                "nonexistent_local_time",
                "not_a_float",
                "not_a_int",
                "unknown_zone",
                "missing",
            )
        ]
        order += [f"{f.name}:{r.name}" for r in f.rules]
    return order + [r.reason for r in spec.row_rules(ctx)]


def _quarantine_rows(raw, typed, specs, status, reason, reasons, row_hash, batch_id) -> pd.DataFrame:
    """Rejected rows with their raw text (customer id pseudonymised), reason, all reasons and source row."""
    at = np.flatnonzero(status.isin(["invalid", "conflict"]).to_numpy())  # positions: cheaper than masks
    rows = as_kept(raw, typed, specs, at)
    first = reason.iloc[at]
    erased = (first == ERASED).to_numpy()
    if erased.any():  # nothing of an erased customer's row is kept but where it was and why
        rows.loc[rows.index[erased], [c for c in rows.columns]] = pd.NA
    return rows.assign(
        source_row=rows.index + 1,
        reason=first,
        reasons=reasons["reasons"].reindex(rows.index).fillna(first),
        batch_id=batch_id,
        row_hash=row_hash.iloc[at],
    )


def _remember_identities(settings, raw, raw_customer, typed, status, spec, resent) -> int:
    """Remember the accepted rows' raw ids, and the personal fields of those and of `resent` rows (the
    latest given for a customer replace the vault's); returns how many ids were new."""
    if raw_customer is None:
        return 0
    accepted = (status == "accepted") & raw_customer.notna()
    if accepted.any():
        settings.warn_if_development_key()
    vault = IdentityVault(settings.paths.vault, settings.pseudonym_key.get_secret_value().encode("utf-8"))
    known = pd.DataFrame({"p": typed.loc[accepted, "customer_id"], "raw": raw_customer[accepted]}).drop_duplicates("p")
    pairs = dict(zip(known["p"], known["raw"], strict=True))
    new = vault.remember(pairs)
    personal = [c for c in spec.personal_fields if c in raw.columns]
    given = accepted | (resent & raw_customer.notna())
    if personal and given.any():
        values = raw.loc[given, personal].astype(TEXT)
        vault.remember_personal(
            {
                p: {k: v for k, v in row.items() if pd.notna(v) and v != ""}
                for p, row in zip(typed.loc[given, "customer_id"], values.to_dict("records"), strict=True)
            }
        )
    return new


def _ignored(raw: pd.DataFrame, specs: dict, spec: TableSpec, options: IngestOptions) -> list[str]:
    """Columns nothing is read from: not the table's, not personal, not a part of a joined --map
    ("First Name+Last Name=name" stores both as the name), not the persons a customers list names."""
    kept = {*specs, *spec.personal_fields, *joined_parts(options.mapping, raw.columns), MALFORMED}
    kept |= {"person_id"} if options.person_ids is not None else set()
    return [c for c in raw.columns if c not in kept]


def _record(report: IngestReport, started: datetime, options: IngestOptions) -> BatchRecord:
    return BatchRecord(
        batch_id=report.batch_id,
        table_name=report.table,
        source=report.source,
        file_sha256=report.file_sha256,
        schema_version=report.schema_version,
        started_at=started.isoformat(),
        committed_at=datetime.now(UTC).isoformat(),
        received=report.received,
        accepted=report.accepted,
        quarantined=report.quarantined,
        duplicates=report.duplicates,
        quarantined_by_reason=report.quarantined_by_reason,
        options={
            "mapping": options.mapping,
            "encoding": options.encoding,
            "ts_format": options.ts_format,
            "decimal": options.decimal,
            "allow_anonymous": options.allow_anonymous,
            "order_within": list(options.order_within),
            "line_totals": options.line_totals,
            "daily_totals": options.daily_totals,
            "counted_at": options.counted_at,
            "orders": options.orders,
            "no_order_ids": options.no_order_ids,
            "repeated_hour": options.repeated_hour,
            "one_unit_per_line": options.one_unit_per_line,
            "replace_orders": options.replace_orders,
            "extra_rules": [r.reason for r in options.extra_rules],
        },
    )
