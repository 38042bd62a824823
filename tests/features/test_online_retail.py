"""UCI Online Retail II, shipped in the project, loads through the normal ingestion path."""

from __future__ import annotations

import lzma

import pandas as pd
import pytest

from spend.features.examples.online_retail import data_path, load_online_retail
from spend.features.ingest.store import OfflineStore

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    from spend.core.settings import SpendSettings

    settings = SpendSettings(home=tmp_path_factory.mktemp("retail") / "home", pseudonym_key="k")
    return settings, load_online_retail(settings)


def test_the_data_ships_inside_the_package():
    path = data_path()
    assert path.is_file() and "features/examples/data" in str(path)
    with lzma.open(path, "rt") as handle:
        assert (
            handle.readline().strip() == "Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country"
        )


def test_every_line_is_accounted_for(loaded):
    _, reports = loaded
    tx = reports["transactions"]
    assert tx.received == 1_067_371
    assert tx.accepted + tx.quarantined + tx.duplicates == tx.received
    # 34,335 exact duplicate lines in the raw file; two more collide once Description is not stored.
    assert 34_335 <= tx.duplicates <= 34_400
    assert reports["customers"].accepted == 5_942


def test_non_product_codes_are_quarantined_with_a_reason(loaded):
    settings, reports = loaded
    assert reports["transactions"].quarantined_by_reason["product_id:non_product_code"] > 5_000
    quarantine = OfflineStore(settings.paths).read_quarantine("transactions")
    codes = quarantine.loc[quarantine["reason"] == "product_id:non_product_code", "product_id"]
    assert {"POST", "DOT", "M", "BANK CHARGES", "AMAZONFEE"} <= set(codes)
    assert not OfflineStore(settings.paths).read("transactions")["product_id"].isin(["POST", "DOT", "M"]).any()


def test_cancellations_are_returns_and_missing_customers_are_anonymous(loaded):
    settings, _ = loaded
    stored = OfflineStore(settings.paths).read("transactions")
    returns = stored[stored["kind"] == "return"]
    assert len(returns) > 15_000
    assert returns["order_id"].str.startswith("C").all() and (returns["quantity"] < 0).all()
    anonymous = stored["customer_id"].isna()
    assert 200_000 < anonymous.sum() < 243_007
    assert stored.loc[~anonymous, "customer_id"].str.startswith("c_").all()
    assert stored["ts"].min() == pd.Timestamp("2009-12-01 07:45", tz="UTC")
