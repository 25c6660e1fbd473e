"""Marshmallow schemas of the catalog: the one place where input is validated.

The API validates request bodies with them (and flask-smorest turns them into the
OpenAPI document), the CSV importer validates each product it assembles with the same
:class:`ProductSchema`, so there is one set of rules and one set of messages. What a
loaded schema returns is what :mod:`.service` takes: plain dicts, money as
:class:`~flask_shoppable.money.Money`.

Checks that need the database (a SKU or handle already taken, the options of a stored
product) live in :mod:`.service`; everything else is here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    missing,
    post_load,
    pre_dump,
    validate,
    validates_schema,
)

from ..money import MAX_AMOUNT, Money, MoneyError, normalize_currency, to_decimal_string
from .models import MAX_OPTIONS, Variant

HANDLE_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
HANDLE_MAX = 255
SKU_MAX = 100
TEXT_MAX = 255


class StrictBoolean(fields.Boolean):
    """A JSON ``true``/``false`` only: marshmallow's Boolean also takes 1, "yes", "on"."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class QueryBoolean(fields.Boolean):
    """A query-string flag: ``true`` or ``false`` (also ``1``/``0``), nothing else."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(truthy={"true", "1"}, falsy={"false", "0"}, **kwargs)


class Text(fields.String):
    """A string without NUL characters, which PostgreSQL cannot store in text."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> str:
        text = str(super()._deserialize(value, attr, data, **kwargs))
        _no_nul(text)
        return text


def _no_nul(text: str) -> None:
    if "\x00" in text:
        raise ValidationError("Must not contain NUL characters.")


class StrippedString(Text):
    """A string with surrounding whitespace removed, so ``" "`` counts as empty."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> str:
        return super()._deserialize(value, attr, data, **kwargs).strip()


class Currency(Text):
    """An ISO 4217 code, upper-cased; an unknown code is refused naming the field."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return normalize_currency(text)
        except MoneyError as exc:
            raise ValidationError(str(exc)) from None


class OptionValues(fields.Dict):
    """A variant's ``{"Size": "M"}``; dumped from the model's option1..3 columns."""

    def get_value(self, obj: Any, attr: str, accessor: Any = None, default: Any = missing) -> Any:
        if isinstance(obj, Variant):
            return obj.options_dict
        return super().get_value(obj, attr, accessor=accessor, default=default)


def _not_blank(value: str) -> None:
    if not value:
        raise ValidationError("Must not be blank.")


class WholeSchema(Schema):
    """A nested value that is always given whole, even inside a PATCH.

    marshmallow passes ``partial`` down to nested schemas, which would let
    ``{"price": {"amount": 5}}`` through without a currency; this puts the required
    fields back.
    """

    class Meta:
        unknown = RAISE

    @validates_schema
    def _required_even_if_partial(self, data: dict[str, Any], **kwargs: Any) -> None:
        absent = {
            name: ["Missing data for required field."]
            for name, field in self.load_fields.items()
            if field.required and (field.attribute or name) not in data
        }
        if absent:
            raise ValidationError(absent)


class MoneySchema(WholeSchema):
    """An amount in minor units (1999 is 19.99 USD) and its currency."""

    amount = fields.Integer(
        strict=True,
        required=True,
        validate=validate.Range(min=0, max=MAX_AMOUNT),
        metadata={"description": "Integer minor units: 1999 means 19.99 in USD.", "example": 1999},
    )
    currency = Currency(required=True, metadata={"description": "ISO 4217 code.", "example": "USD"})
    formatted = fields.String(
        dump_only=True,
        metadata={"description": "The amount in major units as text.", "example": "19.99"},
    )

    @post_load
    def to_money(self, data: dict[str, Any], **kwargs: Any) -> Money:
        return Money(data["amount"], data["currency"])

    @pre_dump
    def from_money(self, money: Money, **kwargs: Any) -> dict[str, Any]:
        return {
            "amount": money.amount,
            "currency": money.currency,
            "formatted": to_decimal_string(money.amount, money.currency),
        }


class ImageSchema(WholeSchema):
    url = fields.Url(
        required=True,
        schemes={"http", "https"},
        require_tld=False,
        validate=[validate.Length(max=2048), _no_nul],
    )
    alt = Text(load_default="", validate=validate.Length(max=512))


