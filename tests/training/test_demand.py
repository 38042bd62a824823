"""Demand end to end through the CLI on a small simulated shop: ingest transactions and inventory, build
features, train (rolling-origin backtest beside a baseline, registered in MLflow), then forecast, with
every bad request refused with one error and no output."""

from __future__ import annotations

import json
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from spend.cli import app
from spend.core.model_store import ModelStore
from spend.core.settings import SpendSettings
from spend.simulate.config import SimulationConfig
from spend.simulate.run import simulate
from spend.simulate.writer import write_simulation
from tests.support.runs import assert_logged

pytestmark = pytest.mark.slow  # a minute or more of fixtures and training: scheduled first (conftest.py)

runner = CliRunner()
YAML = """model: demand
horizon_days: 14
max_horizon_days: 28
history_days: 210
backtest: {windows: 2}
intervals: quantile
stockouts: exclude
baselines: [seasonal_naive]
params: {n_estimators: 40, learning_rate: 0.1, num_leaves: 15, min_child_samples: 20}
"""


def _ok(args: list[str]) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return result.stdout


def _refused(args: list[str], *words: str) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code != 0, result.output
    assert result.output.count("error:") == 1 and "Traceback" not in result.output, result.output
    for word in words:
        assert word in result.output, result.output
    return result.output


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("demand")
    home, experiments = root / "home", root / "experiments"
    experiments.mkdir()
    (experiments / "demand.yaml").write_text(YAML)
    patch = pytest.MonkeyPatch()
    patch.setenv("SPEND_HOME", str(home))
    patch.setenv("SPEND_PSEUDONYM_KEY", "test-pseudonym-key")
    patch.setenv("SPEND_EXPERIMENTS", str(experiments))
    start = date.today() - timedelta(days=300)
    config = SimulationConfig(customers=3_000, days=298, seed=5, start=start, products=16, stores=2)
    write_simulation(simulate(config), root / "sim")
    for table in ("customers", "transactions", "products", "inventory"):
        _ok(["ingest", str(root / "sim" / f"{table}.csv"), "--table", table])
    built = json.loads(_ok(["features", "build", "--json"]))
    trained = json.loads(_ok(["train", "demand", "--json"]))
    yield {"root": root, "built": built, "trained": trained}
    patch.undo()


def test_training_compares_with_the_baseline_on_every_window_and_registers(shop):
    trained = shop["trained"]
    assert set(trained["comparison"]) == {"spend", "seasonal_naive"}
    for row in trained["comparison"].values():
        assert 0 < row["wape"] < 2 and 0 <= row["coverage_80"] <= 1
    assert len(trained["details"]["windows"]) == 2
    assert trained["details"]["skipped"] is None  # inventory and the catalogue were ingested
    assert trained["alias"] == "champion"
    assert "product_store.inventory" not in shop["built"]["skipped"]
    assert_logged(SpendSettings(), "demand", trained["version"], {"forecast.png"})
    # each contender carries the correlation of its days' errors its own backtest showed, which
    # replenishment widens cover periods by; the registered one kept it through the model store
    correlations = trained["details"]["cover_correlation"]
    assert set(correlations) == {"spend", "seasonal_naive"} and all(0 <= r <= 1 for r in correlations.values())
    champion, _ = ModelStore(SpendSettings()).load("demand")
    assert any(abs(champion.cover_correlation_ - r) < 1e-4 for r in correlations.values())


def test_forecast_answers_quantiles_per_product_store_and_day(shop, tmp_path):
    out = tmp_path / "forecast.csv"
    summary = json.loads(_ok(["forecast", "--product", "P00001", "--horizon", "7", "--out", str(out), "--json"]))
    frame = pd.read_csv(out)
    assert list(frame.columns[:6]) == ["product_id", "store_id", "date", "p10", "p50", "p90"]
    assert set(frame["product_id"]) == {"P00001"}
    assert frame.groupby("store_id").size().eq(7).all() and summary["days"] == 7
    assert (frame["p10"] <= frame["p50"]).all() and (frame["p50"] <= frame["p90"]).all()


