"""Products and variants: list, create, edit, stock, active.

Every write goes through the catalog's own schemas and service (the API's rules, not a
copy of them): the page turns the form into the schema's input (decimal prices to minor
units, "S / Red" to option values), loads it with the schema and calls the service; the
schema's and service's messages are shown beside the fields they name.
"""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, redirect, render_template, request, url_for
from sqlalchemy import func, select

from .. import db
from ..catalog import service
from ..catalog.models import Product, Variant
from ..catalog.schemas import ProductSchema, ProductUpdateSchema, VariantSchema, VariantUpdateSchema
from ..money import CURRENCY_EXPONENTS, MoneyError, parse_decimal, to_decimal_string
from . import bp, login_required
from .forms import Form
from .listing import paginate
from .media import UploadError, save_image
from .messages import flash


def absolute_path(path: str) -> str:
    base = current_app.config["SHOPPABLE_PUBLIC_URL"] or request.host_url.rstrip("/")
    return f"{base}{path}"


#: Variant rows on the new-product form (more are added on the product's page).
NEW_VARIANT_ROWS = 3
PAGE_SIZE = 50
PRODUCT_FIELDS = ("title", "handle", "description", "vendor", "product_type", "tags", "options")
VARIANT_FIELDS = ("options", "sku", "price", "compare_at_price", "stock", "active")


def _currencies() -> list[tuple[str, str]]:
    return [(code, code) for code in sorted(CURRENCY_EXPONENTS)]


def _split(text: str, sep: str = ",") -> list[str]:
    return [part.strip() for part in text.split(sep) if part.strip()]


def _money(form: Form, name: str, currency: str, required: bool) -> dict[str, Any] | None:
    """``{"amount", "currency"}`` from decimal text, or None (an error noted when bad)."""
    text = form.text(name)
    if not text:
        if required:
            form.error(name, "Enter a price, for example 19.99.")
        return None
    try:
        return {"amount": parse_decimal(text, currency), "currency": currency}
    except MoneyError as exc:
        form.error(name, f"{exc} (for example 19.99)")
        return None


def _stock(form: Form, name: str) -> tuple[bool, int | None]:
    """(ok, stock): empty means not tracked (None)."""
    text = form.text(name)
    if not text:
        return True, None
    if not text.isdigit():
        form.error(name, "Enter a whole number of units (0 or more), or leave empty to not track.")
        return False, None
    return True, int(text)


def _variant_input(
    form: Form, prefix: str, names: list[str], currency: str, creating: bool
) -> dict[str, Any]:
    """The VariantSchema input of one row (``prefix`` is ``variants-0`` or ``v12``)."""
    raw: dict[str, Any] = {}
    if creating or form.text(f"{prefix}-options"):
        values = _split(form.text(f"{prefix}-options"), "/")
        if names and len(values) != len(names):
            form.error(
                f"{prefix}-options",
                f"Give one value for each option ({' / '.join(names)}), separated by /.",
            )
        elif names:
            raw["options"] = dict(zip(names, values, strict=True))
    sku = form.text(f"{prefix}-sku")
    raw["sku"] = sku or None
    price = _money(form, f"{prefix}-price", currency, required=True)
    if price is not None:
        raw["price"] = price
    raw["compare_at_price"] = _money(form, f"{prefix}-compare_at_price", currency, required=False)
    ok, stock = _stock(form, f"{prefix}-stock")
    if ok:
        raw["stock"] = stock
    raw["active"] = form.checked(f"{prefix}-active")
    return raw


def _image(form: Form) -> list[dict[str, str]] | None:
    """The product's image list from the form (an upload wins over a typed address)."""
    upload = request.files.get("image")
    alt = form.text("image_alt")
    if upload is not None and upload.filename:
        try:
            path = save_image(upload)
        except UploadError as exc:
            form.error("image", str(exc))
            return None
        # ImageSchema takes absolute URLs; the public one is where shoppers load it.
        return [{"url": absolute_path(path), "alt": alt}]
    url = form.text("image_url")
    return [{"url": url, "alt": alt}] if url else []


# --- list ---------------------------------------------------------------------------------


@bp.get("/products")
@login_required
def products() -> str:
    session = db.session()
    query = request.args.get("q", "").strip()[:200]
    stmt = service.select_products(q=query or None)
    newest_first = stmt.order_by(None).order_by(Product.id.desc())
    page = paginate(session, newest_first, size=PAGE_SIZE)
    return render_template(
        "shoppable/admin/products.html",
        products=page.rows,
        total=page.total,
        page=page,
        q=query,
        summary=_summary,
    )


