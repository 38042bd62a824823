"""Customer ids that name an order, not a person (`spend ingest ... --person-ids FILE`).

Some exports key their customers per order: Olist's orders name a `customer_id` made for each order,
and the person behind it only in its customers file (`customer_unique_id`), as shops do that key guest
checkouts by order. Read as they are, every order is a new customer who never comes back, and churn,
CLV and segments learn nothing. With the file that joins them (customer_id -> person_id), each line's
customer is its person: the person's id is what is pseudonymised and stored as the customer. A line
whose customer id the file does not hold is quarantined (`customer_id:not_in_person_file`), one the file
holds with a blank person as `customer_id:blank_person_in_person_file`, so no line is stored under an id
that may hide a returning person.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from spend.core.errors import SpendError
from spend.features.ingest.parse import as_text
from spend.features.ingest.readers import read_export
from spend.features.ingest.suggest import map_flags, suggested_maps
from spend.features.ingest.validate import failed
from spend.features.schema.fields import TEXT

NOT_IN_PERSONS = "customer_id:not_in_person_file"
BLANK_PERSON = "customer_id:blank_person_in_person_file"
COLUMNS = ("customer_id", "person_id")


@dataclass(frozen=True)
class Joined:
    raw: pd.DataFrame  # the rows, each customer id replaced by its person's
    failures: pd.DataFrame  # (row, reason) of rows whose customer id has no person in the file
    lines: int  # rows that took a person's id
    ids: int  # distinct customer ids among them
    persons: int  # distinct persons they are


def check_person_ids_option(table: str, fields: list[str], daily_totals: bool) -> None:
    if "customer_id" not in fields:
        raise SpendError(f"--person-ids: the {table} table names no customer")
    if daily_totals:
        raise SpendError("--person-ids: a daily report (--daily-totals) names no customers")


def read_person_ids(path: Path, mapping: dict, encoding: str) -> pd.Series:
    """customer id -> person id, read with the export's maps (a map the file lacks is skipped); a file
    without both columns, or giving one customer id two persons, is refused: which is meant is unknown."""
    frame = read_export(path, mapping, encoding, maps_optional=True)
    absent = [c for c in COLUMNS if c not in frame.columns]
    if absent:
        pairs = suggested_maps(absent, [c for c in frame.columns if c not in COLUMNS])
        looks = f"; it looks like: {map_flags([f'{old}={new}' for old, new in pairs])}" if pairs else ""
        raise SpendError(
            f"--person-ids: {path.name} needs a customer_id and a person_id column (it has "
            f"{', '.join(map(str, frame.columns))}; --map applies to it too){looks}"
        )
    given = pd.DataFrame({c: as_text(frame[c]) for c in COLUMNS}).dropna(subset="customer_id")
    ids = given.dropna().drop_duplicates()
    twice = ids["customer_id"].duplicated(keep=False)
    if twice.any():
        raise SpendError(
            f"--person-ids: {path.name} gives {ids.loc[twice, 'customer_id'].nunique():,} customer id(s) more than "
            "one person; one person per customer id"
        )
    persons = ids.set_index("customer_id")["person_id"]
    persons.attrs["maps_applied"] = frame.attrs.get("maps_applied", [])
    blank = given.loc[given["person_id"].isna(), "customer_id"]
    persons.attrs["blank"] = sorted(set(blank) - set(ids["customer_id"]))  # held, with no person named
    return persons


def with_person_ids(raw: pd.DataFrame, persons: pd.Series) -> Joined:
    """`raw` with each customer id its person's; a blank one stays blank (the table's rules judge it)."""
    if "customer_id" not in raw:
        return Joined(raw, failed(), 0, 0, 0)
    key = as_text(raw["customer_id"])
    person = key.map(persons).astype(TEXT)
    unknown = (key.notna() & person.isna()).to_numpy(dtype=bool)
    joined = person.notna().to_numpy(dtype=bool)
    raw = raw.drop(columns="person_id", errors="ignore")  # the export is its own persons file (a customers list)
    raw["customer_id"] = person.fillna(key)  # an unknown id stays as written: its row is quarantined
    blank = key.isin(persons.attrs.get("blank", [])).to_numpy(dtype=bool)
    failures = pd.concat(
        [failed(raw.index[unknown & ~blank], NOT_IN_PERSONS), failed(raw.index[unknown & blank], BLANK_PERSON)]
    )
    return Joined(raw, failures, int(joined.sum()), int(key[joined].nunique()), int(person[joined].nunique()))
