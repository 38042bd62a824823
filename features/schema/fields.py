"""Field specifications: one place that says what a canonical column is, how it is parsed and checked.

A `FieldSpec` drives three things: parsing raw values (features.ingest.parse), the pandera schema
(features.schema.tables) and the data dictionary (features.schema.dictionary).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

import pandas as pd
import pandera.pandas as pa

from spend.core.currencies import ISO_4217_CODES
from spend.core.names import TIERS

# Arrow-backed text: vectorised string ops, several times faster than Python objects on 1M rows.
TEXT = pd.StringDtype("pyarrow")
# Exports name things as people do: orders "#1001", customers by e-mail, stores "Main St" or "Café Zürich".
# An id is 1 to 64 printable characters, without control characters (a tab or line break is a broken
# export), invisible ones (a zero-width space made "C1" and "C1\u200b" two customers that look alike
# everywhere; a right-to-left override shows an id backwards), commas or semicolons (they separate ids
# in lists: an erasure file) or spaces at its ends (the same pattern in Python's re and Arrow's RE2,
# which is why the invisible characters are in it as themselves, not as escapes).
INVISIBLE = "\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff"
_NOT_IN_ID = rf"\x00-\x1f\x7f,;{INVISIBLE}"
ID_PATTERN = rf"^[^\s{_NOT_IN_ID}](?:[^{_NOT_IN_ID}]{{0,62}}[^\s{_NOT_IN_ID}])?$"


class Kind(StrEnum):
    ID = "id"
    TIMESTAMP = "timestamp"
    FLOAT = "float"
    INT = "int"
    FLAG = "flag"  # 0 or 1, also written as true/false, yes/no, t/f or y/n (databases and chargeback tools do)
    CATEGORY = "category"
    TEXT = "text"


PANDAS_DTYPES: dict = {
    Kind.ID: TEXT,
    Kind.TIMESTAMP: "datetime64[us, UTC]",
    Kind.FLOAT: "float64",
    Kind.INT: "Int64",
    Kind.FLAG: "Int64",
    Kind.CATEGORY: TEXT,
    Kind.TEXT: TEXT,
}


@dataclass(frozen=True)
class Rule:
    """A named check on one field: `check` builds the pandera Check, `text` documents it."""

    name: str
    text: str
    check: pa.Check


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: Kind
    description: str
    required: bool = True  # the column must be present in the input
    nullable: bool = False  # a present column may hold empty values
    unit: str = ""
    allowed: tuple[str, ...] = ()
    rules: tuple[Rule, ...] = field(default=())
    pseudonymised: bool = False
    expected: bool | None = None  # counts for completeness; default: only required fields do
    # How the field counts in a row's content hash (duplicates, derived event ids): "always"; "given", only
    # where it holds a value (a field added after homes stored rows: their hashes, and so their
    # duplicates, stay as they were); "never" (a status that changes while the line stays the same line).
    content: str = "always"
    # A category's words as exports write them, read as its allowed values: (word written plain, value)
    words: tuple[tuple[str, str], ...] = ()

    @property
    def counts_for_completeness(self) -> bool:
        return self.required if self.expected is None else self.expected

    @property
    def dtype(self):
        return PANDAS_DTYPES[self.kind]

    def words_read(self) -> str:
        """The words read as each allowed value, as the data dictionary lists them ("" without any)."""
        if not self.words:
            return ""
        read = {value: [w for w, v in self.words if v == value] for value in dict.fromkeys(v for _, v in self.words)}
        return "; also read: " + "; ".join(f"{', '.join(ws)} as {value}" for value, ws in read.items())

    def parse_rule(self) -> str:
        return {
            Kind.ID: "text of 1 to 64 characters, without commas, semicolons, tabs, line breaks or other "
            "control or invisible characters; stored in Unicode NFKC (full-width digits as ASCII)",
            Kind.TIMESTAMP: "ISO 8601 (or the --ts-format given); no offset means SPEND_TIMEZONE; stored in UTC",
            Kind.FLOAT: "decimal number (12.5, or 12,5 with --decimal ',')",
            Kind.INT: "whole number",
            Kind.FLAG: "1 or 0; true/false, yes/no, t/f and y/n are read as 1/0 (any case)",
            Kind.CATEGORY: "one of the allowed values (case-insensitive, stored lower-case)" + self.words_read(),
            Kind.TEXT: "any text",
        }[self.kind]


def id_field(name: str, description: str, **kwargs) -> FieldSpec:
    return FieldSpec(name, Kind.ID, description, **kwargs)


def category_field(name: str, description: str, allowed: tuple[str, ...], **kwargs) -> FieldSpec:
    rule = Rule(
        "allowed_value",
        f"one of {', '.join(allowed)}",
        isin(allowed, "allowed_value"),
    )
    return FieldSpec(name, Kind.CATEGORY, description, allowed=allowed, rules=(rule,), **kwargs)


def isin(allowed, name: str) -> pa.Check:
    # Our own check rather than pa.Check.isin: pandera reports built-in checks by their own name.
    values = frozenset(allowed)
    return pa.Check(lambda s: s.isin(values), name=name)


def not_in_future(now: datetime) -> Rule:
    bound = pd.Timestamp(now)
    return Rule(
        "not_in_future",
        "not later than the ingestion time plus SPEND_FUTURE_TOLERANCE_SECONDS",
        pa.Check(lambda s: s <= bound, name="not_in_future"),
    )


def zero_or_one() -> Rule:
    """A flag's values (its column is parsed already: true/false, yes/no, ... are 1 and 0 by then)."""
    return Rule("zero_or_one", "0 or 1", pa.Check(lambda s: s.isin([0, 1]), name="zero_or_one"))


