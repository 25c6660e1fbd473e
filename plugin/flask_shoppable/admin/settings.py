"""Settings page: the shop's name, logo, accent colour, social handles and legal links.

Saved in the one :class:`~.models.ShopSettings` row, which the storefront, post and product
pages and embeds read through :func:`.shop.shop` (an empty name falls back to
``SHOPPABLE_SHOP_NAME``).
"""

from __future__ import annotations

import re
from typing import Any

from flask import g, redirect, render_template, request, url_for

from .. import db
from . import auth, bp, login_required
from .forms import Form
from .media import UploadError, save_image
from .messages import flash
from .models import ShopSettings
from .shop import SOCIAL_PROFILES

_COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
_HANDLE_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_URL_RE = re.compile(r"^https?://[^\s/$.?#][^\s]*$")
URL_FIELDS = (
    ("terms_url", "Terms of sale"),
    ("privacy_url", "Privacy policy"),
    ("returns_url", "Returns policy"),
)


def _initial(row: ShopSettings | None) -> dict[str, Any]:
    if row is None:
        return {}
    values: dict[str, Any] = {
        "name": row.name,
        "logo_url": row.logo_url,
        "accent_color": row.accent_color,
        "terms_url": row.terms_url,
        "privacy_url": row.privacy_url,
        "returns_url": row.returns_url,
        "contact_email": row.contact_email,
    }
    for network, handle in (row.social_handles or {}).items():
        values[f"handle_{network}"] = handle
    return values


def _check(form: Form) -> dict[str, Any]:
    """The row's new values; problems go beside their fields."""
    data: dict[str, Any] = {}
    name = form.text("name")
    if len(name) > 100:
        form.error("name", "Use at most 100 characters.")
    data["name"] = name
    logo = form.text("logo_url")
    if (
        logo
        and not (_URL_RE.match(logo) and logo.startswith("https://"))
        and logo != form.get("_current_logo")
    ):
        form.error("logo_url", "Enter an https:// address of an image, or upload one below.")
    elif len(logo) > 2000:
        form.error("logo_url", "Use at most 2000 characters.")
    data["logo_url"] = logo
    color = form.text("accent_color")
    if color and not _COLOR_RE.match(color):
        form.error("accent_color", "Enter a colour as #rrggbb, for example #4f46e5.")
    data["accent_color"] = color.lower()
    handles: dict[str, str] = {}
    for network, (label, _url) in SOCIAL_PROFILES.items():
        handle = form.text(f"handle_{network}").lstrip("@")
        if handle and not _HANDLE_RE.match(handle):
            form.error(
                f"handle_{network}",
                f"Enter the {label} handle only (letters, digits, . _ -), without the address.",
            )
        elif handle:
            handles[network] = handle
    data["social_handles"] = handles
    for key, label in URL_FIELDS:
        url = form.text(key)
        if url and (not _URL_RE.match(url) or len(url) > 2000):
            form.error(key, f"Enter the full address of your {label.lower()} (https://...).")
        data[key] = url
    email = form.text("contact_email")
    if email:
        problem = auth.email_problem(email)
        if problem:
            form.error("contact_email", problem)
    data["contact_email"] = email
    return data


@bp.route("/settings", methods=["GET", "POST"])
@login_required
def settings() -> Any:
    session = db.session()
    row = session.get(ShopSettings, 1)
    if request.method == "GET":
        form = Form(None, **_initial(row))
        return render_template("shoppable/admin/settings.html", form=form, row=row)
    form = Form(request.form, _current_logo=row.logo_url if row else "")
    data = _check(form)
    upload = request.files.get("logo")
    if form.ok and upload is not None and upload.filename:
        try:
            data["logo_url"] = save_image(upload)
        except UploadError as exc:
            form.error("logo", str(exc))
    if form.checked("remove_logo"):
        data["logo_url"] = ""
    if not form.ok:
        return render_template("shoppable/admin/settings.html", form=form, row=row), 422
    if row is None:
        row = ShopSettings(id=1)
        session.add(row)
    for key, value in data.items():
        setattr(row, key, value)
    session.commit()
    g.pop("_shoppable_shop", None)
    flash("Settings saved. The storefront shows them now.")
    return redirect(url_for(f"{bp.name}.settings"))
