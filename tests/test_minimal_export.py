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
from spend.features.ingest.store import OfflineStore
from spend.simulate.config import SimulationConfig
from spend.simulate.run import simulate
from spend.simulate.writer import write_simulation

REQUIRED = ["order_id", "customer_id", "ts", "product_id", "quantity", "unit_price"]
runner = CliRunner()
# Demand and pricing as they train, with fewer trees and backtest windows: what is tested here is that
# a history without stores reaches them, not their accuracy (benchmarks/demand.py and pricing.py).
QUICK = {
    "demand.yaml": "model: demand\nhorizon_days: 14\nmax_horizon_days: 28\nhistory_days: 365\n"
    "backtest: {windows: 1}\nbaselines: [seasonal_naive]\n"
    "params: {n_estimators: 30, learning_rate: 0.1, num_leaves: 15, min_child_samples: 20}\n",
    "pricing.yaml": "model: pricing\n"
    "params: {n_estimators: 30, learning_rate: 0.1, num_leaves: 4, min_child_samples: 15}\n",
}


@pytest.fixture(autouse=True)
def quick_experiments(tmp_path, monkeypatch):
    folder = tmp_path / "experiments"
    folder.mkdir()
    for name, text in QUICK.items():
        (folder / name).write_text(text)
    monkeypatch.setenv("SPEND_EXPERIMENTS", str(folder))


def _ok(args: list[str]) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return result.stdout


def _end_to_end(tmp_path, ingest_args: list[str]) -> dict:
    _ok(["ingest", *ingest_args])
    built = json.loads(_ok(["features", "build", "--json"]))
    _ok(["features", "apply"])
    materialized = json.loads(_ok(["features", "materialize", "--json"]))
    churn = json.loads(_ok(["train", "churn", "--json"]))
    clv = runner.invoke(app, ["train", "clv", "--json"])
    if clv.exit_code == 2:  # a history shorter than the label needs: one line that says so ...
        assert clv.output.count("error:") == 1 and "history too short" in clv.output and "Traceback" not in clv.output
        # ... and a shorter label set on the command line trains it (the YAML is not edited)
        shorter = ["train", "clv", "--set", "label.horizon_days=180", "--set", "splits.step_days=14", "--json"]
        trained = json.loads(_ok(shorter))
        assert trained["alias"] == "champion", trained["verdict"]
    else:
        assert clv.exit_code == 0, clv.output
    demand = json.loads(_ok(["train", "demand", "--json"]))
    forecast = json.loads(_ok(["forecast", "--horizon", "7", "--json"]))
    no_counts = runner.invoke(app, ["replenish", "--out", str(tmp_path / "orders.csv")])  # no inventory
    assert no_counts.exit_code != 0 and no_counts.output.count("error:") == 1 and "--lead-time-days" in no_counts.output
    targets_only = ["replenish", "--out", str(tmp_path / "targets.csv"), "--lead-time-days", "3", "--json"]
    targets = json.loads(_ok(targets_only)) | {"rows": pd.read_csv(tmp_path / "targets.csv")}
    pricing = json.loads(_ok(["train", "pricing", "--json"]))
    # The champion's elasticities (`spend elasticity` refits every product, tested in tests/training)
    _ok(["score", "pricing", "--out", str(tmp_path / "elasticities.parquet")])
    elasticity = pd.read_parquet(tmp_path / "elasticities.parquet")
    scored = json.loads(_ok(["score", "churn", "--out", str(tmp_path / "churn.csv"), "--json"]))
    segments = json.loads(_ok(["segments", "--json"]))
    recall = json.loads(_ok(["recall-list", "--out", str(tmp_path / "recall.csv"), "--json"]))
    published = json.loads(_ok(["publish", "--json"]))
    offers = runner.invoke(app, ["train", "offers"])  # no campaign at all: one line that says so
    assert offers.exit_code != 0 and offers.output.count("error:") == 1 and "Traceback" not in offers.output
    assert "no randomised offer campaign: cannot estimate offer effects" in offers.output
    return locals()


