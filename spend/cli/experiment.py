"""`spend experiment design|ab-results|pilot-panel|analyze`: size a price or offer test, build its results
(per customer, or per store and week for a pilot) from the history, and read them (docs/experiments.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from spend.cli.options import parse_time
from spend.core.console import JsonFlag, console, print_json, print_summary, styled, user_errors
from spend.core.errors import SpendError
from spend.core.settings import SpendSettings
from spend.core.user_tables import check_out, read_table

app = typer.Typer(help="Design and analyse A/B tests and store pilots.", no_args_is_help=True)

Alpha = Annotated[float, typer.Option(help="Significance level (two-sided).")]


@app.command("design")
@user_errors
def design_command(
    lift: Annotated[
        float | None, typer.Option(help="Smallest effect worth seeing, relative to the mean (0.05 = 5%).")
    ] = None,
    mde: Annotated[
        float | None, typer.Option(help="The same, absolute, in the metric's unit (instead of --lift).")
    ] = None,
    mean: Annotated[float | None, typer.Option(help="Metric mean per customer (default: from the history).")] = None,
    sd: Annotated[float | None, typer.Option(help="Its standard deviation (default: from the history).")] = None,
    daily_customers: Annotated[
        float | None, typer.Option(help="Customers entering per day (default: history).")
    ] = None,
    pre_correlation: Annotated[
        float | None, typer.Option(help="Correlation with the pre-period, for CUPED (default: history; 0 = none).")
    ] = None,
    window_days: Annotated[
        int, typer.Option(help="Days each customer is measured over (the history's figures use the same window).")
    ] = 28,
    alpha: Alpha = 0.05,
    power: Annotated[float, typer.Option(help="Chance to detect an effect of the given size.")] = 0.8,
    treatment_share: Annotated[float, typer.Option(help="Share of customers in the treatment arm.")] = 0.5,
    json_output: JsonFlag = False,
) -> None:
    """Customers per arm and whole weeks needed to detect a given effect on margin per customer."""
    from spend.models.experiment_design import MetricSpread, design, effect_by_duration

    if (lift is None) == (mde is None):
        raise SpendError("give exactly one of --lift (relative) and --mde (absolute)")
    figures, notes = _spread(mean, sd, daily_customers, pre_correlation, window_days)
    spread = MetricSpread(
        mean=figures["mean"],
        sd=figures["sd"],
        daily_customers=figures["daily_customers"],
        pre_correlation=figures["pre_correlation"],
    )
    if lift is not None and spread.mean == 0:
        raise SpendError("--lift: the metric's mean is 0; give --mde instead")
    absolute = mde if mde is not None else lift * abs(spread.mean)
    result = design(spread, absolute, alpha, power, treatment_share).as_dict()
    by_week = effect_by_duration(spread, (1, 2, 4, 8, 13, 26, 52, result["weeks"]), alpha, power, treatment_share)
    if result["weeks"] > 52:
        notes.append("enrolment runs past a year: look for a larger effect, a pre-period covariate or more traffic")
    payload = {"design": result, "metric": figures, "effect_by_weeks": by_week, "notes": notes}
    if json_output:
        print_json(payload)
        return
    for note in notes:
        console.print(f"note: {note}", highlight=False)
    relative = f" ({result['relative_mde']:.1%} of the mean)" if result["relative_mde"] is not None else ""
    console.print(
        f"detect {result['mde']:.2f}{relative} at power {power:.0%}, alpha {alpha}: "
        f"{result['n_control']:,} control + {result['n_treatment']:,} treatment customers, "
        f"enrolled over {result['weeks']} week(s) at {spread.daily_customers:,.0f} customers/day"
        + (" with CUPED" if result["cuped"] else "")
        + f"; each customer is measured over the {window_days} days after entering",
        highlight=False,
    )
    table = Table("weeks", "control customers", "detectable effect", "relative", title="stopping earlier or later")
    for row in by_week:
        rel = "-" if row["relative_mde"] is None else f"{row['relative_mde']:.1%}"
        table.add_row(str(row["weeks"]), f"{row['n_control']:,}", f"{row['mde']:.2f}", rel)
    console.print(table)


def _spread(mean, sd, daily, rho, window_days) -> tuple[dict, list[str]]:
    given = {"mean": mean, "sd": sd, "daily_customers": daily, "pre_correlation": rho}
    if all(v is not None for v in given.values()):
        return given, []
    from spend.training.experiments import margin_spread

    used = [k for k, v in given.items() if v is None]
    try:
        measured, notes = margin_spread(SpendSettings(), window_days)
    except SpendError as error:  # say which figures the history was read for, so they can be given instead
        flags = ", ".join(f"--{k.replace('_', '-')}" for k in used)
        raise SpendError(f"{error}; it was read for {flags}: give {'it' if len(used) == 1 else 'them'}") from error
    notes.append(f"{', '.join(used)} measured on the history's last {window_days} days (to {measured['to']})")
    return measured | {k: v for k, v in given.items() if v is not None}, notes


@app.command("analyze")
@user_errors
def analyze_command(
    results_file: Annotated[
        Path, typer.Argument(help="CSV, Parquet or Excel: one row per customer (ab) or store x period (pilot).")
    ],
    kind: Annotated[
        str, typer.Option(help="ab (customer-randomised) or pilot (stores against matched controls).")
    ] = "ab",
    metric: Annotated[str, typer.Option(help="ab: the column compared.")] = "margin",
    covariate: Annotated[
        str, typer.Option(help="ab: pre-period column for CUPED (skipped when absent).")
    ] = "pre_margin",
    control: Annotated[str, typer.Option(help="ab: the control arm's name in column variant.")] = "control",
    treatment_share: Annotated[
        float | None,
        typer.Option(help="ab: each treatment arm's planned share, for the ratio check (default: arms of one size)."),
    ] = None,
    guardrail_tolerance: Annotated[float, typer.Option(help="ab: worst allowed drop in a guardrail rate.")] = 0.01,
    controls: Annotated[int, typer.Option(help="pilot: matched control stores.")] = 5,
    alpha: Alpha = 0.10,
    json_output: JsonFlag = False,
) -> None:
    """Effect with a confidence interval and a decision (ab), or difference in differences (pilot)."""
    frame = read_table(results_file, "RESULTS_FILE")
    if kind == "ab":
        _analyze_ab(frame, metric, covariate, control, treatment_share, guardrail_tolerance, alpha, json_output)
    elif kind == "pilot":
        _analyze_pilot(frame, controls, alpha, json_output)
    else:
        raise SpendError(f"--kind: {kind!r} is not ab or pilot")


def _analyze_ab(frame, metric, covariate, control, share, tolerance, alpha, json_output) -> None:
    from spend.models.ab_analysis import AbSettings, analyze, analyze_arms

    settings = AbSettings(metric, covariate, control, alpha, 0.5 if share is None else share, tolerance)
    if "variant" in frame and frame["variant"].dropna().astype(str).nunique() > 2:
        _show_arms(analyze_arms(frame, settings, share), json_output)
        return
    result = analyze(frame, settings)
    if json_output:
        print_json(result.as_dict())
        return
    for note in result.skipped:
        console.print(f"skipped: {note}", highlight=False)
    level = f"{1 - alpha:.0%}"
    relative = "" if result.relative_effect is None else f" ({result.relative_effect:+.1%})"
    console.print(
        f"{metric} per customer: control {result.control_mean:.2f} (n={result.n_control:,}), "
        f"treatment {result.treatment_mean:.2f} (n={result.n_treatment:,}); effect {result.effect:+.2f}{relative}, "
        f"{level} interval {result.ci_low:+.2f} to {result.ci_high:+.2f}, p = {result.p_value:.3g}"
        + (f"; CUPED removed {result.variance_reduction:.0%} of the variance" if result.cuped else ""),
        highlight=False,
    )
    if result.guardrails:
        table = Table("guardrail", "control", "treatment", f"difference ({level})", "status", title="guardrails")
        for g in result.guardrails:
            table.add_row(
                g.name,
                f"{g.control_rate:.2%}",
                f"{g.treatment_rate:.2%}",
                f"{g.difference:+.2%} ({g.ci_low:+.2%} to {g.ci_high:+.2%})",
                g.status,
            )
        console.print(table)
    console.print(styled(f"decision: {result.decision}", "bold", f" - {result.reason}"), highlight=False)


def _show_arms(result, json_output: bool) -> None:
    """An A/B/n test: one row per arm against the control, then the test's decision."""
    if json_output:
        print_json(result.as_dict())
        return
    level = f"{1 - result.alpha_per_arm:.1%}"
    table = Table(
        "arm", "n", "mean", f"effect ({level} interval)", "p", "guardrails", "decision",
        title=f"each arm against {result.control!r} (Bonferroni: {len(result.arms)} arms)",
    )  # fmt: skip
    for arm, r in result.arms.items():
        guards = ", ".join(f"{g.name} {g.status}" for g in r.guardrails) or "-"
        table.add_row(
            arm,
            f"{r.n_treatment:,}",
            f"{r.treatment_mean:.2f}",
            f"{r.effect:+.2f} ({r.ci_low:+.2f} to {r.ci_high:+.2f})",
            f"{r.p_value:.3g}",
            guards,
            r.decision,
        )
    console.print(table)
    first = next(iter(result.arms.values()))
    console.print(f"control: {first.control_mean:.2f} per customer (n={first.n_control:,})", highlight=False)
    for note in first.skipped:
        console.print(f"skipped: {note}", highlight=False)
    console.print(styled(f"decision: {result.decision}", "bold", f" - {result.reason}"), highlight=False)


