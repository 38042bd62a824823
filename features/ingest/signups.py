"""Customer lists without sign-up dates: Shopify's customers export, and most CRMs' contact lists, name
each customer and their personal fields but not when they joined. A customer whose sign-up date is blank
(or whose export has no such column) is dated by their first transaction stored so far (a purchase or a
return), which is what `signup_ts` means for a shop without accounts ("first contact"), and no stored
line of theirs then predates it (`before_customer_signup`). A customer with no stored transaction has no
date to take: the row is quarantined as `signup_ts:missing`, and ingesting the transactions first, then
the list again, dates it.
"""

from __future__ import annotations

import pandas as pd

from spend.features.ingest import parse

SIGNUP = "signup_ts"


def with_signup_column(raw: pd.DataFrame, table: str) -> pd.DataFrame:
    """A customers export without a sign-up column gets an empty one, for first transactions to fill."""
    if table != "customers" or SIGNUP in raw.columns:
        return raw
    return raw.assign(**{SIGNUP: pd.Series(pd.NA, index=raw.index, dtype="string")})


def dated_by_first_line(typed: pd.DataFrame, raw: pd.DataFrame, table: str, first_lines) -> tuple[pd.DataFrame, int]:
    """Sign-up dates blank in `raw` replaced by the customer's first stored transaction (`first_lines()`
    reads them, only when some date is blank; a date that did not parse keeps its reason); returns the
    rows and how many were dated so."""
    if table != "customers":
        return typed, 0
    blank = parse.blank(raw[SIGNUP]) & typed["customer_id"].notna()
    if not blank.any():
        return typed, 0
    first = first_lines()
    dated = typed.loc[blank, "customer_id"].map(first).astype(typed[SIGNUP].dtype)
    typed = typed.copy()
    typed.loc[blank, SIGNUP] = dated
    return typed, int(dated.notna().sum())


def first_lines(store) -> pd.Series:
    """Each pseudonymised customer's first stored transaction time."""
    lines = store.read("transactions", ["customer_id", "ts"]).dropna(subset=["customer_id"])
    return lines.groupby(lines["customer_id"].astype(str))["ts"].min()