def test_a_transactions_only_history_runs_end_to_end(settings, tmp_path):
    start = date.today() - timedelta(days=3 * 365)
    write_simulation(
        simulate(SimulationConfig(customers=900, days=3 * 365 - 2, seed=4, start=start, products=60)), tmp_path / "sim"
    )
    full = pd.read_csv(tmp_path / "sim" / "transactions.csv", dtype=str)
    full[full["kind"] == "purchase"][REQUIRED].to_csv(tmp_path / "export.csv", index=False)

    run = _end_to_end(tmp_path, [str(tmp_path / "export.csv"), "--table", "transactions"])
    skipped = run["built"]["skipped"]
    assert skipped["terminal"].startswith("no transaction has a terminal_id")
    assert skipped["product_store.stores"].startswith("no transaction has a store_id: demand is the whole shop's")
    assert {"customer.points", "customer.membership", "customer.customers"} <= set(skipped)
    assert run["built"]["rows"]["customer"] > 0 and run["built"]["rows"]["product"] > 0
    # a view left empty online says why: no terminals at all; products' snapshots stop at the history's
    # last day (three days ago), beyond their TTL
    empty = run["materialized"]["empty"]
    assert set(empty) == {"terminal_risk", "product_store_demand", "product_pricing"}
    assert empty["terminal_risk"].startswith("no snapshots") and "TTL before" in empty["product_pricing"]
    assert run["clv"].exit_code == 0  # three years: enough for a year-long label
    assert run["churn"]["details"]["season_index"]["holdout"] > 0  # and for the season of the holdout's window
    assert run["scored"]["customers"] > 100 and run["segments"]["customers"] > 100
    assert run["recall"]["uplift_source"].startswith(
        "none (no randomised campaign: the recall list ranks by risk x value"
    )
    # ... and its value is what is at risk, not a saving no campaign has measured
    assert run["recall"]["measure"].startswith("margin at risk (P(churn) x CLV")
    assert run["published"]["recall_list_customers"] == run["recall"]["customers"]
    listed = pd.read_csv(tmp_path / "recall.csv")
    assert listed[["clv", "expected_saved_margin"]].notna().all().all()  # every value known, none NaN
    # No store: one demand series per product for the whole shop, and one line says so.
    _whole_shop_demand_and_prices(run)
    # The report says what the shop lacks for fraud, not to train a model its data cannot give
    sections = json.loads(_ok(["report", "--out", str(tmp_path / "report.html"), "--json"]))["sections"]
    assert sections["Fraud"].startswith("not available: fraud needs card payments and fraud labels")


def _whole_shop_demand_and_prices(run: dict) -> None:
    assert "no store_id: one series per product for the whole shop" in run["demand"]["details"]["skipped"]
    assert (
        "no products table: a product new to the shop is forecast from its store's median"
        in (run["demand"]["details"]["skipped"])
    )
    assert "no products table: elasticities pool toward one category" in run["pricing"]["details"]["skipped"]
    assert {row["store_id"] for row in run["forecast"]["forecasts"]} == {"all"}
    targets = run["targets"]
    assert targets["skipped"].startswith("no inventory ingested: target stock levels only")
    rows = targets["rows"]
    assert len(rows) == targets["series"] > 0 and (rows["cover_days"] == 3 + 7).all()
    assert (rows["target_stock"] >= 0).all() and (rows["target_stock"] > 0).any()
    assert targets["orders"] == 0 and (rows["suggested_order"].isna() | rows["suggested_order"].eq(0)).all()
    assert run["pricing"]["alias"] == "champion"  # the first version of a model is its champion
    rows = run["elasticity"]
    assert len(rows) and ((rows["ci_low"] <= rows["elasticity"]) & (rows["elasticity"] <= rows["ci_high"])).all()


@pytest.mark.slow
def test_online_retail_ii_without_country_or_store_runs_end_to_end(settings, tmp_path):
    raw = read_export(data_path())
    export = transactions_frame(raw).drop(columns=["store_id", "channel"])
    export = export[~export["product_id"].str.contains(NON_PRODUCT_CODES, regex=True).fillna(False).astype(bool)]
    export = export[export["customer_id"].notna()]
    export = export[export["customer_id"].str[-1].isin(list("012"))]  # three customers in ten: a quicker test
    top = (
        export["product_id"].value_counts().index[:200]
    )  # and the 200 best sellers: demand and pricing fit per product
    export = export[export["product_id"].isin(top)]
    export.to_csv(tmp_path / "retail.csv", index=False)

    run = _end_to_end(tmp_path, [str(tmp_path / "retail.csv"), "--table", "transactions", "--ts-format", TS_FORMAT])
    assert "product_store.stores" in run["built"]["skipped"]
    # the export ended in 2011: product snapshots stop at its last day, long before now; the line says so
    assert "TTL before" in run["materialized"]["empty"]["product_pricing"]
    assert "--until 2011-12-" in run["materialized"]["empty"]["product_pricing"]
    _whole_shop_demand_and_prices(run)
    assert run["churn"]["comparison"]["spend"]["auc"] > 0.6
    assert run["recall"]["customers"] > 100