def _analyze_pilot(frame, controls, alpha, json_output) -> None:
    from spend.models.store_pilot import analyze_pilot

    if controls < 1:
        raise SpendError(f"--controls: at least 1, got {controls}")
    result = analyze_pilot(frame, controls, alpha)
    if json_output:
        print_json(result.as_dict())
        return
    for note in result.skipped + [n for e in result.effects for n in e.notes]:
        console.print(f"skipped: {note}", highlight=False)
    level = f"{1 - alpha:.0%}"
    table = Table("metric", "pilot before", "effect", f"{level} interval", "relative", "pre-trends", title="pilot")
    for e in result.effects:
        table.add_row(
            e.metric,
            f"{e.pilot_pre_mean:.3f}",
            f"{e.effect:+.3f}",
            f"{e.ci_low:+.3f} to {e.ci_high:+.3f}",
            "-" if e.relative_effect is None else f"{e.relative_effect:+.1%}",
            "parallel" if e.parallel_trends else f"NOT parallel (p = {e.pretrend_p_value:.3f})",
        )
    console.print(table)
    if result.effects:
        first = result.effects[0]
        console.print(
            f"{len(first.pilot_stores)} pilot store(s) against {', '.join(first.control_stores)}; "
            f"{first.pre_periods} periods before, {first.post_periods} after",
            highlight=False,
        )