def planned_within_a_year(now: datetime) -> Rule:
    bound = pd.Timestamp(now) + pd.Timedelta(days=366)
    return Rule(
        "within_a_year_ahead",
        "not later than a year after the ingestion time (a date planned ahead, such as a launch)",
        pa.Check(lambda s: s <= bound, name="within_a_year_ahead"),
    )


def not_before_earliest(earliest: datetime) -> Rule:
    bound = pd.Timestamp(earliest)
    return Rule(
        "not_before_earliest",
        "not before SPEND_EARLIEST_TS (1990-01-01 unless set): 1900-01-01 or 1970-01-01 stand for a missing date",
        pa.Check(lambda s: s >= bound, name="not_before_earliest"),
    )


def positive(name: str = "positive") -> Rule:
    return Rule(name, "greater than 0", pa.Check(lambda s: s > 0, name=name))


def non_negative(name: str = "non_negative") -> Rule:
    return Rule(name, "0 or more", pa.Check(lambda s: s >= 0, name=name))


def at_most(name: str, bound: float, words: str, magnitude: bool = False) -> Rule:
    """The value (or its size, `magnitude`) is at most `bound`; `words` say what the bound stands for."""
    if magnitude:
        return Rule(name, words, pa.Check(lambda s: s.abs() <= bound, name=name))
    return Rule(name, words, pa.Check(lambda s: s <= bound, name=name))


def non_zero(name: str = "non_zero") -> Rule:
    return Rule(name, "not 0", pa.Check(lambda s: s != 0, name=name))


@dataclass(frozen=True)
class RowRule:
    """A check across fields of one row; `field` is the field the reason names.

    `fn(frame) -> bool Series` (True = row passes) is the single definition: it is wrapped as a
    pandera Check for whole-table validation and called directly on the ingestion hot path, where
    pandera's per-cell failure report of frame-wide checks costs seconds per million rows.

    `among_valid`: a check across rows (an order's lines, a day's counts), which ingestion runs over the
    rows that passed every other rule, so one corrupt cell does not take valid rows down with it.
    `reads`: the columns such a check reads (None: any), so ingestion copies only those of the valid rows.
    """

    field: str
    name: str
    text: str
    fn: Callable[[pd.DataFrame], pd.Series]
    among_valid: bool = False
    reads: tuple[str, ...] | None = None

    @property
    def reason(self) -> str:
        return f"{self.field}:{self.name}"

    @property
    def check(self) -> pa.Check:
        return pa.Check(self.fn, name=self.reason)


def row_rule(
    field_name: str,
    name: str,
    text: str,
    fn: Callable[[pd.DataFrame], pd.Series],
    among_valid: bool = False,
    reads: tuple[str, ...] | None = None,
) -> RowRule:
    return RowRule(field_name, name, text, fn, among_valid, reads)


@dataclass(frozen=True)
class SchemaContext:
    """What rules need to know at ingestion time."""

    now: datetime
    earliest: datetime = datetime(1990, 1, 1, tzinfo=UTC)  # SPEND_EARLIEST_TS
    max_line_amount: float = 100_000.0
    max_line_units: float = 100_000.0
    currencies: frozenset[str] = ISO_4217_CODES
    allow_anonymous: bool = False
    prices_optional: bool = False  # daily totals of units alone (Favorita, M5): a line's price may be unknown
    tiers: tuple[str, ...] = TIERS  # the shop's membership tiers, lowest first (SPEND_TIERS)


def default_context() -> SchemaContext:
    return SchemaContext(now=datetime.now(UTC))