def test_a_catalogued_launch_is_forecast_from_its_listing_day(shop, tmp_path):
    """The simulated catalogue lists two products a week after the history: `spend forecast` answers for
    them in every store (nothing before their listing day, their category's after) instead of "unknown"."""
    catalogue = pd.read_csv(shop["root"] / "sim" / "products.csv")
    launches = catalogue[catalogue["listed_at"] > catalogue["listed_at"].min()]
    launch = launches["product_id"].iloc[0]
    summary = json.loads(_ok(["forecast", "--horizon", "14", "--json"]))
    assert summary["launches"] == sorted(launches["product_id"])
    every = pd.DataFrame(summary["forecasts"])
    rows = every[every["product_id"] == launch]
    stores = set(every["store_id"])  # the shops, and web and app as stores of their own
    assert set(rows["store_id"]) == stores and len(rows) == len(stores) * 14
    listed = pd.Timestamp(launches["listed_at"].iloc[0]).tz_convert(None).normalize()
    before = pd.to_datetime(rows["date"]) < listed
    assert before.any() and (~before).any()
    assert set(rows.loc[before, "method"]) == {"not listed yet"} and (rows.loc[before, "p90"] == 0).all()
    assert set(rows.loc[~before, "method"]) == {"category fallback"} and (rows.loc[~before, "mean"] > 0).all()
    told = runner.invoke(app, ["forecast", "--horizon", "14"])
    assert "catalogued launches, not sold yet, forecast from their category" in told.output, told.output


def _full_width(text: str) -> str:
    """The id as a Japanese input method types it: "Ｐ０００１"."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def test_ids_in_another_unicode_spelling_ask_for_the_stored_product(shop, tmp_path):
    """Ingestion stores ids in NFKC, so a caller keeping the export's full-width spelling got "unknown
    product" from every command that takes a product."""
    wide = _full_width("P00001")
    forecast = json.loads(_ok(["forecast", "--product", wide, "--horizon", "2", "--json"]))["forecasts"]
    assert {row["product_id"] for row in forecast} == {"P00001"}
    day = forecast[0]["date"]
    pd.DataFrame({"product_id": [wide], "date": [day], "price": [1.0]}).to_csv(tmp_path / "plan.csv", index=False)
    planned = ["forecast", "--product", wide, "--horizon", "2", "--price-plan", str(tmp_path / "plan.csv"), "--json"]
    assert json.loads(_ok(planned))["forecasts"]
    assert json.loads(_ok(["elasticity", "--product", wide, "--json"]))["elasticities"][0]["product_id"] == "P00001"
    quoted = json.loads(_ok(_quote_files(tmp_path, {"product_id": [wide], "price": [10.0], "cost": [1.0]})))
    assert quoted["products"] == 1 and pd.read_csv(tmp_path / "quotes.csv")["product_id"].tolist() == ["P00001"]


def test_a_planned_price_cut_is_forecast_higher(shop, tmp_path):
    base = json.loads(_ok(["forecast", "--horizon", "14", "--json"]))["forecasts"]
    first = pd.DataFrame(base)
    product = first.groupby("product_id")["p50"].sum().idxmax()
    plan = first[first["product_id"] == product][["product_id", "date"]].drop_duplicates()
    price = json.loads(_ok(["forecast", "--product", product, "--horizon", "1", "--json"]))
    assert price["days"] == 1
    history = pd.read_csv(shop["root"] / "sim" / "transactions.csv")
    shelf = float(history.loc[history["product_id"] == product, "unit_price"].median())
    typed = plan.assign(price=round(shelf * 0.6, 2)).set_axis(["Product ID", "Date", "Price"], axis=1)
    typed.to_csv(tmp_path / "plan.csv", index=False)  # as a spreadsheet names them (an unexpected KeyError before)
    cut = json.loads(
        _ok(["forecast", "--product", product, "--horizon", "14", "--price-plan", str(tmp_path / "plan.csv"), "--json"])
    )
    before = first[first["product_id"] == product]["p50"].sum()
    after = pd.DataFrame(cut["forecasts"])["p50"].sum()
    assert after > before


