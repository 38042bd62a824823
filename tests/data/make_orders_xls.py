"""Writes tests/data/orders.xls, an Excel 97-2003 workbook as older tills export them: a summary sheet,
then the orders (numbers as numbers, a date as an Excel date cell). Run once with xlwt, which is not a
dependency of Spend (`python -m venv /tmp/x && /tmp/x/bin/pip install xlwt && /tmp/x/bin/python
tests/data/make_orders_xls.py`); Spend reads the file with xlrd."""

from datetime import datetime
from pathlib import Path

import xlwt

book = xlwt.Workbook()
summary = book.add_sheet("Summary")
summary.write(0, 0, "Report")
summary.write(0, 1, "Total")
summary.write(1, 0, "Sales")
summary.write(1, 1, 17.5)
orders = book.add_sheet("Orders")
header = ["order_id", "customer_id", "ts", "product_id", "quantity", "unit_price"]
rows = [
    ["00017", "c1", datetime(2024, 5, 1, 10, 30), "p1", 2, 2.5],
    ["00018", "c2", datetime(2024, 5, 2, 11, 0), "p2", 1, 12.5],
]
when = xlwt.easyxf(num_format_str="YYYY-MM-DD HH:MM:SS")
for column, name in enumerate(header):
    orders.write(0, column, name)
for line, row in enumerate(rows, start=1):
    for column, value in enumerate(row):
        orders.write(line, column, value, when) if isinstance(value, datetime) else orders.write(line, column, value)
book.save(str(Path(__file__).with_name("orders.xls")))
