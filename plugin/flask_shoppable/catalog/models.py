"""Catalog models: products and their variants, as merchants know them from Shopify.

A product has up to three option names (``["Size", "Colour"]``); each variant gives a
value for each (``option1..option3``; an unused position holds ``""``). A product with
no options has exactly one variant, the default one, with no option values. Prices are
integer minor units with an ISO 4217 currency; stock is a count, or NULL for unlimited.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base, UTCDateTime, utcnow
from ..money import Money, to_decimal_string

MAX_OPTIONS = 3


class Product(Base):
    __tablename__ = "shoppable_product"

    id: Mapped[int] = mapped_column(primary_key=True)
    handle: Mapped[str] = mapped_column(String(255), unique=True)
    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    vendor: Mapped[str] = mapped_column(String(255), default="")
    product_type: Mapped[str] = mapped_column(String(255), default="")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: ``[{"url": ..., "alt": ...}, ...]``, the first is the main image.
    images: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    #: Option names in order, at most three.
    options: Mapped[list[str]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    variants: Mapped[list[Variant]] = relationship(
        back_populates="product",
        cascade="all, delete-orphan",
        order_by="Variant.position, Variant.id",
        lazy="selectin",
    )


class Variant(Base):
    __tablename__ = "shoppable_variant"
    __table_args__ = (
        UniqueConstraint("product_id", "option1", "option2", "option3"),
        CheckConstraint("price_amount >= 0", name="price_not_negative"),
        CheckConstraint(
            "compare_at_amount IS NULL OR compare_at_amount >= 0", name="compare_at_not_negative"
        ),
        CheckConstraint("stock IS NULL OR stock >= 0", name="stock_not_negative"),
        Index("ix_shoppable_variant_product_position", "product_id", "position"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("shoppable_product.id", ondelete="CASCADE"))
    #: Unique when given; NULL for a variant without one (both backends allow many NULLs).
    sku: Mapped[str | None] = mapped_column(String(100), unique=True)
    option1: Mapped[str] = mapped_column(String(255), default="")
    option2: Mapped[str] = mapped_column(String(255), default="")
    option3: Mapped[str] = mapped_column(String(255), default="")
    price_amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    compare_at_amount: Mapped[int | None] = mapped_column(BigInteger)
    #: Units on hand; NULL means the variant is not stock-tracked (unlimited).
    stock: Mapped[int | None] = mapped_column(Integer)
    requires_shipping: Mapped[bool] = mapped_column(Boolean, default=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    product: Mapped[Product] = relationship(back_populates="variants")

    @property
    def option_values(self) -> list[str]:
        """The values for the product's options, in order."""
        values = [self.option1, self.option2, self.option3]
        return values[: len(self.product.options)]

    @property
    def options_dict(self) -> dict[str, str]:
        return dict(zip(self.product.options, self.option_values, strict=True))

    @property
    def title(self) -> str:
        """``"M / Red"``, or ``"Default"`` for the one variant of a product without options."""
        values = [v for v in self.option_values if v]
        return " / ".join(values) if values else "Default"

    @property
    def price(self) -> Money:
        return Money(self.price_amount, self.currency)

    @property
    def compare_at_price(self) -> Money | None:
        """The 'was' price, in the variant's currency, or None."""
        if self.compare_at_amount is None:
            return None
        return Money(self.compare_at_amount, self.currency)

    @property
    def price_text(self) -> str:
        return to_decimal_string(self.price_amount, self.currency)

    @property
    def unlimited(self) -> bool:
        return self.stock is None

    @property
    def in_stock(self) -> bool:
        return self.stock is None or self.stock > 0
