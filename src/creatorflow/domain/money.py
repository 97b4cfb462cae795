"""Money as integer minor units: exact conversion of TikTok's decimal strings (pure).

TikTok Shop sends every amount as a decimal *string* (``"19.99"``, ``"0"``, ``"150000"``) next
to an ISO 4217 currency code. CreatorFlow never lets a float near money: amounts become ``int``
minor units (cents, pence, yen) with the currency's exponent, and back.

Accepted: ASCII digits with at most one ``.`` and at least one digit (``"19.99"``, ``"20"``,
``".5"`` = 50 cents, ``"5."`` = 500 cents), up to the currency's exponent in decimals; trailing
zeros past the exponent are fine when they are zeros (``"1.230"`` in USD = 123). Refused with
:class:`~creatorflow.errors.InvalidAmount`: empty, signs (unless ``allow_negative``), spaces,
exponents, thousands separators, non-ASCII digits, more significant decimals than the currency
has, and amounts beyond :data:`MAX_MINOR` (a Postgres ``bigint``).
"""

from __future__ import annotations

import re
from typing import Final

from creatorflow.errors import InvalidAmount, UnknownCurrency

#: Minor-unit exponent per ISO 4217 code. Zero-decimal currencies (JPY, KRW, VND, ...) have
#: no minor unit; IDR has two by ISO 4217 even though prices are usually whole rupiah.
CURRENCY_EXPONENTS: Final[dict[str, int]] = {
    # two decimals
    "USD": 2, "GBP": 2, "EUR": 2, "CAD": 2, "AUD": 2, "MXN": 2, "BRL": 2, "SGD": 2,
    "MYR": 2, "THB": 2, "PHP": 2, "IDR": 2, "CNY": 2, "HKD": 2, "TWD": 2, "SAR": 2,
    "AED": 2, "PLN": 2, "CHF": 2, "SEK": 2, "NOK": 2, "DKK": 2, "CZK": 2, "HUF": 2,
    "RON": 2, "NZD": 2, "ZAR": 2, "INR": 2, "TRY": 2, "ILS": 2,
    # zero decimals
    "JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "UGX": 0, "PYG": 0, "XAF": 0,
    "XOF": 0,
    # three decimals
    "BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3, "TND": 3,
}  # fmt: skip

#: Largest amount accepted, in minor units: fits a signed 64-bit column in every store.
MAX_MINOR: Final = 2**63 - 1

_SCALE: Final[dict[int, int]] = {0: 1, 1: 10, 2: 100, 3: 1000}
_AMOUNT = re.compile(r"(-?)([0-9]*)(?:\.([0-9]*))?")


def exponent(currency: str) -> int:
    """Number of minor-unit digits of ``currency`` (ISO 4217 code, case-insensitive).

    Raises:
        UnknownCurrency: the code is not in :data:`CURRENCY_EXPONENTS`.
    """
    try:
        return CURRENCY_EXPONENTS[currency.upper()]
    except KeyError:
        raise UnknownCurrency(f"unknown currency {currency!r}") from None


def parse_amount(text: str, currency: str, *, allow_negative: bool = False) -> int:
    """Convert a decimal string in ``currency`` to integer minor units, exactly.

    Args:
        text: the amount as TikTok sends it, e.g. ``"19.99"``.
        currency: ISO 4217 code; decides how many decimals are allowed.
        allow_negative: accept a leading ``-`` (refunds, adjustments).

    Raises:
        UnknownCurrency: no exponent is known for ``currency``.
        InvalidAmount: the string is malformed, negative, too precise or too large; the
            message quotes it.
    """
    digits = exponent(currency)
    match = _AMOUNT.fullmatch(text) if text.isascii() else None
    if match is None:
        raise InvalidAmount(f"{text!r} is not a decimal amount")
    sign, whole, frac = match.group(1), match.group(2), match.group(3) or ""
    if not whole and not frac:
        raise InvalidAmount(f"{text!r} has no digits")
    if sign and not allow_negative:
        raise InvalidAmount(f"{text!r} is negative")
    significant = frac.rstrip("0")
    if len(significant) > digits:
        raise InvalidAmount(
            f"{text!r} has {len(frac)} decimals; {currency.upper()} allows {digits}"
        )
    if len(whole.lstrip("0")) > 19:  # cheap guard before int(): 2**63 has 19 digits
        raise InvalidAmount(f"{text!r} is too large")
    minor = int(whole or "0") * _SCALE[digits] + int(significant.ljust(digits, "0") or "0")
    if minor > MAX_MINOR:
        raise InvalidAmount(f"{text!r} is too large")
    return -minor if sign else minor


def format_amount(minor: int, currency: str) -> str:
    """The canonical decimal string of ``minor`` units (``1999, "USD"`` → ``"19.99"``).

    ``parse_amount(format_amount(m, c), c, allow_negative=True) == m`` for every ``m`` in range.

    Raises:
        UnknownCurrency: no exponent is known for ``currency``.
    """
    digits = exponent(currency)
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(minor), _SCALE[digits])
    if digits == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{frac:0{digits}d}"


def amount_to_minor(value: str | int, currency: str) -> int:
    """Major units given as a decimal string or a whole number (rules files) → minor units.

    Raises:
        UnknownCurrency: no exponent is known for ``currency``.
        InvalidAmount: as :func:`parse_amount`.
    """
    return parse_amount(str(value) if isinstance(value, int) else value, currency)