def test_bad_requests_get_one_error_and_no_output(shop, tmp_path):
    out = tmp_path / "never.csv"
    # the checks the service shares name the option here, not the request's field
    _refused(["forecast", "--horizon", "0", "--out", str(out)], "error: --horizon: 0 must be between 1 and 28")
    _refused(["forecast", "--horizon", "29", "--out", str(out)], "--horizon")
    _refused(["forecast", "--product", "NO-SUCH", "--out", str(out)], "error: --product: unknown product NO-SUCH")
    _refused(["forecast", "--store", "NOWHERE", "--out", str(out)], "error: --store: unknown store NOWHERE")
    tomorrow = (pd.Timestamp.today() + pd.Timedelta(days=30)).date().isoformat()
    soon = (pd.Timestamp.today() + pd.Timedelta(days=3)).date().isoformat()
    store = "S000"
    for rows, words in (
        ([{"product_id": "P00001", "date": tomorrow, "price": -1}], ("price: negative",)),
        ([{"product_id": "P00001", "date": "2001-01-01", "price": 3}], ("not after the history's last day",)),
        ([{"product_id": "P00001", "price": 3}], ("missing column(s) date",)),
        # each of these was answered before: the row ignored, or an unexpected ValueError (the second price)
        ([{"product_id": "P00001", "date": tomorrow, "price": 3}], ("after the forecast's last day", "(horizon ")),
        ([{"product_id": "P00001", "store_id": "NOWHERE", "date": soon, "price": 3}], ("store_id: unknown store",)),
        ([{"product_id": "P00001", "date": soon, "price": float("inf")}], ("price: must be above 0 and finite",)),
        ([{"product_id": "P00001", "date": soon, "price": 0}], ("price: must be above 0 and finite",)),
        ([{"product_id": None, "date": soon, "price": 3}], ("product_id: missing",)),
        # read as 12 July (month first) before: a European's 7 December, planned for another day
        ([{"product_id": "P00001", "date": "07/12/2026", "price": 3}], ("date: write days as YYYY-MM-DD",)),
        ([{"product_id": "P00001", "date": f"{soon}T10:00", "price": 3}], ("date: write days as YYYY-MM-DD",)),
        (
            [{"product_id": "P00001", "store_id": store, "date": soon, "price": p} for p in (3, 4)],
            ("row 2: a second row for the same product, store and day",),
        ),
    ):
        pd.DataFrame(rows).to_csv(tmp_path / "plan.csv", index=False)
        _refused(["forecast", "--price-plan", str(tmp_path / "plan.csv"), "--out", str(out)], "--price-plan", *words)
    assert not out.exists()


def test_replenish_suggests_orders_from_the_latest_counts(shop, tmp_path):
    out = tmp_path / "orders.csv"
    summary = json.loads(_ok(["replenish", "--out", str(out), "--service-level", "0.9", "--json"]))
    frame = pd.read_csv(out)
    for column in ("product_id", "store_id", "on_hand", "on_order", "cover_p50", "cover_p90", "target_stock"):
        assert column in frame.columns
    assert {"suggested_order", "expected_fill_rate", "reason"} <= set(frame.columns)
    assert summary["series"] == len(frame) > 0
    assert (frame["suggested_order"] >= 0).all()
    gap = (frame["target_stock"] - frame["on_hand"] - frame["on_order"]).clip(lower=0)
    assert np.allclose(frame["suggested_order"], gap)
    higher = json.loads(_ok(["replenish", "--out", str(tmp_path / "o2.csv"), "--service-level", "0.99", "--json"]))
    assert higher["units"] >= summary["units"]
    # a lead time given on the command line replaces the counts' own
    _ok(["replenish", "--out", str(tmp_path / "o3.csv"), "--service-level", "0.9", "--lead-time-days", "0"])
    now = pd.read_csv(tmp_path / "o3.csv")
    assert (now["lead_time_days"] == 0).all() and (now["cover_days"] == 7).all()
    assert (now["target_stock"] <= frame["target_stock"]).all() and (now["target_stock"] < frame["target_stock"]).any()
    # one store's suggestions, as the service answers for its stores (the CLI could only ask for every one)
    store = str(frame["store_id"].iloc[0])
    _ok(["replenish", "--out", str(tmp_path / "o4.csv"), "--service-level", "0.9", "--store", store])
    alone = pd.read_csv(tmp_path / "o4.csv")
    assert set(alone["store_id"]) == {store} and len(alone) == (frame["store_id"] == store).sum()
    assert np.allclose(alone["suggested_order"], frame.loc[frame["store_id"] == store, "suggested_order"])
    _refused(["replenish", "--out", str(out), "--store", "NOWHERE"], "error: --store: unknown store NOWHERE")


