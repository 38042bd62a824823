"""Request models read the home's settings: what a request may leave out is filled the home's way."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from spend.serving import schemas

PAYMENT = {"order_id": "o1", "card_id": "c1", "terminal_id": "t1", "ts": "2026-01-31T12:00:00Z", "amount": 12.5}


@pytest.fixture
def euro_home(monkeypatch):
    monkeypatch.setenv("SPEND_DEFAULT_CURRENCY", "EUR")
    schemas.settings.cache_clear()
    yield
    schemas.settings.cache_clear()


def test_a_payment_without_a_currency_is_in_the_homes_currency(euro_home):
    """The request model defaulted to GBP whatever the home's currency: a EUR shop's payments sent without
    one were refused as an unknown currency."""
    assert schemas.Transaction.model_validate(PAYMENT).currency == "EUR"
    assert schemas.Transaction.model_validate(PAYMENT | {"currency": "eur"}).currency == "EUR"
    with pytest.raises(ValidationError, match="unknown currency 'GBP'; this service takes EUR \\(SPEND_CURRENCIES\\)"):
        schemas.Transaction.model_validate(PAYMENT | {"currency": "GBP"})


@pytest.mark.parametrize("blank", [" ", "\u3000", "\t"])
def test_a_product_id_that_is_blank_once_spelt_as_stored_is_refused(blank):
    """Full-width ids are spelt as ingestion stores them (NFKC); an ideographic space is one character
    before that and nothing after, so it passed the length check and asked for a product named ''."""
    assert schemas.QuoteProduct(product_id="Ｐ１", price=1.0, cost=0.5).product_id == "P1"
    with pytest.raises(ValidationError, match="must not be blank"):
        schemas.QuoteProduct(product_id=blank, price=1.0, cost=0.5)
    with pytest.raises(ValidationError, match="must not be blank"):
        schemas.PlannedPrice(product_id="P1", store_id=blank, date="2026-12-07", price=1.0)


@pytest.mark.parametrize("written", ["yes", "1", 1, "true", "off"])
def test_a_planned_promotion_is_a_json_boolean_not_a_guess(written):
    """`promo` took "yes", "off", 1 and "1" (pydantic's lax booleans), while an amount must be a JSON number:
    a client writing the CSV plan's words over HTTP should hear it, not be guessed at."""
    assert schemas.PlannedPrice(product_id="P1", date="2026-12-07", promo=True).promo is True
    with pytest.raises(ValidationError, match="promo"):
        schemas.PlannedPrice.model_validate({"product_id": "P1", "date": "2026-12-07", "promo": written})
