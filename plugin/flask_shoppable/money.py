"""Money: integer minor units with an ISO 4217 currency code, never a float.

``CURRENCY_EXPONENTS`` is the ISO 4217 list of active currencies with their minor-unit
exponent (JPY has none, KWD has three). Conversions from decimal text (a CSV price such
as ``"19.99"``) go through :class:`decimal.Decimal` and refuse anything that does not fit
the currency's exponent exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

# ISO 4217 active codes and their minor-unit exponents (funds and precious metals left out).
CURRENCY_EXPONENTS: dict[str, int] = {
    "AED": 2, "AFN": 2, "ALL": 2, "AMD": 2, "ANG": 2, "AOA": 2, "ARS": 2, "AUD": 2,
    "AWG": 2, "AZN": 2, "BAM": 2, "BBD": 2, "BDT": 2, "BGN": 2, "BHD": 3, "BIF": 0,
    "BMD": 2, "BND": 2, "BOB": 2, "BRL": 2, "BSD": 2, "BTN": 2, "BWP": 2, "BYN": 2,
    "BZD": 2, "CAD": 2, "CDF": 2, "CHF": 2, "CLP": 0, "CNY": 2, "COP": 2, "CRC": 2,
    "CUP": 2, "CVE": 2, "CZK": 2, "DJF": 0, "DKK": 2, "DOP": 2, "DZD": 2, "EGP": 2,
    "ERN": 2, "ETB": 2, "EUR": 2, "FJD": 2, "FKP": 2, "GBP": 2, "GEL": 2, "GHS": 2,
    "GIP": 2, "GMD": 2, "GNF": 0, "GTQ": 2, "GYD": 2, "HKD": 2, "HNL": 2, "HTG": 2,
    "HUF": 2, "IDR": 2, "ILS": 2, "INR": 2, "IQD": 3, "IRR": 2, "ISK": 0, "JMD": 2,
    "JOD": 3, "JPY": 0, "KES": 2, "KGS": 2, "KHR": 2, "KMF": 0, "KPW": 2, "KRW": 0,
    "KWD": 3, "KYD": 2, "KZT": 2, "LAK": 2, "LBP": 2, "LKR": 2, "LRD": 2, "LSL": 2,
    "LYD": 3, "MAD": 2, "MDL": 2, "MGA": 2, "MKD": 2, "MMK": 2, "MNT": 2, "MOP": 2,
    "MRU": 2, "MUR": 2, "MVR": 2, "MWK": 2, "MXN": 2, "MYR": 2, "MZN": 2, "NAD": 2,
    "NGN": 2, "NIO": 2, "NOK": 2, "NPR": 2, "NZD": 2, "OMR": 3, "PAB": 2, "PEN": 2,
    "PGK": 2, "PHP": 2, "PKR": 2, "PLN": 2, "PYG": 0, "QAR": 2, "RON": 2, "RSD": 2,
    "RUB": 2, "RWF": 0, "SAR": 2, "SBD": 2, "SCR": 2, "SDG": 2, "SEK": 2, "SGD": 2,
    "SHP": 2, "SLE": 2, "SOS": 2, "SRD": 2, "SSP": 2, "STN": 2, "SVC": 2, "SYP": 2,
    "SZL": 2, "THB": 2, "TJS": 2, "TMT": 2, "TND": 3, "TOP": 2, "TRY": 2, "TTD": 2,
    "TWD": 2, "TZS": 2, "UAH": 2, "UGX": 0, "USD": 2, "UYU": 2, "UZS": 2, "VES": 2,
    "VND": 0, "VUV": 0, "WST": 2, "XAF": 0, "XCD": 2, "XOF": 0, "XPF": 0, "YER": 2,
    "ZAR": 2, "ZMW": 2, "ZWG": 2,
}  # fmt: skip

#: Upper bound for any stored amount: fits a signed 64-bit column with room to add.
MAX_AMOUNT = 10**15


class MoneyError(ValueError):
    """A currency code or amount that cannot be money."""


def normalize_currency(code: str) -> str:
    """Upper-case ``code`` and check it is an ISO 4217 currency; raise :class:`MoneyError`."""
    if not isinstance(code, str):
        raise MoneyError("currency must be a three-letter ISO 4217 code")
    upper = code.strip().upper()
    if upper not in CURRENCY_EXPONENTS:
        raise MoneyError(f"unknown currency {code!r}: expected an ISO 4217 code such as USD")
    return upper


def exponent(currency: str) -> int:
    """How many decimal places the currency's minor unit has."""
    return CURRENCY_EXPONENTS[normalize_currency(currency)]


def parse_decimal(text: str, currency: str) -> int:
    """Turn decimal text in major units (``"19.99"``) into minor units (``1999``).

    Refuses negative values, more decimal places than the currency has, and anything
    that is not a plain decimal number.
    """
    exp = exponent(currency)
    cleaned = text.strip()
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise MoneyError(f"{text!r} is not a decimal amount") from None
    if not value.is_finite():
        raise MoneyError(f"{text!r} is not a decimal amount")
    if value < 0:
        raise MoneyError(f"{text!r} is negative")
    scaled = value.scaleb(exp)
    if scaled != scaled.to_integral_value():
        places = "no decimal places" if exp == 0 else f"at most {exp} decimal places"
        raise MoneyError(f"{text!r} has too many decimal places: {currency} takes {places}")
    minor = int(scaled)
    if minor > MAX_AMOUNT:
        raise MoneyError(f"{text!r} is too large")
    return minor


def to_decimal_string(amount: int, currency: str) -> str:
    """Minor units to decimal text in major units: ``(1999, "USD")`` → ``"19.99"``."""
    exp = exponent(currency)
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(amount), 10**exp)
    if exp == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{frac:0{exp}d}"


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in minor units and its currency."""

    amount: int
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise MoneyError("amount must be an integer number of minor units")
        object.__setattr__(self, "currency", normalize_currency(self.currency))

    def __str__(self) -> str:
        return f"{to_decimal_string(self.amount, self.currency)} {self.currency}"