def test_a_promotion_calendar_raises_the_orders_it_promotes_and_its_absence_is_said(shop, tmp_path):
    """Without a plan every day is forecast at its series' chance of a promotion: the simulated shop
    promotes a quarter of its days, so the summary says so and the forecast's table shows the chance; a
    calendar promoting the largest series' product raises its targets over the same days without one."""
    assert "promo chance" in _ok(["forecast", "--horizon", "7"])
    plain = json.loads(_ok(["replenish", "--out", str(tmp_path / "plain.csv"), "--json"]))
    assert "no promotion calendar" in plain["skipped"] and "promoted" in plain["skipped"]
    frame = pd.read_csv(tmp_path / "plain.csv")
    product = str(frame.groupby("product_id")["cover_p50"].sum().idxmax())
    days = pd.date_range(pd.Timestamp(plain["as_of"]), periods=21, freq="D").strftime("%Y-%m-%d")
    history = pd.read_csv(shop["root"] / "sim" / "transactions.csv")
    shelf = round(float(history.loc[history["product_id"] == product, "unit_price"].median()), 2)
    targets = {}
    for promo in ("no", "yes"):
        plan = pd.DataFrame({"Product ID": product, "Date": days, "Price": shelf, "Promo": promo})
        plan.to_csv(tmp_path / f"plan-{promo}.csv", index=False)
        out = tmp_path / f"orders-{promo}.csv"
        said = json.loads(
            _ok(["replenish", "--out", str(out), "--price-plan", str(tmp_path / f"plan-{promo}.csv"), "--json"])
        )
        assert "no promotion calendar" not in said.get("skipped", "")
        orders = pd.read_csv(out)
        targets[promo] = orders.loc[orders["product_id"].astype(str) == product, "target_stock"].sum()
    assert targets["yes"] > targets["no"]
    # a plan of prices alone is no promotion calendar: its days hold the chance, and the note says so
    pd.DataFrame({"product_id": product, "date": days, "price": shelf}).to_csv(tmp_path / "prices.csv", index=False)
    priced = ["replenish", "--out", str(tmp_path / "priced.csv"), "--price-plan", str(tmp_path / "prices.csv")]
    assert "no promotion calendar" in json.loads(_ok([*priced, "--json"]))["skipped"]
    plan = pd.DataFrame({"product_id": [product], "date": [days[0]], "price": [shelf], "promo": ["maybe"]})
    plan.to_csv(tmp_path / "bad.csv", index=False)
    out = tmp_path / "never.csv"
    _refused(["replenish", "--out", str(out), "--price-plan", str(tmp_path / "bad.csv")], "--price-plan", "promo:")
    assert not out.exists()


def test_publish_plans_the_supply_chain_s_orders_with_a_promotion_calendar_and_refuses_a_bad_one(shop, tmp_path):
    """`spend publish` published orders without any calendar and only said so; it now takes the calendar
    `spend replenish` takes (here promotion days alone, the last prices kept: a product promoted on them
    is stocked above the same days without promotion), and a bad plan is an error naming its row, with
    nothing published, rather than a skipped forecast."""
    from spend.core.names import MANIFEST, REPLENISHMENT

    folder = SpendSettings().paths.published
    _ok(["features", "apply"])  # publish reads the customers' feature service (the recall list, segments)
    plain = json.loads(_ok(["publish", "--json"]))
    assert "no promotion calendar" in plain["replenishment_note"]
    orders = pd.read_parquet(folder / REPLENISHMENT)
    product = str(orders.groupby("product_id")["cover_p50"].sum().idxmax())
    days = pd.date_range(pd.Timestamp(plain["replenishment_as_of"]), periods=14, freq="D").strftime("%Y-%m-%d")
    target = {}
    for promo in ("no", "yes"):
        calendar = pd.DataFrame({"Product ID": product, "Date": days, "Promo": promo})
        calendar.to_csv(tmp_path / f"calendar-{promo}.csv", index=False)
        planned = json.loads(_ok(["publish", "--price-plan", str(tmp_path / f"calendar-{promo}.csv"), "--json"]))
        assert "replenishment_note" not in planned
        orders = pd.read_parquet(folder / REPLENISHMENT)
        target[promo] = orders.loc[orders["product_id"].astype(str) == product, "target_stock"].sum()
    assert target["yes"] > target["no"]
    manifest = (folder / MANIFEST).read_text()
    pd.DataFrame({"product_id": [product], "date": ["2001-01-01"], "promo": [1]}).to_csv(
        tmp_path / "bad.csv", index=False
    )
    _refused(["publish", "--price-plan", str(tmp_path / "bad.csv")], "--price-plan", "row 1", "not after")
    assert (folder / MANIFEST).read_text() == manifest