@app.command("pilot-panel")
@user_errors
def pilot_panel_command(
    store: Annotated[list[str], typer.Option(help="A pilot store's id (repeat for several).")],
    start: Annotated[str, typer.Option(help="First day of the pilot (YYYY-MM-DD).")],
    out: Annotated[Path, typer.Option(help="CSV, Parquet or Excel file to write (the input of analyze --kind pilot).")],
    json_output: JsonFlag = False,
) -> None:
    """Per store and week: average ticket and repurchase rate from the history, marked for the pilot."""
    from spend.core.user_tables import write_table
    from spend.training.experiments import pilot_panel

    check_out(out)
    panel, notes = pilot_panel(SpendSettings(), store, _day(start))
    write_table(panel, out)
    summary = {"stores": int(panel["store_id"].nunique()), "weeks": int(panel["period"].nunique()), "out": str(out)}
    if json_output:
        print_json(summary | {"notes": notes})
        return
    for note in notes:
        console.print(f"note: {note}", highlight=False)
    print_summary(summary)


@app.command("ab-results")
@user_errors
def ab_results_command(
    assignment: Annotated[Path, typer.Option(help="CSV, Parquet or Excel: customer_id (the shop's own id), variant.")],
    start: Annotated[str, typer.Option(help="First day of the test (YYYY-MM-DD).")],
    out: Annotated[Path, typer.Option(help="CSV, Parquet or Excel file to write (the input of analyze --kind ab).")],
    days: Annotated[int, typer.Option(help="Days each customer is measured over, and the pre-period's length.")] = 28,
    json_output: JsonFlag = False,
) -> None:
    """Per assigned customer: margin in the test window and before it, converted and returned, from the history."""
    from spend.core.user_tables import write_table
    from spend.training.experiments import ab_results

    check_out(out)
    if days < 1:
        raise SpendError(f"--days: at least 1, got {days}")
    frame = read_table(assignment, "--assignment")
    results, notes = ab_results(SpendSettings(), frame, _day(start), days)
    write_table(results, out)
    summary = {"customers": len(results), "variants": results["variant"].value_counts().to_dict(), "out": str(out)}
    if json_output:
        print_json(summary | {"notes": notes})
        return
    for note in notes:
        console.print(f"note: {note}", highlight=False)
    print_summary(summary)


def _day(text: str):
    """--start as a calendar day in UTC without a zone, as the history's days are read here."""
    return parse_time(text, "--start", "a date (YYYY-MM-DD)").tz_localize(None)