def test_daily_units_without_prices_reach_demand_and_replenishment_and_pricing_says_it_needs_prices(settings, tmp_path):
    """Favorita's and M5's daily sales carry units alone (M5's prices are a file apart, Favorita has none):
    the report was refused for a missing unit_price. Now its lines are stored with the price unknown, a
    units bound (what the amount's bound did) quarantines absurd counts, demand and replenishment run, and
    pricing says it needs prices; the quality score does not count the prices against it."""
    start = date.today() - timedelta(days=400)
    config = SimulationConfig(customers=400, days=398, seed=11, start=start, products=16, stores=2)
    write_simulation(simulate(config), tmp_path / "sim")
    lines = pd.read_csv(tmp_path / "sim" / "transactions.csv", dtype=str)
    ts = pd.to_datetime(lines["ts"], format="ISO8601", utc=True, errors="coerce")
    units = pd.to_numeric(lines["quantity"], errors="coerce")
    clean = lines.assign(date=ts.dt.strftime("%Y-%m-%d"), unit_sales=units)
    clean = clean[(lines["kind"] == "purchase") & ts.notna() & units.between(1, 1_000)]
    daily = clean.groupby(["date", "store_id", "product_id"], as_index=False)["unit_sales"].sum()
    daily = daily.rename(columns={"store_id": "store_nbr", "product_id": "item_nbr"})
    daily.loc[daily.index[:3], "unit_sales"] = 10_000_000  # an ERP's absurd count
    daily.assign(onpromotion="False").to_csv(tmp_path / "train.csv", index_label="id")
    mapping = "date=ts,store_nbr=store_id,item_nbr=product_id,unit_sales=quantity"
    ingest = ["ingest", str(tmp_path / "train.csv"), "--table", "transactions", "--map", mapping, "--daily-totals"]

    first = runner.invoke(app, ingest)
    assert first.exit_code == 0 and f"daily totals without a price: {len(daily) - 3:,}" in first.output
    assert "quantity:absurd_units" in first.output
    again = json.loads(_ok([*ingest, "--json"]))
    assert (again["duplicates"], again["without_price"]) == (len(daily), 0)
    stored = OfflineStore(settings.paths).read("transactions", ["quantity", "unit_price"])
    assert len(stored) == len(daily) - 3 and stored["unit_price"].isna().all() and stored["quantity"].max() < 1e6
    built = json.loads(_ok(["features", "build", "--json"]))
    assert built["rows"]["product_store"] > 0 and built["rows"]["product"] == 0
    assert built["skipped"]["product"].startswith("no transaction has a price (daily totals of units alone)")
    _ok(["features", "apply"])
    _ok(["features", "materialize"])
    trained = json.loads(_ok(["train", "demand", "--json"]))
    assert trained["alias"] == "champion" and "no sale in the history has a price" in trained["details"]["skipped"]
    forecast = json.loads(_ok(["forecast", "--horizon", "7", "--json"]))["forecasts"]
    assert {row["store_id"] for row in forecast} == set(daily["store_nbr"])
    out = tmp_path / "orders.csv"
    _ok(["replenish", "--out", str(out), "--lead-time-days", "5"])
    targets = pd.read_csv(out)
    assert len(targets) == daily.groupby(["item_nbr", "store_nbr"]).ngroups and targets["target_stock"].notna().all()
    assert targets["target_stock"].max() < 1_000  # the absurd counts stayed out
    for args in (["train", "pricing"], ["elasticity"]):
        refused = runner.invoke(app, args)
        assert refused.exit_code != 0 and refused.output.count("error:") == 1, refused.output
        assert "pricing needs prices: no sale in the history has a price" in refused.output
    card = json.loads(_ok(["quality", "--json"]))["tables"]["transactions"]
    assert not any(line.startswith("unit_price") for line in card["completeness"]["failing"])


