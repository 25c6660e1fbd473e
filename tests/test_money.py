from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flask_shoppable.money import (
    CURRENCY_EXPONENTS,
    MAX_AMOUNT,
    Money,
    MoneyError,
    exponent,
    normalize_currency,
    parse_decimal,
    to_decimal_string,
)


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("19.99", "USD", 1999),
        ("19.9", "USD", 1990),
        ("19", "USD", 1900),
        (" 0.00 ", "EUR", 0),
        ("1500", "JPY", 1500),
        ("1500.0", "JPY", 1500),
        ("1.234", "KWD", 1234),
        ("0.5", "BHD", 500),
    ],
)
def test_parse_decimal(text: str, currency: str, minor: int) -> None:
    assert parse_decimal(text, currency) == minor


@pytest.mark.parametrize(
    ("text", "currency", "fragment"),
    [
        ("19.999", "USD", "at most 2 decimal places"),
        ("1500.5", "JPY", "no decimal places"),
        ("-1", "USD", "negative"),
        ("abc", "USD", "not a decimal"),
        ("NaN", "USD", "not a decimal"),
        ("Infinity", "USD", "not a decimal"),
        ("1e30", "USD", "too large"),
        ("1.00", "XXX", "unknown currency"),
    ],
)
def test_parse_decimal_refuses(text: str, currency: str, fragment: str) -> None:
    with pytest.raises(MoneyError, match=fragment):
        parse_decimal(text, currency)


def test_exponents_follow_iso_4217() -> None:
    assert exponent("usd") == 2
    assert exponent("JPY") == 0
    assert exponent("KRW") == 0
    assert exponent("KWD") == 3
    assert all(e in (0, 2, 3) for e in CURRENCY_EXPONENTS.values())
    assert all(len(code) == 3 and code.isupper() for code in CURRENCY_EXPONENTS)


def test_normalize_currency() -> None:
    assert normalize_currency(" eur ") == "EUR"
    with pytest.raises(MoneyError, match="unknown currency"):
        normalize_currency("EURO")


def test_to_decimal_string() -> None:
    assert to_decimal_string(1999, "USD") == "19.99"
    assert to_decimal_string(5, "USD") == "0.05"
    assert to_decimal_string(1500, "JPY") == "1500"
    assert to_decimal_string(1, "KWD") == "0.001"
    assert to_decimal_string(-250, "EUR") == "-2.50"


def test_money_value() -> None:
    assert str(Money(1999, "usd")) == "19.99 USD"
    with pytest.raises(MoneyError):
        Money(19.99, "USD")  # type: ignore[arg-type]
    with pytest.raises(MoneyError):
        Money(True, "USD")


@given(
    amount=st.integers(min_value=0, max_value=MAX_AMOUNT),
    currency=st.sampled_from(sorted(CURRENCY_EXPONENTS)),
)
def test_round_trip(amount: int, currency: str) -> None:
    assert parse_decimal(to_decimal_string(amount, currency), currency) == amount
