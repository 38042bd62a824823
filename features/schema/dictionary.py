"""Render the data dictionary (docs/data-dictionary.md) from the table specifications, so docs never drift."""

from __future__ import annotations

from datetime import UTC, datetime

from spend.features.schema.fields import SchemaContext
from spend.features.schema.tables import SCHEMA_VERSION, TABLES, TableSpec


def _context() -> SchemaContext:
    # A fixed 'now' keeps the generated file identical from run to run.
    return SchemaContext(now=datetime(2000, 1, 1, tzinfo=UTC))


def render_dictionary() -> str:
    ctx = _context()
    lines = [
        "# Data dictionary",
        "",
        f"Generated from `features/schema/tables.py` by `spend dictionary` (schema version {SCHEMA_VERSION}).",
        "Do not edit by hand: `tests/features/test_dictionary.py` fails when this file is out of date.",
        "",
        "A rejected row goes to the quarantine with the reason `field:rule` named below.",
        "Every field can also fail `missing` (required, empty) and its parse rule:",
        "`malformed_id`, `unparsable_timestamp`, `not_a_float`, `not_a_int` or `not_a_flag`.",
        "A timestamp without offset that",
        "SPEND_TIMEZONE passes twice or never (a daylight-saving change) is `ambiguous_local_time` or",
        "`nonexistent_local_time`: which instant it was cannot be known (`--repeated-hour first` or `second`",
        "reads the hour passed twice in the pass it names); a line with a `time_zone` is read in that zone,",
        "and a zone that cannot be read is `time_zone:unknown_zone`. A `--ts-format` that reads some of a",
        "file's timestamps while another format reads them all refuses the whole file: the ones it read are",
        "misread (a month-first date read day first).",
        "A CSV row with more or fewer fields than its header cannot be split into fields: it is quarantined",
        "whole as `row:field_count`, with its `source_row` and no values. A row whose every field is empty",
        "(a spreadsheet's trailing rows) is `row:blank`; one that repeats the header (exports joined one",
        "after another) is `row:repeated_header`. A JSON Lines line that is not one object with each key",
        "once is `row:not_json_object`. An export's totals line (a cell saying `Total`, `Grand total`,",
        "`Subtotal` or `Sum` on a line that leaves a required field blank) is `row:totals_line`.",
        "JSON values are read as text, as a CSV's: numbers as written (in their shortest exact spelling),",
        "`true`/`false` as words, `null` (and `NaN`, Python's missing number) as blank; a nested object's",
        "fields are columns of their own (`customer.email`), an order's list of line items is read as one",
        "row per item with the order's fields (`line_items.sku`; the list named `line_items`, `items`,",
        "`lines`, ... or the rows' only list of objects), and any other list is its JSON text (no field holds",
        "one, so it fails that field's rule). An order with no item is one row whose line fields are blank.",
        "Money (unit `currency`) may carry a symbol or an ISO 4217 code before or after it (`$12.50`,",
        "`12.50 €`, `-£3.99`, `12.50 EUR`, `CHF 8.90`) and, with a decimal point, commas grouping thousands",
        "before it (`1,234.50`; `1,250` is refused: it could be 1.25). A line naming no currency takes the one",
        "an unambiguous symbol or a code names (£ GBP, € EUR, ₹ INR); a line whose currency its symbol cannot",
        "mean is `currency:symbol_disagrees`; three letters that are no code leave the value unread.",
        "Any number may group thousands in threes with spaces (no-break ones too) or apostrophes, whatever its",
        "decimal mark (`1 234,50`, `1'234.50`), and may carry its minus after it (`12,50-`, as SAP writes it).",
        "",
    ]
    for spec in TABLES.values():
        lines += [
            f"## {spec.name}",
            "",
            spec.description,
            "",
            f"Identity: `{spec.key}` ({_identity(spec)}). Partitioned by month of `{spec.time_column}`.",
            "",
            "| field | type | unit | required | empty allowed | meaning | allowed values / parse rule | rules |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for f in spec.fields(ctx):
            allowed = ", ".join(f.allowed) + f.words_read() if f.allowed else f.parse_rule()
            rules = "; ".join(f"`{f.name}:{r.name}`: {r.text}" for r in f.rules) or "-"
            description = f.description + (" **Pseudonymised.**" if f.pseudonymised else "")
            lines.append(
                f"| `{f.name}` | {f.kind.value} | {f.unit or '-'} | {'yes' if f.required else 'no'} | "
                f"{'yes' if f.nullable else 'no'} | {description} | {allowed.replace('|', '&#124;')} | {rules} |"
            )
        row_rules = spec.row_rules(ctx)
        if row_rules:
            lines += ["", "Rules across fields:", ""]
            lines += [f"- `{r.reason}`: {r.text}" for r in row_rules]
        if spec.personal_fields:
            lines += [
                "",
                f"Personal fields ({', '.join(f'`{p}`' for p in spec.personal_fields)}) are accepted in the "
                "export but stored only in the encrypted identity vault, never in the offline store.",
            ]
        lines.append("")
    return "\n".join(lines)


def _identity(spec: TableSpec) -> str:
    conflict = f"`{spec.key}:duplicate_{spec.key}`"
    if spec.replaces:
        return (
            "each key's latest row counts: a row with other content, ingested later, replaces the stored one; the "
            f"same row again is a duplicate; two rows of one key with other content in one file: {conflict}"
        )
    return f"a repeat with the same content is a duplicate, with other content a conflict quarantined as {conflict}"