def _summary(product: Product) -> dict[str, Any]:
    variants = product.variants
    prices = sorted({(v.price_amount, v.currency) for v in variants})
    if not prices:
        price = "—"
    elif len(prices) == 1:
        price = f"{to_decimal_string(*prices[0])} {prices[0][1]}"
    else:
        low, high = prices[0], prices[-1]
        price = f"{to_decimal_string(*low)} to {to_decimal_string(*high)} {high[1]}"
    tracked = [v.stock for v in variants if v.stock is not None]
    stock = "not tracked" if not tracked else str(sum(tracked))
    image = product.images[0]["url"] if product.images else ""
    return {"price": price, "stock": stock, "variants": len(variants), "image": image}


# --- create ---------------------------------------------------------------------------


def _new_form_fields() -> set[str]:
    names = set(PRODUCT_FIELDS) | {"image", "image_url", "image_alt", "active", "currency"}
    for i in range(NEW_VARIANT_ROWS):
        names |= {f"variants-{i}-{f}" for f in VARIANT_FIELDS}
    return names


@bp.route("/products/new", methods=["GET", "POST"])
@login_required
def products_new() -> Any:
    currency = current_app.config["SHOPPABLE_DEFAULT_CURRENCY"]
    if request.method == "GET":
        form = Form(None, currency=currency, active="on")
        for i in range(NEW_VARIANT_ROWS):
            form.values[f"variants-{i}-active"] = "on"
        return _render_new(form)
    form = Form(request.form)
    currency = form.text("currency").upper() or currency
    names = _split(form.text("options"))
    raw: dict[str, Any] = {
        "title": form.text("title"),
        "description": form.get("description", ""),
        "vendor": form.text("vendor"),
        "product_type": form.text("product_type"),
        "tags": _split(form.text("tags")),
        "options": names,
        "active": form.checked("active"),
    }
    if form.text("handle"):
        raw["handle"] = form.text("handle")
    variants = []
    for i in range(NEW_VARIANT_ROWS):
        prefix = f"variants-{i}"
        filled = any(form.text(f"{prefix}-{f}") for f in VARIANT_FIELDS if f != "active")
        if filled or i == 0:
            variants.append(_variant_input(form, prefix, names, currency, creating=True))
    raw["variants"] = variants
    images = _image(form) if form.ok else None
    if images is not None:
        raw["images"] = images
    product = form.run(
        lambda: service.create_product(db.session(), ProductSchema().load(raw)),
        fields=_new_form_fields(),
    )
    if product is None:
        return _render_new(form), 422
    flash(f"Product “{product.title}” created with {len(product.variants)} variant(s).")
    return redirect(url_for(f"{bp.name}.products_edit", product_id=product.id))


def _render_new(form: Form) -> str:
    return render_template(
        "shoppable/admin/product_new.html",
        form=form,
        rows=range(NEW_VARIANT_ROWS),
        currencies=_currencies(),
    )


# --- edit -----------------------------------------------------------------------------


def _load(product_id: int) -> Product:
    try:
        return service.get_product(db.session(), product_id)
    except service.CatalogError:
        abort(404)


def _edit_values(product: Product) -> dict[str, Any]:
    image = product.images[0] if product.images else {}
    values: dict[str, Any] = {
        "title": product.title,
        "handle": product.handle,
        "description": product.description,
        "vendor": product.vendor,
        "product_type": product.product_type,
        "tags": ", ".join(product.tags or []),
        "options": ", ".join(product.options or []),
        "active": "on" if product.active else "",
        "image_url": image.get("url", ""),
        "image_alt": image.get("alt", ""),
    }
    for v in product.variants:
        p = f"v{v.id}"
        values[f"{p}-options"] = " / ".join(v.option_values) if product.options else ""
        values[f"{p}-sku"] = v.sku or ""
        values[f"{p}-price"] = to_decimal_string(v.price_amount, v.currency)
        values[f"{p}-compare_at_price"] = (
            to_decimal_string(v.compare_at_amount, v.currency) if v.compare_at_amount else ""
        )
        values[f"{p}-stock"] = "" if v.stock is None else str(v.stock)
        values[f"{p}-active"] = "on" if v.active else ""
    values["new-active"] = "on"
    return values


def _render_edit(product: Product, form: Form, status: int = 200) -> tuple[str, int]:
    return render_template(
        "shoppable/admin/product_edit.html",
        product=product,
        form=form,
        currency=product.variants[0].currency
        if product.variants
        else current_app.config["SHOPPABLE_DEFAULT_CURRENCY"],
        storefront_url=url_for("shoppable_pages.product", handle=product.handle),
    ), status


