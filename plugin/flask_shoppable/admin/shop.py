"""The shop's look as pages use it: the ShopSettings row over the configuration.

``shop()`` (the ``shoppable_shop()`` template global) gives the name (falling back to
``SHOPPABLE_SHOP_NAME``), logo, accent colour, social profiles and legal links, read once
per request. The storefront, post pages, product pages and embeds use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app, g
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from .. import db
from .models import ShopSettings

#: Networks a merchant can give a handle for, and the profile URL each makes.
SOCIAL_PROFILES = {
    "instagram": ("Instagram", "https://www.instagram.com/{}"),
    "tiktok": ("TikTok", "https://www.tiktok.com/@{}"),
    "facebook": ("Facebook", "https://www.facebook.com/{}"),
    "x": ("X", "https://x.com/{}"),
    "youtube": ("YouTube", "https://www.youtube.com/@{}"),
    "pinterest": ("Pinterest", "https://www.pinterest.com/{}"),
}


@dataclass(frozen=True)
class Profile:
    network: str
    label: str
    handle: str
    url: str


@dataclass(frozen=True)
class Shop:
    name: str
    logo_url: str = ""
    accent_color: str = ""
    profiles: tuple[Profile, ...] = ()
    terms_url: str = ""
    privacy_url: str = ""
    returns_url: str = ""
    contact_email: str = ""
    handles: dict[str, str] = field(default_factory=dict)

    @property
    def initial(self) -> str:
        return self.name[:1].upper()

    @property
    def accent_strong(self) -> str:
        """The accent darkened by a fifth (hover, pressed)."""
        return _mix(self.accent_color, (0, 0, 0), 0.2)

    @property
    def accent_soft(self) -> str:
        """The accent as a light tint (backgrounds)."""
        return _mix(self.accent_color, (255, 255, 255), 0.92)

    @property
    def legal_links(self) -> list[tuple[str, str]]:
        links = [
            ("Terms", self.terms_url),
            ("Privacy", self.privacy_url),
            ("Returns", self.returns_url),
        ]
        return [(label, url) for label, url in links if url]


def _mix(color: str, other: tuple[int, int, int], share: float) -> str:
    """``#rrggbb`` mixed with ``other`` (``share`` of it); "" when there is no colour."""
    if len(color) != 7:
        return ""
    rgb = [int(color[i : i + 2], 16) for i in (1, 3, 5)]
    mixed = [round(c * (1 - share) + o * share) for c, o in zip(rgb, other, strict=True)]
    return "#" + "".join(f"{c:02x}" for c in mixed)


def load_settings(session: Session) -> ShopSettings | None:
    return session.get(ShopSettings, 1)


def _build(row: ShopSettings | None) -> Shop:
    fallback = current_app.config["SHOPPABLE_SHOP_NAME"]
    if row is None:
        return Shop(name=fallback)
    handles = {k: v for k, v in (row.social_handles or {}).items() if k in SOCIAL_PROFILES and v}
    profiles = tuple(
        Profile(
            key, SOCIAL_PROFILES[key][0], handles[key], SOCIAL_PROFILES[key][1].format(handles[key])
        )
        for key in SOCIAL_PROFILES
        if key in handles
    )
    return Shop(
        name=row.name or fallback,
        logo_url=row.logo_url,
        accent_color=row.accent_color,
        profiles=profiles,
        terms_url=row.terms_url,
        privacy_url=row.privacy_url,
        returns_url=row.returns_url,
        contact_email=row.contact_email,
        handles=handles,
    )


def shop() -> Shop:
    """The shop's settings for this request (one query, then cached on ``g``)."""
    cached = g.get("_shoppable_shop")
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    try:
        row = load_settings(db.session())
    except SQLAlchemyError:
        # A page must still render while the database is down (the link cache serves
        # redirects then); the configured name stands in.
        db.session().rollback()
        row = None
    result = _build(row)
    g._shoppable_shop = result
    return result


def current_shop_name() -> str:
    """The shop's name for this request: the settings' name, else SHOPPABLE_SHOP_NAME."""
    return shop().name
