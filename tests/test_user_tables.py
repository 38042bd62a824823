"""Files for people and programs: Excel reads back equal, CSV and Excel are rounded, Parquet keeps every
digit, and JSON is strict."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from spend.core.console import plain, print_json
from spend.core.errors import SpendError
from spend.core.user_tables import check_out, read_table, write_table


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["c_001", "c_002", "c_003"],
            "product_id": ["007", "12", "A-9"],  # ids that look like numbers stay text
            "p_churn": [0.123456789, 0.5, np.nan],
            "orders": [3, 0, 12],
            "ts": pd.to_datetime(["2026-01-01 10:00", "2026-02-01 00:00", "2026-03-01 00:00"], utc=True),
            "reason": ["no order for 94 days; usually every 21", "", "new"],
        }
    )


def test_excel_reads_back_equal_with_floats_rounded_for_people(tmp_path):
    frame = _frame()
    write_table(frame, tmp_path / "recall.xlsx")
    back = read_table(tmp_path / "recall.xlsx", "--in")
    assert back["customer_id"].tolist() == frame["customer_id"].tolist()
    assert back["product_id"].tolist() == ["007", "12", "A-9"]
    assert back["p_churn"].iloc[0] == 0.1235 and math.isnan(back["p_churn"].iloc[2])
    assert back["orders"].tolist() == [3, 0, 12]
    assert back["ts"].iloc[0] == pd.Timestamp("2026-01-01 10:00")  # UTC, written without a zone
    assert back["reason"].fillna("").tolist() == frame["reason"].tolist()


def test_csv_is_rounded_and_parquet_keeps_every_digit(tmp_path):
    frame = _frame()
    write_table(frame, tmp_path / "scores.csv")
    write_table(frame, tmp_path / "scores.parquet")
    assert (
        "0.1235" in (tmp_path / "scores.csv").read_text() and "0.123456789" not in (tmp_path / "scores.csv").read_text()
    )
    assert pd.read_parquet(tmp_path / "scores.parquet")["p_churn"].iloc[0] == 0.123456789


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_text_a_spreadsheet_would_run_as_a_formula_is_written_inert(tmp_path, suffix):
    """A product named `=HYPERLINK(...)` in a POS export reached the buyers' replenishment file as a live
    formula (openpyxl writes a string starting with = as one); numbers and parquet are left alone."""
    import openpyxl

    cells = ['=HYPERLINK("http://x","y")', "+1+cmd", "-2+3", "@SUM(A1)", "\tx", "-5", "+1.5", "A-9", "", None]
    frame = pd.DataFrame({"product_id": cells, "units": range(len(cells))})
    write_table(frame, tmp_path / f"orders{suffix}")
    write_table(frame, tmp_path / "orders.parquet")
    expected = ['\'=HYPERLINK("http://x","y")', "'+1+cmd", "'-2+3", "'@SUM(A1)", "'\tx", "-5", "+1.5", "A-9"]
    if suffix == ".xlsx":
        sheet = openpyxl.load_workbook(tmp_path / "orders.xlsx").active
        written = [row[0].value for row in sheet.iter_rows(min_row=2)]
        assert all(row[0].data_type != "f" for row in sheet.iter_rows(min_row=2))
    else:
        written = pd.read_csv(tmp_path / "orders.csv", dtype=str, keep_default_na=False)["product_id"].tolist()
    assert written[:8] == expected
    assert pd.read_parquet(tmp_path / "orders.parquet")["product_id"].tolist() == cells


@pytest.mark.parametrize(("stem", "sheet"), [("orders[1]", "orders_1_"), ("a:b*c?", "a_b_c_"), ("History", "spend")])
def test_an_excel_file_is_written_whatever_its_name_holds(tmp_path, stem, sheet):
    """`--out orders[1].xlsx` ended in "unexpected ValueError: Invalid character [ found in sheet title"."""
    import openpyxl

    write_table(_frame(), tmp_path / f"{stem}.xlsx")
    assert openpyxl.load_workbook(tmp_path / f"{stem}.xlsx").sheetnames == [sheet]


def test_an_unknown_suffix_is_refused_before_any_work(tmp_path):
    with pytest.raises(SpendError, match=r"--out: x.txt must end in .csv, .parquet, .xlsx"):
        check_out(tmp_path / "x.txt")
    with pytest.raises(SpendError, match="--products: .* is not a file"):
        read_table(tmp_path / "missing.csv", "--products")


def test_an_out_that_cannot_be_written_is_refused_before_any_work(tmp_path, settings):
    """Found only when writing, it came after the work (minutes for `spend report`), as an unexpected error."""
    (tmp_path / "folder.csv").mkdir()
    (tmp_path / "a-file").write_text("")
    with pytest.raises(SpendError, match=r"--out: .*folder.csv is a folder; name a file in it"):
        check_out(tmp_path / "folder.csv")
    with pytest.raises(SpendError, match=r"--out: .*a-file is a file, not a folder"):
        check_out(tmp_path / "a-file" / "x.csv")
    check_out(tmp_path / "new" / "x.csv")  # a missing folder is made
    assert (tmp_path / "new").is_dir() and not list((tmp_path / "new").iterdir())  # and the probe is gone
    from spend.cli import app

    result = CliRunner().invoke(app, ["report", "--out", str(tmp_path / "a-file" / "report.html")])
    assert result.exit_code == 2 and "is a file, not a folder" in result.output
    assert "Traceback" not in result.output and "report:" not in result.output  # refused before any section
    pdf = CliRunner().invoke(app, ["report", "--out", str(tmp_path / "report.pdf")])  # an HTML page in a .pdf
    assert pdf.exit_code == 2 and "the report is an HTML page; name it .html" in pdf.output
    assert not (tmp_path / "report.pdf").exists()


def test_json_is_strict_with_nan_numpy_and_times(capsys):
    payload = {
        "rate": float("nan"),
        "inf": np.inf,
        "n": np.int64(5),
        "share": np.float32(0.5),
        "when": pd.Timestamp("2026-01-01", tz="UTC"),
        "missing": pd.NaT,
        "rows": [{"x": np.nan}],
    }
    print_json(payload)
    parsed = json.loads(capsys.readouterr().out, parse_constant=lambda name: pytest.fail(f"{name} in JSON"))
    assert parsed == {
        "rate": None,
        "inf": None,
        "n": 5,
        "share": 0.5,
        "when": "2026-01-01T00:00:00+00:00",
        "missing": None,
        "rows": [{"x": None}],
    }
    assert plain((1, {2})) == [1, [2]]


@pytest.mark.parametrize("suffix", [".csv", ".xlsx", ".parquet"])
def test_a_spreadsheets_column_names_take_spends_and_ids_stay_text(tmp_path, suffix):
    """A price plan typed in a spreadsheet heads its columns "Product ID", "Date", "Price": refused before
    as missing every column. Renamed after reading, "00123" would have become the product 123."""
    typed = pd.DataFrame({"Product ID": ["00123"], "Store-Id": ["007"], "Date": ["2026-12-07"], "PRICE": [9.5]})
    path = tmp_path / f"plan{suffix}"
    typed.to_parquet(path) if suffix == ".parquet" else write_table(typed, path)
    back = read_table(path, "--price-plan", names=("date", "price"))
    assert list(back.columns) == ["product_id", "store_id", "date", "price"]
    assert back.iloc[0].tolist() == ["00123", "007", "2026-12-07", 9.5]


def test_a_name_written_two_ways_is_not_guessed_between(tmp_path):
    (tmp_path / "plan.csv").write_text("product_id,Price,price ,date\nP1,9,10,2026-12-07\n")
    back = read_table(tmp_path / "plan.csv", "--price-plan", names=("date", "price"))
    assert list(back.columns) == ["product_id", "Price", "price ", "date"]


@pytest.mark.parametrize(
    ("header", "meant"),
    [
        ("product_id,price,cost,flor", "floor"),
        ("product_id,price,cost,cpa", "cap"),
        ("product,price,cost", "product_id"),
    ],
)
def test_a_misspelt_column_is_refused_naming_the_one_meant(tmp_path, header, meant):
    """A product file's `flor` or `cpa` was read as no floor or cap, and the quote went past the limit the
    user meant; a price plan's `store` was read as no store, and the plan applied to every store."""
    path = tmp_path / "products.csv"
    path.write_text(f"{header}\n" + ",".join(["P1", "10", "1", "9"][: header.count(",") + 1]) + "\n")
    with pytest.raises(SpendError, match=f"has a column '[a-z]+' that Spend does not read; did you mean '{meant}'"):
        read_table(path, "--products", names=("product_id", "price", "cost", "floor", "cap"))


