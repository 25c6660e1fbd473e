"""The three ways a checkout is asked for, read into one :class:`CheckoutInput`.

* The post page's buy form (``application/x-www-form-urlencoded``): ``st``, ``post``,
  ``product`` (repeated: each selected product id), and per product id P ``variant-P``
  and ``quantity-P``; optionally ``email`` and ``promotion_code`` (or ``coupon``).
* JSON: ``{"lines": [{"variant_id", "quantity"}], "st", "post", "email",
  "promotion_code"}``.
* The cart permalink's query (Meta Shops, Google Merchant Center, the plugin's own
  checkout links): ``products=<id>:<qty>,...&coupon=...``, where an id is what the
  catalog feeds publish (a SKU, or ``variant-<id>``) or a variant id.

Anything that looks like a price is ignored: prices come from the database. A form or
JSON field of the wrong type is a 400 naming it; a prefilled email or code that arrives
in a link is dropped when malformed rather than failing the purchase.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from ..catalog.models import Variant
from .cart import MAX_LINES, LineRequest, parse_quantity, parse_variant_id
from .errors import CheckoutError

_EMAIL_RE = re.compile(r"^[^@\s\x00-\x1f]{1,64}@[^@\s\x00-\x1f]+\.[^@\s\x00-\x1f]+$")
_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")
_FEED_ID_RE = re.compile(r"^variant-([0-9]{1,12})$")
_ID_TEXT_MAX = 100
#: Longest products= value read (100 lines of long SKUs fit well within it).
_PRODUCTS_MAX = 20_000


@dataclass
class CheckoutInput:
    """A checkout request, every value checked for shape (not yet against the database)."""

    lines: list[LineRequest]
    token: str = ""
    post_slug: str = ""
    email: str = ""
    promotion_code: str = ""
    #: Form only: the product each variant was picked for (checked after pricing).
    products: dict[int, int] = field(default_factory=dict)


def clean_email(value: object, *, strict: bool) -> str:
    """A plausible email address, trimmed; "" when absent (or malformed and not strict)."""
    if value is None or value == "":
        return ""
    text = value.strip() if isinstance(value, str) else None
    if text and len(text) <= 320 and _EMAIL_RE.match(text):
        return text
    if strict:
        raise CheckoutError(400, "invalid_email", "The email address is not valid.", "email")
    return ""


def clean_code(value: object, *, strict: bool) -> str:
    """A promotion code's text (letters, digits, - and _); "" when absent or dropped."""
    if value is None or value == "":
        return ""
    text = value.strip() if isinstance(value, str) else None
    if text and _CODE_RE.match(text):
        return text
    if strict:
        raise CheckoutError(
            400,
            "invalid_promotion_code",
            "A promotion code has letters, digits, '-' and '_' only (at most 100).",
            "promotion_code",
        )
    return ""


def clean_token(value: object) -> str:
    """The ``st`` token as sent; anything that cannot be one is no token (never an error)."""
    if not isinstance(value, str) or len(value) > 256:
        return ""
    return value.strip()


def clean_slug(value: object) -> str:
    """The ``post`` slug as sent; anything that cannot be one is ignored (it is optional)."""
    if not isinstance(value, str) or len(value) > 255:
        return ""
    return value.strip()


def from_form(form: MultiDict[str, str], maximum: int) -> CheckoutInput:
    """The post page's buy form."""
    picked = form.getlist("product")
    if not picked:
        raise CheckoutError(400, "empty_cart", "Choose at least one product to buy.", "product")
    if len(picked) > MAX_LINES:
        raise CheckoutError(
            400, "too_many_lines", f"A checkout holds at most {MAX_LINES} different items."
        )
    lines: list[LineRequest] = []
    products: dict[int, int] = {}
    for raw in dict.fromkeys(picked):
        product_id = parse_variant_id(raw, "product")
        variant_raw = form.get(f"variant-{raw}")
        if variant_raw is None or variant_raw == "":
            raise CheckoutError(
                400, "invalid_variant", "Choose an option for each product.", f"variant-{raw}"
            )
        variant_id = parse_variant_id(variant_raw, f"variant-{raw}")
        quantity = parse_quantity(form.get(f"quantity-{raw}", "1"), maximum, f"quantity-{raw}")
        lines.append(LineRequest(variant_id, quantity))
        products[variant_id] = product_id
    return CheckoutInput(
        lines=lines,
        token=clean_token(form.get("st")),
        post_slug=clean_slug(form.get("post")),
        email=clean_email(form.get("email"), strict=True),
        promotion_code=clean_code(form.get("promotion_code") or form.get("coupon"), strict=True),
        products=products,
    )


