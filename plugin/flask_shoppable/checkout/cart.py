"""What the shopper asked for, checked against the database and priced from it.

Input (a form, JSON, a cart permalink) becomes a list of :class:`LineRequest`; every
value is checked here so that each bad input gets its own clear message:

* a quantity is a whole number from 1 to ``SHOPPABLE_MAX_LINE_QUANTITY`` (after merging
  lines of the same variant), given as an int or decimal digits, never a bool or float;
* a variant exists, is active, and so is its product;
* all lines share one currency (a provider session has one), the first line's;
* there is enough stock (checked again, atomically, when it is taken).

Prices and titles come from the database only: nothing in the request is a price.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ..catalog.models import Variant
from ..money import MAX_AMOUNT
from .errors import CheckoutError

#: Stripe accepts at most 100 line items in a payment-mode session.
MAX_LINES = 100
#: Largest id a row can have (PostgreSQL ``integer``); anything larger names nothing.
MAX_ID = 2**31 - 1
_DIGITS = re.compile(r"\+?[0-9]{1,100}")


@dataclass(frozen=True)
class LineRequest:
    """A line as asked: a variant id and a quantity, both already whole numbers."""

    variant_id: int
    quantity: int


@dataclass(frozen=True)
class PricedLine:
    """A line priced from the database, ready to be held and sent to the provider."""

    variant_id: int
    product_id: int
    title: str
    sku: str | None
    unit_amount: int
    quantity: int
    requires_shipping: bool
    #: Whether the variant's stock is counted (NULL stock is unlimited).
    tracked: bool

    @property
    def amount(self) -> int:
        return self.unit_amount * self.quantity


@dataclass(frozen=True)
class Cart:
    """Priced lines in one currency, in the order the shopper gave them."""

    currency: str
    lines: tuple[PricedLine, ...]

    @property
    def subtotal(self) -> int:
        return sum(line.amount for line in self.lines)

    @property
    def requires_shipping(self) -> bool:
        return any(line.requires_shipping for line in self.lines)


def _whole_number(value: object) -> int | None:
    """``value`` as an int when it is one (or decimal digits), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        return int(value.strip())
    return None


def parse_quantity(value: object, maximum: int, field: str = "quantity") -> int:
    """A quantity from 1 to ``maximum``, or a 400 saying what is wrong with it."""
    if isinstance(value, str) and value.strip().startswith("-"):
        digits = _whole_number(value.strip()[1:])
        number = -digits if digits is not None else None
    else:
        number = _whole_number(value)
    if number is None:
        raise CheckoutError(
            400, "invalid_quantity", f"The quantity must be a whole number, got {value!r}.", field
        )
    if number < 1:
        raise CheckoutError(400, "invalid_quantity", "The quantity must be at least 1.", field)
    if number > maximum:
        raise CheckoutError(
            400,
            "invalid_quantity",
            f"The quantity must be at most {maximum} per item, got {number}.",
            field,
        )
    return number


def parse_variant_id(value: object, field: str = "variant_id") -> int:
    """A variant id (a positive whole number), or a 400."""
    number = _whole_number(value)
    if number is None or number < 1:
        raise CheckoutError(
            400, "invalid_variant", f"The variant must be given by its id, got {value!r}.", field
        )
    return number


def merge(lines: Iterable[LineRequest], maximum: int) -> list[LineRequest]:
    """One line per variant (quantities added, first position kept), within ``maximum``."""
    totals: dict[int, int] = {}
    for line in lines:
        totals[line.variant_id] = totals.get(line.variant_id, 0) + line.quantity
    merged = [LineRequest(variant_id, quantity) for variant_id, quantity in totals.items()]
    if not merged:
        raise CheckoutError(400, "empty_cart", "Choose at least one product to buy.", "lines")
    if len(merged) > MAX_LINES:
        raise CheckoutError(
            400, "too_many_lines", f"A checkout holds at most {MAX_LINES} different items.", "lines"
        )
    for line in merged:
        if line.quantity > maximum:
            raise CheckoutError(
                400,
                "invalid_quantity",
                f"The quantity must be at most {maximum} per item, got {line.quantity} "
                f"of variant {line.variant_id}.",
                "quantity",
            )
    return merged


def line_title(variant: Variant) -> str:
    """``"T-shirt - M / Red"``, or the product's title for its one default variant."""
    title = variant.product.title
    if variant.title != "Default":
        title = f"{title} - {variant.title}"
    return title[:520]


def price(session: Session, requests: Sequence[LineRequest], maximum: int) -> Cart:
    """Check ``requests`` against the database and price them (see the module's doc)."""
    merged = merge(requests, maximum)
    ids = [line.variant_id for line in merged if line.variant_id <= MAX_ID]
    variants = {
        v.id: v
        for v in session.scalars(
            select(Variant).where(Variant.id.in_(ids)).options(selectinload(Variant.product))
        )
    }
    currency = ""
    priced: list[PricedLine] = []
    for line in merged:
        variant = variants.get(line.variant_id)
        if variant is None:
            raise CheckoutError(
                422,
                "unknown_variant",
                f"There is no product variant {line.variant_id} in this shop.",
                "variant_id",
            )
        title = line_title(variant)
        if not variant.active or not variant.product.active:
            raise CheckoutError(
                422, "unavailable", f"{title} is no longer available.", "variant_id"
            )
        if not currency:
            currency = variant.currency
        elif variant.currency != currency:
            raise CheckoutError(
                422,
                "currency_mismatch",
                f"{title} is priced in {variant.currency} and the rest of the order in "
                f"{currency}; one checkout takes one currency, so buy it separately.",
                "variant_id",
            )
        if variant.stock is not None and variant.stock < line.quantity:
            raise out_of_stock(title, variant.stock)
        priced.append(
            PricedLine(
                variant_id=variant.id,
                product_id=variant.product_id,
                title=title,
                sku=variant.sku,
                unit_amount=variant.price_amount,
                quantity=line.quantity,
                requires_shipping=variant.requires_shipping,
                tracked=variant.stock is not None,
            )
        )
    cart = Cart(currency=currency, lines=tuple(priced))
    if cart.subtotal > MAX_AMOUNT:
        raise CheckoutError(400, "too_large", "This order is larger than the shop can take.")
    return cart


def out_of_stock(title: str, available: int) -> CheckoutError:
    """The 409 for a line the stock cannot cover."""
    if available <= 0:
        return CheckoutError(409, "out_of_stock", f"{title} is sold out.", "quantity")
    return CheckoutError(
        409,
        "out_of_stock",
        f"Only {available} of {title} left: lower the quantity and try again.",
        "quantity",
    )
