"""Read a JSON export (JSON Lines, as BigQuery, Segment or a shop's API write them, or one JSON array of
rows) into a frame of text, as a CSV is read: parsing the values is the schema's, not the reader's.

A shop's API nests: an order holds its customer as an object and its lines as a list of objects
(Shopify's `line_items`, WooCommerce's `line_items`). Nested objects are spelt out (`customer.email`), and
the list of line items is exploded into one row per item (`line_items.sku`), the order's fields repeated
on each, so such an export is read as the order lines it holds; `--map line_items.sku=product_id` then
maps as for any column, and the suggested maps name them.

An order's refunds (Shopify's `refunds`, each with its `refund_line_items` and the `line_item` each gives
back) are returns: each refunded line is read as one more row of the order, spelt as its line item is,
with the refunded quantity negative, the refund's time in the order's (`created_at`, `processed_at`), the
line's discount (`total_discount`) in the share of its units given back, and the line's id marked as the
refund's (`refund:<id>`), so the same maps store it as a return line.

A line's `discount_allocations` (Shopify's: the money each of the order's discounts takes off the line, a
list of objects with an `amount`) is read as their total, so a code that applies to one product is that
product's discount rather than the order's spread over every line; a list whose amounts are not all
numbers stays its JSON text (refused by the discount's rule, with a reason)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd

from spend.core.errors import SpendError
from spend.core.json_keys import duplicate_key_of, strict_json
from spend.features.ingest.suggest import plain
from spend.features.schema.fields import TEXT

JSON_SUFFIXES = (".jsonl", ".ndjson", ".json", ".jsonl.gz", ".ndjson.gz", ".json.gz")
# The readers' MALFORMED text of a JSON Lines line that is not one object with each key once: ingestion
# quarantines it as `row:not_json_object`, where a CSV's unsplittable row is `row:field_count`.
NOT_JSON = "\x00not_json_object:"


def read_json_rows(path: Path, encoding: str, malformed: str) -> pd.DataFrame:
    """Every row as text: strings as written, numbers in their shortest exact spelling, true/false as
    words, null (and NaN, Python's missing number) as blank, nested objects and line items flattened
    (`flattened`), any other list as its JSON text (no column of a table holds one, so it fails validation
    with a reason). A JSON Lines line that is not an object gets its text in `malformed`."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding=encoding) as handle:
        text = handle.read().lstrip("\ufeff")
    try:
        document = strict_json(text)  # one parse for a document; JSON Lines fail at their first line's end
    except ValueError as error:
        if duplicate_key_of(error) is not None and _one_document(text):
            raise SpendError(f"{path.name}: an object gives a key twice: which value counts cannot be known") from error
        # not one document: JSON Lines, a row per line (a line that is not one object quarantined)
        return _frame(flattened([_line(line, malformed) for line in text.splitlines() if line.strip()]), path)
    return _frame(flattened(_document_rows(document, path)), path)


def _one_document(text: str) -> bool:
    """Whether `text` is one JSON value, keys given twice allowed (a JSON Lines file whose first line gives
    a key twice is JSON Lines: that line is quarantined, not the file refused)."""
    try:
        strict_json(text, unique_keys=False)
    except ValueError:
        return False
    return True


def _line(line: str, malformed: str) -> dict:
    try:
        row = strict_json(line)
    except ValueError:  # a key given twice too
        row = None
    return row if isinstance(row, dict) else {malformed: NOT_JSON + line[:200]}


def _document_rows(document, path: Path) -> list[dict]:
    """An array of objects, an object wrapping one (`{"orders": [...]}`), or a single object (one row)."""
    if isinstance(document, dict) and len(document) == 1:
        (inner,) = document.values()
        document = inner if isinstance(inner, list) and inner and isinstance(inner[0], dict) else document
    rows = document if isinstance(document, list) else [document]
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            what = "the JSON" if rows is not document else f"row {number} of the JSON array"
            raise SpendError(
                f"{path.name}: {what} is {_kind(row)}, not an object of named fields: Spend reads an array of "
                "objects, or JSON Lines (one object per line)"
            )
    return rows


# The names of an order's list of lines, in order of preference; else the rows' only list of objects.
LINE_LISTS = ("line_items", "lineitems", "items", "lines", "order_lines", "order_items", "products")
REFUNDS = "refunds"  # an order's refunds, each a list of refunded lines (Shopify's orders API)
REFUND_LINES = "refund_line_items"
REFUND_TIMES = ("created_at", "processed_at")  # a refund's own time, in place of its order's
ALLOCATIONS = "discount_allocations"  # a line's discounts, each `amount` taken off it (Shopify's orders API)


def flattened(rows: list[dict]) -> list[dict]:
    """Rows with nested objects spelt out and their list of line items exploded (module docstring); an
    order whose list is empty or missing stays one row, its line fields blank (quarantined with their
    reason, never dropped). Rows without nesting are returned as they are."""
    if not any(isinstance(value, dict | list) for row in rows for value in row.values()):
        return rows
    lines = _line_list(rows)
    out = []
    for row in rows:
        items = row.get(lines) if lines is not None else None
        refunds = _refunded_lines(row, lines or LINE_LISTS[0])
        if (not isinstance(items, list) or not items) and not refunds:
            out.append(_spelt(row))
            continue
        own = _spelt({key: value for key, value in row.items() if key != lines and not (refunds and key == REFUNDS)})
        items = items if isinstance(items, list) else []
        out += [
            own | (_spelt(_allocated(item), f"{lines}.") if isinstance(item, dict) else {lines: item}) for item in items
        ]
        out += [own | refund for refund in refunds]
    return out


def _refunded_lines(row: dict, lines: str) -> list[dict]:
    """The order's refunded lines as rows of its lines (module docstring); none when it has no refund
    with refunded lines."""
    out = []
    for refund in row.get(REFUNDS) or []:
        if not isinstance(refund, dict) or not isinstance(refund.get(REFUND_LINES), list):
            continue
        times = {key: refund[key] for key in REFUND_TIMES if key in refund and key in row}
        for given in refund[REFUND_LINES]:
            if not isinstance(given, dict):
                continue
            item = _allocated(given.get("line_item")) if isinstance(given.get("line_item"), dict) else {}
            back = {"id": f"refund:{given['id']}" if given.get("id") is not None else None}
            back["quantity"] = _negated(given.get("quantity"))
            share = _share(given.get("quantity"), item.get("quantity"))
            for discount in ("total_discount", ALLOCATIONS):
                if share is not None and _number(item.get(discount)) is not None:
                    back[discount] = round(_number(item[discount]) * share, 2)  # the part given back
            out.append(times | _spelt(item | back, f"{lines}."))
    return out


def _allocated(item: dict) -> dict:
    """A line item with its discount allocations as their total (module docstring)."""
    allocations = item.get(ALLOCATIONS)
    if not isinstance(allocations, list) or not all(isinstance(a, dict) for a in allocations):
        return item
    amounts = [_number(a.get("amount")) for a in allocations]
    if any(amount is None for amount in amounts):
        return item
    return item | {ALLOCATIONS: round(sum(amounts), 2)}


def _number(value) -> float | None:
    """A JSON number, or a number written as text (Shopify's money), as a float; else None."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _share(refunded, bought) -> float | None:
    """The share of a line's units a refund gives back, when both counts are known and the line had some."""
    back, had = _number(refunded), _number(bought)
    return None if back is None or not had else abs(back) / had


def _negated(quantity):
    """A refunded quantity as a return's: negative (a number, or a number written as text)."""
    if _number(quantity) is None:
        return quantity  # blank or not a number: the quantity's own rule quarantines the line
    return -abs(quantity) if not isinstance(quantity, str) else "-" + quantity.strip().lstrip("-")


def _line_list(rows: list[dict]) -> str | None:
    """The key of the rows' list of line items: a name of LINE_LISTS first, else the only key that holds a
    list of objects; None when there is no such list, or several without one of those names."""
    named: set[str] = set()
    for row in rows[:1000]:
        named |= {key for key, value in row.items() if isinstance(value, list) and value and _objects(value)}
    for name in LINE_LISTS:
        found = sorted(key for key in named if plain(key) == name)
        if found:
            return found[0]
    return next(iter(named)) if len(named) == 1 and REFUNDS not in named else None  # refunds are returns


def _objects(values: list) -> bool:
    return all(isinstance(value, dict) for value in values)


def _spelt(row: dict, prefix: str = "") -> dict:
    """A row's nested objects as dotted keys (`customer.default_address.city`); lists stay as they are."""
    out = {}
    for key, value in row.items():
        if isinstance(value, dict) and value:
            out |= _spelt(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def _frame(rows: list[dict], path: Path) -> pd.DataFrame:
    if not rows:
        raise SpendError(f"{path.name}: the JSON holds no rows")
    texts = [{key: value if type(value) is str else _text(value) for key, value in row.items()} for row in rows]
    frame = pd.DataFrame(texts, dtype=object)
    return frame.astype(TEXT)


def _kind(value) -> str:
    kinds = {list: "a list", dict: "an object", str: "a text", bool: "true or false", type(None): "null"}
    return kinds.get(type(value), "a number")


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):  # before int: True is an int
        return "true" if value else "false"
    if isinstance(value, float):  # NaN: how Python's json module writes a missing number, read as null
        return None if value != value else repr(value)  # else the shortest spelling that reads back the same
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)