def test_replenish_refuses_a_stale_or_missing_count(shop, tmp_path):
    out = tmp_path / "never.csv"
    later = (pd.Timestamp.today() + pd.Timedelta(days=20)).date().isoformat()
    _refused(["replenish", "--out", str(out), "--as-of", later], "older than 7 days")
    _refused(["replenish", "--out", str(out), "--service-level", "1.0"], "error: --service-level: 1.0 must be")
    _refused(["replenish", "--out", str(out), "--as-of", "not-a-date"], "--as-of")
    _refused(["replenish", "--out", str(out), "--lead-time-days", "-1"], "error: --lead-time-days: -1.0 must be")
    # past the model's horizon: the error names the pair whose lead time reaches furthest
    _refused(["replenish", "--out", str(out), "--review-days", "60"], "cover period", "(longest: P", "lead time")
    assert not out.exists()


def test_tuning_searches_on_a_window_before_the_backtest_and_registers(shop):
    tuned = json.loads(_ok(["train", "demand", "--tune", "2", "--json"]))
    assert tuned["version"] == shop["trained"]["version"] + 1
    assert set(tuned["comparison"]) == {"spend", "seasonal_naive"}
    backtest = json.loads(_ok(["backtest", "demand", "--json"]))
    assert backtest["details"]["windows"] == shop["trained"]["details"]["windows"]


def test_elasticity_gives_each_product_an_interval_and_the_same_answer_asked_alone(shop, tmp_path):
    answer = json.loads(_ok(["elasticity", "--json"]))
    rows = answer["elasticities"]
    assert answer["products"] == len(rows) == 16
    assert answer["source"] == "fitted on the history now: no pricing champion (`spend train pricing`)"
    for row in rows:
        assert row["ci_low"] <= row["elasticity"] <= row["ci_high"]
        assert row["method"] in {"dml", "category prior"} and row["n_days"] > 0
    assert np.median([row["elasticity"] for row in rows]) < 0  # the simulated products are all elastic
    catalogue = pd.read_csv(shop["root"] / "sim" / "products.csv").set_index("product_id")
    sold = catalogue[catalogue["listed_at"] == catalogue["listed_at"].min()]  # the rest launch after the history
    assert {row["product_id"]: row["category"] for row in rows} == sold["category"].to_dict()
    grouped = catalogue.dropna(subset=["substitute_group"]).groupby("substitute_group").size()
    assert len(answer["cross_effects"]) == int((grouped * (grouped - 1)).sum()) > 0  # each group's pairs
    for cross in answer["cross_effects"]:
        group = catalogue.loc[[cross["product_id"], cross["substitute_id"]], "substitute_group"]
        assert group.nunique() == 1 and cross["ci_low"] <= cross["cross_elasticity"] <= cross["ci_high"]
    alone = json.loads(_ok(["elasticity", "--product", rows[3]["product_id"], "--json"]))
    assert alone["elasticities"] == [rows[3]]
    out = tmp_path / "elasticities.csv"
    _ok(["elasticity", "--out", str(out)])
    written = pd.read_csv(out)
    assert len(written) == 16 and {"product_id", "elasticity", "ci_low", "ci_high", "method", "n_days"} <= set(
        written.columns
    )


