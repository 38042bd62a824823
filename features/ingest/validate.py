"""Run a table's pandera schema over parsed rows and turn every failure into a `field:rule` reason."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from spend.features.schema.fields import RowRule

# pandera's names for its built-in checks, renamed to the words the data dictionary uses.
_PANDERA_NAMES = {"not_nullable": "missing"}


def failed(rows=(), reason: str = "") -> pd.DataFrame:
    """The (row, reason) frame of rows that broke one rule; without rows, the empty frame of none."""
    return pd.DataFrame({"row": pd.Index(rows, dtype="int64"), "reason": pd.Series(reason, index=range(len(rows)))})


def schema_failures(frame: pd.DataFrame, schema: pa.DataFrameSchema) -> pd.DataFrame:
    """Return one row per (row, failed rule) with columns `row` and `reason`."""
    try:
        schema.validate(frame, lazy=True)
    except SchemaErrors as errors:
        cases = errors.failure_cases
        cases = cases[cases["index"].notna()]
        check = cases["check"].astype(str).str.replace(r"\(.*\)$", "", regex=True)
        check = check.map(lambda c: _PANDERA_NAMES.get(c, c))
        column = cases["column"].astype("string")
        is_row_rule = check.str.contains(":", regex=False)
        reason = check.where(is_row_rule, column.fillna(schema.name) + ":" + check)
        return pd.DataFrame({"row": cases["index"].astype("int64").to_numpy(), "reason": reason.to_numpy()})
    return failed()


def row_rule_failures(frame: pd.DataFrame, rules: tuple[RowRule, ...]) -> pd.DataFrame:
    """Evaluate cross-field rules directly: the same functions the pandera schema wraps."""
    parts = []
    for rule in rules:
        passed = rule.fn(frame).to_numpy(dtype=bool)
        parts.append(pd.DataFrame({"row": frame.index[~passed].to_numpy(dtype="int64"), "reason": rule.reason}))
    return pd.concat(parts) if parts else pd.DataFrame({"row": pd.Series([], dtype="int64"), "reason": []})


def first_reason_per_row(failures: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """Collapse failures to one row each: `reason` is the first failure in `order`, `reasons` lists all."""
    if failures.empty:
        return pd.DataFrame({"reason": pd.Series([], dtype="object"), "reasons": pd.Series([], dtype="object")})
    rank = {reason: i for i, reason in enumerate(order)}
    # A value that failed to parse is also empty afterwards; report the parse failure only.
    missing = failures["reason"].str.endswith(":missing").to_numpy(dtype=bool)
    cells = pd.MultiIndex.from_arrays([failures["row"], failures["reason"].str.split(":").str[0]])
    failures = failures[~(missing & cells.isin(cells[~missing]))]
    unique = failures.drop_duplicates().reset_index(drop=True)
    ranked = unique.assign(rank=unique["reason"].map(rank).fillna(len(rank)))
    ranked = ranked.sort_values(["row", "rank", "reason"], kind="stable")
    grouped = ranked.groupby("row", sort=True)["reason"]
    first = grouped.first()
    several = ranked[ranked["row"].duplicated(keep=False)]
    return pd.DataFrame({"reason": first, "reasons": _joined_reasons(several).reindex(first.index).fillna(first)})


def _joined_reasons(several: pd.DataFrame) -> pd.Series:
    """Each row's reasons in their order, joined by ";": column-wise, since a join per group took seconds
    when most rows of a file failed twice."""
    if several.empty:
        return pd.Series([], dtype="object")
    place = several.groupby("row", sort=False).cumcount().to_numpy()
    wide = several.assign(place=place).pivot(index="row", columns="place", values="reason").astype("object")
    columns = [wide[c] for c in wide.columns]
    joined = columns[0].str.cat(columns[1:], sep=";", na_rep="")
    return joined.str.replace(r";+$", "", regex=True)  # fewer reasons than the widest row: empty places last
