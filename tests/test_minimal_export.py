"""Any export runs end to end: a history with only the required transaction columns (no store, no
customers, no points, no membership, no campaigns, no card payments) goes through features build, apply
and materialize, train churn and clv, score, segments, recall-list and publish with no traceback; what a
feature group or a model cannot do without is said in one line. Once on a simulated shop, once on UCI
Online Retail II without its country and store columns."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pandas as pd
import pytest
from typer.testing import CliRunner

from spend.cli import app
from spend.features.examples.online_retail import NON_PRODUCT_CODES, TS_FORMAT, data_path, transactions_frame
from spend.features.ingest.readers import read_export
from spend.simulate.config import SimulationConfig
from spend.simulate.run import simulate
from spend.simulate.writer import write_simulation

REQUIRED = ["order_id", "customer_id", "ts", "product_id", "quantity", "unit_price"]
runner = CliRunner()


def _ok(args: list[str]) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return result.stdout


def _end_to_end(tmp_path, ingest_args: list[str]) -> dict:
    _ok(["ingest", *ingest_args])
    built = json.loads(_ok(["features", "build", "--json"]))
    _ok(["features", "apply"])
    _ok(["features", "materialize"])
    churn = json.loads(_ok(["train", "churn", "--json"]))
    clv = runner.invoke(app, ["train", "clv", "--json"])
    if clv.exit_code == 2:  # a history shorter than the label needs: one line that says so
        assert clv.output.count("error:") == 1 and "history too short" in clv.output and "Traceback" not in clv.output
    else:
        assert clv.exit_code == 0, clv.output
    demand = runner.invoke(app, ["train", "demand", "--json"])
    pricing = [runner.invoke(app, args) for args in (["train", "pricing", "--json"], ["elasticity", "--json"])]
    scored = json.loads(_ok(["score", "churn", "--out", str(tmp_path / "churn.csv"), "--json"]))
    segments = json.loads(_ok(["segments", "--json"]))
    recall = json.loads(_ok(["recall-list", "--out", str(tmp_path / "recall.csv"), "--json"]))
    published = json.loads(_ok(["publish", "--json"]))
    return locals()


def test_a_transactions_only_history_runs_end_to_end(settings, tmp_path):
    start = date.today() - timedelta(days=3 * 365)
    write_simulation(simulate(SimulationConfig(customers=900, days=3 * 365 - 2, seed=4, start=start)), tmp_path / "sim")
    full = pd.read_csv(tmp_path / "sim" / "transactions.csv", dtype=str)
    full[full["kind"] == "purchase"][REQUIRED].to_csv(tmp_path / "export.csv", index=False)

    run = _end_to_end(tmp_path, [str(tmp_path / "export.csv"), "--table", "transactions"])
    skipped = run["built"]["skipped"]
    assert skipped["terminal"].startswith("no transaction has a terminal_id")
    assert skipped["product_store"].startswith("no transaction has a store_id")
    assert {"customer.points", "customer.membership", "customer.customers"} <= set(skipped)
    assert run["built"]["rows"]["customer"] > 0 and run["built"]["rows"]["product"] > 0
    assert run["clv"].exit_code == 0  # three years: enough for a year-long label
    assert run["scored"]["customers"] > 100 and run["segments"]["customers"] > 100
    assert run["recall"]["uplift_source"].startswith(
        "none (no randomised campaign: the recall list ranks by risk x value"
    )
    assert run["published"]["recall_list_customers"] == run["recall"]["customers"]
    # No store: no demand series. One line says so, and the publication says what it left out.
    demand = run["demand"]
    assert demand.exit_code == 2 and demand.output.count("error:") == 1 and "Traceback" not in demand.output
    assert "no product x store demand" in demand.output
    assert "demand_skipped" in run["published"]
    for pricing in run["pricing"]:  # elasticities read the same product x store days: the same one line
        assert pricing.exit_code == 2 and pricing.output.count("error:") == 1 and "Traceback" not in pricing.output
        assert "no product x store demand" in pricing.output


@pytest.mark.slow
def test_online_retail_ii_without_country_or_store_runs_end_to_end(settings, tmp_path):
    raw = read_export(data_path())
    export = transactions_frame(raw).drop(columns=["store_id", "channel"])
    export = export[~export["product_id"].str.contains(NON_PRODUCT_CODES, regex=True).fillna(False).astype(bool)]
    export = export[export["customer_id"].notna()]
    export = export[export["customer_id"].str[-1].isin(list("0123"))]  # four customers in ten: a quicker test
    export.to_csv(tmp_path / "retail.csv", index=False)

    run = _end_to_end(tmp_path, [str(tmp_path / "retail.csv"), "--table", "transactions", "--ts-format", TS_FORMAT])
    assert "product_store" in run["built"]["skipped"]
    assert all("no product x store demand" in r.output and r.exit_code == 2 for r in run["pricing"])
    assert run["churn"]["comparison"]["spend"]["auc"] > 0.6
    assert run["recall"]["customers"] > 100
