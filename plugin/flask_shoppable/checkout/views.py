"""Checkout routes: ``POST /checkout``, ``GET /checkout/cart``, success and cancel pages.

``POST <prefix>/checkout`` (the post and product pages' buy form, or JSON) and
``GET <prefix>/checkout/cart`` (the social shops' cart permalink) go the same way:

1. read and check the input (:mod:`.forms`), find the originating interaction
   (:mod:`.origin`: the signed token first, then the visitor cookie);
2. price the lines from the database and hold their stock, writing the checkout in
   the same transaction (:mod:`.service`): a 4xx here leaves nothing behind;
3. record a ``checkout_started`` interaction pointing at its origin;
4. open the provider's session (:mod:`.provider_request`) and answer ``303`` to its
   page (JSON clients: ``201 {"checkout_id", "url"}``). If the provider fails, the
   stock is given back and the checkout marked failed before the error page (or a
   JSON ``502``) is shown: nothing stays held.

Cross-site form posts are refused (403): there is no login session to forge, but a
page elsewhere must not be able to make its visitors hold the shop's stock. The form
post's ``Origin`` (else ``Referer``) must name this host or ``SHOPPABLE_PUBLIC_URL``'s;
a request with neither header (old browsers, scripts) is let through, as JSON is (a
browser cannot send cross-site JSON without a CORS preflight the plugin never grants).

The shopper's user agent and address are kept on the checkout for the Conversions API
only when the request may be tracked (no DNT/GPC, consent when required).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.exceptions import RequestEntityTooLarge

from .. import db
from ..db import utcnow
from ..money import to_decimal_string
from ..payments.base import PaymentError, PaymentProvider, ProviderSession
from ..social.models import Post
from ..tracking import tokens, visitor
from ..tracking.models import CLICK_ID_PARAMS, new_id
from ..tracking.privacy import ip_hash, tracking_allowed
from ..tracking.useragent import is_bot, ua_class
from ..web import absolute_url
from . import cart as carts
from . import forms, origin, provider_request, service
from .errors import CheckoutError
from .models import Checkout

log = logging.getLogger("flask_shoppable.checkout")

bp = Blueprint("shoppable_checkout", __name__)

UTM_FIELDS = origin.UTM_FIELDS
_UTM_MAX = 200
_REFERRER_MAX = 500
_SESSION_ID_MAX = 255


@bp.before_request
def _limit_body() -> None:
    request.max_content_length = current_app.config["SHOPPABLE_MAX_BODY_BYTES"]


@bp.after_request
def _no_store(response: Response) -> Response:
    # Every answer here is about one shopper's checkout: no cache may keep or replay it.
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(error: RequestEntityTooLarge) -> Response:
    limit = current_app.config["SHOPPABLE_MAX_BODY_BYTES"]
    return _error(
        CheckoutError(413, "too_large", f"The request is larger than the limit of {limit} bytes.")
    )


# --- small helpers ----------------------------------------------------------------------


def _clean(value: str | None, limit: int) -> str:
    if not value:
        return ""
    return "".join(ch if ch >= " " and ch != "\x7f" else " " for ch in value[: 4 * limit]).strip()[
        :limit
    ]


def _wants_json() -> bool:
    if request.is_json:
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return (
        best == "application/json"
        and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]
    )


def _allowed_hosts() -> set[str]:
    hosts = {request.host.lower()}
    public = current_app.config["SHOPPABLE_PUBLIC_URL"]
    if public:
        hosts.add(urlsplit(public).netloc.lower())
    return hosts


def is_cross_site() -> bool:
    """Whether this POST comes from a page on another site (see the module's doc)."""
    origin_header = request.headers.get("Origin")
    if origin_header is not None:
        if origin_header.strip().lower() == "null":
            return True
        return urlsplit(origin_header.strip()).netloc.lower() not in _allowed_hosts()
    referer = request.headers.get("Referer")
    if referer:
        return urlsplit(referer.strip()).netloc.lower() not in _allowed_hosts()
    return False


def _post_url(slug: str, token: str = "") -> str:
    """The post page, with the token carried when it is a valid one."""
    if token and tokens.verify(token) is not None:
        return url_for("shoppable_pages.post", slug=slug, st=token)
    return url_for("shoppable_pages.post", slug=slug)


def _back_url(post_slug: str = "", token: str = "") -> str:
    """Where the error page sends the shopper back to: the post, the page they came
    from (same host only), or the storefront."""
    if post_slug:
        return _post_url(post_slug, token)
    referer = request.headers.get("Referer", "")
    parts = urlsplit(referer)
    if referer and parts.netloc.lower() in _allowed_hosts() and parts.path.startswith("/"):
        return parts.path + (f"?{parts.query}" if parts.query else "")
    return url_for("shoppable_pages.storefront")


def _error(error: CheckoutError, post_slug: str = "", token: str = "") -> Response:
    if _wants_json():
        response = jsonify(error.to_dict())
    else:
        response = make_response(
            render_template(
                "shoppable/checkout_error.html",
                error=error,
                back_url=_back_url(post_slug, token),
                from_post=bool(post_slug),
            )
        )
    response.status_code = error.status
    return response


# --- POST /checkout ---------------------------------------------------------------------


@bp.post("/checkout")
def start() -> Response:
    """The buy button: form or JSON in, a redirect to the payment page out."""
    maximum = current_app.config["SHOPPABLE_MAX_LINE_QUANTITY"]
    wanted = forms.CheckoutInput(lines=[])
    try:
        if is_cross_site():
            raise CheckoutError(
                403,
                "cross_site",
                "This checkout form was sent from another site; open the shop's own page "
                "and buy from there.",
            )
        if request.is_json:
            data = request.get_json(silent=True)
            if data is None:
                raise CheckoutError(400, "invalid_json", "The body is not valid JSON.")
            wanted = forms.from_json(data, maximum)
        else:
            form = request.form
            wanted = forms.CheckoutInput(
                lines=[],
                token=forms.clean_token(form.get("st")),
                post_slug=forms.clean_slug(form.get("post")),
            )
            wanted = forms.from_form(form, maximum)
        _fill_from_query(wanted)
        return _begin(wanted)
    except CheckoutError as error:
        return _error(error, wanted.post_slug, wanted.token)


def _fill_from_query(wanted: forms.CheckoutInput) -> None:
    """A prefilled email or promotion code in the URL, when the body gave none."""
    args = request.args
    if not wanted.email:
        wanted.email = forms.clean_email(args.get("email"), strict=False)
    if not wanted.promotion_code:
        wanted.promotion_code = forms.clean_code(
            args.get("promotion_code") or args.get("coupon"), strict=False
        )


# --- GET /checkout/cart -----------------------------------------------------------------


def cart_channel_hint() -> str | None:
    """The channel a cart permalink names: ``channel``, Meta's ``cart_origin``, utm_source."""
    args = request.args
    for value in (args.get("channel"), args.get("cart_origin"), args.get("utm_source")):
        name = origin.channel_for(value)
        if name is not None:
            return name
    return None


@bp.get("/checkout/cart")
def cart() -> Response:
    """Meta Shops' and Google's checkout URL: ``?products=<id>:<qty>,...&coupon=...``."""
    user_agent = request.headers.get("User-Agent", "")
    if is_bot(user_agent) or _is_prefetch():
        # A link preview or prefetch must not hold stock: show a page with the way on.
        response = make_response(
            render_template("shoppable/checkout_continue.html", continue_url=request.full_path)
        )
        response.headers["X-Robots-Tag"] = "noindex"
        return response
    maximum = current_app.config["SHOPPABLE_MAX_LINE_QUANTITY"]
    wanted = forms.CheckoutInput(lines=[])
    try:
        wanted = forms.from_cart_query(db.session(), request.args, maximum)
        return _begin(wanted, cart_link=True)
    except CheckoutError as error:
        return _error(error, wanted.post_slug, wanted.token)


def _is_prefetch() -> bool:
    purpose = (request.headers.get("Sec-Purpose") or request.headers.get("Purpose") or "").lower()
    return "prefetch" in purpose or "prerender" in purpose


# --- the shared way to the payment page ----------------------------------------------------


def _interaction_row(
    kind: str,
    interaction_id: Any,
    visitor_id: str | None,
    *,
    channel: str | None,
    post_id: int | None,
    source: origin.Origin | None,
    detail: dict[str, Any],
    utm: dict[str, str] | None = None,
    click_ids: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An Interaction row for this request (a cart link's click, or checkout_started)."""
    user_agent = request.headers.get("User-Agent", "")
    tracked = visitor_id is not None
    utm = utm if utm is not None else (source.utm if source else {})
    return {
        "id": interaction_id,
        "kind": kind,
        "occurred_at": utcnow(),
        "visitor_id": visitor_id,
        "link_id": source.link_id if source else None,
        "post_id": post_id,
        "product_id": source.product_id if source else None,
        "channel": channel,
        "partner": source.partner if source else "",
        **{name: utm.get(name, "") for name in UTM_FIELDS},
        "click_ids": (click_ids if click_ids is not None else {}) if tracked else {},
        "referrer": _clean(request.headers.get("Referer"), _REFERRER_MAX),
        "ip_hash": ip_hash(request.remote_addr, current_app.config["SHOPPABLE_SECRET_KEY"])
        if tracked
        else "",
        "ua_class": ua_class(user_agent),
        "origin_id": source.id if source and kind == "checkout_started" else None,
        "detail": detail,
    }


def _record(row: dict[str, Any]) -> bool:
    """Record an interaction; a failure is logged and never stops the purchase."""
    try:
        current_app.extensions["shoppable"].recorder.record(row)
    except Exception:
        log.exception("recording a %s interaction failed; the checkout goes on", row["kind"])
        return False
    return True


def _cart_click(visitor_id: str | None, channel: str) -> origin.Origin | None:
    """Record the cart permalink's visit as a click from ``channel``; it is the origin."""
    args = request.args
    utm = {name: _clean(args.get(name), _UTM_MAX) for name in UTM_FIELDS}
    click_ids = {name: value for name in CLICK_ID_PARAMS if (value := _clean(args.get(name), 255))}
    interaction_id = new_id()
    row = _interaction_row(
        "click",
        interaction_id,
        visitor_id,
        channel=channel,
        post_id=None,
        source=None,
        detail={"source": "cart_link", "cart_origin": _clean(args.get("cart_origin"), 40)},
        utm=utm,
        click_ids=click_ids,
    )
    if not _record(row):
        return None
    return origin.Origin(id=interaction_id, channel=channel, utm=utm, click_ids=click_ids)


def _post_id(session: Session, slug: str) -> int | None:
    if not slug:
        return None
    return session.scalar(select(Post.id).where(Post.slug == slug))


def _begin(wanted: forms.CheckoutInput, *, cart_link: bool = False) -> Response:
    config = current_app.config
    session = db.session()
    now = utcnow()
    visitor_id = visitor.current_visitor()
    lookback = config["SHOPPABLE_ATTRIBUTION_LOOKBACK_DAYS"]

    # Price first: a bad cart records nothing and holds nothing.
    priced = carts.price(session, wanted.lines, config["SHOPPABLE_MAX_LINE_QUANTITY"])
    for line in priced.lines:
        asked_for = wanted.products.get(line.variant_id)
        if asked_for is not None and asked_for != line.product_id:
            raise CheckoutError(
                422,
                "unknown_variant",
                f"Variant {line.variant_id} is not an option of product {asked_for}.",
                f"variant-{asked_for}",
            )

    token_origin = origin.from_token(session, wanted.token)
    source = token_origin
    channel: str | None
    if cart_link:
        hint = cart_channel_hint()
        if source is None and hint is None:
            source = origin.from_visitor(session, visitor_id, now, lookback)
        if source is None:
            source = _cart_click(visitor_id, hint or "other")
        channel = hint or (source.channel if source else None) or "other"
    else:
        if source is None:
            source = origin.from_visitor(session, visitor_id, now, lookback)
        channel = source.channel if source else None
    post_id = _post_id(session, wanted.post_slug) or (source.post_id if source else None)

    tracked = tracking_allowed(request, config)
    started_id = new_id()
    details = service.CheckoutDetails(
        origin_interaction_id=source.id if source else None,
        interaction_id=started_id,
        visitor_id=visitor_id,
        post_id=post_id,
        link_id=source.link_id if source else None,
        channel=channel,
        email=wanted.email,
        promotion_code=wanted.promotion_code,
        user_agent=request.headers.get("User-Agent", "") if tracked else "",
        client_ip=(request.remote_addr or "") if tracked else "",
    )
    ttl = config["SHOPPABLE_CHECKOUT_TTL_MINUTES"]
    checkout = service.open_checkout(
        session,
        priced,
        details,
        expires_at=provider_request.session_expiry(now, ttl),
        provider=current_app.extensions["shoppable"].payments.name,
    )
    _record(
        _interaction_row(
            "checkout_started",
            started_id,
            visitor_id,
            channel=channel,
            post_id=post_id,
            source=source,
            detail={
                "checkout_id": checkout.id,
                "currency": checkout.currency,
                "subtotal_amount": checkout.subtotal_amount,
                "lines": len(checkout.lines),
            },
            click_ids=source.click_ids if source else {},
        )
    )
    slug = wanted.post_slug if post_id is not None else ""
    provider_session = _open_provider_session(
        session, checkout, slug, wanted.token if token_origin else ""
    )
    if _wants_json():
        response = jsonify({"checkout_id": checkout.id, "url": provider_session.url})
        response.status_code = 201
        response.headers["Location"] = provider_session.url
        return response
    return redirect(provider_session.url, 303)  # type: ignore[return-value]


def _open_provider_session(
    session: Session, checkout: Checkout, post_slug: str, token: str
) -> ProviderSession:
    """Create the provider's session; on any failure give the stock back first."""
    config = current_app.config
    provider: PaymentProvider = current_app.extensions["shoppable"].payments
    success_url = absolute_url("shoppable_checkout.success") + "?session_id={CHECKOUT_SESSION_ID}"
    cancel_url = provider_request.with_query(
        absolute_url("shoppable_checkout.cancel"), {"post": post_slug, "st": token}
    )
    key = f"checkout-{checkout.id}"

    def attempt(code: str | None, idempotency_key: str) -> ProviderSession:
        req = provider_request.build(
            checkout,
            config,
            success_url=success_url,
            cancel_url=cancel_url,
            expires_at=provider_request.session_expiry(
                utcnow(), config["SHOPPABLE_CHECKOUT_TTL_MINUTES"]
            ),
            promotion_code=code,
            idempotency_key=idempotency_key,
        )
        return provider.create_session(req)

    try:
        try:
            created = attempt(checkout.promotion_code or None, key)
        except PaymentError as exc:
            if not (checkout.promotion_code and exc.code == "promotion_code_invalid"):
                raise
            # A stale coupon from a link must not cost the sale: open the page without it
            # (the shopper may type another there, if allowed).
            log.info("checkout %s: promotion code refused; going on without it", checkout.id)
            created = attempt(None, f"{key}-without-code")
            checkout.promotion_code = ""
    except BaseException as exc:
        session.rollback()
        service.release(session, checkout, service.PROVIDER_ERROR)
        session.commit()
        if not isinstance(exc, PaymentError):
            raise
        log.warning("checkout %s: the payment provider failed: %s", checkout.id, exc.message)
        raise CheckoutError(
            502,
            "provider_error",
            "The payment page could not be opened just now. Nothing was charged and "
            "nothing is held for you; please try again in a moment.",
        ) from exc
    checkout.expires_at = created.expires_at
    service.attach_session(session, checkout, created)
    return created


# --- the pages the provider sends the shopper back to ---------------------------------------

#: How often the success page reloads itself while the payment is being confirmed.
REFRESH_SECONDS = 3


@bp.app_template_global("shoppable_money")
def money_text(amount: int, currency: str) -> str:
    """``"19.99 USD"`` from minor units."""
    return f"{to_decimal_string(amount, currency)} {currency}"


def order_number(order: Any) -> str:
    """The number a shopper quotes: the order's own ``number`` if it has one, else its id."""
    number = getattr(order, "number", None)
    return str(number if number else order.id)


def _order_for(session: Session, checkout: Checkout) -> Any:
    from ..orders.models import Order

    return session.scalar(select(Order).where(Order.checkout_id == checkout.id))


@bp.get("/checkout/success")
def success() -> Response:
    """After payment: the order once the webhook made it, "confirming" until then.

    The query's ``session_id`` is used only to find the checkout; what the page says
    comes from the database (the webhook's order), never from the query.
    """
    session_id = request.args.get("session_id", "")
    checkout = None
    if session_id and len(session_id) <= _SESSION_ID_MAX:
        checkout = db.session().scalar(
            select(Checkout).where(Checkout.provider_session_id == session_id)
        )
    if checkout is None:
        response = make_response(render_template("shoppable/checkout_success.html", checkout=None))
        response.status_code = 404
    else:
        order = _order_for(db.session(), checkout)
        response = make_response(
            render_template(
                "shoppable/checkout_success.html",
                checkout=checkout,
                order=order,
                order_number=order_number(order) if order is not None else "",
                refresh_seconds=REFRESH_SECONDS,
            )
        )
    # The URL holds the session id: keep it out of other sites' Referer headers.
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


@bp.get("/checkout/cancel")
def cancel() -> Response:
    """The shopper left the payment page: offer the way back; release nothing.

    The session may still be paid in another tab, so the stock stays held until it
    expires (the provider's webhook or the worker gives it back then).
    """
    slug = request.args.get("post", "")[:255]
    token = request.args.get("st", "")
    if tokens.verify(token) is None:
        token = ""  # only a valid token is carried back to the post
    post = None
    if slug:
        post = db.session().scalar(
            select(Post).where(Post.slug == slug, Post.status == "published")
        )
    back_url = _post_url(post.slug, token) if post else url_for("shoppable_pages.storefront")
    response = make_response(
        render_template("shoppable/checkout_cancel.html", back_url=back_url, post=post)
    )
    response.headers["X-Robots-Tag"] = "noindex"
    return response
