"""`spend` data commands: simulate, ingest, load-example, batches, quality, dictionary, doctor."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from spend.cli.ingest_notes import TS_FORMATS
from spend.core.console import JsonFlag, console, errors, print_json, step_progress, styled, user_errors
from spend.core.errors import SpendError
from spend.core.settings import SpendSettings

if TYPE_CHECKING:
    from spend.features.ingest.pipeline import IngestReport


def register(app: typer.Typer) -> None:
    """Add the data commands to the root `spend` app."""
    app.command("simulate")(simulate_command)
    app.command("simulate-handbook")(simulate_handbook_command)
    app.command("ingest")(ingest_command)
    app.command("load-example")(load_example_command)
    app.command("quality")(quality_command)
    app.command("batches")(batches_command)
    app.command("dictionary")(dictionary_command)
    app.command("doctor")(doctor_command)


@user_errors
def simulate_command(
    out: Annotated[Path, typer.Option(help="Folder for the canonical CSVs and ground_truth/.")] = Path("sim"),
    customers: Annotated[int, typer.Option(min=10, help="Number of customers.")] = 10_000,
    days: Annotated[int, typer.Option(min=30, max=3_650, help="Length of the history in days.")] = 365,
    seed: Annotated[int, typer.Option(help="Random seed: same seed and options, same bytes.")] = 7,
    start: Annotated[str, typer.Option(help="First day of the history (YYYY-MM-DD).")] = "2025-01-01",
    products: Annotated[int, typer.Option(min=8, help="Number of products.")] = 200,
    stores: Annotated[int, typer.Option(min=1, help="Number of physical stores.")] = 20,
    dirty_share: Annotated[
        float, typer.Option(min=0.0, max=0.5, help="Share of lines corrupted like a real export.")
    ] = 0.0,
    offers: Annotated[
        bool, typer.Option("--offers/--no-offers", help="Run a randomised multi-arm offer campaign (85% in).")
    ] = True,
    winback_waves: Annotated[
        int,
        typer.Option(
            min=1, help="Monthly randomised win-back waves, the last one's 30-day window ending inside the history."
        ),
    ] = 1,
    offer_waves: Annotated[
        int, typer.Option(min=1, help="Monthly offer campaigns, the last one 85% in (pooled by `spend train offers`).")
    ] = 1,
    json_output: JsonFlag = False,
) -> None:
    """Simulate a multi-channel consumption history with known ground truth."""
    from spend.simulate.config import SimulationConfig
    from spend.simulate.run import SIMULATION_STEPS, simulate
    from spend.simulate.writer import write_simulation

    first_day = _start_day(start)
    config = SimulationConfig(
        customers=customers,
        days=days,
        seed=seed,
        start=first_day,
        products=products,
        stores=stores,
        dirty_share=dirty_share,
        offer_campaign=offers,
        campaign_waves=winback_waves,
        campaign_day=_first_wave(days, winback_waves),
        offer_waves=offer_waves,
    )
    _check_offer_waves(config)
    with step_progress("simulate", (*SIMULATION_STEPS, "write"), enabled=not json_output) as step:
        simulation = simulate(config, progress=step)
        step("write")
        counts = write_simulation(simulation, out)
    future = _future_note(first_day, days)
    if json_output:
        print_json({"out": str(out), "rows": counts, "seed": seed} | ({"note": future} if future else {}))
        return
    table = Table("table", "rows", title=f"simulated history in {out}")
    for name, count in counts.items():
        table.add_row(name, f"{count:,}")
    console.print(table)
    if future:
        console.print(f"note: {future}", highlight=False)


def _future_note(first_day: date, days: int) -> str | None:
    """A history running past today: `spend ingest` quarantines its last days (ts:not_in_future)."""
    last, today = first_day + timedelta(days=days - 1), date.today()
    if last <= today:
        return None
    return (
        f"the history ends {last}, after today: `spend ingest` quarantines lines in the future "
        f"(ts:not_in_future); --start {today - timedelta(days=days - 1)} ends it today"
    )


def _first_wave(days: int, waves: int) -> int | None:
    """One wave: the simulator's default day (60% in). Several: as late as their windows allow, so the
    history before the first wave is as long as it can be."""
    from spend.simulate.config import SimulationConfig

    if waves == 1:
        return None
    every = SimulationConfig.campaign_every_days  # the simulator's spacing, which is also its window
    first = days - every * waves
    if first < 90:
        raise SpendError(
            f"--winback-waves {waves} do not fit in {days} days: each needs {every} days after 90 of history"
        )
    return first


def _check_offer_waves(config) -> None:
    """One wave goes out 85% in, as it always did; several need 90 days of history before the first."""
    first = config.offer_wave_days[0]
    if config.offer_campaign and config.offer_waves > 1 and first < 90:
        raise SpendError(
            f"--offer-waves {config.offer_waves} do not fit in {config.days} days: the first would go out on day "
            f"{first}, before 90 days of history"
        )


@user_errors
def simulate_handbook_command(
    out: Annotated[Path, typer.Option(help="Folder for transactions.csv, fraud_labels.csv and ground_truth/.")] = Path(
        "handbook"
    ),
    customers: Annotated[int, typer.Option(min=10, help="Cards.")] = 5_000,
    terminals: Annotated[int, typer.Option(min=10, help="Payment terminals.")] = 10_000,
    days: Annotated[int, typer.Option(min=30, max=3_650, help="Days of payments.")] = 183,
    start: Annotated[str, typer.Option(help="First day (YYYY-MM-DD).")] = "2018-04-01",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    json_output: JsonFlag = False,
) -> None:
    """Simulate card payments with the Fraud Detection Handbook's generator and fraud scenarios."""
    from spend.simulate.handbook import HandbookConfig, simulate_handbook, write_handbook

    first_day = _start_day(start)
    config = HandbookConfig(customers=customers, terminals=terminals, days=days, start=first_day, seed=seed)
    with step_progress("simulate-handbook", ("simulate", "write"), enabled=not json_output) as step:
        step("simulate")
        history = simulate_handbook(config)
        step("write")
        counts = write_handbook(history, out)
    fraud = history.truth["is_fraud"]
    result = {"out": str(out), "rows": counts, "fraud_share": float(fraud.mean()), "seed": seed}
    if json_output:
        print_json(result)
    else:
        console.print(f"{counts['transactions']:,} card payments ({fraud.mean():.2%} fraud) -> {out}")


