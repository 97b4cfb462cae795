"""Money: TikTok decimal strings ↔ integer minor units, exactly."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from creatorflow.domain.money import (
    CURRENCY_EXPONENTS,
    MAX_MINOR,
    amount_to_minor,
    exponent,
    format_amount,
    parse_amount,
)
from creatorflow.errors import DomainError, InvalidAmount, UnknownCurrency


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("19.99", "USD", 1999),
        ("43.18", "usd", 4318),
        ("0", "USD", 0),
        ("20", "GBP", 2000),
        ("20.5", "EUR", 2050),
        (".5", "USD", 50),
        ("5.", "USD", 500),
        ("007.10", "USD", 710),
        ("1.230", "USD", 123),  # extra decimals are fine when they are zeros
        ("1500", "JPY", 1500),
        ("1500.00", "JPY", 1500),
        ("25000", "KRW", 25000),
        ("150000", "VND", 150000),
        ("150000", "IDR", 15000000),  # IDR has 2 decimals in ISO 4217
        ("1.234", "KWD", 1234),
        ("92233720368547758.07", "USD", MAX_MINOR),
    ],
)
def test_parses_exactly(text: str, currency: str, minor: int) -> None:
    assert parse_amount(text, currency) == minor


@pytest.mark.parametrize(
    ("text", "currency", "needle"),
    [
        ("1.234", "USD", "3 decimals; USD allows 2"),
        ("1.5", "JPY", "JPY allows 0"),
        ("-1.00", "USD", "negative"),
        ("", "USD", "no digits"),
        (".", "USD", "no digits"),
        ("1,000.00", "USD", "not a decimal amount"),
        (" 1.00", "USD", "not a decimal amount"),
        ("1e3", "USD", "not a decimal amount"),
        ("+1", "USD", "not a decimal amount"),
        ("1.2.3", "USD", "not a decimal amount"),
        ("١٢", "USD", "not a decimal amount"),  # Arabic-Indic digits are digits to \\d
        ("NaN", "USD", "not a decimal amount"),
        ("92233720368547758.08", "USD", "too large"),
        ("9" * 40, "USD", "too large"),
    ],
)
def test_rejects_malformed(text: str, currency: str, needle: str) -> None:
    with pytest.raises(InvalidAmount, match=needle) as info:
        parse_amount(text, currency)
    assert isinstance(info.value, DomainError)


def test_negative_only_when_allowed() -> None:
    assert parse_amount("-0.50", "USD", allow_negative=True) == -50


def test_unknown_currency() -> None:
    with pytest.raises(UnknownCurrency, match="XYZ"):
        parse_amount("1.00", "XYZ")
    with pytest.raises(UnknownCurrency):
        exponent("")


def test_required_exponents() -> None:
    expected = {"USD": 2, "GBP": 2, "EUR": 2, "JPY": 0, "KRW": 0, "VND": 0, "IDR": 2}
    assert {code: CURRENCY_EXPONENTS[code] for code in expected} == expected


def test_format() -> None:
    assert format_amount(1999, "USD") == "19.99"
    assert format_amount(5, "USD") == "0.05"
    assert format_amount(-5, "EUR") == "-0.05"
    assert format_amount(1500, "JPY") == "1500"
    assert format_amount(1, "KWD") == "0.001"


def test_amount_to_minor_accepts_whole_numbers() -> None:
    assert amount_to_minor(20, "USD") == 2000
    assert amount_to_minor("19.99", "USD") == 1999


@given(
    minor=st.integers(min_value=-MAX_MINOR, max_value=MAX_MINOR),
    currency=st.sampled_from(sorted(CURRENCY_EXPONENTS)),
)
def test_round_trip(minor: int, currency: str) -> None:
    text = format_amount(minor, currency)
    assert parse_amount(text, currency, allow_negative=True) == minor


@given(whole=st.integers(min_value=0, max_value=10**12), cents=st.integers(0, 99))
def test_matches_exact_decimal_arithmetic(whole: int, cents: int) -> None:
    assert parse_amount(f"{whole}.{cents:02d}", "USD") == whole * 100 + cents
