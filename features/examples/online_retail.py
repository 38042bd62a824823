"""Load UCI Online Retail II (shipped in data/, CC BY 4.0) through the normal ingestion path.

- Invoices starting with "C" are cancellations: returns with negative quantity.
- Lines without a customer are anonymous purchases: kept for demand, excluded from customer models.
- Exact duplicate lines are counted as duplicates (their derived event ids collide by design).
- Codes that are not products (postage, fees, manual adjustments, vouchers, tests) are quarantined
  with the reason `product_id:non_product_code`.
Source: Chen, D. (2012). Online Retail II. UCI Machine Learning Repository. doi:10.24432/C5CG6D.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from importlib import resources
from pathlib import Path

import pandas as pd

from spend.core.settings import SpendSettings
from spend.features.ingest.pipeline import IngestOptions, IngestReport, ingest_frame
from spend.features.ingest.readers import file_sha256, read_export
from spend.features.schema.fields import TEXT, row_rule

NAME = "online-retail-ii"
TS_FORMAT = "%m/%d/%Y %H:%M"
NON_PRODUCT_CODES = (
    r"(?i)^(?:POST|DOT|M|C2|D|S|B|BANK CHARGES|AMAZONFEE|PADS|CRUK|GIFT|ADJUST\d*|TEST\d+|gift_\d+_\d+)$"
)
STORE_ID = "online-retail-uk"

NON_PRODUCT_RULE = row_rule(
    "product_id",
    "non_product_code",
    "StockCode is postage, a fee, a manual adjustment, a voucher or a test, not a product",
    lambda df: ~df["product_id"].str.contains(NON_PRODUCT_CODES, regex=True).fillna(False).astype(bool),
)


def data_path() -> Path:
    return Path(str(resources.files("spend.features.examples") / "data" / "online_retail_ii.csv.xz"))


def transactions_frame(raw: pd.DataFrame) -> pd.DataFrame:
    """Map the export's columns to canonical transactions, all as text so ingestion parses them."""
    invoice = raw["Invoice"].str.strip()
    customer = raw["Customer ID"].str.strip().str.replace(r"\.0$", "", regex=True)

    def constant(value: str) -> pd.Series:
        return pd.Series(value, index=raw.index, dtype=TEXT)

    return pd.DataFrame(
        {
            "order_id": invoice,
            "customer_id": customer.mask(customer == ""),
            "ts": raw["InvoiceDate"],
            "product_id": raw["StockCode"].str.strip(),
            "quantity": raw["Quantity"],
            "unit_price": raw["Price"],
            "currency": constant("GBP"),
            "store_id": constant(STORE_ID),
            "channel": constant("web"),
            "kind": constant("purchase").where(~invoice.str.startswith("C"), "return"),
        }
    )


def customers_frame(transactions: pd.DataFrame, raw: pd.DataFrame) -> pd.DataFrame:
    """One row per customer: first invoice as signup, most frequent country as region."""
    codes, texts = pd.factorize(transactions["ts"])  # about 47,000 distinct invoice times in 1M lines
    parsed = pd.Series(pd.to_datetime(pd.Series(texts), format=TS_FORMAT, errors="coerce").array.take(codes))
    known = pd.DataFrame({"customer_id": transactions["customer_id"], "ts": parsed, "country": raw["Country"]})
    known = known.dropna(subset=["customer_id", "ts"])
    signup = known.groupby("customer_id", sort=True)["ts"].min()
    counts = known.groupby(["customer_id", "country"], observed=True).size().sort_values(kind="stable")
    region = counts.reset_index().drop_duplicates("customer_id", keep="last").set_index("customer_id")["country"]
    return pd.DataFrame(
        {
            "customer_id": signup.index.to_numpy(),
            "signup_ts": signup.to_numpy(),  # parsed already; local shop time, read in SPEND_TIMEZONE
            "region": region.reindex(signup.index).to_numpy(),
            "channel": "web",
        }
    )


def load_online_retail(
    settings: SpendSettings, now: datetime | None = None, progress: Callable[[str], None] = lambda step: None
) -> dict[str, IngestReport]:
    """Ingest customers, then transactions (so signup dates are known when transactions are checked)."""
    path = data_path()
    progress("read")
    raw = read_export(path)
    digest = file_sha256(path)
    transactions = transactions_frame(raw)
    customers = customers_frame(transactions, raw)
    source = f"{NAME}:{path.name}"
    reports = {
        "customers": ingest_frame(
            customers, source, digest, IngestOptions("customers", ts_format=TS_FORMAT), settings, now
        ),
    }
    options = IngestOptions("transactions", ts_format=TS_FORMAT, allow_anonymous=True, extra_rules=(NON_PRODUCT_RULE,))
    reports["transactions"] = ingest_frame(transactions, source, digest, options, settings, now, progress)
    return reports
