"""Turn raw input columns (text from CSV, or typed from Parquet) into canonical dtypes.

A value that is present but cannot be parsed becomes a per-row reason (`field:rule`), never a silent NaN.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from spend.core.errors import SpendError
from spend.core.ids import canonical_ids
from spend.features.ingest.zones import FIELD as ZONE
from spend.features.ingest.zones import zone_column
from spend.features.schema.fields import ID_PATTERN, TEXT, FieldSpec, Kind
from spend.features.schema.words import distinct, plain

_NUMBER = r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$"
# ISO 8601's Z, +hh:mm and +hhmm, and +hh after a time ("10:23:45+00"; a date's "-15" is no offset)
# "2025-03-01 10:00:00 UTC", as BigQuery and many databases export a timestamp: UTC said in a word.
_UTC_WORD = r"(?i)\s*\b(?:UTC|GMT)$"
_OFFSET = re.compile(r"(?:Z|[+-]\d{2}:?\d{2}|:\d{2}(?:\.\d+)?\s?[+-]\d{2})$")


@dataclass
class Parsed:
    frame: pd.DataFrame
    failures: pd.DataFrame  # columns: row, reason


def blank(raw: pd.Series) -> pd.Series:
    if raw.dtype == object or pd.api.types.is_string_dtype(raw):
        return raw.isna() | (raw.astype(TEXT).str.strip() == "")
    return raw.isna()


def as_text(raw: pd.Series) -> pd.Series:
    """A column as stripped text, blank cells NA."""
    text = raw.astype(TEXT).str.strip()
    return text.mask(text == "")


def parse_ids(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    text = canonical_ids(as_text(raw))
    bad = text.notna() & ~_well_formed(text)
    # The malformed text stays (its row is quarantined anyway) so source rules can still recognise it.
    return text, bad


def _well_formed(text: pd.Series) -> pd.Series:
    """Whether each id matches ID_PATTERN: judged once per distinct id where ids repeat (a million lines
    name some thousands of products, customers and orders), else line by line."""
    if not (isinstance(text.dtype, pd.StringDtype) and text.dtype.storage == "pyarrow"):
        return text.str.fullmatch(ID_PATTERN).fillna(False)
    encoded = pa.chunked_array(text.array._pa_array).combine_chunks().dictionary_encode()
    if len(encoded.dictionary) > len(text) // 4:
        return text.str.fullmatch(ID_PATTERN).fillna(False)
    judged = pd.Series(pd.arrays.ArrowStringArray(encoded.dictionary)).str.fullmatch(ID_PATTERN)
    fits = np.append(judged.fillna(False).to_numpy(dtype=bool), False)  # the last: a blank's code, -1
    return pd.Series(fits[pc.fill_null(encoded.indices, -1).to_numpy()], index=text.index)


EPOCH_UNITS = {"unix": "s", "unix_ms": "ms"}  # --ts-format for numbers counted from 1970-01-01 UTC
# --ts-format for a spreadsheet's serial days (45413.4375 is 2024-05-01 10:30), local time like any naive
# value. Counted from 1899-12-30, as Excel and LibreOffice count every day after February 1900.
EXCEL = "excel"
_EXCEL_ORIGIN = np.datetime64("1899-12-30T00:00:00", "us")
_EXCEL_LAST_DAY = 2_958_465  # 9999-12-31


def parse_timestamps(raw: pd.Series, ts_format: str | None, timezone: str) -> tuple[pd.Series, pd.Series]:
    if ts_format in EPOCH_UNITS:
        parsed = _epoch(raw, EPOCH_UNITS[ts_format])
    elif isinstance(raw.dtype, pd.DatetimeTZDtype):
        parsed = raw.dt.tz_convert("UTC")
    elif pd.api.types.is_datetime64_dtype(raw):
        parsed = raw.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC")
    else:
        # Exports repeat timestamps (every line of an order), so parse each distinct text once.
        codes, uniques = pd.factorize(as_text(raw))
        distinct = pd.Series(uniques, dtype=TEXT)
        if ts_format is None:
            distinct = distinct.str.replace(_UTC_WORD, "+00:00", regex=True)
        parsed_uniques = _arrow_iso(distinct, timezone) if ts_format is None else None
        if parsed_uniques is None:
            parsed_uniques = _pandas_timestamps(distinct, ts_format, timezone)
        parsed = pd.Series(parsed_uniques.array.take(codes, allow_fill=True), index=raw.index)  # -1 -> NaT
    parsed = parsed.astype("datetime64[us, UTC]")
    return parsed, parsed.isna() & ~blank(raw)


def local_time_problems(raw: pd.Series, ts_format: str | None, timezone: str) -> pd.Series:
    """For timestamps that did not parse: `ambiguous_local_time` where the value is a local time SPEND_TIMEZONE
    passes twice (clocks going back), `nonexistent_local_time` where it never passes (clocks going forward),
    None otherwise. Both were `unparsable_timestamp`, whose hint (--ts-format) sent users the wrong way."""
    out = pd.Series(None, index=raw.index, dtype=object)
    local = _local_wall_times(raw, ts_format)
    if local is None:
        return out
    shifted = local.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="shift_forward")
    exact = local.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
    out[local.notna() & shifted.isna()] = "ambiguous_local_time"
    out[shifted.notna() & exact.isna()] = "nonexistent_local_time"
    return out


def _local_wall_times(raw: pd.Series, ts_format: str | None) -> pd.Series | None:
    """The values without an offset as naive wall times (NaT for the others); None where no value can be
    a local time (epoch numbers, zoned cells, a zone pandas saw)."""
    if raw.empty or ts_format in EPOCH_UNITS or isinstance(raw.dtype, pd.DatetimeTZDtype):
        return None
    if pd.api.types.is_datetime64_dtype(raw):
        return raw
    text = as_text(raw)
    naive = text.notna() & ~text.str.contains(_OFFSET).fillna(False).astype(bool)
    local = _wall_times(text.where(naive), ts_format)
    return None if isinstance(local.dtype, pd.DatetimeTZDtype) or local.dtype == object else local


REPEATED_HOUR = {"first": True, "second": False}  # --repeated-hour: the pass of the hour clocks go back over


def in_repeated_hour(raw: pd.Series, ts_format: str | None, timezone: str, repeated_hour: str) -> pd.Series:
    """Local times SPEND_TIMEZONE passes twice, read in the pass `repeated_hour` names (first: still summer
    time, the earlier instant), in UTC; NaT for the others. The export cannot say which pass a line was in:
    the option says it for the whole file, and each line is then at most an hour off."""
    local = _local_wall_times(raw, ts_format)
    if local is None:
        return pd.Series(pd.NaT, index=raw.index, dtype="datetime64[us, UTC]")
    summer = np.full(len(local), REPEATED_HOUR[repeated_hour])
    read = local.dt.tz_localize(timezone, ambiguous=summer, nonexistent="NaT").dt.tz_convert("UTC")
    return read.astype("datetime64[us, UTC]")


def _epoch(raw: pd.Series, unit: str) -> pd.Series:
    """Numbers of seconds (or milliseconds) since 1970-01-01 UTC, whatever SPEND_TIMEZONE says; a value that
    is not a number, or past the calendar, is unparsable."""
    numbers = pd.to_numeric(raw if pd.api.types.is_numeric_dtype(raw) else as_text(raw), errors="coerce")
    seconds = numbers.astype("float64") / (1000 if unit == "ms" else 1)
    inside = seconds.abs() < 2.5e11  # about year 9900 either way: beyond, microseconds overflow
    micros = (seconds.where(inside) * 1e6).round()
    return pd.to_datetime(micros, unit="us", utc=True, errors="coerce")


def _arrow_iso(distinct: pd.Series, timezone: str) -> pd.Series | None:
    """Arrow's ISO 8601 cast, several times faster than pandas; None when the column needs pandas
    (a value Arrow rejects, or zoned and unzoned values mixed)."""
    if distinct.empty:
        return None
    text = pa.chunked_array(distinct.array._pa_array)
    zoned = pc.match_substring_regex(text, _OFFSET.pattern)
    try:
        if pc.all(zoned).as_py():
            cast = pc.cast(text, pa.timestamp("us", tz="UTC"))
            return pd.Series(cast.to_pandas().array, index=distinct.index)
        if not pc.any(zoned).as_py():
            local = pd.Series(pc.cast(text, pa.timestamp("us")).to_pandas().array, index=distinct.index)
            return local.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC")
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return None


def _pandas_timestamps(distinct: pd.Series, ts_format: str | None, timezone: str) -> pd.Series:
    """Values with an offset and values without one are parsed apart: parsed together with utc=True,
    pandas reads a naive value in the offset of the value before it (T10:00-08:00 then T10:00 both
    became 18:00 UTC). A naive value is local time in SPEND_TIMEZONE; one that does not exist there (a
    daylight-saving gap) or is ambiguous is not guessed (local_time_problems names its reason)."""
    zoned = distinct.str.contains(_OFFSET).fillna(False).astype(bool)
    parsed = pd.Series(pd.NaT, index=distinct.index, dtype="datetime64[us, UTC]")
    for part, with_offset in ((zoned, True), (~zoned, False)):
        if part.any():
            parsed[part] = _one_kind(distinct[part], ts_format, timezone, with_offset)
    return parsed


def _one_kind(distinct: pd.Series, ts_format: str | None, timezone: str, with_offset: bool = False) -> pd.Series:
    """Values all with an offset or all without one. Arrow's cast first (microseconds: year 9999 is a date
    in the future, not an unparsable one, as pandas' nanoseconds would make it); pandas for the rest. Values
    with offsets are each converted to UTC by their own: with several offsets among them (a shop's orders
    either side of a daylight-saving change, "2024-01-15 10:23:45 -0500"), pandas otherwise returns plain
    objects."""
    arrow = _arrow_iso(distinct, timezone) if ts_format is None else None
    if arrow is not None:
        return arrow
    local = _wall_times(distinct, ts_format, utc=with_offset)
    if with_offset:
        return local.dt.tz_convert("UTC")
    if isinstance(local.dtype, pd.DatetimeTZDtype) or local.dtype == object:
        # pandas saw a zone the offset pattern did not ("+05:30:00") and may have read the naive values
        # in it: each text alone, so that none takes another's zone.
        return _mixed(_one_by_one(distinct, ts_format), timezone)
    return local.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC")


def _one_by_one(distinct: pd.Series, ts_format: str | None) -> pd.Series:
    return pd.Series(
        [_wall_times(pd.Series([text], dtype=TEXT), ts_format).iloc[0] for text in distinct],
        index=distinct.index,
        dtype=object,
    )


def _mixed(values: pd.Series, timezone: str) -> pd.Series:
    """Timestamps pandas returned as objects: each zoned one converted by its own offset, each naive one
    read in SPEND_TIMEZONE."""
    zoned = values.map(lambda v: getattr(v, "tzinfo", None) is not None).astype(bool)
    values = values.where(values.notna(), None)  # NaT of either kind
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[us, UTC]")
    if zoned.any():
        out[zoned] = pd.to_datetime(values[zoned], utc=True)
    naive = ~zoned & values.notna()
    if naive.any():
        local = pd.to_datetime(values[naive])
        out[naive] = local.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC")
    return out


DECIMAL_MARKS = (".", ",")
# Spaces (plain, no-break and narrow no-break, as French and Nordic spreadsheets write them) and the Swiss
# apostrophe group thousands in threes whatever the decimal mark: no decimal mark is a space.
THOUSANDS_GAPS = " \u00a0\u202f'"
_GAP = f"[{THOUSANDS_GAPS}]"
# With a decimal comma: 12,50 and 1.234,50 (points group thousands) or 1 234,50; any other point is refused.
_COMMA_NUMBER = rf"[+-]?(\d+|\d{{1,3}}(\.\d{{3}})+|\d{{1,3}}({_GAP}\d{{3}})+)(,\d+)?|[+-]?,\d+"
# With a decimal point: commas grouping thousands, in threes and before a decimal point (1,234.50). Without
# the point, 1,250 could be 1.25 written with a decimal comma (a weighed quantity): refused, not guessed.
_GROUPED_NUMBER = rf"[+-]?(\d{{1,3}}(,\d{{3}})+\.\d+|\d{{1,3}}({_GAP}\d{{3}})+(\.\d+)?)"
# SAP and other ERPs write a negative number with its minus after it (12,50-).
_TRAILING_MINUS = f"[0-9][0-9.,{THOUSANDS_GAPS}]*-"


def _wall_times(text: pd.Series, ts_format: str | None, utc: bool = False) -> pd.Series:
    """The texts as pandas reads them (ISO 8601 or `ts_format`), zoned where they carry an offset and local
    otherwise (`utc`: every text carries one, each read in UTC); NaT where a text is no time."""
    if ts_format == EXCEL:
        return _excel_days(text)
    try:
        return pd.to_datetime(text, format=ts_format or "ISO8601", errors="coerce", utc=utc)
    except ValueError as error:  # the format itself is wrong (a bad directive), not a value
        raise SpendError(f"--ts-format: {ts_format!r} is not a usable strftime format ({error})") from error


def _excel_days(text: pd.Series) -> pd.Series:
    """Serial days as naive local times to the second (a spreadsheet's float is a few microseconds off);
    NaT where a text is no number or no day of the calendar."""
    days = pd.to_numeric(text, errors="coerce").astype("float64")
    days = days.where((days >= 1) & (days <= _EXCEL_LAST_DAY))
    seconds = (days * 86_400).round().to_numpy()
    known = np.isfinite(seconds)
    times = np.full(len(seconds), np.datetime64("NaT"), dtype="datetime64[us]")
    times[known] = _EXCEL_ORIGIN + (seconds[known].astype("int64") * 1_000_000).astype("timedelta64[us]")
    return pd.Series(times, index=text.index)


def parse_numbers(raw: pd.Series, kind: Kind, decimal: str = ".") -> tuple[pd.Series, pd.Series]:
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        values = pd.to_numeric(raw, errors="coerce").astype("float64")
    else:
        text = as_text(raw)
        values = _plain_floats(text) if decimal == "." else None  # most columns: nothing to read but numbers
        if values is None:
            text = _minus_first(text)
            values = _text_to_float(_from_decimal_comma(text) if decimal == "," else _ungrouped(text))
    bad = values.isna() & ~blank(raw)
    bad |= ~np.isfinite(values.fillna(0.0))
    if kind is Kind.INT:
        fractional = values.notna() & (values != values.round())
        bad |= fractional
        return values.mask(bad).round().astype("Int64"), bad
    return values.mask(bad), bad


FLAG_WORDS = {"true": 1, "t": 1, "yes": 1, "y": 1, "false": 0, "f": 0, "no": 0, "n": 0}


def parse_flags(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    """A yes/no column as 1/0: numbers as whole numbers (a 2 is then refused by the field's rule), and the
    words databases and chargeback tools write (`true`, `Y`, `no`); Excel's TRUE arrives as a boolean."""
    if pd.api.types.is_bool_dtype(raw):
        return raw.astype("Int64"), pd.Series(False, index=raw.index)
    words = as_text(raw).str.lower().map(FLAG_WORDS)
    numbers, bad = parse_numbers(raw.where(words.isna()), Kind.INT)
    return numbers.where(words.isna(), words.astype("Int64")), bad & words.isna()


def _minus_first(text: pd.Series) -> pd.Series:
    """'12,50-' -> '-12,50'; other texts as they are."""
    if not text.str.endswith("-").fillna(False).any():
        return text
    trailing = text.str.fullmatch(_TRAILING_MINUS).fillna(False).astype(bool)
    return text.where(~trailing, "-" + text.str.slice(0, -1))


def _from_decimal_comma(text: pd.Series) -> pd.Series:
    """'1.234,50' or '1 234,50' -> '1234.50'; a text that is not a number in that notation becomes one that
    is no number."""
    readable = text.str.fullmatch(_COMMA_NUMBER).fillna(False).astype(bool)
    converted = text.str.replace(f"[.{THOUSANDS_GAPS}]", "", regex=True).str.replace(",", ".", regex=False)
    return converted.where(readable, "not a number").where(text.notna())


def _ungrouped(text: pd.Series) -> pd.Series:
    """'1,234.50' or '1 234.50' -> '1234.50'; other texts as they are (a comma elsewhere stays, and is no
    number)."""
    if not text.str.contains(f"[,{THOUSANDS_GAPS}]", regex=True).fillna(False).any():
        return text
    grouped = text.str.fullmatch(_GROUPED_NUMBER).fillna(False).astype(bool)
    return text.where(~grouped, text.str.replace(f"[,{THOUSANDS_GAPS}]", "", regex=True))


def _plain_floats(text: pd.Series) -> pd.Series | None:
    """The texts as numbers when every one is a plain number (Arrow's cast); else None."""
    try:
        cast = pc.cast(pa.chunked_array(text.array._pa_array), pa.float64())
    except (AttributeError, pa.ArrowInvalid):  # not Arrow-backed, or some text is no plain number
        return None
    return pd.Series(cast.to_numpy(zero_copy_only=False), index=text.index, dtype="float64")


def _text_to_float(text: pd.Series) -> pd.Series:
    """Arrow's cast is much faster than pandas on clean columns; a column with a bad value takes the slow path,
    which marks each bad value instead of failing the whole column."""
    plain = _plain_floats(text)
    if plain is not None:
        return plain
    try:
        arrow = pa.chunked_array(text.array._pa_array)
    except AttributeError:  # not Arrow-backed
        return pd.to_numeric(text, errors="coerce").astype("float64")
    numeric = pc.match_substring_regex(arrow, _NUMBER)  # cast only the values that look like numbers
    cast = pc.cast(pc.if_else(numeric, arrow, pa.scalar(None, pa.string())), pa.float64())
    return pd.Series(cast.to_numpy(zero_copy_only=False), index=text.index, dtype="float64")


def parse_categories(raw: pd.Series, words: tuple[tuple[str, str], ...] = ()) -> tuple[pd.Series, pd.Series]:
    """Lower-case text, with the words exports use for an allowed value read as it ("Credit Card" as
    card); allowed values are checked by the schema, so the reason can name the rule."""
    text = as_text(raw).str.lower()
    fine = pd.Series(False, index=raw.index)
    if not words or text.isna().all():
        return text, fine
    codes, found = distinct(text)  # a handful of distinct words over a million lines: each read once
    table = dict(words)
    read = [table.get(plain(word), word) for word in found]
    if read == found:  # Spend's own values already: nothing to read
        return text, fine
    indices = pa.array(codes, mask=codes < 0)
    values = pa.DictionaryArray.from_arrays(indices, pa.array(read, type=pa.string())).cast(pa.string())
    return pd.Series(pd.arrays.ArrowStringArray(values), index=raw.index), fine


def parse_column(raw: pd.Series, spec: FieldSpec, decimal: str = "."):
    """A column of any kind but a timestamp (`timestamp_column`), where each value failed, and its rule."""
    if spec.kind is Kind.ID:
        return (*parse_ids(raw), "malformed_id")
    if spec.kind in (Kind.FLOAT, Kind.INT):
        return (*parse_numbers(raw, spec.kind, decimal), f"not_a_{spec.kind.value}")
    if spec.kind is Kind.FLAG:
        return (*parse_flags(raw), "not_a_flag")
    if spec.kind is Kind.CATEGORY:
        return (*parse_categories(raw, spec.words), "allowed_value")
    return as_text(raw), pd.Series(False, index=raw.index), "text"


def timestamp_column(
    raw: pd.Series, ts_format: str | None, timezone: str, repeated_hour: str | None = None
) -> tuple[pd.Series, pd.Series]:
    """A timestamp column in UTC, and the rule each value that could not be placed failed: a local time
    the zone skips or repeats is said as such, and one it repeats is read in the pass `repeated_hour`
    names when given."""
    values, bad = parse_timestamps(raw, ts_format, timezone)
    rules = pd.Series("unparsable_timestamp", index=raw.index[bad.to_numpy()], dtype=object)
    if not len(rules):
        return values, rules
    rules = local_time_problems(raw[bad], ts_format, timezone).fillna("unparsable_timestamp")
    twice = rules[rules == "ambiguous_local_time"].index
    if repeated_hour is not None and len(twice):
        values.loc[twice] = in_repeated_hour(raw.loc[twice], ts_format, timezone, repeated_hour)
        rules = rules.drop(twice)
    return values, rules


def _timestamps_in_zones(
    raw: pd.Series, zones: pd.Series, ts_format: str | None, timezone: str, repeated_hour: str | None
) -> tuple[pd.Series, pd.Series]:
    """`timestamp_column` with each line's local time read in its own zone (SPEND_TIMEZONE where it has
    none or names none)."""
    values = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[us, UTC]")
    rules = []
    zones = zones.fillna(timezone)
    for zone, rows in zones.groupby(zones.to_numpy(), sort=False).groups.items():
        part, failed = timestamp_column(raw.loc[rows], ts_format, str(zone), repeated_hour)
        values.loc[rows] = part
        rules.append(failed)
    return values, pd.concat(rules).sort_index() if rules else pd.Series(dtype=object)


def _empty(index: pd.Index, dtype) -> pd.Series:
    if dtype == "float64":
        return pd.Series(np.nan, index=index, dtype=dtype)
    if str(dtype).startswith("datetime64"):
        return pd.Series(pd.NaT, index=index, dtype=dtype)
    return pd.Series(pd.arrays.ArrowStringArray(pa.nulls(len(index), pa.string())), index=index, dtype=dtype)


def parse_frame(
    raw: pd.DataFrame,
    specs: dict[str, FieldSpec],
    ts_format: str | None,
    timezone: str,
    decimal: str = ".",
    repeated_hour: str | None = None,
) -> Parsed:
    """Parse every canonical column present in `raw`; absent optional columns become empty columns. `decimal`:
    the mark between whole and fractional parts of numbers written as text ("," in much of Europe);
    `repeated_hour`: which pass a local time in the hour clocks go back over is in (None: refused)."""
    columns: dict[str, pd.Series] = {}
    failures: list[pd.DataFrame] = []
    zones = zone_column(raw[ZONE]) if ZONE in specs and ZONE in raw.columns else None  # each line's own
    for name, spec in specs.items():
        if name not in raw.columns:
            columns[name] = _empty(raw.index, spec.dtype)
            continue
        if name == ZONE:
            values, bad = zones
            rules = pd.Series("unknown_zone", index=raw.index[bad.to_numpy()], dtype=object)
        elif spec.kind is Kind.TIMESTAMP and zones is not None:
            values, rules = _timestamps_in_zones(raw[name], zones[0], ts_format, timezone, repeated_hour)
        elif spec.kind is Kind.TIMESTAMP:
            values, rules = timestamp_column(raw[name], ts_format, timezone, repeated_hour)
        else:
            values, bad, rule = parse_column(raw[name], spec, decimal)
            rules = pd.Series(rule, index=raw.index[bad.to_numpy()], dtype=object)
        columns[name] = values.astype(spec.dtype)
        if len(rules):
            failures.append(pd.DataFrame({"row": rules.index, "reason": name + ":" + rules.astype(str)}))
    frame = pd.DataFrame(columns, index=raw.index)
    failed = pd.concat(failures) if failures else pd.DataFrame({"row": [], "reason": []})
    return Parsed(frame, failed)