def test_daily_totals_without_orders_or_customers_reach_demand_pricing_and_publishing(settings, tmp_path):
    """A daily sales report (units and sales per product, store and day, as POS reports and the M5 and
    Favorita data sets give them) could not be ingested at all: it names no order and no customer. With
    --daily-totals it is stored as anonymous sales; demand, pricing and the supply chain's publication run
    on it, and every customer decision says in one line what it needs, where the feature build ended in
    an unexpected ArrowInvalid and churn, segments and publish in an unexpected AttributeError."""
    start = date.today() - timedelta(days=400)
    config = SimulationConfig(customers=600, days=398, seed=9, start=start, products=24, stores=3)
    write_simulation(simulate(config), tmp_path / "sim")
    lines = pd.read_csv(tmp_path / "sim" / "transactions.csv", dtype=str)
    ts = pd.to_datetime(lines["ts"], format="ISO8601", utc=True, errors="coerce")
    numbers = lines[["quantity", "unit_price"]].apply(pd.to_numeric, errors="coerce")
    clean = lines.assign(Date=ts.dt.strftime("%Y-%m-%d"), Sales=numbers["quantity"] * numbers["unit_price"])
    clean = clean[(lines["kind"] == "purchase") & ts.notna() & numbers.notna().all(axis=1)].assign(
        Units=numbers["quantity"]
    )
    daily = clean.groupby(["Date", "store_id", "product_id"], as_index=False)[["Units", "Sales"]].sum()
    daily.rename(columns={"store_id": "Store", "product_id": "Item"}).to_csv(tmp_path / "daily.csv", index=False)
    mapping = "Date=ts,Store=store_id,Item=product_id,Units=quantity,Sales=unit_price"
    ingest = ["ingest", str(tmp_path / "daily.csv"), "--table", "transactions", "--map", mapping, "--json"]

    first = json.loads(_ok([*ingest, "--daily-totals", "--line-totals"]))
    assert first["received"] == len(daily) and first["accepted"] + first["quarantined"] == len(daily)
    assert first["accepted"] > 0.95 * len(daily)
    again = json.loads(_ok([*ingest, "--daily-totals", "--line-totals"]))  # the same report: the same lines
    assert again["accepted"] == 0 and again["duplicates"] == len(daily)
    built = json.loads(_ok(["features", "build", "--json"]))
    assert built["rows"]["customer"] == 0 and built["rows"]["product_store"] > 0
    assert built["skipped"]["customer"].startswith("no transaction names a customer")
    assert "customer.points" not in built["skipped"]  # one line for the group, not one per table it lacks
    _ok(["features", "apply"])
    materialized = json.loads(_ok(["features", "materialize", "--json"]))
    assert materialized["empty"]["customer_activity"].startswith("no snapshots")
    assert json.loads(_ok(["train", "demand", "--json"]))["alias"] == "champion"
    stores = {row["store_id"] for row in json.loads(_ok(["forecast", "--horizon", "7", "--json"]))["forecasts"]}
    assert stores == set(daily["store_id"])
    assert json.loads(_ok(["train", "pricing", "--json"]))["alias"] == "champion"
    for args in (["train", "churn"], ["segments"], ["recall-list", "--out", str(tmp_path / "r.csv")]):
        refused = runner.invoke(app, args)
        assert refused.exit_code != 0 and refused.output.count("error:") == 1, refused.output
        assert "no purchase names a customer" in refused.output and "Traceback" not in refused.output
    published = json.loads(_ok(["publish", "--json"]))
    assert published["forecast_series"] > 0 and published["segments_skipped"].startswith("no purchase names")
    sections = json.loads(_ok(["report", "--out", str(tmp_path / "report.html"), "--json"]))["sections"]
    assert sections["Segments"].startswith("published without segments: no purchase names a customer")
    assert sections["Demand"].endswith("days") and "expected over" in sections["Demand"]
    lines.assign(order_id="o1")[REQUIRED].head(3).to_csv(tmp_path / "lines.csv", index=False)
    refused = runner.invoke(app, ["ingest", str(tmp_path / "lines.csv"), "--table", "transactions", "--daily-totals"])
    assert refused.exit_code != 0 and "its rows are order lines, not daily totals" in refused.output


def test_a_shop_of_three_customers_is_told_what_it_lacks_not_a_traceback(settings, write_csv):
    """Five orders of three customers: churn had one outcome (a ValueError from the model), segments and
    publish could not fit a mixture of more clusters than customers (a ValueError from scikit-learn)."""
    rows = [
        ("O1", "C1", "2026-01-01T10:00:00", "P1", 1, 9.99),
        ("O2", "C2", "2026-02-01T10:00:00", "P1", 2, 9.99),
        ("O3", "C1", "2026-03-01T10:00:00", "P2", 1, 5.00),
        ("O4", "C3", "2026-06-01T10:00:00", "P2", 1, 5.00),
        ("O5", "C1", "2026-11-01T10:00:00", "P1", 1, 8.99),
    ]
    _ok(["ingest", str(write_csv(pd.DataFrame(rows, columns=REQUIRED))), "--table", "transactions"])
    _ok(["features", "build"])
    _ok(["features", "apply"])
    churn = runner.invoke(app, ["train", "churn"])
    assert churn.exit_code == 2 and churn.output.count("error:") == 1 and "unexpected" not in churn.output
    assert "have churned = 1: nothing to learn from or judge on" in churn.output
    segments = json.loads(_ok(["segments", "--json"]))
    assert segments["customers"] == 3 and segments["cluster_k"] == 1
    assert segments["skipped"].startswith("behaviour clusters: 3 active customers, too few for 2 clusters")
    _ok(["publish"])