@user_errors
def ingest_command(
    path: Annotated[
        Path,
        typer.Argument(
            help="CSV (optionally .gz/.bz2/.xz/.zst), Parquet, Excel (.xlsx, .xls) or JSON (.jsonl, .json) export, "
            "or a folder of them (each file one batch, in name order)."
        ),
    ],
    table: Annotated[
        str,
        typer.Option(
            help="Canonical table: transactions, customers, points, membership, campaigns, fraud_labels, inventory, "
            "products. A file of another table than the default says which it looks like."
        ),
    ] = "transactions",
    map_: Annotated[
        list[str] | None,
        typer.Option("--map", help="Rename foreign columns: old=new,old2=new2; repeat --map for more."),
    ] = None,
    encoding: Annotated[str, typer.Option(help="Text encoding of a CSV.")] = "utf-8",
    ts_format: Annotated[
        str | None,
        typer.Option(help=f"Timestamps not in ISO 8601: {TS_FORMATS}."),
    ] = None,
    allow_anonymous: Annotated[bool, typer.Option(help="Keep transactions without customer_id as anonymous.")] = False,
    decimal: Annotated[
        str,
        typer.Option(
            help="Decimal mark of numbers in a CSV: '.' (12.50) or ',' (12,50; points may group thousands). Spaces "
            "and apostrophes group thousands with either (1 234,50)."
        ),
    ] = ".",
    order_within: Annotated[
        str | None,
        typer.Option(
            help="Order numbers that restart per store, register or day: the columns that complete them, "
            "e.g. store_id,day (day: the line's local day). Give the same to every export and table of that till."
        ),
    ] = None,
    line_totals: Annotated[
        bool,
        typer.Option(
            "--line-totals",
            help="unit_price holds each line's total (quantity x price), as CDNOW-style exports write it: "
            "divided by the quantity.",
        ),
    ] = False,
    daily_totals: Annotated[
        bool,
        typer.Option(
            "--daily-totals",
            help="Each row is a product's units sold (in a store) on a day, not an order line, as a daily sales "
            "report writes them: stored as anonymous sales, one order per row; customer models do not see them. "
            "A column of sales amounts, not prices, also needs --line-totals.",
        ),
    ] = False,
    counted_at: Annotated[
        str | None,
        typer.Option(
            help="inventory: the time a stock report without a date column was counted (every row's ts), "
            "e.g. '2026-12-05 21:00' (SPEND_TIMEZONE, or --ts-format).",
        ),
    ] = None,
    keep_repeated_lines: Annotated[
        bool,
        typer.Option(
            "--keep-repeated-lines",
            help="A line without an event_id that repeats another line of the file exactly is a line of its own "
            "(a till writing one line per item scanned), not a duplicate; the same file ingested again still "
            "adds nothing.",
        ),
    ] = False,
    header_row: Annotated[
        int,
        typer.Option(
            min=1,
            max=1000,
            help="CSV and Excel: the line the column names are on, for a report with a title, a date or "
            "blank lines above its table (the lines above it are not read).",
        ),
    ] = 1,
    sheet: Annotated[
        str | None,
        typer.Option(
            help="Excel: the sheet to read, by name, and it alone (when not given: the first sheet, and each "
            "sheet with the first's columns, as a table longer than a sheet is split)."
        ),
    ] = None,
    orders: Annotated[
        Path | None,
        typer.Option(
            help="transactions: a file of one row per order (order_id and any of customer_id, ts, store_id, "
            "channel, currency, payment_method, terminal_id), as database exports write orders apart from their "
            "lines: each line takes its order's fields. --map applies to both files.",
        ),
    ] = None,
    no_order_ids: Annotated[
        bool,
        typer.Option(
            "--no-order-ids",
            help="The export has no order numbers (a purchase log: customer, date, product, price): each "
            "customer's lines at one time in one store are one order, numbered by Spend (visit/...).",
        ),
    ] = False,
    one_unit_per_line: Annotated[
        bool,
        typer.Option(
            "--one-unit-per-line",
            help="The export has no quantity column: each line is one unit (one row per item bought; two of an "
            "item bought together are two rows, both kept, as --keep-repeated-lines keeps them).",
        ),
    ] = False,
    person_ids: Annotated[
        Path | None,
        typer.Option(
            help="A file naming each customer id's person (customer_id, person_id), for exports whose customer "
            "ids are made per order (Olist's customers file: --map customer_unique_id=person_id): each line's "
            "customer is its person. --map applies to it too.",
        ),
    ] = None,
    replace_orders: Annotated[
        bool,
        typer.Option(
            "--replace-orders",
            help="Each order in the export is the order as it is now (an export of changed orders): a stored "
            "order whose lines differ is replaced by the file's (items added or taken off, quantities or prices "
            "corrected); an order with a refused line keeps its stored lines.",
        ),
    ] = False,
    repeated_hour: Annotated[
        str | None,
        typer.Option(
            help="first or second: the pass a local time in the hour clocks go back over was in (a till open "
            "that night). Without it such lines are quarantined (ambiguous_local_time): the export cannot say.",
        ),
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Validate an export, store accepted rows, quarantine rejected ones with a reason."""
    from spend.features.ingest.pipeline import INGEST_STEPS, IngestOptions, ingest
    from spend.features.ingest.readers import export_files, export_parts, parse_mapping

    settings = SpendSettings()
    within = tuple(name.strip() for name in (order_within or "").split(",") if name.strip())
    options = IngestOptions(
        table,
        parse_mapping(map_),
        encoding,
        ts_format,
        allow_anonymous,
        decimal=decimal,
        order_within=within,
        line_totals=line_totals,
        daily_totals=daily_totals,
        counted_at=counted_at,
        keep_repeated_lines=keep_repeated_lines,
        header_row=header_row,
        sheet=sheet,
        orders=None if orders is None else str(orders),
        no_order_ids=no_order_ids,
        one_unit_per_line=one_unit_per_line,
        person_ids=None if person_ids is None else str(person_ids),
        replace_orders=replace_orders,
        repeated_hour=repeated_hour,
    )
    files, others = export_files(path)
    beside = {f.resolve() for f in (orders, person_ids) if f is not None}
    if beside and len(files) > 1:  # the orders and persons files kept beside the daily lines are not lines
        files = [f for f in files if f.resolve() not in beside]
    parts = export_parts(files, sheet, header_row)
    what = "sheets of the workbook" if len(files) == 1 else "files of the folder"
    what = what if len(files) in (1, len(parts)) else "files and sheets of the folder"
    reports = []
    for number, (file, part) in enumerate(parts):
        label = file.name if part is None or sheet is not None else f"{file.name}, sheet {part}"
        with step_progress(f"ingest {label}", INGEST_STEPS, enabled=not json_output) as step:
            try:
                reports.append(ingest(file, replace(options, sheet=part), settings, progress=step))
            except SpendError as error:
                if len(parts) == 1:
                    raise
                raise SpendError(
                    f"{error} ({number} of {len(parts)} {what} went in before it; once it is fixed, "
                    "run the same command again: what went in counts as duplicates)"
                ) from error
        if not json_output:
            show_report(reports[-1], json_output, hint_decimal=decimal == ".")
    if json_output:
        print_json(reports[0].as_dict() if len(parts) == 1 else _folder_summary(reports, others))
    elif others:
        console.print(f"not exports, left alone: {', '.join(others)}", highlight=False)


def _folder_summary(reports: list[IngestReport], others: list[str]) -> dict:
    totals = {k: sum(getattr(r, k) for r in reports) for k in ("received", "accepted", "quarantined", "duplicates")}
    return totals | {"files": [r.as_dict() for r in reports], "left_alone": others}


def show_report(report: IngestReport, json_output: bool, hint_decimal: bool = True) -> None:
    from spend.cli.ingest_notes import notes

    if json_output:
        print_json(report.as_dict())
        return
    summary = Table(
        "received", "accepted", "quarantined", "duplicates", title=f"{report.table}: batch {report.batch_id}"
    )
    summary.add_row(*(f"{v:,}" for v in (report.received, report.accepted, report.quarantined, report.duplicates)))
    console.print(summary)
    if report.quarantined_by_reason:
        reasons = Table("reason (field:rule)", "rows", title="quarantined")
        for reason, count in report.quarantined_by_reason.items():
            reasons.add_row(reason, f"{count:,}")
        console.print(reasons)
    for line in notes(report, hint_decimal):
        console.print(line, highlight=False)
    if report.ignored_columns:
        from spend.features.ingest.suggest import map_flags

        hint = f" (if meant, ingest again with {map_flags(report.suggested_maps)})" if report.suggested_maps else ""
        heading = f"columns not in the {report.table} schema, not stored:"
        console.print(styled(heading, "yellow", f" {', '.join(report.ignored_columns)}{hint}"), highlight=False)


@user_errors
def load_example_command(
    name: Annotated[str, typer.Argument(help="Example data set: online-retail-ii.")],
    json_output: JsonFlag = False,
) -> None:
    """Load a real public data set shipped with Spend through the normal ingestion path."""
    from spend.features.examples.online_retail import NAME, load_online_retail
    from spend.features.ingest.pipeline import INGEST_STEPS

    if name != NAME:
        raise SpendError(f"unknown example {name!r}; available: {NAME}")
    with step_progress(f"load {name}", INGEST_STEPS, enabled=not json_output) as step:
        reports = load_online_retail(SpendSettings(), progress=step)
    if json_output:
        print_json({table: report.as_dict() for table, report in reports.items()})
        return
    for report in reports.values():
        show_report(report, json_output=False)


@user_errors
def quality_command(json_output: JsonFlag = False) -> None:
    """Score every stored table on completeness, validity, uniqueness, timeliness and consistency."""
    from spend.features.quality.scorecard import DIMENSIONS, scorecard

    settings = SpendSettings()
    with step_progress("quality", ("score",), enabled=not json_output):
        card = scorecard(settings)
    if not card["tables"]:
        raise SpendError(f"nothing ingested under {settings.home}; run `spend ingest` or `spend demo` first")
    if json_output:
        print_json(card)
        return
    table = Table("table", "rows", *DIMENSIONS, "overall", title="data quality (0-100)")
    for name, scores in card["tables"].items():
        table.add_row(
            name, f"{scores['rows']:,}", *(f"{scores[d]['score']:.1f}" for d in DIMENSIONS), f"{scores['overall']:.1f}"
        )
    console.print(table)
    for name, scores in card["tables"].items():
        for dim in DIMENSIONS:
            for failing in scores[dim]["failing"][:5]:
                console.print(f"  {name} / {dim}: {failing}", highlight=False)
    console.print(f"written to {settings.paths.reports / 'quality.json'}")


@user_errors
def dictionary_command(
    out: Annotated[Path, typer.Option(help="Markdown file to write.")] = Path("docs/data-dictionary.md"),
) -> None:
    """Regenerate the data dictionary from the schema."""
    from spend.features.schema.dictionary import render_dictionary

    out.write_text(render_dictionary())
    console.print(f"wrote {out}")


@user_errors
def batches_command(
    table: Annotated[str | None, typer.Option(help="Only batches of this table.")] = None,
    remove: Annotated[
        list[str] | None,
        typer.Option(
            help="Remove this batch (repeat for more): its stored rows and its quarantine, as if never ingested, "
            "to ingest its export again with the right options (a wrong --map, --ts-format or --line-totals)."
        ),
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """List ingestion batches: source, file hash, counts, schema version (what later stages trace back to)."""
    from dataclasses import asdict

    from spend.features.ingest.catalog import BatchCatalog
    from spend.features.ingest.pipeline import table_spec

    if table is not None:
        table_spec(table)
    if remove:
        _remove_batches(SpendSettings(), remove, json_output)
        return
    batches = BatchCatalog(SpendSettings().paths.catalog).batches(table)
    if json_output:
        print_json({"batches": [asdict(b) for b in batches]})
        return
    view = Table(
        "batch",
        "table",
        "source",
        "sha256",
        "received",
        "accepted",
        "quarantined",
        "duplicates",
        title=f"{len(batches)} batches",
    )
    for b in batches:
        view.add_row(
            b.batch_id,
            b.table_name,
            b.source,
            b.file_sha256[:12],
            *(f"{v:,}" for v in (b.received, b.accepted, b.quarantined, b.duplicates)),
        )
    console.print(view)


@contextmanager
def _removing(home: Path) -> Iterator[None]:
    """Held while committed files are deleted: after any running feature build (it reads the files its
    start pinned) and under the ingest lock, in the build's order (no deadlock)."""
    from spend.core.files import exclusive
    from spend.features.ingest.lock import ledger_lock
    from spend.features.store.build import BUILD_LOCK

    waiting = lambda: errors.print("waiting for the running feature build to end")  # noqa: E731 (stderr: --json)
    with exclusive(home / BUILD_LOCK, waiting), ledger_lock(home):
        yield


def _remove_batches(settings: SpendSettings, batch_ids: list[str], json_output: bool) -> None:
    """Remove whole batches under the ledger lock, recorded in the audit trail; an unknown id removes none.
    A feature build reading them ends first (it reads the files its start pinned, which this deletes)."""
    from spend.core.audit import command_audit
    from spend.features.ingest.retract import restore_retracted
    from spend.features.ingest.store import OfflineStore

    with _removing(settings.paths.home):
        store = OfflineStore(settings.paths)
        known = {b.batch_id: b for b in store.catalog.batches()}
        unknown = [b for b in dict.fromkeys(batch_ids) if b not in known]
        if unknown:
            raise SpendError(f"--remove: no batch {', '.join(unknown)}; `spend batches` lists them (none removed)")
        removed = [known[b] for b in dict.fromkeys(batch_ids)]
        store.forget({b.batch_id for b in removed})
        restored = restore_retracted(store, [b.batch_id for b in removed])
    lines = sum(b.accepted for b in removed)
    command_audit(settings.paths.home).write(
        user="", action="remove batches", batches=[b.batch_id for b in removed], lines=lines, restored=restored
    )
    summary = {
        "removed": [b.batch_id for b in removed],
        "tables": sorted({b.table_name for b in removed}),
        "rows": lines,
        "quarantined_rows": sum(b.quarantined for b in removed),
        "restored_rows": restored,
    }
    if json_output:
        print_json(summary)
        return
    console.print(
        f"removed {len(removed)} batch(es): {lines:,} stored rows and {summary['quarantined_rows']:,} quarantined "
        f"rows of {', '.join(summary['tables'])}"
        + (
            f"; {restored:,} lines they had taken back (cancelled, refunded or edited orders) are back"
            if restored
            else ""
        )
        + "; ingest their exports again as they should have been read, then "
        "`spend features build` (the features still hold the removed rows until then)",
        highlight=False,
    )


def _start_day(start: str) -> date:
    try:
        return date.fromisoformat(start)
    except ValueError as error:
        raise SpendError(f"--start: {start!r} is not a date (YYYY-MM-DD)") from error


@user_errors
def doctor_command(
    repair: Annotated[bool, typer.Option(help="Remove what it finds (otherwise only list it).")] = False,
    json_output: JsonFlag = False,
) -> None:
    """Find what an interrupted ingest or batch removal left behind, and unreadable stored files;
    --repair mends them.

    Files an interrupted ingest left outside the ledger (invisible to Spend, visible to DuckDB, Spark or
    pandas reading the folders), leftover staging folders, committed files that cannot be read (with
    their batch and source), and lines an interrupted `spend batches --remove` did not put back; --repair
    removes the first two, the damaged files' batches whole, so their sources can be ingested again, and
    puts the lines back. Waits for any ingest in flight to finish first, and to repair, for any feature
    build (it reads the files its start pinned)."""
    from spend.core.audit import command_audit
    from spend.features.ingest.lock import ledger_lock
    from spend.features.ingest.retract import restore_retracted
    from spend.features.ingest.store import OfflineStore

    settings = SpendSettings()
    with _removing(settings.paths.home) if repair else ledger_lock(settings.paths.home):
        store = OfflineStore(settings.paths)
        damaged = store.damaged()
        found = store.sweep() if repair else store.orphans()
        unrestored = store.unrestored()
        restored = restore_retracted(store, unrestored) if repair else 0
        if repair and damaged:
            store.forget({d.batch_id for d in damaged})
            restore_retracted(store, sorted({d.batch_id for d in damaged}))
    if restored:  # recorded as `spend batches --remove` records the lines it puts back
        command_audit(settings.paths.home).write(
            user="", action="put back lines of removed batches", batches=unrestored, restored=restored
        )
    home = settings.paths.home
    paths = [str(p.relative_to(home)) for p in found]
    broken = [
        {"file": str(d.path.relative_to(home)), "batch": d.batch_id, "source": d.source, "problem": d.problem}
        for d in damaged
    ]
    if json_output:
        print_json(
            {
                "orphans": paths,
                "damaged": broken,
                "unrestored_batches": unrestored,
                "restored_rows": restored,
                "repaired": repair and bool(paths or broken or unrestored),
            }
        )
        return
    if not paths and not broken and not unrestored:
        console.print(f"nothing to repair under {settings.home}")
        return
    _show_doctor(paths, broken, repair)
    if unrestored:
        done = f"{restored:,} lines put back" if repair else "run `spend doctor --repair` to put their lines back"
        console.print(
            f"{len(unrestored)} removed batch(es) whose taken-back lines (cancelled, refunded or edited orders) "
            f"were not put back: {done}"
        )


def _show_doctor(paths: list[str], broken: list[dict], repair: bool) -> None:
    if paths:
        verb = "removed" if repair else "found (run `spend doctor --repair` to remove them)"
        console.print(f"{len(paths)} file(s) or folder(s) outside the ledger {verb}:")
        for path in paths:
            console.print(f"  {path}", highlight=False)
    if broken:
        verb = "; batches removed: ingest these sources again" if repair else " (--repair removes their batches)"
        console.print(f"{len(broken)} stored file(s) cannot be read{verb}:")
        for item in broken:
            console.print(
                f"  {item['file']}: {item['problem']} (batch {item['batch']}, source {item['source']})", highlight=False
            )
