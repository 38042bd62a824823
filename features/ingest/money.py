"""Money written for people: a currency symbol or code beside the number (`$12.50`, `12,50 €`, `-£3.99`,
`12.50 EUR`, `CHF 8.90`).

Point-of-sale and web-shop exports write prices as their screens show them. Read as numbers, every such
value was quarantined as `not_a_float`. The symbol is taken off and kept: a line that names no currency
takes the one an unambiguous symbol names (£, €, ₹, or an ISO 4217 code in any case), and a line whose
currency (given, its order's or the default) is not one its symbol can mean is quarantined as
`currency:symbol_disagrees`, never stored under the wrong currency. Three letters that are no ISO code
leave the value as written (`not_a_float`). Thousands separators are the number parser's (parse.py).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from spend.core.currencies import ISO_4217_CODES
from spend.features.ingest.parse import THOUSANDS_GAPS, blank
from spend.features.schema.fields import TEXT

SYMBOLS: dict[str, frozenset[str]] = {
    "£": frozenset({"GBP"}),
    "€": frozenset({"EUR"}),
    "₹": frozenset({"INR"}),
    "¥": frozenset({"JPY", "CNY"}),
    "$": frozenset({"USD", "CAD", "AUD", "NZD", "SGD", "HKD", "MXN", "TWD"}),
}
DISAGREES = "currency:symbol_disagrees"
_MIXED = "mixed"  # two money cells of one line with different symbols
_SIGN, _NUMBER = r"[+-]?", f"[+-]?[0-9][0-9.,{THOUSANDS_GAPS}]*|[+-]?[.,][0-9]+"
_SYMBOL = f"[{re.escape(''.join(SYMBOLS))}]|[A-Za-z]{{3}}"  # a code: the anchored forms below take three alone
_BEFORE = re.compile(rf"^\s*(?P<sign>{_SIGN})\s*(?P<symbol>{_SYMBOL})\s*(?P<number>{_NUMBER})\s*$")
_AFTER = re.compile(rf"^\s*(?P<number>{_NUMBER})\s*(?P<symbol>{_SYMBOL})\s*$")


def _means(symbol: str) -> frozenset[str]:
    """The currencies a symbol or code can mean (none: not money's)."""
    return SYMBOLS.get(symbol) or (frozenset({symbol}) if symbol in ISO_4217_CODES else frozenset())


def strip_symbols(raw: pd.DataFrame, money: list[str]) -> tuple[pd.DataFrame, pd.Series]:
    """`raw` with the symbol taken off each money cell that has one, and per row the symbol its money cells
    carried (NA where none; "mixed" where two cells carry different ones)."""
    symbols = pd.Series(pd.NA, index=raw.index, dtype=object)
    stripped = raw
    for name in money:
        if name not in raw or pd.api.types.is_numeric_dtype(raw[name]):
            continue
        text = raw[name].astype(TEXT)
        has = text.str.contains(_SYMBOL, regex=True).fillna(False).to_numpy(dtype=bool)
        if not has.any():
            continue
        cells = text[has]  # only those: a regex over a million clean prices costs seconds
        before, after = cells.str.extract(_BEFORE), cells.str.extract(_AFTER)
        symbol = before["symbol"].fillna(after["symbol"]).reindex(raw.index)
        symbol = symbol.where(symbol.isin(list(SYMBOLS)), symbol.str.upper())
        symbol = symbol.where(symbol.map(lambda s: pd.isna(s) or bool(_means(s))))  # "12 pcs" stays as written
        number = (before["sign"].fillna("") + before["number"]).where(before["number"].notna(), after["number"])
        if stripped is raw:
            stripped = raw.copy()
        stripped[name] = text.where(symbol.isna(), number.reindex(raw.index))
        seen = symbol.notna() & symbols.notna() & (symbol != symbols)
        symbols = symbols.where(symbols.notna(), symbol).mask(seen, _MIXED)
    return stripped, symbols


def currency_from_symbols(typed: pd.DataFrame, raw: pd.DataFrame, symbols: pd.Series) -> pd.DataFrame:
    """A line without a currency takes the one its money's symbol names, where the symbol names one."""
    if "currency" not in typed or symbols.isna().all():
        return typed
    named = symbols.map(lambda s: next(iter(_means(s))) if not pd.isna(s) and len(_means(s)) == 1 else pd.NA)
    empty = typed["currency"].isna() & (blank(raw["currency"]) if "currency" in raw else True)
    take = (empty & named.notna()).to_numpy()
    if not take.any():
        return typed
    typed = typed.copy()
    typed.loc[take, "currency"] = named[take].astype("string").to_numpy()
    return typed


def symbol_disagreements(typed: pd.DataFrame, symbols: pd.Series) -> pd.DataFrame:
    """(row, reason) of lines whose money's symbol cannot mean their currency."""
    if "currency" not in typed or symbols.isna().all():
        return pd.DataFrame({"row": [], "reason": []})
    currency = typed["currency"].astype("string").str.upper()
    fits = [pd.isna(s) or (not pd.isna(c) and c in _means(s)) for s, c in zip(symbols, currency, strict=True)]
    rows = typed.index[~np.asarray(fits)]
    return pd.DataFrame({"row": rows, "reason": DISAGREES})
