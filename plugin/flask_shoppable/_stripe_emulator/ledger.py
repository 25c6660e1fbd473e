"""The emulated account: checkout sessions, payments, charges, refunds, disputes, promotions.

Objects are kept as the JSON Stripe would answer with (plain dicts), so the API layer
returns them as they are and events carry exact copies. Every change happens under one
lock and emits its event through ``emit`` (the webhook sender), the way Stripe records an
event for each change to an object.
"""

from __future__ import annotations

import copy
import re
import secrets
import string
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..money import CURRENCY_EXPONENTS, to_decimal_string
from .errors import StripeApiError, missing, no_such
from .forms import (
    bool_param,
    check_known,
    hash_param,
    int_param,
    list_param,
    str_param,
)

#: Stripe's limits that this flow meets.
MAX_AMOUNT = 99_999_999
MAX_QUANTITY = 999_999
MIN_EXPIRY = 30 * 60
MAX_EXPIRY = 24 * 60 * 60
#: Grace on the 30-minute minimum (the caller's clock and the network take a moment).
EXPIRY_SLACK = 10

SESSION_PARAMS = frozenset(
    {
        "adaptive_pricing", "after_expiration", "allow_promotion_codes", "automatic_tax",
        "billing_address_collection", "cancel_url", "client_reference_id", "consent_collection",
        "currency", "custom_fields", "custom_text", "customer", "customer_creation",
        "customer_email", "customer_update", "discounts", "expand", "expires_at",
        "invoice_creation", "line_items", "locale", "metadata", "mode",
        "payment_intent_data", "payment_method_collection", "payment_method_configuration",
        "payment_method_options", "payment_method_types", "phone_number_collection",
        "return_url", "shipping_address_collection", "shipping_options", "submit_type",
        "success_url", "tax_id_collection", "ui_mode",
    }
)  # fmt: skip
LINE_ITEM_PARAMS = frozenset(
    {"adjustable_quantity", "dynamic_tax_rates", "metadata", "price", "price_data", "quantity",
     "tax_rates"}
)  # fmt: skip
PRICE_DATA_PARAMS = frozenset(
    {"currency", "product", "product_data", "recurring", "tax_behavior", "unit_amount",
     "unit_amount_decimal"}
)  # fmt: skip
PRODUCT_DATA_PARAMS = frozenset(
    {"description", "images", "metadata", "name", "tax_code", "unit_label"}
)
SHIPPING_RATE_DATA_PARAMS = frozenset(
    {"delivery_estimate", "display_name", "fixed_amount", "metadata", "tax_behavior",
     "tax_code", "type"}
)  # fmt: skip
PAYMENT_INTENT_DATA_PARAMS = frozenset(
    {"application_fee_amount", "capture_method", "description", "metadata", "on_behalf_of",
     "receipt_email", "setup_future_usage", "shipping", "statement_descriptor",
     "statement_descriptor_suffix", "transfer_data", "transfer_group"}
)  # fmt: skip
REFUND_PARAMS = frozenset(
    {"amount", "charge", "currency", "customer", "expand", "instructions_email", "metadata",
     "origin", "payment_intent", "reason", "refund_application_fee", "reverse_transfer"}
)  # fmt: skip