def from_json(data: Any, maximum: int) -> CheckoutInput:
    """The JSON body of an API-style client."""
    if not isinstance(data, Mapping):
        raise CheckoutError(400, "invalid_request", "The body must be a JSON object.")
    raw_lines = data.get("lines")
    if raw_lines is None or raw_lines == []:
        raise CheckoutError(400, "empty_cart", "Give at least one line to buy.", "lines")
    if not isinstance(raw_lines, list):
        raise CheckoutError(400, "invalid_request", "'lines' must be a list.", "lines")
    if len(raw_lines) > MAX_LINES:
        raise CheckoutError(
            400, "too_many_lines", f"A checkout holds at most {MAX_LINES} lines.", "lines"
        )
    lines = []
    for index, line in enumerate(raw_lines):
        where = f"lines.{index}"
        if not isinstance(line, Mapping):
            raise CheckoutError(
                400,
                "invalid_request",
                "Each line is an object with variant_id and quantity.",
                where,
            )
        variant_id = parse_variant_id(line.get("variant_id"), f"{where}.variant_id")
        quantity = parse_quantity(line.get("quantity", 1), maximum, f"{where}.quantity")
        lines.append(LineRequest(variant_id, quantity))
    return CheckoutInput(
        lines=lines,
        token=clean_token(data.get("st")),
        post_slug=clean_slug(data.get("post")),
        email=clean_email(data.get("email"), strict=True),
        promotion_code=clean_code(data.get("promotion_code"), strict=True),
    )


def _resolve_catalog_id(session: Session, text: str) -> int:
    """A variant id from a catalog item id: a SKU, ``variant-<id>``, or an id."""
    if not text or len(text) > _ID_TEXT_MAX:
        raise CheckoutError(
            400, "invalid_variant", "A product id in the link is empty or too long."
        )
    by_sku = session.scalar(select(Variant.id).where(Variant.sku == text))
    if by_sku is not None:
        return by_sku
    match = _FEED_ID_RE.match(text)
    if match:
        return int(match.group(1))
    if text.isdigit() and len(text) <= 12:
        return int(text)
    raise CheckoutError(
        422, "unknown_variant", f"There is no product {text!r} in this shop.", "products"
    )


def from_cart_query(session: Session, args: MultiDict[str, str], maximum: int) -> CheckoutInput:
    """The cart permalink: ``products=<id>:<qty>,...`` plus coupon, email and st."""
    products = args.get("products", "")
    if len(products) > _PRODUCTS_MAX:
        raise CheckoutError(400, "too_many_lines", "The products list is too long.", "products")
    items = [item.strip() for item in products.split(",") if item.strip()]
    if not items:
        raise CheckoutError(400, "empty_cart", "The link names no products to buy.", "products")
    if len(items) > MAX_LINES:
        raise CheckoutError(
            400, "too_many_lines", f"A checkout holds at most {MAX_LINES} different items."
        )
    lines = []
    for item in items:
        id_text, _, quantity_text = item.rpartition(":") if ":" in item else (item, "", "1")
        variant_id = _resolve_catalog_id(session, id_text.strip())
        quantity = parse_quantity(quantity_text or "1", maximum, "products")
        lines.append(LineRequest(variant_id, quantity))
    return CheckoutInput(
        lines=lines,
        token=clean_token(args.get("st")),
        email=clean_email(args.get("email"), strict=False),
        promotion_code=clean_code(args.get("coupon") or args.get("promotion_code"), strict=False),
    )