def test_elasticity_refuses_an_unknown_product_or_method_in_one_line(shop):
    _refused(["elasticity", "--product", "NO-SUCH-SKU"], "--product", "NO-SUCH-SKU")
    _refused(["elasticity", "--method", "magic"], "--method", "magic")


def _quote_files(tmp_path, products, rules: str | None = None):
    path = tmp_path / "products.csv"
    pd.DataFrame(products).to_csv(path, index=False)
    args = ["price-quote", "--products", str(path), "--out", str(tmp_path / "quotes.csv"), "--json"]
    if rules is not None:
        (tmp_path / "rules.yaml").write_text(rules)
        args += ["--constraints", str(tmp_path / "rules.yaml")]
    return args


def test_price_quotes_keep_every_rule_and_name_the_binding_one(shop, tmp_path):
    ids = json.loads(_ok(["elasticity", "--json"]))["elasticities"]
    products = {"product_id": [r["product_id"] for r in ids[:5]], "price": [10.0] * 5, "cost": [6.0] * 5}
    rules = "margin_floor: 0.3\nmax_change: 0.05\nendings: [0.49, 0.99]\nmax_volume_loss: 0.02\n"
    summary = json.loads(_ok(_quote_files(tmp_path, products, rules)))
    quotes = pd.read_csv(tmp_path / "quotes.csv")
    assert summary["products"] == len(quotes) == 5
    assert summary["elasticities"].startswith("fitted on the history now: no pricing champion")
    assert ((quotes["price"] - 6.0) / quotes["price"] >= 0.3 - 1e-9).all()
    assert (np.abs(quotes["price"] / 10.0 - 1) <= 0.05 + 1e-9).all()
    assert (quotes["units_low"] <= quotes["expected_units"] + 1e-9).all()
    assert quotes["binding"].str.len().gt(0).all()


def test_a_product_priced_below_cost_is_not_quoted_and_the_summary_says_so(shop, tmp_path):
    ids = [row["product_id"] for row in json.loads(_ok(["elasticity", "--json"]))["elasticities"][:2]]
    asked = {"product_id": ids, "price": [5.0, 10.0], "cost": [6.0, 6.0]}
    summary = json.loads(_ok(_quote_files(tmp_path, asked)))
    quotes = pd.read_csv(tmp_path / "quotes.csv").set_index("product_id")
    assert summary["not_quoted"] == 1 and "1 product(s) not quoted" in summary["note"]
    assert quotes.loc[ids[0], "binding"] == "not quoted: price 5.00 is below its cost 6.00"
    assert quotes.loc[ids[0], "price"] == 5.0 and not quotes.loc[ids[1], "binding"].startswith("not quoted")


def test_price_quotes_refuse_bad_products_and_rules_in_one_line(shop, tmp_path):
    ids = json.loads(_ok(["elasticity", "--json"]))["elasticities"]
    one = ids[0]["product_id"]
    _refused(_quote_files(tmp_path, {"product_id": ["NO-SUCH-SKU"], "price": [5.0], "cost": [1.0]}), "NO-SUCH-SKU")
    bounded = {"product_id": [one], "price": [10.0], "cost": [1.0], "floor": [12.0], "cap": [11.0]}
    _refused(_quote_files(tmp_path, bounded), "above cap")
    _refused(
        _quote_files(tmp_path, {"product_id": [one], "price": [10.0], "Unit Cost": [4.0]}),
        "lacks column(s) cost (found product_id, price, Unit Cost): rename them",
    )
    _refused(_quote_files(tmp_path, {"product_id": [], "price": [], "cost": []}), "products.csv lists no products")
    _refused(_quote_files(tmp_path, {"product_id": [one, ""], "price": [9.0] * 2, "cost": [1.0] * 2}), "product 2 of 2")
    _refused(
        _quote_files(tmp_path, {"product_id": [one] * 2, "price": [9.0, 8.0], "cost": [1.0] * 2}), "asked for twice"
    )
    _refused(_quote_files(tmp_path, {"product_id": [one], "price": [10.0], "cost": [1.0]}, "speed: 3\n"), "speed")
    fine = {"product_id": [one], "price": [10.0], "cost": [1.0]}
    broken = _refused(_quote_files(tmp_path, fine, "margin_floor: [0.3\n"), "not YAML or JSON", "(line 2)")
    assert "\n" not in json.loads(broken.strip().splitlines()[-1])["error"]  # YAML's own runs over lines
    _refused(_quote_files(tmp_path, fine, "margin_floor: 0.3\nmargin_floor: 0.1\n"), "'margin_floor' is given twice")
    _refused(_quote_files(tmp_path, fine, "endings: [0.999]\n"), "must be whole cents")  # quoted prices ending .00
    latin = _quote_files(tmp_path, fine, "x: 1\n")
    (tmp_path / "rules.yaml").write_bytes("margin_floor: 0.3  # r\xe9sum\xe9\n".encode("latin-1"))
    _refused(latin, "--constraints: rules.yaml is not UTF-8 text")  # was an unexpected UnicodeDecodeError
    assert not (tmp_path / "quotes.csv").exists()  # nothing written by a refused request


