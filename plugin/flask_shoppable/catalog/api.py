"""Merchant API for the catalog: products and variants.

Routes (under ``<prefix>/api``, behind API keys, see :mod:`flask_shoppable.api.base`):
``GET|POST /products``, ``GET|PATCH|DELETE /products/<id>``,
``GET|POST /products/<id>/variants``, ``GET /variants``,
``GET|PATCH|DELETE /variants/<id>``. Bodies are validated by :mod:`.schemas`, writes go
through :mod:`.service`; its :class:`~.service.CatalogError` becomes an API error with
the field messages under ``errors.json``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from flask import url_for
from flask.views import MethodView
from flask_smorest.pagination import PaginationParameters

from .. import db
from ..api import abort, json_bodies_only
from . import service
from .models import Product, Variant
from .pagination import ConfiguredPaginationBlueprint, page_of
from .schemas import (
    ProductQuerySchema,
    ProductSchema,
    ProductUpdateSchema,
    VariantQuerySchema,
    VariantSchema,
    VariantUpdateSchema,
)

P = ParamSpec("P")
R = TypeVar("R")

blp = ConfiguredPaginationBlueprint(
    "shoppable_catalog", __name__, description="Products and variants."
)

_CONFLICT = "A handle, SKU or option values already in use, or a rule of the stored product."


json_bodies_only(blp)


def _catalog_errors(view: Callable[P, R]) -> Callable[P, R]:
    """Turn the service's CatalogError into the API's error shape."""

    @wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return view(*args, **kwargs)
        except service.CatalogError as exc:
            errors = {"json": exc.errors} if exc.errors else None
            abort(exc.status, exc.message, errors=errors)

    return wrapper


@blp.route("/products", endpoint="products")
class Products(MethodView):
    @blp.arguments(ProductQuerySchema, location="query")
    @blp.response(200, ProductSchema(many=True))
    @blp.paginate()
    def get(
        self, filters: dict[str, Any], pagination_parameters: PaginationParameters
    ) -> list[Product]:
        """List products.

        Filters: active, sku (exact SKU of one of its variants), q (text). Paginated:
        page (from 1) and page_size (default SHOPPABLE_API_PAGE_SIZE, at most
        SHOPPABLE_API_MAX_PAGE_SIZE); the X-Pagination header carries the totals.
        """
        stmt = service.select_products(**filters)
        return page_of(db.session(), stmt, pagination_parameters)

    @blp.arguments(ProductSchema)
    @blp.response(201, ProductSchema, headers={"Location": {"schema": {"type": "string"}}})
    @blp.alt_response(409, schema="Error", description=_CONFLICT)
    @_catalog_errors
    def post(self, data: dict[str, Any]) -> tuple[Product, int, dict[str, str]]:
        """Create a product with its variants.

        The handle is made from the title when left out (suffixed -2, -3... if taken).
        """
        product = service.create_product(db.session(), data)
        location = url_for(".product", product_id=product.id)
        return product, 201, {"Location": location}


@blp.route("/products/<int:product_id>", endpoint="product")
class ProductById(MethodView):
    @blp.response(200, ProductSchema)
    @blp.alt_response(404, schema="Error", description="No such id.")
    @_catalog_errors
    def get(self, product_id: int) -> Product:
        """Get a product and its variants."""
        return service.get_product(db.session(), product_id)

    @blp.arguments(ProductUpdateSchema)
    @blp.response(200, ProductSchema)
    @blp.alt_response(404, schema="Error", description="No such id.")
    @blp.alt_response(409, schema="Error", description=_CONFLICT)
    @_catalog_errors
    def patch(self, data: dict[str, Any], product_id: int) -> Product:
        """Change some of a product's fields.

        Options may be renamed, not added or removed (the variants hold a value for each).
        """
        session = db.session()
        return service.update_product(session, service.get_product(session, product_id), data)

    @blp.response(204)
    @blp.alt_response(404, schema="Error", description="No such id.")
    @_catalog_errors
    def delete(self, product_id: int) -> None:
        """Delete a product and its variants."""
        session = db.session()
        service.delete_product(session, service.get_product(session, product_id))


@blp.route("/products/<int:product_id>/variants", endpoint="product_variants")
class ProductVariants(MethodView):
    @blp.response(200, VariantSchema(many=True))
    @blp.alt_response(404, schema="Error", description="No such id.")
    @_catalog_errors
    def get(self, product_id: int) -> list[Variant]:
        """List a product's variants, in position order."""
        return list(service.get_product(db.session(), product_id).variants)

    @blp.arguments(VariantSchema)
    @blp.response(201, VariantSchema, headers={"Location": {"schema": {"type": "string"}}})
    @blp.alt_response(404, schema="Error", description="No such id.")
    @blp.alt_response(409, schema="Error", description=_CONFLICT)
    @_catalog_errors
    def post(self, data: dict[str, Any], product_id: int) -> tuple[Variant, int, dict[str, str]]:
        """Add a variant to a product that has options."""
        session = db.session()
        variant = service.add_variant(session, service.get_product(session, product_id), data)
        return variant, 201, {"Location": url_for(".variant", variant_id=variant.id)}


@blp.route("/variants", endpoint="variants")
class Variants(MethodView):
    @blp.arguments(VariantQuerySchema, location="query")
    @blp.response(200, VariantSchema(many=True))
    @blp.paginate()
    def get(
        self, filters: dict[str, Any], pagination_parameters: PaginationParameters
    ) -> list[Variant]:
        """List variants of every product.

        Filters: sku (exact), active, product_id. Paginated like GET /products.
        """
        stmt = service.select_variants(**filters)
        return page_of(db.session(), stmt, pagination_parameters)


@blp.route("/variants/<int:variant_id>", endpoint="variant")
class VariantById(MethodView):
    @blp.response(200, VariantSchema)
    @blp.alt_response(404, schema="Error", description="No such id.")
    @_catalog_errors
    def get(self, variant_id: int) -> Variant:
        """Get a variant."""
        return service.get_variant(db.session(), variant_id)

    @blp.arguments(VariantUpdateSchema)
    @blp.response(200, VariantSchema)
    @blp.alt_response(404, schema="Error", description="No such id.")
    @blp.alt_response(409, schema="Error", description=_CONFLICT)
    @_catalog_errors
    def patch(self, data: dict[str, Any], variant_id: int) -> Variant:
        """Change some of a variant's fields."""
        session = db.session()
        return service.update_variant(session, service.get_variant(session, variant_id), data)

    @blp.response(204)
    @blp.alt_response(404, schema="Error", description="No such id.")
    @blp.alt_response(409, schema="Error", description="The product's last variant.")
    @_catalog_errors
    def delete(self, variant_id: int) -> None:
        """Delete a variant (not the last one of its product)."""
        session = db.session()
        service.delete_variant(session, service.get_variant(session, variant_id))