def test_columns_a_command_does_not_read_and_does_not_resemble_are_left_alone(tmp_path):
    path = tmp_path / "products.csv"
    path.write_text("product_id,price,cost,name,old_price,Store\nP1,10,1,Mug,9,S1\n")
    back = read_table(path, "--products", names=("product_id", "price", "cost", "floor", "cap"))
    assert list(back.columns) == ["product_id", "price", "cost", "name", "old_price", "Store"]


def test_a_semicolon_csv_reads_its_decimal_commas_as_excel_writes_them(tmp_path):
    """Excel saves CSV with semicolons where the comma is the decimal mark; such a products file was
    refused as lacking every column (its header read as one name `product_id;price;cost`)."""
    path = tmp_path / "products.csv"
    text = "product_id;price;cost;name\n007;10,49;5;Tee\n12;1.234,50;6,5;Mug, large\n"
    path.write_text(text, encoding="utf-8-sig")  # with the byte-order mark Excel writes
    frame = read_table(path, "--products", names=("product_id", "price", "cost"))
    assert frame["product_id"].tolist() == ["007", "12"]
    assert frame["price"].tolist() == [10.49, 1234.5] and frame["cost"].tolist() == [5.0, 6.5]
    assert frame["name"].tolist() == ["Tee", "Mug, large"]
    path.write_text("product_id;price\n1;10.5\n2;11\n")  # a semicolon file with decimal points
    assert read_table(path, "--products")["price"].tolist() == [10.5, 11.0]
    path.write_text("product_id\tprice\n007\t10.5\n")
    assert read_table(path, "--products").to_dict("list") == {"product_id": ["007"], "price": [10.5]}


def test_a_column_mixing_decimal_marks_is_named_not_guessed(tmp_path):
    """`1.5` beside `12,50`: 1.5 or 15? Left as text, so the command's number check names the column."""
    from spend.core.user_tables import numeric_column

    path = tmp_path / "plan.csv"
    path.write_text("product_id;price\nP1;1.5\nP2;12,50\n")
    frame = read_table(path, "--price-plan")
    with pytest.raises(SpendError, match="column price has 1 empty or non-numeric value"):
        numeric_column(frame, "price", "--price-plan")


def test_a_compressed_csv_is_read_with_commas_not_split_by_its_compressed_bytes(tmp_path, monkeypatch):
    """Its first compressed "line" is binary, which may hold a semicolon or a tab."""
    from spend.core import user_tables

    packed = tmp_path / "products.csv.gz"
    pd.DataFrame({"product_id": ["007"], "price": [10.5]}).to_csv(packed, index=False)
    monkeypatch.setattr(user_tables, "_header_line", lambda path: "\x1f\x8b;\t")  # binary with both
    assert read_table(packed, "--products").to_dict("list") == {"product_id": ["007"], "price": [10.5]}