def test_a_bad_product_row_is_refused_before_any_elasticity_is_read(shop, tmp_path, monkeypatch):
    """Elasticities fitted on a large history take minutes; a row priced at infinity was refused only
    after them."""
    import spend.training.pricing as pricing

    def read(*args, **kwargs):
        raise AssertionError("elasticities read before the products were checked")

    monkeypatch.setattr(pricing, "_quoting_model", read)
    endless = {"product_id": ["P1"], "price": [float("inf")], "cost": [1.0]}
    _refused(_quote_files(tmp_path, endless), "P1: price, cost, floor and cap must be finite")


@pytest.fixture(scope="module")
def pricing(shop) -> dict:
    """`spend train pricing` once, for the tests that need its champion: after the tests above, which quote
    and estimate without one (the file's order), whichever of them a `-k` selects."""
    return json.loads(_ok(["train", "pricing", "--json"]))


def test_pricing_trains_beside_ols_on_a_holdout_and_registers(shop, pricing):
    trained = pricing
    assert set(trained["comparison"]) == {"spend", "ols_controls", "ols"}
    for row in trained["comparison"].values():
        assert 0 < row["response_rloss"] < 5 and 0 < row["response_rmse"] < 5 and 0 <= row["significant_share"] <= 1
    # the scorer registered is the one with the lowest of the gate's metric
    errors = {name: row["response_rmse"] for name, row in trained["comparison"].items()}
    assert trained["winner"] == min(errors, key=errors.get)
    assert trained["alias"] == "champion"
    listed = json.loads(_ok(["models", "list", "--json"]))["versions"]
    assert [v["version"] for v in listed if v["model"] == "pricing"] == [trained["version"]]
    assert_logged(SpendSettings(), "pricing", trained["version"], {"elasticities.png"})
    scored = json.loads(_ok(["score", "pricing", "--out", str(shop["root"] / "elasticities.parquet"), "--json"]))
    assert scored["products"] == 16


def test_the_registered_models_answer_through_mlflows_python_function_flavor(shop, pricing):
    """With a pricing champion: a data scientist's
    `mlflow.pyfunc.load_model("models:/spend-demand@champion").predict(rows)`. Demand called
    predict(horizon=rows) and failed; pricing had no python_function flavor at all."""
    import mlflow

    from spend.core.settings import SpendSettings
    from spend.training.tracking import Registry

    Registry(SpendSettings())._fluent()
    demand = mlflow.pyfunc.load_model("models:/spend-demand@champion")
    asked = demand.input_example
    forecast = demand.predict(asked)
    assert len(forecast) > 0 and set(forecast["product_id"]) == set(asked["product_id"])
    assert {"p10", "p50", "p90"} <= set(forecast.columns)
    pricing = mlflow.pyfunc.load_model("models:/spend-pricing@champion")
    table = pricing.predict(pricing.input_example)
    assert list(table["product_id"]) == list(pricing.input_example["product_id"])
    assert table["elasticity"].notna().all()