class VariantSchema(Schema):
    """A variant as read, and as written when created."""

    class Meta:
        unknown = RAISE

    id = fields.Integer(dump_only=True)
    product_id = fields.Integer(dump_only=True)
    title = fields.String(dump_only=True, metadata={"description": '"M / Red", or "Default".'})
    sku = StrippedString(
        allow_none=True,
        validate=[validate.Length(max=SKU_MAX), _not_blank],
        metadata={"description": "Unique across the shop when given; null for none."},
    )
    options = OptionValues(
        keys=Text(),
        values=StrippedString(validate=[validate.Length(max=TEXT_MAX), _not_blank]),
        metadata={
            "description": "A value for each of the product's option names, "
            'e.g. {"Size": "M"}; empty (or left out) when the product has no options.'
        },
    )
    price = fields.Nested(MoneySchema, required=True)
    compare_at_price = fields.Nested(
        MoneySchema,
        allow_none=True,
        metadata={"description": "The 'was' price; same currency as price."},
    )
    stock = fields.Integer(
        strict=True,
        allow_none=True,
        validate=validate.Range(min=0, max=2**31 - 1),
        metadata={"description": "Units on hand; null means not tracked (unlimited)."},
    )
    in_stock = fields.Boolean(dump_only=True)
    requires_shipping = StrictBoolean()
    active = StrictBoolean()
    position = fields.Integer(strict=True, validate=validate.Range(min=0, max=2**31 - 1))
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)

    @validates_schema
    def _compare_at_currency(self, data: dict[str, Any], **kwargs: Any) -> None:
        price, compare_at = data.get("price"), data.get("compare_at_price")
        if price is not None and compare_at is not None and price.currency != compare_at.currency:
            raise ValidationError(
                f"Must be in the price's currency ({price.currency}).",
                "compare_at_price",
            )


