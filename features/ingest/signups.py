"""Lists without dates: Shopify's customers export, and most CRMs' contact lists, name each customer and
their personal fields but not when they joined; a product catalogue names each product's category but
not when it was listed. A customer whose sign-up date is blank (or whose export has no such column) is
dated by their first transaction stored so far (a purchase or a return), which is what `signup_ts` means
for a shop without accounts ("first contact"), and no stored line of theirs then predates it
(`before_customer_signup`); a product likewise by its first stored sale. One with no stored transaction
has no date to take: the row is quarantined as `signup_ts:missing` (`listed_at:missing`), and ingesting
the transactions first, then the list again, dates it. One already stored keeps its stored date: a list
sent again without dates repeats what is stored (a duplicate), it does not change it.
"""

from __future__ import annotations

import pandas as pd

from spend.features.ingest import parse

SIGNUP = "signup_ts"
DATED_BY_FIRST_LINE = {"customers": (SIGNUP, "customer_id"), "products": ("listed_at", "product_id")}


def with_signup_column(raw: pd.DataFrame, table: str) -> pd.DataFrame:
    """A customers export without a sign-up column (a catalogue without a listing date) gets an empty one,
    for first transactions to fill."""
    if table not in DATED_BY_FIRST_LINE or (column := DATED_BY_FIRST_LINE[table][0]) in raw.columns:
        return raw
    return raw.assign(**{column: pd.Series(pd.NA, index=raw.index, dtype="string")})


def dated_by_first_line(typed: pd.DataFrame, raw: pd.DataFrame, table: str, known_dates) -> tuple[pd.DataFrame, int]:
    """Dates blank in `raw` replaced by the customer's (product's) stored date, else its first stored
    transaction (`known_dates(table)` reads them, only when some date is blank; a date that did not parse
    keeps its reason); returns the rows and how many were dated so."""
    if table not in DATED_BY_FIRST_LINE:
        return typed, 0
    column, key = DATED_BY_FIRST_LINE[table]
    blank = parse.blank(raw[column]) & typed[key].notna()
    if not blank.any():
        return typed, 0
    first = known_dates(table)
    dated = typed.loc[blank, key].astype(str).map(first).astype(typed[column].dtype)
    typed = typed.copy()
    typed.loc[blank, column] = dated
    return typed, int(dated.notna().sum())


def known_dates(store, table: str) -> pd.Series:
    """Each stored customer's sign-up (product's listing) date, and for the others their first stored
    transaction, by id."""
    column, key = DATED_BY_FIRST_LINE[table]
    stored = store.latest(table, key, [key, column]).dropna()
    dates = pd.Series(stored[column].to_numpy(), index=stored[key].astype(str).to_numpy())
    first = first_lines(store, key)
    extra = first[~first.index.isin(dates.index)]  # not concatenated when empty: pandas 3 reads its dtype
    return pd.concat([dates, extra]) if len(dates) and len(extra) else dates if len(dates) else first


def first_lines(store, key: str = "customer_id") -> pd.Series:
    """Each pseudonymised customer's (or each product's) first stored transaction time."""
    lines = store.read("transactions", [key, "ts"]).dropna(subset=[key])
    return lines.groupby(lines[key].astype(str))["ts"].min()