def test_price_quotes_come_from_the_pricing_champion_once_there_is_one(shop, pricing, tmp_path):
    """With a pricing champion, the CLI quotes with the champion the service loads, so
    the pricing engine and a CLI user get one answer; before it, the summary said the elasticities were
    fitted then."""
    from spend.core.model_store import ModelStore
    from spend.models.price_quotes import Constraints, quote

    answer = json.loads(_ok(["elasticity", "--json"]))
    ids = answer["elasticities"]
    products = {"product_id": [r["product_id"] for r in ids[:6]], "price": [10.0] * 6, "cost": [5.0] * 6}
    summary = json.loads(_ok(_quote_files(tmp_path, products)))
    champion, version = ModelStore(SpendSettings()).load("pricing")
    # `spend elasticity` reads the same champion, not a refit of its own
    assert answer["source"] == summary["elasticities"]
    table = champion.elasticities()
    assert [r["product_id"] for r in ids] == list(table["product_id"])
    np.testing.assert_allclose([r["elasticity"] for r in ids], table["elasticity"], atol=1e-4)
    assert (answer["method"], answer["from"]) == (champion.method, champion.span_[0])
    _refused(["elasticity", "--product", "NO-SUCH-SKU"], "--product", "NO-SUCH-SKU")
    refit = json.loads(_ok(["elasticity", "--method", "ols", "--product", ids[0]["product_id"], "--json"]))
    assert refit["source"] == "fitted on the history now" and refit["method"] == "ols"
    assert refit["elasticities"][0]["method"] in {"ols", "category prior"}
    assert summary["elasticities"] == f"pricing v{version.version} (champion), as the service quotes"
    asked = pd.DataFrame(products).merge(champion.quote_inputs(), on="product_id")
    expected = quote(asked, Constraints(), "margin", champion.shop())
    got = pd.read_csv(tmp_path / "quotes.csv")
    np.testing.assert_allclose(got["price"], expected["price"])
    np.testing.assert_allclose(got["expected_units"], expected["expected_units"], atol=1e-4)  # written to 4 places
    _refused(_quote_files(tmp_path, {"product_id": ["NO-SUCH-SKU"], "price": [5.0], "cost": [1.0]}), "NO-SUCH-SKU")


def test_a_baseline_that_wins_the_gate_is_registered_and_forecasts_in_its_place(shop, tmp_path):
    """A forecaster of one tiny tree loses to AutoETS, which is then registered as the demand model (it
    could not be stored before: its series were pandas objects) and answers forecasts and orders, saying
    that a planned price moves none of its figures. Last in the file: it changes the champion."""
    config = tmp_path / "demand.yaml"
    weak = "params: {n_estimators: 1, learning_rate: 0.01, num_leaves: 2, min_child_samples: 20}"
    config.write_text(
        YAML.replace("baselines: [seasonal_naive]", "baselines: [auto_ets]").replace(YAML.splitlines()[-1], weak)
    )
    trained = json.loads(_ok(["train", "demand", "--config", str(config), "--json"]))
    assert trained["winner"] == "auto_ets", trained["comparison"]
    if trained["alias"] != "champion":  # the champion before it scored better on this holdout
        _ok(["models", "promote", "demand", str(trained["version"]), "--force"])
    out = tmp_path / "forecast.csv"
    summary = json.loads(_ok(["forecast", "--product", "P00001", "--horizon", "7", "--out", str(out), "--json"]))
    assert summary["model"] == f"demand v{trained['version']} (auto_ets)" and summary["fallback_series"] == 0
    assert "skipped" not in summary
    frame = pd.read_csv(out)
    assert (frame["method"] == "AutoETS").all() and frame.groupby("store_id").size().eq(7).all()
    plan = frame[["product_id", "store_id", "date"]].assign(price=0.5)
    plan.to_csv(tmp_path / "plan.csv", index=False)
    planned = json.loads(
        _ok(["forecast", "--product", "P00001", "--horizon", "7", "--price-plan", str(tmp_path / "plan.csv"), "--json"])
    )
    assert planned["skipped"].endswith("the served forecaster is the AutoETS baseline, which reads no prices")
    np.testing.assert_allclose(pd.DataFrame(planned["forecasts"])["p50"], frame["p50"], atol=1e-3)
    orders = json.loads(_ok(["replenish", "--out", str(tmp_path / "orders.csv"), "--json"]))
    assert orders["series"] == len(pd.read_csv(tmp_path / "orders.csv")) > 0
