"""`spend experiment` end to end: results built from the history agree with hand-computed margins, the
analyses answer strict JSON, and bad files are refused in one line naming the column."""

from __future__ import annotations

import json
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from spend.cli import app
from spend.models.experiment_design import MetricSpread, design
from spend.simulate.config import SimulationConfig
from spend.simulate.run import simulate
from spend.simulate.writer import write_simulation
from tests.models.test_experiments import _ab_test, _pilot_panel

runner = CliRunner()


def _ok(args: list[str]) -> dict:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout, parse_constant=lambda name: pytest.fail(f"{name} in JSON"))


def _refused(args: list[str], *words: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.output.count("error:") == 1 and "Traceback" not in result.output, result.output
    for word in words:
        assert word in result.output, result.output


def _line(order, customer, day, quantity, price, cost, store="S1"):
    kind = "purchase" if quantity > 0 else "return"
    return {
        "order_id": order,
        "customer_id": customer,
        "ts": f"2026-01-{day:02d}T12:00:00",
        "product_id": "P1",
        "quantity": quantity,
        "unit_price": price,
        "unit_cost": cost,
        "store_id": store,
        "kind": kind,
    }


def test_ab_results_are_the_hand_computed_margins(settings, write_csv, tmp_path):
    rows = [
        _line("o1", "A", 5, 2, 10.0, 6.0),  # A's pre-period: 2 x (10 - 6)
        _line("o2", "A", 12, 1, 10.0, 6.0),  # A in the window: 4
        _line("o3", "B", 11, 3, 5.0, 2.0),  # B: 3 x 3 = 9 ...
        _line("o4", "B", 13, -1, 5.0, 2.0),  # ... minus a returned unit: 6, and a return
        _line("o5", "C", 19, 1, 10.0, 6.0),  # C buys after the window closes
    ]
    assert runner.invoke(app, ["ingest", str(write_csv(rows)), "--table", "transactions"]).exit_code == 0
    assignment = write_csv(
        pd.DataFrame(
            {"customer_id": ["A", "B", "C", "D"], "variant": ["control", "treatment", "treatment", "control"]}
        ),
        "assignment.csv",
    )
    out = tmp_path / "ab.csv"

    def ab(listed, start: str, days: str = "7") -> list[str]:
        return [
            "experiment",
            "ab-results",
            "--assignment",
            str(listed),
            "--start",
            start,
            "--days",
            days,
            "--out",
            str(out),
        ]

    answer = _ok(ab(assignment, "2026-01-10"))
    assert answer["customers"] == 4 and any("1 assigned customer" in n for n in answer["notes"])
    # the week before 10 January reaches back before the first line (5 January): said, not hidden
    assert "the pre-period starts before the history's first day: pre_margin covers 5 of 7" in answer["notes"]
    got = pd.read_csv(out).set_index("customer_id")
    assert got.loc[["A", "B", "C", "D"], "margin"].tolist() == [4.0, 6.0, 0.0, 0.0]
    assert got.loc[["A", "B", "C", "D"], "pre_margin"].tolist() == [8.0, 0.0, 0.0, 0.0]
    assert got.loc[["A", "B", "C", "D"], "converted"].tolist() == [1, 1, 0, 0]
    assert got.loc[["A", "B", "C", "D"], "returned"].tolist() == [0, 1, 0, 0]
    _refused(ab(assignment, "2026-01-15"), "runs past the history")
    twice = write_csv(pd.DataFrame({"customer_id": ["A", "A"], "variant": ["control", "treatment"]}), "twice.csv")
    _refused(ab(twice, "2026-01-10", "28"), "more than once")
    # each of these gave a table of zeros as if measured, or an unexpected OutOfBoundsDatetime
    _refused(ab(assignment, "2026-01-01"), "before the history's first day 2026-01-05")
    _refused(ab(assignment, "2026-01-10", "100000"), "longer than the whole history (15 days")
    strangers = write_csv(pd.DataFrame({"customer_id": ["X", "Y"], "variant": ["control", "treatment"]}), "x.csv")
    _refused(ab(strangers, "2026-01-10"), "none of the 2 assigned customers has a line in the history")


def test_analyze_ab_answers_strict_json_with_a_decision(tmp_path):
    path = tmp_path / "results.csv"
    _ab_test(np.random.default_rng(31), n=100_000, effect=1.0).to_csv(path, index=False)
    answer = _ok(["experiment", "analyze", str(path)])
    standard_error = (answer["ci_high"] - answer["ci_low"]) / (2 * 1.645)
    assert answer["decision"] == "ship" and abs(answer["effect"] - 1.0) < 4 * standard_error
    assert [g["name"] for g in answer["guardrails"]] == ["converted", "returned"]


@pytest.mark.parametrize("column", ["variant", "margin", "customer_id"])
def test_a_results_file_missing_a_required_column_is_refused_naming_it(tmp_path, column):
    path = tmp_path / "results.csv"
    _ab_test(np.random.default_rng(32), n=100).drop(columns=column).to_csv(path, index=False)
    _refused(["experiment", "analyze", str(path)], "required column", column)
    _refused(["experiment", "analyze", str(path), "--kind", "bayesian"], "--kind")


def test_arms_that_nearly_fit_are_told_what_to_type(tmp_path):
    """A file spelling its control "Control" and an arm left empty were each refused as "found Control,
    Treatment" or "found control, nan, treatment", without what would fit."""
    results = _ab_test(np.random.default_rng(34), n=200)
    cases = [
        (results.assign(variant=results["variant"].str.capitalize()), "(--control 'Control' names the control arm"),
        (results.assign(variant=results["variant"].where(results.index != 3)), "variant has 1 empty value(s)"),
    ]
    for i, (frame, words) in enumerate(cases):
        path = tmp_path / f"results{i}.csv"
        frame.to_csv(path, index=False)
        _refused(["experiment", "analyze", str(path)], words)
    fits = tmp_path / "results0.csv"
    assert _ok(["experiment", "analyze", str(fits), "--control", "Control"])["decision"] in {"ship", "continue", "stop"}


def test_an_ab_n_test_is_analysed_arm_by_arm_and_ships_the_winner(tmp_path):
    """A third arm was refused ("analyse each arm against the control in a file of its own"): an offer
    campaign of four coupons against a control could not be read in one go."""
    rng = np.random.default_rng(36)
    arms = [_ab_test(rng, n=6000, effect=e).query("variant == 'treatment'").assign(variant=name)
            for name, e in (("coupon_10", 0.0), ("coupon_20", 1.5))]  # fmt: skip
    control = _ab_test(rng, n=6000).query("variant == 'control'")
    frame = pd.concat([control, *arms], ignore_index=True).assign(customer_id=lambda f: [f"c{i}" for i in f.index])
    frame = frame.drop(columns=["converted", "returned"])  # guardrails at this size would not yet hold
    path = tmp_path / "arms.csv"
    frame.to_csv(path, index=False)
    answer = _ok(["experiment", "analyze", str(path)])
    assert (answer["decision"], answer["best"], answer["correction"]) == ("ship", "coupon_20", "bonferroni")
    assert answer["alpha_per_arm"] == pytest.approx(0.05) and set(answer["arms"]) == {"coupon_10", "coupon_20"}
    assert answer["arms"]["coupon_10"]["decision"] == "continue"
    shown = runner.invoke(app, ["experiment", "analyze", str(path)])
    assert shown.exit_code == 0 and "decision: ship - coupon_20" in shown.output and "Bonferroni" in shown.output
    _refused(["experiment", "analyze", str(path), "--treatment-share", "0.5"], "--treatment-share", "leave the control")


def test_analyze_pilot_recovers_the_effect_through_the_cli(tmp_path):
    path = tmp_path / "panel.parquet"
    _pilot_panel(np.random.default_rng(33), effect=3.0).to_parquet(path)
    effect = _ok(["experiment", "analyze", str(path), "--kind", "pilot"])["effects"][0]
    assert effect["metric"] == "avg_ticket" and effect["ci_low"] < 3.0 < effect["ci_high"]
    assert len(effect["control_stores"]) == 5 and "S00" not in effect["control_stores"]


def test_design_with_given_figures_is_the_models_design():
    answer = _ok(
        [
            "experiment",
            "design",
            "--mde",
            "1.5",
            "--mean",
            "30",
            "--sd",
            "40",
            "--daily-customers",
            "200",
            "--pre-correlation",
            "0",
        ]
    )
    expected = design(MetricSpread(mean=30, sd=40, daily_customers=200), mde=1.5)
    assert answer["design"]["n_control"] == expected.n_control and answer["design"]["weeks"] == expected.weeks
    assert answer["notes"] == []  # nothing was measured on a history
    _refused(["experiment", "design", "--mean", "30", "--sd", "40", "--daily-customers", "200"], "--lift", "--mde")


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    root = tmp_path_factory.mktemp("experiments")
    patch = pytest.MonkeyPatch()
    patch.setenv("SPEND_HOME", str(root / "home"))
    patch.setenv("SPEND_PSEUDONYM_KEY", "test-pseudonym-key")
    start = date.today() - timedelta(days=200)
    write_simulation(simulate(SimulationConfig(customers=1_500, days=198, seed=8, start=start, stores=4)), root / "sim")
    assert (
        runner.invoke(app, ["ingest", str(root / "sim" / "transactions.csv"), "--table", "transactions"]).exit_code == 0
    )
    yield {"root": root, "start": start}
    patch.undo()


def test_design_measures_the_spread_on_the_history(shop):
    answer = _ok(["experiment", "design", "--lift", "0.1"])
    tx = pd.read_csv(shop["root"] / "sim" / "transactions.csv", usecols=["customer_id", "ts"], parse_dates=["ts"])
    last = tx["ts"].max().normalize() + pd.Timedelta(days=1)
    buyers = tx.loc[tx["ts"] >= last - pd.Timedelta(days=28), "customer_id"].nunique()
    assert answer["metric"]["customers_in_window"] == buyers
    assert answer["metric"]["daily_customers"] == pytest.approx(buyers / 28)
    assert any("measured on the history" in note for note in answer["notes"])
    assert answer["design"]["relative_mde"] == pytest.approx(0.1)


def test_pilot_panel_marks_the_pilot_and_feeds_the_analysis(shop, tmp_path):
    out = tmp_path / "panel.csv"
    start = (pd.Timestamp(shop["start"]) + pd.Timedelta(days=140)).to_period("W-SUN").start_time
    made = _ok(["experiment", "pilot-panel", "--store", "S000", "--start", f"{start:%Y-%m-%d}", "--out", str(out)])
    panel = pd.read_csv(out, parse_dates=["period"], dtype={"store_id": str})
    assert made["stores"] == panel["store_id"].nunique() >= 4
    assert set(panel.loc[panel["treated"] == 1, "store_id"]) == {"S000"}
    assert (panel["post"] == (panel["period"] >= start).astype(int)).all()
    assert panel["avg_ticket"].gt(0).all() and panel["repurchase_rate"].dropna().between(0, 1).all()
    effect = _ok(["experiment", "analyze", str(out), "--kind", "pilot"])["effects"][0]
    assert effect["pilot_stores"] == ["S000"] and "S000" not in effect["control_stores"]
    assert effect["post_periods"] == panel.loc[panel["post"] == 1, "period"].nunique()
    _refused(
        ["experiment", "pilot-panel", "--store", "NOPE", "--start", f"{start:%Y-%m-%d}", "--out", str(out)], "NOPE"
    )
    # panels the analysis could only refuse were written without a word (all weeks after, or before, the
    # start; no store left to compare with)
    pilot = ["experiment", "pilot-panel", "--store", "S000", "--out", str(out)]
    _refused([*pilot, "--start", "1990-01-01"], "not after the history's first day", "no week before the pilot")
    _refused([*pilot, "--start", "2099-01-01"], "after the history's last day", "no week of the pilot")
    every = [f"--store={s}" for s in sorted(panel["store_id"].unique())]
    _refused(["experiment", "pilot-panel", *every, "--start", f"{start:%Y-%m-%d}", "--out", str(out)], "none is left")
    wide = "".join(chr(ord(c) + 0xFEE0) for c in "S000")  # the store as the export's full-width digits spell it
    again = _ok(["experiment", "pilot-panel", "--store", wide, "--start", f"{start:%Y-%m-%d}", "--out", str(out)])
    assert again["stores"] == made["stores"]


def test_a_design_the_history_cannot_measure_names_the_figures_to_give(settings, write_csv):
    """With every figure but the pre-period correlation given, a short history was refused as
    "--window-days: the history is shorter than two windows", an option the user had not given."""
    rows = [_line(f"o{day}", "A", day, 1, 10.0, 6.0) for day in range(1, 20)]
    assert runner.invoke(app, ["ingest", str(write_csv(rows)), "--table", "transactions"]).exit_code == 0
    given = ["experiment", "design", "--mde", "1", "--mean", "30", "--sd", "40", "--daily-customers", "200"]
    _refused(given, "shorter than two windows of 28 days; it was read for --pre-correlation: give it")
    assert _ok([*given, "--pre-correlation", "0"])["design"]["cuped"] is False