class VariantUpdateSchema(VariantSchema):
    """PATCH of a variant: any subset of the writable fields."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("partial", True)
        super().__init__(**kwargs)


def _option_names(names: list[str]) -> None:
    if len(set(names)) != len(names):
        raise ValidationError("Option names must be distinct.")


class ProductBaseSchema(Schema):
    """The product's own fields, without its variants."""

    class Meta:
        unknown = RAISE

    id = fields.Integer(dump_only=True)
    handle = Text(
        validate=[
            validate.Length(min=1, max=HANDLE_MAX),
            validate.Regexp(
                HANDLE_RE,
                error="Must be lowercase letters, digits and hyphens, e.g. 'red-shirt'.",
            ),
        ],
        metadata={"description": "URL name; made from the title when left out."},
    )
    title = StrippedString(required=True, validate=[validate.Length(max=TEXT_MAX), _not_blank])
    description = Text(validate=validate.Length(max=100_000))
    vendor = StrippedString(validate=validate.Length(max=TEXT_MAX))
    product_type = StrippedString(validate=validate.Length(max=TEXT_MAX))
    tags = fields.List(
        StrippedString(validate=[validate.Length(max=TEXT_MAX), _not_blank]),
        validate=validate.Length(max=250),
    )
    images = fields.List(fields.Nested(ImageSchema), validate=validate.Length(max=250))
    options = fields.List(
        StrippedString(validate=[validate.Length(max=TEXT_MAX), _not_blank]),
        validate=[validate.Length(max=MAX_OPTIONS), _option_names],
        metadata={"description": f"Up to {MAX_OPTIONS} distinct option names, e.g. ['Size']."},
    )
    active = StrictBoolean()
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)

    @post_load
    def _dedupe_tags(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if "tags" in data:
            data["tags"] = list(dict.fromkeys(data["tags"]))
        return data


class ProductSchema(ProductBaseSchema):
    """A product with its variants: as read, and as written when created."""

    variants = fields.List(
        fields.Nested(VariantSchema),
        required=True,
        validate=validate.Length(min=1, max=1000),
        metadata={"description": "At least one; exactly one when the product has no options."},
    )

    @validates_schema(skip_on_field_errors=False, pass_original=True)
    def _variants_match_options(
        self, data: dict[str, Any], original_data: Any, **kwargs: Any
    ) -> None:
        # Runs even when some fields failed, so that one pass reports every problem (the
        # importer lists every bad row at once); variants that did not load whole are
        # left out of the comparisons, their own errors already say what is wrong.
        raw = original_data.get("variants") if isinstance(original_data, Mapping) else None
        variants = data.get("variants")
        if not isinstance(raw, list) or not isinstance(variants, list):
            return
        if len(raw) != len(variants):
            return
        given_names = original_data.get("options")
        if given_names is not None and len(data.get("options", [])) != len(given_names):
            return  # bad option names: nothing to compare the values with
        whole = [_loaded_whole(v, r) for v, r in zip(variants, raw, strict=True)]
        errors = check_variants(data.get("options", []), variants, whole)
        if errors:
            raise ValidationError({"variants": errors})


def _loaded_whole(loaded: Any, raw: Any) -> bool:
    """Whether a variant loaded without field errors (marshmallow drops failed fields)."""
    if not isinstance(raw, Mapping) or not isinstance(loaded, Mapping):
        return False
    if any(key not in loaded for key in raw):
        return False
    if "price" in raw and not isinstance(loaded["price"], Money):
        return False
    options = raw.get("options")
    return not isinstance(options, Mapping) or len(loaded["options"]) == len(options)


class ProductUpdateSchema(ProductBaseSchema):
    """PATCH of a product: any subset of its own fields (variants have their routes)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("partial", True)
        super().__init__(**kwargs)


def option_errors(names: list[str], values: dict[str, str] | None) -> list[str]:
    """What is wrong with a variant's option values for a product with option ``names``."""
    given = values or {}
    if not names:
        return ["Must be empty: the product has no options."] if given else []
    problems = []
    missing_names = [n for n in names if n not in given]
    if missing_names:
        problems.append(f"Missing a value for {', '.join(map(repr, missing_names))}.")
    extra = [n for n in given if n not in names]
    if extra:
        problems.append(
            f"Unknown option {', '.join(map(repr, extra))}: the product's options are "
            f"{', '.join(map(repr, names))}."
        )
    return problems


def check_variants(
    names: list[str], variants: list[dict[str, Any]], whole: list[bool] | None = None
) -> dict[int, Any]:
    """Cross-variant rules of one product, as marshmallow-style errors keyed by index.

    Option values fit the option names; no two variants share option values or a SKU;
    a product without options has exactly one variant. Variants whose ``whole`` is
    False (they failed field validation) are not compared.
    """
    errors: dict[int, dict[str, list[str]]] = {}

    def add(index: int, field: str, message: str) -> None:
        errors.setdefault(index, {}).setdefault(field, []).append(message)

    if not names and len(variants) > 1:
        add(1, "options", "A product without options has exactly one variant: add options.")
    seen_values: dict[tuple[str, ...], int] = {}
    seen_skus: dict[str, int] = {}
    for index, variant in enumerate(variants):
        if whole is not None and not whole[index]:
            continue
        problems = option_errors(names, variant.get("options"))
        for problem in problems:
            add(index, "options", problem)
        if names and not problems:
            key = tuple(variant["options"][n] for n in names)
            if key in seen_values:
                add(index, "options", f"Same option values as variant {seen_values[key]}.")
            seen_values.setdefault(key, index)
        sku = variant.get("sku")
        if sku is not None:
            if sku in seen_skus:
                add(index, "sku", f"Duplicate SKU {sku!r}: also on variant {seen_skus[sku]}.")
            seen_skus.setdefault(sku, index)
    return errors


class ProductQuerySchema(Schema):
    """Filters of ``GET /products``."""

    active = QueryBoolean(metadata={"description": "true or false."})
    sku = Text(metadata={"description": "Products with a variant of exactly this SKU."})
    q = Text(
        validate=validate.Length(min=1, max=TEXT_MAX),
        metadata={
            "description": "Text found (case-insensitive) in the title, handle, vendor, tags "
            "or description."
        },
    )


class VariantQuerySchema(Schema):
    """Filters of ``GET /variants``."""

    sku = Text(metadata={"description": "Exact SKU."})
    active = QueryBoolean(metadata={"description": "true or false."})
    product_id = fields.Integer(validate=validate.Range(min=1))