def _form_for(product: Product, prefix: str = "") -> Form:
    """The page's values, with the submitted fields (those starting with ``prefix``) on top."""
    form = Form(None, **_edit_values(product))
    for key in request.form:
        if not prefix or key.startswith(prefix):
            form.values[key] = request.form[key]
    if prefix:
        # Unchecked boxes send nothing: take the submission's word for its own row.
        form.values[f"{prefix}active"] = request.form.get(f"{prefix}active", "")
    return form


@bp.route("/products/<int:product_id>", methods=["GET", "POST"])
@login_required
def products_edit(product_id: int) -> Any:
    product = _load(product_id)
    if request.method == "GET":
        return _render_edit(product, Form(None, **_edit_values(product)))
    form = Form(None, **_edit_values(product))
    form.values.update({k: request.form[k] for k in request.form})
    form.values["active"] = request.form.get("active", "")
    raw: dict[str, Any] = {
        "title": form.text("title"),
        "handle": form.text("handle"),
        "description": form.get("description", ""),
        "vendor": form.text("vendor"),
        "product_type": form.text("product_type"),
        "tags": _split(form.text("tags")),
        "options": _split(form.text("options")),
        "active": form.checked("active"),
    }
    images = _image(form)
    if images is not None:
        raw["images"] = images
    fields = set(PRODUCT_FIELDS) | {"image", "image_url", "image_alt", "active"}
    form.run(
        lambda: service.update_product(db.session(), product, ProductUpdateSchema().load(raw)),
        fields=fields,
    )
    if not form.ok:
        return _render_edit(_load(product_id), form, 422)
    flash("Product saved.")
    return redirect(url_for(f"{bp.name}.products_edit", product_id=product.id))


def _variant_of(product: Product, variant_id: int) -> Variant:
    for variant in product.variants:
        if variant.id == variant_id:
            return variant
    abort(404)


@bp.post("/products/<int:product_id>/variants/<int:variant_id>")
@login_required
def products_variant(product_id: int, variant_id: int) -> Any:
    """Save one variant's row: price, compare-at, SKU, stock, active (and option values)."""
    product = _load(product_id)
    variant = _variant_of(product, variant_id)
    prefix = f"v{variant.id}"
    form = _form_for(product, f"{prefix}-")
    raw = _variant_input(form, prefix, product.options, variant.currency, creating=False)
    if not raw.get("compare_at_price"):
        raw["compare_at_price"] = None
    fields = {f"{prefix}-{f}" for f in VARIANT_FIELDS}
    form.run(
        lambda: service.update_variant(db.session(), variant, VariantUpdateSchema().load(raw)),
        fields=fields,
        prefix=prefix,
    )
    if not form.ok:
        return _render_edit(_load(product_id), form, 422)
    flash(f"Variant {variant.title} saved.")
    return redirect(
        url_for(f"{bp.name}.products_edit", product_id=product.id) + f"#variant-{variant.id}"
    )


@bp.post("/products/<int:product_id>/variants/new")
@login_required
def products_variant_new(product_id: int) -> Any:
    product = _load(product_id)
    form = _form_for(product, "new-")
    currency = product.variants[0].currency if product.variants else form.text("new-currency")
    raw = _variant_input(form, "new", product.options, currency, creating=True)
    if raw.get("compare_at_price") is None:
        raw.pop("compare_at_price", None)
    fields = {f"new-{f}" for f in VARIANT_FIELDS}
    variant = form.run(
        lambda: service.add_variant(db.session(), product, VariantSchema().load(raw)),
        fields=fields,
        prefix="new",
    )
    if variant is None:
        return _render_edit(_load(product_id), form, 422)
    flash(f"Variant {variant.title} added.")
    return redirect(url_for(f"{bp.name}.products_edit", product_id=product.id))


@bp.post("/products/<int:product_id>/variants/<int:variant_id>/delete")
@login_required
def products_variant_delete(product_id: int, variant_id: int) -> Any:
    product = _load(product_id)
    variant = _variant_of(product, variant_id)
    session = db.session()
    try:
        service.delete_variant(session, variant)
    except service.CatalogError as exc:
        session.rollback()
        flash(exc.message, "error")
    else:
        flash("Variant deleted.")
    return redirect(url_for(f"{bp.name}.products_edit", product_id=product_id))


@bp.post("/products/<int:product_id>/delete")
@login_required
def products_delete(product_id: int) -> Any:
    product = _load(product_id)
    title = product.title
    service.delete_product(db.session(), product)
    flash(f"Product “{title}” deleted.")
    return redirect(url_for(f"{bp.name}.products"))


def product_choices() -> list[tuple[int, str]]:
    """(id, title) of every product, for pickers on other pages."""
    session = db.session()
    rows = session.execute(select(Product.id, Product.title).order_by(func.lower(Product.title)))
    return [(row.id, row.title) for row in rows]