_ALNUM = string.ascii_letters + string.digits
_URL_RE = re.compile(r"^https?://[^\s/]+[^\s]*$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_COUNTRY_RE = re.compile(r"^[A-Z]{2}$")


def new_id(prefix: str, length: int = 24) -> str:
    return f"{prefix}_{''.join(secrets.choice(_ALNUM) for _ in range(length))}"


def _now() -> int:
    return int(time.time())


def _money(amount: int, currency: str) -> str:
    code = currency.upper()
    if code in CURRENCY_EXPONENTS:
        return f"{to_decimal_string(amount, code)} {code}"
    return f"{amount} {currency}"


def check_metadata(value: Any, param: str) -> dict[str, str]:
    """Stripe's metadata rules: at most 50 keys, keys ≤ 40 chars, values ≤ 500 chars."""
    metadata = hash_param(value, param)
    if len(metadata) > 50:
        raise StripeApiError("Metadata can have at most 50 keys.", param=param)
    for key, item in metadata.items():
        if len(key) > 40:
            raise StripeApiError(
                f"Metadata keys must be at most 40 characters; {key[:45]!r} is longer.",
                param=f"{param}[{key}]",
            )
        if not isinstance(item, str):
            raise StripeApiError("Metadata values must be strings.", param=f"{param}[{key}]")
        if len(item) > 500:
            raise StripeApiError(
                "Metadata values must be at most 500 characters.", param=f"{param}[{key}]"
            )
    return dict(metadata)


def _currency(value: Any, param: str) -> str:
    code = str_param(value, param).lower()
    if code.upper() not in CURRENCY_EXPONENTS:
        raise StripeApiError(f"Invalid currency: {code}.", param=param)
    return code


def _url(value: Any, param: str) -> str:
    url = str_param(value, param, max_length=5000)
    if not _URL_RE.match(url):
        raise StripeApiError("Not a valid URL", param=param, code="url_invalid")
    return url


class CardDeclined(Exception):
    """A test card that Stripe would decline; ``code``/``decline_code`` as Stripe's."""

    def __init__(self, message: str, code: str, decline_code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.decline_code = decline_code


#: Stripe's test cards that this emulator knows: number → (brand, outcome).
#: Outcome None succeeds; else (code, decline_code, message).
TEST_CARDS: dict[str, tuple[str, tuple[str, str | None, str] | None]] = {
    "4242424242424242": ("visa", None),
    "4000056655665556": ("visa", None),
    "5555555555554444": ("mastercard", None),
    "378282246310005": ("amex", None),
    "4000000000000002": ("visa", ("card_declined", "generic_decline", "Your card was declined.")),
    "4000000000009995": (
        "visa",
        ("card_declined", "insufficient_funds", "Your card has insufficient funds."),
    ),
    "4000000000000069": ("visa", ("expired_card", None, "Your card has expired.")),
    "4000000000000127": (
        "visa",
        ("incorrect_cvc", None, "Your card's security code is incorrect."),
    ),
}


def _luhn_ok(number: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = int(char)
        if index % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def card_outcome(number: str) -> str:
    """The brand of a test card that succeeds; :class:`CardDeclined` otherwise."""
    digits = re.sub(r"[\s-]", "", number or "")
    if not digits.isdigit() or not 12 <= len(digits) <= 19 or not _luhn_ok(digits):
        raise CardDeclined("Your card number is incorrect.", "incorrect_number")
    known = TEST_CARDS.get(digits)
    if known is None:
        raise CardDeclined(
            "Your card was declined. Your request was in test mode, but used a non test "
            "card. For a list of valid test cards, visit: https://stripe.com/docs/testing.",
            "card_declined",
            "test_mode_live_card",
        )
    brand, failure = known
    if failure is not None:
        code, decline_code, message = failure
        raise CardDeclined(message, code, decline_code)
    return brand


@dataclass
class Address:
    """What the hosted page collects (or a test passes to ``pay``)."""

    line1: str = "1 Test Street"
    city: str = "Testville"
    postal_code: str = "10001"
    country: str = "US"
    line2: str | None = None
    state: str | None = None

    def as_stripe(self) -> dict[str, Any]:
        return {
            "city": self.city,
            "country": self.country,
            "line1": self.line1,
            "line2": self.line2,
            "postal_code": self.postal_code,
            "state": self.state,
        }


@dataclass
class SessionRecord:
    """A checkout session and what the emulator keeps beside it."""

    obj: dict[str, Any]
    line_items: list[dict[str, Any]]
    shipping_rates: list[dict[str, Any]]
    promotion: dict[str, Any] | None
    pi_metadata: dict[str, str]
    attempts: list[str] = field(default_factory=list)


Emit = Callable[..., dict[str, Any]]


class Ledger:
    """The emulated Stripe account's objects and the rules that change them."""

    def __init__(self, emit: Emit, *, page_base: Callable[[], str]) -> None:
        self.lock = threading.RLock()
        self._emit = emit
        self._page_base = page_base
        self.sessions: dict[str, SessionRecord] = {}
        self.objects: dict[str, dict[str, Any]] = {}
        self.promotion_codes: dict[str, dict[str, Any]] = {}
        #: Tax by shipping (or billing) country, in basis points, when automatic tax is on.
        self.tax_rates: dict[str, int] = {}

    def reset(self) -> None:
        with self.lock:
            self.sessions.clear()
            self.objects.clear()
            self.promotion_codes.clear()
            self.tax_rates.clear()

    # -- lookups ----------------------------------------------------------------------

    def get(self, object_id: str, kind: str, param: str = "id") -> dict[str, Any]:
        with self.lock:
            obj = self.objects.get(object_id)
            if obj is None or obj.get("object") != kind:
                raise no_such(kind, object_id, param)
            return obj

    def session(self, session_id: str) -> SessionRecord:
        with self.lock:
            record = self.sessions.get(session_id)
            if record is None:
                raise no_such("checkout.session", session_id)
            return record

    def session_view(self, session_id: str, expand: list[str] | None = None) -> dict[str, Any]:
        with self.lock:
            record = self.session(session_id)
            view = copy.deepcopy(record.obj)
            for path in expand or []:
                if path == "line_items":
                    view["line_items"] = self.line_items_list(session_id)
                elif path == "payment_intent" and view.get("payment_intent"):
                    view["payment_intent"] = copy.deepcopy(self.objects[view["payment_intent"]])
            return view

    def line_items_list(self, session_id: str) -> dict[str, Any]:
        record = self.session(session_id)
        return {
            "object": "list",
            "data": copy.deepcopy(record.line_items),
            "has_more": False,
            "url": f"/v1/checkout/sessions/{session_id}/line_items",
        }

    # -- promotion codes ------------------------------------------------------------

    def add_promotion_code(
        self,
        code: str,
        *,
        percent_off: float | None = None,
        amount_off: int | None = None,
        currency: str | None = None,
        active: bool = True,
    ) -> dict[str, Any]:
        if (percent_off is None) == (amount_off is None):
            raise ValueError("give exactly one of percent_off and amount_off")
        if amount_off is not None and not currency:
            raise ValueError("amount_off needs a currency")
        now = _now()
        coupon: dict[str, Any] = {
            "id": new_id("co", 8),
            "object": "coupon",
            "amount_off": amount_off,
            "created": now,
            "currency": currency.lower() if currency else None,
            "duration": "once",
            "livemode": False,
            "metadata": {},
            "name": code,
            "percent_off": percent_off,
            "valid": active,
        }
        promo: dict[str, Any] = {
            "id": new_id("promo"),
            "object": "promotion_code",
            "active": active,
            "code": code,
            "coupon": coupon,
            "promotion": {"type": "coupon", "coupon": coupon["id"]},
            "created": now,
            "customer": None,
            "expires_at": None,
            "livemode": False,
            "max_redemptions": None,
            "metadata": {},
            "restrictions": {"first_time_transaction": False, "minimum_amount": None},
            "times_redeemed": 0,
        }
        with self.lock:
            self.objects[coupon["id"]] = coupon
            self.objects[promo["id"]] = promo
            self.promotion_codes[promo["id"]] = promo
        return copy.deepcopy(promo)

    def list_promotion_codes(self, params: Mapping[str, Any]) -> dict[str, Any]:
        code = params.get("code")
        active = bool_param(params["active"], "active") if "active" in params else None
        limit = int_param(params.get("limit", "10"), "limit", minimum=1, maximum=100)
        with self.lock:
            found = [
                copy.deepcopy(p)
                for p in reversed(self.promotion_codes.values())
                if (code is None or p["code"].casefold() == str(code).casefold())
                and (active is None or p["active"] == active)
            ]
        return {
            "object": "list",
            "data": found[:limit],
            "has_more": len(found) > limit,
            "url": "/v1/promotion_codes",
        }

    # -- checkout sessions ----------------------------------------------------------

    def create_session(self, params: dict[str, Any]) -> dict[str, Any]:
        check_known(params, SESSION_PARAMS)
        mode = params.get("mode")
        if mode is None:
            raise missing("mode")
        if mode != "payment":
            raise StripeApiError(
                f"The emulator implements mode=payment only, not {mode!r}.", param="mode"
            )
        if params.get("ui_mode", "hosted") != "hosted":
            raise StripeApiError("The emulator implements ui_mode=hosted only.", param="ui_mode")
        now = _now()
        lines, currency = self._line_items(params.get("line_items"), now)
        if "currency" in params and _currency(params["currency"], "currency") != currency:
            raise StripeApiError(
                "The currency must match the currency of the line items.", param="currency"
            )
        if "success_url" not in params:
            raise missing("success_url")
        success_url = _url(params["success_url"], "success_url")
        cancel_url = _url(params["cancel_url"], "cancel_url") if "cancel_url" in params else None
        expires_at = now + MAX_EXPIRY
        if "expires_at" in params:
            expires_at = int_param(params["expires_at"], "expires_at")
            if expires_at < now + MIN_EXPIRY - EXPIRY_SLACK:
                raise StripeApiError(
                    "The `expires_at` timestamp must be at least 30 minutes from Checkout "
                    "Session creation.",
                    param="expires_at",
                )
            if expires_at > now + MAX_EXPIRY:
                raise StripeApiError(
                    "The `expires_at` timestamp must be less than 24 hours from Checkout "
                    "Session creation.",
                    param="expires_at",
                )
        metadata = check_metadata(params.get("metadata", {}), "metadata")
        pi_data = hash_param(params.get("payment_intent_data", {}), "payment_intent_data")
        check_known(pi_data, PAYMENT_INTENT_DATA_PARAMS, "payment_intent_data")
        pi_metadata = check_metadata(pi_data.get("metadata", {}), "payment_intent_data[metadata]")
        client_reference_id = None
        if "client_reference_id" in params:
            client_reference_id = str_param(
                params["client_reference_id"], "client_reference_id", max_length=200
            )
        customer_email = None
        if params.get("customer_email"):
            customer_email = str_param(params["customer_email"], "customer_email", max_length=800)
            if not _EMAIL_RE.match(customer_email):
                raise StripeApiError(
                    f"Invalid email address: {customer_email}",
                    param="customer_email",
                    code="email_invalid",
                )
        allow_promotion_codes = None
        if "allow_promotion_codes" in params:
            allow_promotion_codes = bool_param(
                params["allow_promotion_codes"], "allow_promotion_codes"
            )
        promotion = None
        if "discounts" in params:
            if allow_promotion_codes is not None:
                raise StripeApiError(
                    "You may only specify one of these parameters: allow_promotion_codes, "
                    "discounts.",
                    param="discounts",
                )
            promotion = self._discount(params["discounts"], currency)
        shipping_collection = None
        if "shipping_address_collection" in params:
            shipping_collection = self._shipping_collection(params["shipping_address_collection"])
        rates = self._shipping_options(params.get("shipping_options", []), currency, now)
        automatic_tax = False
        if "automatic_tax" in params:
            tax = hash_param(params["automatic_tax"], "automatic_tax")
            check_known(tax, {"enabled", "liability"}, "automatic_tax")
            if "enabled" not in tax:
                raise missing("automatic_tax[enabled]")
            automatic_tax = bool_param(tax["enabled"], "automatic_tax[enabled]")
        payment_method_types = ["card"]
        if "payment_method_types" in params:
            payment_method_types = [
                str_param(t, "payment_method_types")
                for t in list_param(params["payment_method_types"], "payment_method_types")
            ]

        session_id = new_id("cs_test", 58)
        obj: dict[str, Any] = {
            "id": session_id,
            "object": "checkout.session",
            "after_expiration": None,
            "allow_promotion_codes": allow_promotion_codes,
            "amount_subtotal": 0,
            "amount_total": 0,
            "automatic_tax": {
                "enabled": automatic_tax,
                "liability": {"type": "self"} if automatic_tax else None,
                "status": "requires_location_inputs" if automatic_tax else None,
            },
            "billing_address_collection": params.get("billing_address_collection"),
            "cancel_url": cancel_url,
            "client_reference_id": client_reference_id,
            "client_secret": None,
            "collected_information": None,
            "created": now,
            "currency": currency,
            "custom_fields": [],
            "custom_text": {
                "after_submit": None,
                "shipping_address": None,
                "submit": None,
                "terms_of_service_acceptance": None,
            },
            "customer": None,
            "customer_creation": params.get("customer_creation", "if_required"),
            "customer_details": None,
            "customer_email": customer_email,
            "discounts": (
                [{"coupon": None, "promotion_code": promotion["id"]}] if promotion else []
            ),
            "expires_at": expires_at,
            "invoice": None,
            "livemode": False,
            "locale": params.get("locale"),
            "metadata": metadata,
            "mode": "payment",
            "payment_intent": None,
            "payment_link": None,
            "payment_method_collection": "if_required",
            "payment_method_types": payment_method_types,
            "payment_status": "unpaid",
            "phone_number_collection": {"enabled": False},
            "recovered_from": None,
            "shipping_address_collection": shipping_collection,
            "shipping_cost": None,
            "shipping_options": [
                {"shipping_amount": r["fixed_amount"]["amount"], "shipping_rate": r["id"]}
                for r in rates
            ],
            "status": "open",
            "submit_type": params.get("submit_type"),
            "success_url": success_url,
            "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
            "ui_mode": "hosted",
            "url": f"{self._page_base()}/pay/{session_id}",
        }
        record = SessionRecord(
            obj=obj,
            line_items=lines,
            shipping_rates=rates,
            promotion=promotion,
            pi_metadata=pi_metadata,
        )
        self._price(record, rates[0]["id"] if rates else None, None)
        if obj["amount_total"] > MAX_AMOUNT:
            raise StripeApiError(
                f"The total amount must be no more than {_money(MAX_AMOUNT, currency)}.",
                param="line_items",
                code="amount_too_large",
            )
        with self.lock:
            self.sessions[session_id] = record
            for rate in rates:
                self.objects[rate["id"]] = rate
        return copy.deepcopy(obj)

    def _line_items(self, value: Any, now: int) -> tuple[list[dict[str, Any]], str]:
        if value is None or value == "":
            raise missing("line_items")
        items = list_param(value, "line_items")
        if not items:
            raise missing("line_items")
        if len(items) > 100:
            raise StripeApiError("A session can have at most 100 line items.", param="line_items")
        lines: list[dict[str, Any]] = []
        currencies: set[str] = set()
        for index, raw in enumerate(items):
            prefix = f"line_items[{index}]"
            item = hash_param(raw, prefix)
            check_known(item, LINE_ITEM_PARAMS, prefix)
            if "price" in item:
                raise no_such("price", str(item["price"]), f"{prefix}[price]")
            if "price_data" not in item:
                raise missing(f"{prefix}[price_data]")
            price_data = hash_param(item["price_data"], f"{prefix}[price_data]")
            check_known(price_data, PRICE_DATA_PARAMS, f"{prefix}[price_data]")
            if "recurring" in price_data:
                raise StripeApiError(
                    "You specified `payment` mode but passed a recurring price.",
                    param=f"{prefix}[price_data][recurring]",
                )
            if "currency" not in price_data:
                raise missing(f"{prefix}[price_data][currency]")
            currency = _currency(price_data["currency"], f"{prefix}[price_data][currency]")
            if "unit_amount" not in price_data:
                raise missing(f"{prefix}[price_data][unit_amount]")
            unit_amount = int_param(
                price_data["unit_amount"],
                f"{prefix}[price_data][unit_amount]",
                minimum=0,
                maximum=MAX_AMOUNT,
            )
            if "product_data" not in price_data:
                raise missing(f"{prefix}[price_data][product_data]")
            product_data = hash_param(
                price_data["product_data"], f"{prefix}[price_data][product_data]"
            )
            check_known(product_data, PRODUCT_DATA_PARAMS, f"{prefix}[price_data][product_data]")
            name = product_data.get("name")
            if not name:
                raise missing(f"{prefix}[price_data][product_data][name]")
            name = str_param(name, f"{prefix}[price_data][product_data][name]", max_length=250)
            if "quantity" not in item:
                raise missing(f"{prefix}[quantity]")
            quantity = int_param(
                item["quantity"], f"{prefix}[quantity]", minimum=1, maximum=MAX_QUANTITY
            )
            if unit_amount * quantity > MAX_AMOUNT:
                raise StripeApiError(
                    f"The line item's total must be no more than {_money(MAX_AMOUNT, currency)}.",
                    param=f"{prefix}[quantity]",
                    code="amount_too_large",
                )
            currencies.add(currency)
            price = {
                "id": new_id("price"),
                "object": "price",
                "active": False,
                "billing_scheme": "per_unit",
                "created": now,
                "currency": currency,
                "livemode": False,
                "lookup_key": None,
                "metadata": {},
                "nickname": None,
                "product": new_id("prod", 14),
                "recurring": None,
                "tax_behavior": price_data.get("tax_behavior", "unspecified"),
                "type": "one_time",
                "unit_amount": unit_amount,
                "unit_amount_decimal": str(unit_amount),
            }
            subtotal = unit_amount * quantity
            lines.append(
                {
                    "id": new_id("li"),
                    "object": "item",
                    "amount_discount": 0,
                    "amount_subtotal": subtotal,
                    "amount_tax": 0,
                    "amount_total": subtotal,
                    "currency": currency,
                    "description": name,
                    "price": price,
                    "quantity": quantity,
                }
            )
        if len(currencies) > 1:
            raise StripeApiError(
                "All line items must have the same currency; got "
                + ", ".join(sorted(currencies))
                + ".",
                param="line_items",
            )
        return lines, currencies.pop()

    def _discount(self, value: Any, currency: str) -> dict[str, Any]:
        discounts = list_param(value, "discounts")
        if len(discounts) != 1:
            raise StripeApiError("You may apply only one discount to a session.", param="discounts")
        discount = hash_param(discounts[0], "discounts[0]")
        check_known(discount, {"coupon", "promotion_code"}, "discounts[0]")
        if "coupon" in discount:
            raise no_such("coupon", str(discount["coupon"]), "discounts[0][coupon]")
        promo_id = discount.get("promotion_code")
        if not promo_id:
            raise missing("discounts[0][promotion_code]")
        with self.lock:
            promo = self.promotion_codes.get(str(promo_id))
        if promo is None:
            raise no_such("promotion code", str(promo_id), "discounts[0][promotion_code]")
        if not promo["active"]:
            raise StripeApiError(
                f"This promotion code is inactive: '{promo['code']}'.",
                param="discounts[0][promotion_code]",
            )
        coupon = promo["coupon"]
        if coupon["amount_off"] is not None and coupon["currency"] != currency:
            raise StripeApiError(
                "The promotion code's currency does not match the session's.",
                param="discounts[0][promotion_code]",
            )
        return copy.deepcopy(promo)

    @staticmethod
    def _shipping_collection(value: Any) -> dict[str, Any]:
        collection = hash_param(value, "shipping_address_collection")
        check_known(collection, {"allowed_countries"}, "shipping_address_collection")
        if "allowed_countries" not in collection:
            raise missing("shipping_address_collection[allowed_countries]")
        countries = list_param(
            collection["allowed_countries"], "shipping_address_collection[allowed_countries]"
        )
        for index, country in enumerate(countries):
            if not isinstance(country, str) or not _COUNTRY_RE.match(country):
                raise StripeApiError(
                    f"Invalid country code: {country}",
                    param=f"shipping_address_collection[allowed_countries][{index}]",
                )
        if not countries:
            raise missing("shipping_address_collection[allowed_countries]")
        return {"allowed_countries": list(countries)}

    @staticmethod
    def _shipping_options(value: Any, currency: str, now: int) -> list[dict[str, Any]]:
        options = list_param(value, "shipping_options") if value != [] else []
        if len(options) > 5:
            raise StripeApiError("At most 5 shipping options.", param="shipping_options")
        rates = []
        for index, raw in enumerate(options):
            prefix = f"shipping_options[{index}]"
            option = hash_param(raw, prefix)
            check_known(option, {"shipping_rate", "shipping_rate_data"}, prefix)
            if "shipping_rate" in option:
                raise no_such(
                    "shipping rate", str(option["shipping_rate"]), f"{prefix}[shipping_rate]"
                )
            if "shipping_rate_data" not in option:
                raise missing(f"{prefix}[shipping_rate_data]")
            data = hash_param(option["shipping_rate_data"], f"{prefix}[shipping_rate_data]")
            check_known(data, SHIPPING_RATE_DATA_PARAMS, f"{prefix}[shipping_rate_data]")
            if data.get("type", "fixed_amount") != "fixed_amount":
                raise StripeApiError(
                    "Invalid type: must be fixed_amount",
                    param=f"{prefix}[shipping_rate_data][type]",
                )
            if not data.get("display_name"):
                raise missing(f"{prefix}[shipping_rate_data][display_name]")
            fixed = hash_param(
                data.get("fixed_amount", {}), f"{prefix}[shipping_rate_data][fixed_amount]"
            )
            if "amount" not in fixed:
                raise missing(f"{prefix}[shipping_rate_data][fixed_amount][amount]")
            amount = int_param(
                fixed["amount"],
                f"{prefix}[shipping_rate_data][fixed_amount][amount]",
                minimum=0,
                maximum=MAX_AMOUNT,
            )
            if "currency" not in fixed:
                raise missing(f"{prefix}[shipping_rate_data][fixed_amount][currency]")
            rate_currency = _currency(
                fixed["currency"], f"{prefix}[shipping_rate_data][fixed_amount][currency]"
            )
            if rate_currency != currency:
                raise StripeApiError(
                    "The shipping rate's currency must match the session's currency.",
                    param=f"{prefix}[shipping_rate_data][fixed_amount][currency]",
                )
            rates.append(
                {
                    "id": new_id("shr"),
                    "object": "shipping_rate",
                    "active": True,
                    "created": now,
                    "delivery_estimate": None,
                    "display_name": str_param(
                        data["display_name"],
                        f"{prefix}[shipping_rate_data][display_name]",
                        max_length=100,
                    ),
                    "fixed_amount": {"amount": amount, "currency": rate_currency},
                    "livemode": False,
                    "metadata": check_metadata(
                        data.get("metadata", {}), f"{prefix}[shipping_rate_data][metadata]"
                    ),
                    "tax_behavior": data.get("tax_behavior", "unspecified"),
                    "tax_code": None,
                    "type": "fixed_amount",
                }
            )
        return rates

    def _price(self, record: SessionRecord, rate_id: str | None, country: str | None) -> None:
        """(Re)compute the session's amounts for a shipping rate and a tax country."""
        obj = record.obj
        subtotal = sum(line["amount_subtotal"] for line in record.line_items)
        discount = 0
        if record.promotion is not None:
            coupon = record.promotion["coupon"]
            if coupon["percent_off"] is not None:
                discount = int(subtotal * coupon["percent_off"] / 100 + 0.5)
            else:
                discount = min(int(coupon["amount_off"]), subtotal)
        # The discount spread over the lines in proportion (remainder on the last line).
        left = discount
        for index, line in enumerate(record.line_items):
            share = (
                left
                if index == len(record.line_items) - 1
                else (discount * line["amount_subtotal"] // subtotal if subtotal else 0)
            )
            left -= share
            line["amount_discount"] = share
        shipping = 0
        rate = None
        if rate_id is not None:
            rate = next(r for r in record.shipping_rates if r["id"] == rate_id)
            shipping = rate["fixed_amount"]["amount"]
        tax = 0
        if obj["automatic_tax"]["enabled"] and country is not None:
            bps = self.tax_rates.get(country, 0)
            tax = ((subtotal - discount + shipping) * bps + 5000) // 10000
            obj["automatic_tax"]["status"] = "complete"
        for line in record.line_items:
            line["amount_total"] = line["amount_subtotal"] - line["amount_discount"]
        obj["amount_subtotal"] = subtotal
        obj["amount_total"] = subtotal - discount + shipping + tax
        obj["total_details"] = {
            "amount_discount": discount,
            "amount_shipping": shipping,
            "amount_tax": tax,
        }
        obj["shipping_cost"] = (
            {
                "amount_subtotal": shipping,
                "amount_tax": 0,
                "amount_total": shipping,
                "shipping_rate": rate["id"],
            }
            if rate is not None
            else None
        )

    def expire_session(
        self, session_id: str, request: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        with self.lock:
            record = self.session(session_id)
            if record.obj["status"] != "open":
                raise StripeApiError(
                    'Only Checkout Sessions with a status in ["open"] can be expired.',
                    param=None,
                )
            record.obj["status"] = "expired"
            record.obj["url"] = None
            view = copy.deepcopy(record.obj)
            self._emit("checkout.session.expired", view, request=request)
            return view

    def expire_due(self, now: float | None = None) -> list[str]:
        """Expire every open session whose ``expires_at`` has passed (as Stripe does)."""
        moment = time.time() if now is None else now
        with self.lock:
            due = [
                sid
                for sid, r in self.sessions.items()
                if r.obj["status"] == "open" and r.obj["expires_at"] <= moment
            ]
            for sid in due:
                self.expire_session(sid)
        return due

    # -- paying ---------------------------------------------------------------------

    def pay(
        self,
        session_id: str,
        *,
        method: str = "card",
        card: str = "4242 4242 4242 4242",
        email: str | None = None,
        name: str = "Test Shopper",
        address: Address | None = None,
        shipping_rate: str | None = None,
    ) -> dict[str, Any]:
        """Pay an open session as a shopper would on the hosted page.

        ``method="card"``: a test card (see :data:`TEST_CARDS`); a declined one raises
        :class:`CardDeclined` and leaves the session open. ``method="bank_transfer"``:
        completes the session unpaid, to be settled later with :meth:`settle`.
        Returns the completed session.
        """
        with self.lock:
            record = self.session(session_id)
            obj = record.obj
            if obj["status"] == "expired" or obj["expires_at"] <= time.time():
                raise StripeApiError("This Checkout Session has expired.", code="checkout_expired")
            if obj["status"] != "open":
                raise StripeApiError("This Checkout Session is already complete.")
            email = email or obj["customer_email"]
            if not email or not _EMAIL_RE.match(email):
                raise StripeApiError("Enter a valid email address.", param="email")
            if not name.strip():
                raise StripeApiError("Enter the name on the order.", param="name")
            address = address or Address()
            collection = obj["shipping_address_collection"]
            if collection and address.country not in collection["allowed_countries"]:
                raise StripeApiError(
                    f"This shop does not ship to {address.country}.", param="country"
                )
            rate_ids = [r["id"] for r in record.shipping_rates]
            if shipping_rate is None:
                shipping_rate = rate_ids[0] if rate_ids else None
            elif shipping_rate not in rate_ids:
                raise StripeApiError("Choose one of the shipping options.", param="shipping_rate")
            if method == "card":
                try:
                    brand = card_outcome(card)
                except CardDeclined as exc:
                    record.attempts.append(exc.code)
                    raise
                last4 = re.sub(r"\D", "", card)[-4:]
            elif method == "bank_transfer":
                brand, last4 = "", ""
            else:
                raise ValueError(f"unknown payment method {method!r}")

            self._price(record, shipping_rate, address.country)
            now = _now()
            amount = obj["amount_total"]
            currency = obj["currency"]
            shipping = {"address": address.as_stripe(), "name": name} if collection else None
            pi_id, charge_id = new_id("pi"), new_id("ch")
            settled = method == "card"
            payment_method_details: dict[str, Any] = (
                {
                    "type": "card",
                    "card": {
                        "brand": brand,
                        "country": "US",
                        "exp_month": 12,
                        "exp_year": time.gmtime().tm_year + 3,
                        "funding": "credit",
                        "last4": last4,
                    },
                }
                if method == "card"
                else {"type": "customer_balance", "customer_balance": {}}
            )
            charge = {
                "id": charge_id,
                "object": "charge",
                "amount": amount,
                "amount_captured": amount if settled else 0,
                "amount_refunded": 0,
                "balance_transaction": new_id("txn") if settled else None,
                "billing_details": {
                    "address": address.as_stripe(),
                    "email": email,
                    "name": name,
                    "phone": None,
                },
                "captured": settled,
                "created": now,
                "currency": currency,
                "customer": None,
                "description": None,
                "disputed": False,
                "failure_code": None,
                "failure_message": None,
                "livemode": False,
                "metadata": dict(record.pi_metadata),
                "outcome": {
                    "network_status": "approved_by_network",
                    "risk_level": "normal",
                    "seller_message": "Payment complete.",
                    "type": "authorized",
                }
                if settled
                else None,
                "paid": settled,
                "payment_intent": pi_id,
                "payment_method": new_id("pm"),
                "payment_method_details": payment_method_details,
                "receipt_email": email,
                "refunded": False,
                "shipping": shipping,
                "status": "succeeded" if settled else "pending",
            }
            intent = {
                "id": pi_id,
                "object": "payment_intent",
                "amount": amount,
                "amount_received": amount if settled else 0,
                "capture_method": "automatic_async",
                "created": now,
                "currency": currency,
                "customer": None,
                "description": None,
                "latest_charge": charge_id,
                "livemode": False,
                "metadata": dict(record.pi_metadata),
                "payment_method": charge["payment_method"],
                "payment_method_types": [payment_method_details["type"]],
                "receipt_email": email,
                "shipping": shipping,
                "status": "succeeded" if settled else "processing",
            }
            self.objects[pi_id] = intent
            self.objects[charge_id] = charge
            obj.update(
                {
                    "status": "complete",
                    "payment_status": "paid" if settled else "unpaid",
                    "payment_intent": pi_id,
                    "url": None,
                    "customer_details": {
                        "address": address.as_stripe(),
                        "email": email,
                        "name": name,
                        "phone": None,
                        "tax_exempt": "none",
                        "tax_ids": [],
                    },
                    "collected_information": {
                        "business_name": None,
                        "individual_name": None,
                        "shipping_details": shipping,
                    }
                    if shipping
                    else None,
                }
            )
            if method == "bank_transfer":
                obj["payment_method_types"] = [*obj["payment_method_types"], "customer_balance"]
            view = copy.deepcopy(obj)
            self._emit("checkout.session.completed", view)
            return view

    def settle(self, session_id: str, succeeded: bool = True) -> dict[str, Any]:
        """Settle a session paid by the delayed method: succeeded or failed."""
        with self.lock:
            record = self.session(session_id)
            obj = record.obj
            intent = self.objects.get(obj["payment_intent"] or "")
            if obj["status"] != "complete" or intent is None or intent["status"] != "processing":
                raise ValueError(f"{session_id} has no payment waiting to settle")
            charge = self.objects[intent["latest_charge"]]
            if succeeded:
                intent.update(status="succeeded", amount_received=intent["amount"])
                charge.update(
                    status="succeeded",
                    paid=True,
                    captured=True,
                    amount_captured=charge["amount"],
                    balance_transaction=new_id("txn"),
                )
                obj["payment_status"] = "paid"
                kind = "checkout.session.async_payment_succeeded"
            else:
                intent.update(status="requires_payment_method")
                charge.update(
                    status="failed",
                    failure_code="insufficient_funds",
                    failure_message="The bank transfer did not arrive.",
                )
                kind = "checkout.session.async_payment_failed"
            view = copy.deepcopy(obj)
            self._emit(kind, view)
            return view

    # -- refunds and disputes -------------------------------------------------------

    def _charge_of(self, params: Mapping[str, Any]) -> dict[str, Any]:
        if params.get("charge"):
            return self.get(str(params["charge"]), "charge", "charge")
        if params.get("payment_intent"):
            intent = self.get(str(params["payment_intent"]), "payment_intent", "payment_intent")
            charge = self.objects.get(intent.get("latest_charge") or "")
            if intent["status"] != "succeeded" or charge is None or charge["status"] != "succeeded":
                raise StripeApiError(
                    f"This PaymentIntent ({intent['id']}) does not have a successful charge to "
                    "refund.",
                    param="payment_intent",
                    code="charge_not_refundable",
                )
            return charge
        raise StripeApiError(
            "One of the following params should be provided for this request: payment_intent "
            "or charge.",
            code="parameter_missing",
        )

    def refund(
        self, params: dict[str, Any], request: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        check_known(params, REFUND_PARAMS)
        metadata = check_metadata(params.get("metadata", {}), "metadata")
        reason = params.get("reason")
        if reason is not None and reason not in (
            "duplicate",
            "fraudulent",
            "requested_by_customer",
        ):
            raise StripeApiError(f"Invalid reason: {reason}", param="reason")
        with self.lock:
            charge = self._charge_of(params)
            if charge["disputed"]:
                raise StripeApiError(
                    f"Charge {charge['id']} has been charged back; cannot issue a refund.",
                    code="charge_disputed",
                )
            remaining = charge["amount"] - charge["amount_refunded"]
            if remaining <= 0:
                raise StripeApiError(
                    f"Charge {charge['id']} has already been refunded.",
                    code="charge_already_refunded",
                )
            amount = remaining
            if "amount" in params:
                amount = int_param(params["amount"], "amount", minimum=1)
                if amount > remaining:
                    raise StripeApiError(
                        f"Refund amount ({_money(amount, charge['currency'])}) is greater than "
                        f"unrefunded amount on charge ({_money(remaining, charge['currency'])})",
                        param="amount",
                        code="amount_too_large",
                    )
            refund = {
                "id": new_id("re"),
                "object": "refund",
                "amount": amount,
                "balance_transaction": new_id("txn"),
                "charge": charge["id"],
                "created": _now(),
                "currency": charge["currency"],
                "destination_details": {"type": "card", "card": {"type": "refund"}},
                "metadata": metadata,
                "payment_intent": charge["payment_intent"],
                "reason": reason,
                "receipt_number": None,
                "source_transfer_reversal": None,
                "status": "succeeded",
                "transfer_reversal": None,
            }
            self.objects[refund["id"]] = refund
            previous = {
                "amount_refunded": charge["amount_refunded"],
                "refunded": charge["refunded"],
            }
            charge["amount_refunded"] += amount
            charge["refunded"] = charge["amount_refunded"] == charge["amount"]
            self._emit(
                "charge.refunded",
                copy.deepcopy(charge),
                previous_attributes=previous,
                request=request,
            )
            return copy.deepcopy(refund)

    def list_refunds(self, params: Mapping[str, Any]) -> dict[str, Any]:
        with self.lock:
            found = [
                copy.deepcopy(o)
                for o in reversed(self.objects.values())
                if o.get("object") == "refund"
                and all(o.get(k) == params[k] for k in ("payment_intent", "charge") if k in params)
            ]
        return {"object": "list", "data": found, "has_more": False, "url": "/v1/refunds"}

    def dispute(
        self, payment_intent: str, *, amount: int | None = None, reason: str = "fraudulent"
    ) -> dict[str, Any]:
        with self.lock:
            charge = self._charge_of({"payment_intent": payment_intent})
            dispute = {
                "id": new_id("dp"),
                "object": "dispute",
                "amount": charge["amount"] if amount is None else amount,
                "balance_transactions": [],
                "charge": charge["id"],
                "created": _now(),
                "currency": charge["currency"],
                "evidence_details": {
                    "due_by": _now() + 7 * 86400,
                    "has_evidence": False,
                    "past_due": False,
                    "submission_count": 0,
                },
                "is_charge_refundable": False,
                "livemode": False,
                "metadata": {},
                "payment_intent": charge["payment_intent"],
                "reason": reason,
                "status": "needs_response",
            }
            self.objects[dispute["id"]] = dispute
            charge["disputed"] = True
            self._emit("charge.dispute.created", copy.deepcopy(dispute))
            return copy.deepcopy(dispute)

    def close_dispute(self, dispute_id: str, *, won: bool = False) -> dict[str, Any]:
        with self.lock:
            dispute = self.get(dispute_id, "dispute")
            if dispute["status"] in ("won", "lost"):
                raise ValueError(f"{dispute_id} is already closed ({dispute['status']})")
            previous = {"status": dispute["status"]}
            dispute["status"] = "won" if won else "lost"
            self._emit(
                "charge.dispute.closed", copy.deepcopy(dispute), previous_attributes=previous
            )
            return copy.deepcopy(dispute)
