"""Reason codes as sentences a marketer can read, with the customer's own values.

A churn reason code is the name of a feature that pushed the customer's risk up (models/boosting.py's
reasons_from). "days_since_last_order" says where to look, not what is wrong; the sentence says it
with the value and the customer's usual rhythm: "no order for 94 days; usually every 21".

BG/NBD's probability is an input of the churn model and often its largest push. It is a summary of
recency against the customer's own buying rhythm, so its sentence is that comparison, not the model's
name. Two codes that give the same sentence give it once.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd


def _days(value: float) -> str:
    return f"{value:.0f} day" + ("" if round(value) == 1 else "s")


def _rhythm(row: dict) -> str:
    last, first, days = (
        _number(row, c) for c in ("days_since_last_order", "days_since_first_order", "purchase_days_total")
    )
    if not np.isfinite(last):
        return "no order yet"
    if np.isfinite(first) and np.isfinite(days) and days >= 2:
        return f"no order for {_days(last)}; usually every {_days((first - last) / (days - 1))}"
    return f"no order for {_days(last)}; one order so far"


def _number(row: dict, column: str) -> float:
    value = row.get(column)
    return np.nan if value is None or pd.isna(value) else float(value)


def _share(label: str) -> Callable[[float], str]:
    return lambda value: f"{value:.0%} of {label}"


# Code -> the sentence from the customer's value of that feature.
SENTENCES: dict[str, Callable[[float], str]] = {
    "spend_30d": lambda v: f"spent {v:,.2f} in the last 30 days",
    "spend_90d": lambda v: f"spent {v:,.2f} in the last 90 days",
    "spend_365d": lambda v: f"spent {v:,.2f} in the last year",
    "orders_30d": lambda v: f"{v:.0f} order(s) in the last 30 days",
    "orders_90d": lambda v: f"{v:.0f} order(s) in the last 90 days",
    "orders_365d": lambda v: f"{v:.0f} order(s) in the last year",
    "orders_total": lambda v: f"{v:.0f} order(s) in all",
    "avg_basket_value_365d": lambda v: f"average basket {v:,.2f} over the year",
    "return_rate_90d": _share("spend returned in the last 90 days"),
    "discount_share_90d": _share("spend on discount in the last 90 days"),
    "pos_share_90d": _share("orders in store in the last 90 days"),
    "web_share_90d": _share("orders on the web in the last 90 days"),
    "app_share_90d": _share("orders in the app in the last 90 days"),
    "pos_share_365d": _share("orders in store over the year"),
    "web_share_365d": _share("orders on the web over the year"),
    "app_share_365d": _share("orders in the app over the year"),
    "points_balance": lambda v: f"{v:,.0f} points unused",
    "tenure_days": lambda v: f"a member for {_days(v)}",
}
# Codes whose sentence is the customer's buying rhythm.
RHYTHM = {"days_since_last_order", "days_since_first_order", "purchase_days_total", "bgnbd_p_churn", "bgnbd_p_alive"}


def sentence(code: str, row: dict) -> str:
    if code in RHYTHM:
        return _rhythm(row)
    if code == "membership_tier":
        return f"tier {row.get(code) or 'unknown'}"
    value = row.get(code)
    write = SENTENCES.get(code)
    if write is None or value is None or pd.isna(value):
        return code.replace("_", " ")
    return write(float(value))


def explain(codes: list[list[str]], X: pd.DataFrame) -> list[str]:
    """Per customer (a row of X, in order), the reasons as sentences joined by ' / '."""
    wanted = sorted({c for row in codes for c in row} | RHYTHM & set(X.columns))
    rows = X[[c for c in wanted if c in X.columns]].to_dict("records")
    return [
        " / ".join(dict.fromkeys(sentence(code, row) for code in reasons))
        for reasons, row in zip(codes, rows, strict=True)
    ]
