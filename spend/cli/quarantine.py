"""`spend quarantine`: the rows ingestion rejected, with why and where they came from.

The quarantine is Parquet under SPEND_HOME/quarantine/<table>/, one file per batch; reading it by hand
meant knowing that layout and joining each batch to its source file in the ledger. Customer ids are the
pseudonyms stored there (`spend score --reidentify` is the audited way back to a shop's ids).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from spend.core.console import JsonFlag, console, print_json, print_summary, user_errors
from spend.core.errors import SpendError
from spend.core.settings import SpendSettings
from spend.core.user_tables import check_out

SHOWN = 20  # rows printed without --out
FIRST = ["reason", "source", "source_row", "batch_id", "reasons"]  # the columns that say why and where


@user_errors
def quarantine_command(
    table: Annotated[str, typer.Option(help="The table: transactions, customers, points, membership, ...")],
    reason: Annotated[
        str | None, typer.Option(help="Only rows whose reason is this (ts:not_in_future) or starts so (ts:).")
    ] = None,
    batch: Annotated[str | None, typer.Option(help="Only rows of this batch (`spend batches` lists them).")] = None,
    out: Annotated[Path | None, typer.Option(help="Write every row (CSV, Parquet or Excel).")] = None,
    json_output: JsonFlag = False,
) -> None:
    """Rows ingestion rejected: reason, source file and row, and their values (customer ids pseudonymised)."""
    from spend.core.user_tables import write_table
    from spend.features.schema.tables import TABLES

    if table not in TABLES:
        raise SpendError(f"--table: unknown table {table!r}; tables: {', '.join(TABLES)}")
    if out is not None:
        check_out(out)
    rows = quarantined(SpendSettings(), table, reason, batch)
    summary = {"table": table, "rows": len(rows), "reasons": rows["reason"].value_counts().to_dict()}
    if rows.attrs.get("went_in_later"):  # ingested again once what their reason asked for was given
        summary["went_in_later"] = rows.attrs["went_in_later"]
    if rows.attrs.get("refused_again"):  # read since, and refused for another reason: listed under that one
        summary["refused_again"] = rows.attrs["refused_again"]
    if out is not None:
        write_table(rows, out)
        summary["out"] = str(out)
    if json_output:
        shown = {} if out is not None else {"first_rows": rows.head(SHOWN).to_dict("records")}
        print_json(summary | shown)
        return
    if out is None and len(rows):
        console.print(_table(rows.head(SHOWN), table))
    more = out is None and len(rows) > SHOWN
    print_summary(summary | ({"shown": f"the first {SHOWN} (--out writes every row)"} if more else {}))


def quarantined(settings: SpendSettings, table: str, reason: str | None, batch: str | None):
    """The table's quarantined rows still out of the store, each with its batch's source file name, filtered;
    attrs["went_in_later"] counts the rows left out because a later ingest of their export stored them,
    attrs["refused_again"] those a later ingest refused for another reason (listed as that refusal)."""
    import pandas as pd

    from spend.features.ingest.refusals import settled
    from spend.features.ingest.store import OfflineStore

    store = OfflineStore(settings.paths)
    rows = store.read_quarantine(table)
    if rows.empty:
        return pd.DataFrame(columns=FIRST)
    later, again = settled(store, table, rows)  # refused again since, for another reason: listed as that
    rows = rows[~later & ~again].drop(columns=["row_hash"])
    sources = {b.batch_id: Path(b.source).name for b in store.catalog.batches(table)}
    rows["source"] = rows["batch_id"].astype(str).map(sources)
    if batch is not None:
        if batch not in sources:
            raise SpendError(f"--batch: no {table} batch {batch!r}; `spend batches --table {table}` lists them")
        rows = rows[rows["batch_id"].astype(str) == batch]
    if reason is not None:
        text = rows["reason"].astype(str)
        rows = rows[(text == reason) | (text.str.startswith(reason) if reason.endswith(":") else False)]
    rows = rows.sort_values(["batch_id", "source_row"], kind="stable").reset_index(drop=True)
    rows = rows[[*FIRST, *[c for c in rows.columns if c not in FIRST]]]
    rows.attrs["went_in_later"] = int(later.sum())
    rows.attrs["refused_again"] = int(again.sum())
    return rows


def _table(rows, table: str) -> Table:
    values = [c for c in rows.columns if c not in FIRST][:5]
    shown = Table("reason", "source", "row", *values, title=f"{table}: quarantined rows (first {len(rows)})")
    for row in rows[["reason", "source", "source_row", *values]].astype("string").fillna("").itertuples(index=False):
        shown.add_row(*row)
    return shown
