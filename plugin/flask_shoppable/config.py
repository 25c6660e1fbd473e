"""Configuration: every key the plugin reads, its default, and the checks at start-up.

``DEFAULTS`` is the one list of keys (the README's table is made from it, and a test
keeps the two in step). :func:`load` fills the defaults into ``app.config`` and checks
every value, so a missing or inconsistent setting fails ``init_app`` with a message
naming the key, never the first request.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from flask import Flask
from sqlalchemy.exc import ArgumentError

from .db import normalize_url
from .money import CURRENCY_EXPONENTS


class ConfigError(RuntimeError):
    """A setting that is missing or inconsistent."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


@dataclass(frozen=True)
class Setting:
    default: Any
    doc: str


#: Every key the plugin reads. A ``None`` default is computed at start-up (see doc).
DEFAULTS: dict[str, Setting] = {
    "SHOPPABLE_DATABASE_URL": Setting(
        None,
        "SQLAlchemy URL of the plugin's database. Defaults to the host's "
        "SQLALCHEMY_DATABASE_URI when set, else SQLite in the instance folder "
        "(shoppable.sqlite3). PostgreSQL (postgresql://...) is the production engine.",
    ),
    "SHOPPABLE_ENGINE_OPTIONS": Setting({}, "Extra keyword arguments for create_engine."),
    "SHOPPABLE_URL_PREFIX": Setting("/shop", "Where the plugin's routes are mounted."),
    "SHOPPABLE_DEFAULT_CURRENCY": Setting(
        "USD", "ISO 4217 currency used when an import or the demo names none."
    ),
    "SHOPPABLE_MAX_BODY_BYTES": Setting(
        1024 * 1024, "Largest request body the plugin's routes accept (413 above it)."
    ),
    "SHOPPABLE_API_PAGE_SIZE": Setting(50, "Default page size of API listings."),
    "SHOPPABLE_API_MAX_PAGE_SIZE": Setting(200, "Largest page size an API client may ask for."),
    "SHOPPABLE_API_KEY_TOUCH_SECONDS": Setting(
        60, "An API key's last_used_at is written at most once per this many seconds."
    ),
    "SHOPPABLE_SECRET_KEY": Setting(
        None,
        "Key for signing attribution tokens and hashing IP addresses. Defaults to the "
        "app's SECRET_KEY; one of the two is required.",
    ),
    "SHOPPABLE_SHOP_NAME": Setting("Shop", "The shop's name on pages, embeds and feeds."),
    "SHOPPABLE_PUBLIC_URL": Setting(
        None,
        "Absolute base URL of the site (https://shop.example.com), used in feeds, oEmbed and "
        "share links. Unset: taken from the request, which is fine behind a proxy that "
        "sets Host; set it in production.",
    ),
    "SHOPPABLE_POSTS_PER_PAGE": Setting(24, "Posts per page of the storefront grid."),
    "SHOPPABLE_CLICK_WRITE_MODE": Setting(
        "buffered",
        "'buffered': clicks are queued in the process and written in batches (fast; a crash "
        "loses at most the last SHOPPABLE_CLICK_FLUSH_SECONDS). 'durable': each click is "
        "committed before the redirect.",
    ),
    "SHOPPABLE_CLICK_BUFFER_SIZE": Setting(100, "Buffered mode: write when this many clicks wait."),
    "SHOPPABLE_CLICK_FLUSH_SECONDS": Setting(
        0.2, "Buffered mode: write waiting clicks at least this often (seconds)."
    ),
    "SHOPPABLE_LINK_CACHE_SECONDS": Setting(
        30,
        "How long a process keeps a tracked link in memory (a merchant's edit reaches "
        "every process within this time).",
    ),
    "SHOPPABLE_VISITOR_COOKIE": Setting("shoppable_vid", "Name of the first-party visitor cookie."),
    "SHOPPABLE_VISITOR_COOKIE_DAYS": Setting(365, "Lifetime of the visitor cookie."),
    "SHOPPABLE_HONOR_DNT": Setting(
        True, "With DNT: 1 or Sec-GPC: 1, set no visitor cookie and keep no IP hash."
    ),
    "SHOPPABLE_REQUIRE_CONSENT": Setting(
        False, "Set the visitor cookie only when the consent cookie is present."
    ),
    "SHOPPABLE_CONSENT_COOKIE": Setting(
        "shoppable_consent", "Cookie (set by the host's consent banner) that allows tracking."
    ),
    "SHOPPABLE_TOKEN_MAX_AGE_DAYS": Setting(
        7, "How long the signed attribution token in a redirect URL stays valid."
    ),
    "SHOPPABLE_SALESFORCE_DOMAIN": Setting(
        None,
        "Salesforce sink: the org's My Domain address (https://acme.my.salesforce.com); its "
        "/services/oauth2/token issues the client-credentials tokens. Required when "
        "'salesforce' is in SHOPPABLE_CRM_SINKS.",
    ),
    "SHOPPABLE_SALESFORCE_CLIENT_ID": Setting(
        None, "Salesforce sink: the connected app's consumer key (client credentials flow)."
    ),
    "SHOPPABLE_SALESFORCE_CLIENT_SECRET": Setting(
        None, "Salesforce sink: the connected app's consumer secret; never logged."
    ),
    "SHOPPABLE_SALESFORCE_API_VERSION": Setting(
        "v62.0", "Salesforce sink: the REST API version in the data paths (vNN.N)."
    ),
    "SHOPPABLE_SALESFORCE_CONTACT_EXTERNAL_ID": Setting(
        "Shoppable_Email__c",
        "Salesforce sink: the Contact's custom External ID (unique, text) field holding the "
        "customer's email; Contacts are upserted by it.",
    ),
    "SHOPPABLE_SALESFORCE_ORDER_EXTERNAL_ID": Setting(
        "Shoppable_Order_Id__c",
        "Salesforce sink: the Opportunity's custom External ID (unique, text) field holding "
        "the order id; Opportunities are upserted by it.",
    ),
    "SHOPPABLE_WEBHOOK_SINK_URL": Setting(
        None,
        "Signed webhook sink: the https URL every order event is POSTed to (Zapier, n8n, a "
        "home-grown CRM). Required when 'webhook' is in SHOPPABLE_CRM_SINKS.",
    ),
    "SHOPPABLE_WEBHOOK_SINK_SECRET": Setting(
        None,
        "Signed webhook sink: the shared secret (16 characters or more) of the "
        "Shoppable-Signature HMAC-SHA256; never logged.",
    ),
    "SHOPPABLE_SEGMENT_WRITE_KEY": Setting(
        None,
        "Segment sink: the source's write key (HTTP Basic auth user). Required when "
        "'segment' is in SHOPPABLE_CRM_SINKS.",
    ),
    "SHOPPABLE_SEGMENT_URL": Setting(
        "https://api.segment.io",
        "Segment sink: the tracking API's base address (EU workspaces: "
        "https://eu1.api.segmentapis.com; or any tool that speaks Segment's API).",
    ),
    "SHOPPABLE_META_PIXEL_ID": Setting(
        None,
        "Conversions API sink: the pixel (dataset) id Purchase events go to. Required, with "
        "SHOPPABLE_META_CAPI_TOKEN and SHOPPABLE_PUBLIC_URL, when 'meta_capi' is in "
        "SHOPPABLE_CRM_SINKS.",
    ),
    "SHOPPABLE_META_CAPI_TOKEN": Setting(
        None, "Conversions API sink: the system user's access token for the pixel; never logged."
    ),
    "SHOPPABLE_STRIPE_SECRET_KEY": Setting(
        None,
        "Stripe secret key (sk_test_..., sk_live_...) or restricted key (rk_...). Required. "
        "Tests and the demo use the local emulator's (flask_shoppable.testing).",
    ),
    "SHOPPABLE_STRIPE_WEBHOOK_SECRET": Setting(
        None,
        "Signing secret (whsec_...) of the Stripe webhook endpoint that points at "
        "<prefix>/webhooks/stripe. Required.",
    ),
    "SHOPPABLE_STRIPE_API_BASE": Setting(
        "https://api.stripe.com",
        "Base address of the Stripe API. Point it at the local emulator "
        "(http://127.0.0.1:<port>) for tests and the demo.",
    ),
    "SHOPPABLE_STRIPE_API_VERSION": Setting(
        None,
        "Pin the Stripe API version (e.g. 2025-03-31.basil). Unset: the version of the "
        "installed stripe-python. Webhook endpoints have their own version: keep them equal.",
    ),
    "SHOPPABLE_STRIPE_TIMEOUT": Setting(
        20, "Seconds before a call to Stripe is abandoned (then retried, see next)."
    ),
    "SHOPPABLE_STRIPE_MAX_NETWORK_RETRIES": Setting(
        2,
        "Retries of a failed call to Stripe (connection errors, 409, 5xx), with the same "
        "idempotency key, so a retry never charges or refunds twice.",
    ),
    "SHOPPABLE_MAX_LINE_QUANTITY": Setting(
        20, "Most units of one variant a checkout takes (400 above it)."
    ),
    "SHOPPABLE_CHECKOUT_TTL_MINUTES": Setting(
        30,
        "How long a checkout session stays payable and its stock held (30 to 1440 minutes, "
        "Stripe's bounds).",
    ),
    "SHOPPABLE_ATTRIBUTION_LOOKBACK_DAYS": Setting(
        30,
        "Interactions older than this do not count: a checkout without a signed token takes "
        "the visitor's latest click or comment within it.",
    ),
    "SHOPPABLE_SHIPPING_COUNTRIES": Setting(
        [],
        "ISO 3166-1 alpha-2 codes the checkout collects a shipping address for, when a line "
        "requires shipping (e.g. ['US', 'CA']). Empty: no address is collected.",
    ),
    "SHOPPABLE_SHIPPING_RATES": Setting(
        {},
        "Shipping rate per currency, offered when a line requires shipping: "
        "{'USD': {'amount': 500, 'free_over': 5000, 'name': 'Standard'}} (minor units; free "
        "when the subtotal reaches free_over; a list gives several options).",
    ),
    "SHOPPABLE_AUTOMATIC_TAX": Setting(
        False, "Turn on the payment provider's automatic tax calculation (Stripe Tax)."
    ),
    "SHOPPABLE_ALLOW_PROMOTION_CODES": Setting(
        True, "Let shoppers enter a promotion code on the payment page."
    ),
    "SHOPPABLE_WEBHOOK_MAX_BYTES": Setting(
        512 * 1024, "Largest webhook body the provider's endpoint accepts (413 above it)."
    ),
    "SHOPPABLE_ATTRIBUTION_MODEL": Setting(
        "last_touch",
        "Attribution model whose credit the API shows by default: last_touch, first_touch, "
        "linear, time_decay or position_based (credits of all five are stored).",
    ),
    "SHOPPABLE_ATTRIBUTION_HALF_LIFE_DAYS": Setting(
        7, "time_decay: a touch's weight halves for every this many days before the purchase."
    ),
    "SHOPPABLE_REPORTS_DATABASE_URL": Setting(
        None,
        "SQLAlchemy URL the reports (dashboard, /api/reports, flask shoppable report) read "
        "from, such as a PostgreSQL read replica. Unset: the plugin's own database.",
    ),
    "SHOPPABLE_ADMIN_AUTH": Setting(
        None,
        "The host app's own authentication for the merchant pages: a callable (or its import "
        "path, 'myapp.auth:shop_admin') called with no arguments on each admin request, "
        "returning the merchant's identity, None (refused: 403) or a response (e.g. a "
        "redirect to the host's sign-in). Unset: merchant accounts (flask shoppable "
        "create-merchant) sign in at <prefix>/admin/sign-in.",
    ),
    "SHOPPABLE_ADMIN_IDLE_MINUTES": Setting(
        30, "A merchant's admin session ends after this many minutes without a request."
    ),
    "SHOPPABLE_ADMIN_SESSION_HOURS": Setting(
        12, "A merchant's admin session ends this many hours after sign-in, however active."
    ),
    "SHOPPABLE_ADMIN_LOGIN_ATTEMPTS": Setting(
        5,
        "Failed sign-ins allowed per email and client address within "
        "SHOPPABLE_ADMIN_LOGIN_WINDOW_MINUTES; more are refused until the window passes.",
    ),
    "SHOPPABLE_ADMIN_LOGIN_WINDOW_MINUTES": Setting(
        15, "The window in which failed sign-ins are counted (see SHOPPABLE_ADMIN_LOGIN_ATTEMPTS)."
    ),
    "SHOPPABLE_ADMIN_UPLOAD_MAX_BYTES": Setting(
        5 * 1024 * 1024,
        "Largest image a merchant may upload (post images, logo); PNG, JPEG, GIF or WebP, "
        "stored under the instance folder (shoppable-media/).",
    ),
    "SHOPPABLE_CRM_SINKS": Setting(
        [],
        "The CRM sinks that receive order events (paid, refunded, disputed) through the "
        "outbox: a list of hubspot, salesforce, webhook, segment, meta_capi. Each has its "
        "own keys, checked at start-up.",
    ),
    "SHOPPABLE_OUTBOX_MAX_ATTEMPTS": Setting(
        15, "Delivery attempts of an outbox message before it is dead-lettered."
    ),
    "SHOPPABLE_OUTBOX_BATCH_SIZE": Setting(50, "Outbox messages a worker claims at once."),
    "SHOPPABLE_OUTBOX_BACKOFF_SECONDS": Setting(
        10,
        "First retry delay of a failed delivery; doubles with each attempt (with jitter) up "
        "to SHOPPABLE_OUTBOX_BACKOFF_MAX_SECONDS. A receiver's Retry-After takes precedence.",
    ),
    "SHOPPABLE_OUTBOX_BACKOFF_MAX_SECONDS": Setting(3600, "Longest retry delay (seconds)."),
    "SHOPPABLE_OUTBOX_LEASE_SECONDS": Setting(
        120,
        "How long a worker's claim on a batch lasts (renewed while it works); a killed "
        "worker's messages are due again after it.",
    ),
    "SHOPPABLE_OUTBOX_HTTP_TIMEOUT": Setting(
        10, "Timeout (seconds) of every request a sink makes (connect and read)."
    ),
    "SHOPPABLE_HUBSPOT_ACCESS_TOKEN": Setting(
        None, "HubSpot private app access token (Bearer); required with the hubspot sink."
    ),
    "SHOPPABLE_HUBSPOT_BASE_URL": Setting("https://api.hubapi.com", "HubSpot's API base URL."),
    "SHOPPABLE_HUBSPOT_PATH_PREFIX": Setting(
        "/crm/v3",
        "Path of HubSpot's CRM objects API under the base URL (/crm/v3, or a dated path "
        "such as /crm/objects/2025-09 when HubSpot moves).",
    ),
    "SHOPPABLE_HUBSPOT_ORDER_ID_PROPERTY": Setting(
        "shoppable_order_id",
        "The deal property holding the order id: create it in HubSpot as a unique-value "
        "property; deals are upserted by it.",
    ),
    "SHOPPABLE_HUBSPOT_PIPELINE": Setting("default", "The deal pipeline of shop orders."),
    "SHOPPABLE_HUBSPOT_PAID_STAGE": Setting("closedwon", "Deal stage of a paid order."),
    "SHOPPABLE_HUBSPOT_REFUNDED_STAGE": Setting(
        "closedlost", "Deal stage of a fully refunded order (partly refunded: paid stage)."
    ),
    "SHOPPABLE_TOKEN_KEYS": Setting(
        [],
        "Fernet keys (Fernet.generate_key()) that encrypt the connected channel accounts' "
        "tokens at rest, newest first: the newest encrypts, all decrypt (rotate with flask "
        "shoppable rotate-token-keys). A comma-separated string is accepted. Empty: one key "
        "derived from SHOPPABLE_SECRET_KEY (fine for a demo; set your own in production).",
    ),
    "SHOPPABLE_PUBLISH_TIMEOUT": Setting(
        20, "Seconds before a call to a social platform (or fetching a post's image) is abandoned."
    ),
    "SHOPPABLE_PUBLISH_LOCAL_IMAGES": Setting(
        False,
        "Accept post images on private or loopback addresses when publishing to the channels "
        "(tests, a local demo). Off: such an image is refused before any call, since the "
        "platforms fetch images from the internet (and the plugin fetches nothing internal).",
    ),
    "SHOPPABLE_INSTAGRAM_POLLS": Setting(
        5,
        "Polls of an Instagram media container's status in one delivery before the message "
        "is retried later (with the same container).",
    ),
    "SHOPPABLE_INSTAGRAM_POLL_SECONDS": Setting(
        3, "Seconds between two polls of an Instagram media container's status."
    ),
    "SHOPPABLE_PINTEREST_API_URL": Setting(
        "https://api.pinterest.com",
        "Base address of Pinterest's API (pins go to /v5/pins). Tests point it at "
        "flask_shoppable.testing.FakePinterest.",
    ),
    "SHOPPABLE_LINKEDIN_API_URL": Setting(
        "https://api.linkedin.com",
        "Base address of LinkedIn's REST API (posts go to /rest/posts). Tests point it at "
        "flask_shoppable.testing.FakeLinkedIn.",
    ),
    "SHOPPABLE_LINKEDIN_VERSION": Setting(
        "202610", "The LinkedIn-Version header (YYYYMM) of every LinkedIn call."
    ),
    "SHOPPABLE_X_API_URL": Setting(
        "https://api.x.com",
        "Base address of the X API (posts go to /2/tweets). Tests point it at "
        "flask_shoppable.testing.FakeX.",
    ),
    "SHOPPABLE_API_TITLE": Setting("Flask-Shoppable", "Title of the OpenAPI document."),
    "SHOPPABLE_API_DOCS": Setting(
        True, "Serve the interactive API docs page (Swagger UI, served locally) at /api/docs."
    ),
    "SHOPPABLE_META_GRAPH_URL": Setting(
        "https://graph.facebook.com",
        "Base address of Meta's Graph API (private replies, Conversions API, publishing); "
        "tests point it at the local fake (flask_shoppable.testing.FakeGraph).",
    ),
    "SHOPPABLE_META_GRAPH_VERSION": Setting(
        "v21.0", "The Graph API version in every Graph call's path (vNN.N)."
    ),
    "SHOPPABLE_META_APP_SECRET": Setting(
        None,
        "The Meta app's secret: checks X-Hub-Signature-256 on <prefix>/webhooks/meta. "
        "Unset: social listening is off (the webhook answers 404). Set: "
        "SHOPPABLE_META_VERIFY_TOKEN and SHOPPABLE_META_PAGE_TOKEN are required.",
    ),
    "SHOPPABLE_META_VERIFY_TOKEN": Setting(
        None,
        "The verify token typed into the Meta app's webhook settings (the subscription "
        "handshake echoes hub.challenge only when hub.verify_token equals it).",
    ),
    "SHOPPABLE_META_PAGE_TOKEN": Setting(
        None,
        "Page access token (pages_messaging, instagram_manage_messages) that sends "
        "private replies to comments; never logged.",
    ),
    "SHOPPABLE_LISTENING_MAX_COMMENTS_PER_USER": Setting(
        10,
        "Comments by one person on one post within 24 hours that become interactions; more "
        "are kept as 'flood' (no interaction, no reply).",
    ),
    "SHOPPABLE_LISTENING_REPLY_TEXT": Setting(
        "Thanks for your comment! Here is your link: {link}",
        "Default text of a private reply when a post's keyword rule has none; {link} is "
        "the commenter's own link.",
    ),
}

#: flask-smorest reads its own settings under this prefix; the plugin writes them itself.
SMOREST_PREFIX = "SHOPPABLE_SMOREST_"

_PREFIX_RE = re.compile(r"^(/[A-Za-z0-9._~-]+)*$")


def _positive_int(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(key, f"must be a positive integer, got {value!r}")
    return value


def load(app: Flask) -> None:
    """Fill in defaults and check every ``SHOPPABLE_*`` key of ``app.config``."""
    config = app.config
    for key, setting in DEFAULTS.items():
        default = setting.default
        config.setdefault(key, dict(default) if isinstance(default, dict) else default)

    unknown = sorted(
        k
        for k in config
        if k.startswith("SHOPPABLE_") and k not in DEFAULTS and not k.startswith(SMOREST_PREFIX)
    )
    if unknown:
        raise ConfigError(unknown[0], "is not a Flask-Shoppable setting (misspelt?)")

    if config["SHOPPABLE_DATABASE_URL"] is None:
        host_url = config.get("SQLALCHEMY_DATABASE_URI")
        if host_url:
            config["SHOPPABLE_DATABASE_URL"] = host_url
        else:
            os.makedirs(app.instance_path, exist_ok=True)
            path = os.path.join(app.instance_path, "shoppable.sqlite3")
            config["SHOPPABLE_DATABASE_URL"] = f"sqlite:///{path}"
    try:
        url = normalize_url(config["SHOPPABLE_DATABASE_URL"])
    except (ArgumentError, ValueError, TypeError) as exc:
        raise ConfigError("SHOPPABLE_DATABASE_URL", f"is not a database URL ({exc})") from None
    backend = url.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ConfigError(
            "SHOPPABLE_DATABASE_URL",
            f"backend {backend!r} is not supported: use sqlite or postgresql",
        )

    reports_url = config["SHOPPABLE_REPORTS_DATABASE_URL"]
    if reports_url is not None:
        try:
            reports_backend = normalize_url(reports_url).get_backend_name()
        except (ArgumentError, ValueError, TypeError) as exc:
            raise ConfigError(
                "SHOPPABLE_REPORTS_DATABASE_URL", f"is not a database URL ({exc})"
            ) from None
        if reports_backend != backend:
            raise ConfigError(
                "SHOPPABLE_REPORTS_DATABASE_URL",
                f"must be a {backend} database like SHOPPABLE_DATABASE_URL (a replica of "
                f"it), got {reports_backend!r}",
            )

    if not isinstance(config["SHOPPABLE_ENGINE_OPTIONS"], dict):
        raise ConfigError("SHOPPABLE_ENGINE_OPTIONS", "must be a dict")

    prefix = config["SHOPPABLE_URL_PREFIX"]
    if not isinstance(prefix, str) or not _PREFIX_RE.match(prefix):
        raise ConfigError(
            "SHOPPABLE_URL_PREFIX",
            "must be empty or a path such as /shop (leading slash, no trailing slash), "
            f"got {prefix!r}",
        )

    currency = config["SHOPPABLE_DEFAULT_CURRENCY"]
    if not isinstance(currency, str) or currency.upper() not in CURRENCY_EXPONENTS:
        raise ConfigError("SHOPPABLE_DEFAULT_CURRENCY", f"unknown ISO 4217 currency {currency!r}")
    config["SHOPPABLE_DEFAULT_CURRENCY"] = currency.upper()

    secret = config["SHOPPABLE_SECRET_KEY"] or config.get("SECRET_KEY")
    if not secret:
        raise ConfigError("SHOPPABLE_SECRET_KEY", "is required (or set the app's SECRET_KEY)")
    if isinstance(secret, str):
        secret = secret.encode()
    if not isinstance(secret, bytes) or len(secret) < 16:
        raise ConfigError("SHOPPABLE_SECRET_KEY", "must be at least 16 bytes long")
    config["SHOPPABLE_SECRET_KEY"] = secret

    mode = config["SHOPPABLE_CLICK_WRITE_MODE"]
    if mode not in ("buffered", "durable"):
        raise ConfigError(
            "SHOPPABLE_CLICK_WRITE_MODE", f"must be 'buffered' or 'durable', got {mode!r}"
        )
    flush = config["SHOPPABLE_CLICK_FLUSH_SECONDS"]
    if isinstance(flush, bool) or not isinstance(flush, int | float) or not 0 < flush <= 60:
        raise ConfigError("SHOPPABLE_CLICK_FLUSH_SECONDS", "must be a number of seconds in (0, 60]")
    public_url = config["SHOPPABLE_PUBLIC_URL"]
    if public_url is not None and (
        not isinstance(public_url, str) or not re.match(r"^https?://[^/\s]+$", public_url)
    ):
        raise ConfigError(
            "SHOPPABLE_PUBLIC_URL",
            f"must be an absolute http(s) URL without a path or trailing slash, got {public_url!r}",
        )
    for key in ("SHOPPABLE_VISITOR_COOKIE", "SHOPPABLE_CONSENT_COOKIE", "SHOPPABLE_SHOP_NAME"):
        if not isinstance(config[key], str) or not config[key].strip():
            raise ConfigError(key, "must be a non-empty string")

    _check_listening(config)
    _check_stripe(config)
    _check_checkout(config)
    _check_orders(config)
    _check_admin(config)

    for key in (
        "SHOPPABLE_POSTS_PER_PAGE",
        "SHOPPABLE_CLICK_BUFFER_SIZE",
        "SHOPPABLE_LINK_CACHE_SECONDS",
        "SHOPPABLE_VISITOR_COOKIE_DAYS",
        "SHOPPABLE_TOKEN_MAX_AGE_DAYS",
        "SHOPPABLE_MAX_BODY_BYTES",
        "SHOPPABLE_API_PAGE_SIZE",
        "SHOPPABLE_API_MAX_PAGE_SIZE",
        "SHOPPABLE_API_KEY_TOUCH_SECONDS",
    ):
        _positive_int(key, config[key])
    if config["SHOPPABLE_API_PAGE_SIZE"] > config["SHOPPABLE_API_MAX_PAGE_SIZE"]:
        raise ConfigError(
            "SHOPPABLE_API_PAGE_SIZE", "must not be larger than SHOPPABLE_API_MAX_PAGE_SIZE"
        )


_STRIPE_KEY_RE = re.compile(r"^(sk|rk)_(test|live)_[A-Za-z0-9_]+$")
_WEBHOOK_SECRET_RE = re.compile(r"^whsec_[A-Za-z0-9_+/=-]+$")
_API_VERSION_RE = re.compile(r"^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$")
_API_BASE_RE = re.compile(r"^https?://[^/\s]+(/[^\s]*)?$")


def _check_stripe(config: Any) -> None:
    """The Stripe keys are required and well-formed; a live key only goes over https."""
    key = config["SHOPPABLE_STRIPE_SECRET_KEY"]
    if not key:
        raise ConfigError(
            "SHOPPABLE_STRIPE_SECRET_KEY",
            "is required (sk_test_... from the Stripe dashboard, or the local emulator's "
            "key from flask_shoppable.testing for tests and the demo)",
        )
    if not isinstance(key, str) or not _STRIPE_KEY_RE.match(key):
        shown = key[:8] + "..." if isinstance(key, str) else type(key).__name__
        raise ConfigError(
            "SHOPPABLE_STRIPE_SECRET_KEY",
            f"must look like sk_test_..., sk_live_... or rk_..., got {shown!r}",
        )
    secret = config["SHOPPABLE_STRIPE_WEBHOOK_SECRET"]
    if not secret:
        raise ConfigError(
            "SHOPPABLE_STRIPE_WEBHOOK_SECRET",
            "is required (whsec_..., the signing secret of the webhook endpoint)",
        )
    if not isinstance(secret, str) or not _WEBHOOK_SECRET_RE.match(secret):
        raise ConfigError(
            "SHOPPABLE_STRIPE_WEBHOOK_SECRET", "must look like whsec_... (the endpoint's secret)"
        )
    base = config["SHOPPABLE_STRIPE_API_BASE"]
    if not isinstance(base, str) or not _API_BASE_RE.match(base):
        raise ConfigError(
            "SHOPPABLE_STRIPE_API_BASE", f"must be an absolute http(s) URL, got {base!r}"
        )
    base = base.rstrip("/")
    if "_live_" in key and not base.startswith("https://"):
        raise ConfigError(
            "SHOPPABLE_STRIPE_API_BASE",
            "a live key is only sent over https (this base is plain http)",
        )
    config["SHOPPABLE_STRIPE_API_BASE"] = base
    version = config["SHOPPABLE_STRIPE_API_VERSION"]
    if version is not None and (not isinstance(version, str) or not _API_VERSION_RE.match(version)):
        raise ConfigError(
            "SHOPPABLE_STRIPE_API_VERSION",
            f"must be a Stripe API version such as 2025-03-31.basil, got {version!r}",
        )
    timeout = config["SHOPPABLE_STRIPE_TIMEOUT"]
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 120:
        raise ConfigError("SHOPPABLE_STRIPE_TIMEOUT", "must be a number of seconds in (0, 120]")
    retries = config["SHOPPABLE_STRIPE_MAX_NETWORK_RETRIES"]
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 5:
        raise ConfigError("SHOPPABLE_STRIPE_MAX_NETWORK_RETRIES", "must be an integer from 0 to 5")


_COUNTRY_RE = re.compile(r"^[A-Z]{2}$")
_RATE_KEYS = {"amount", "name", "free_over"}


def _check_checkout(config: Any) -> None:
    """The checkout's settings: bounds, shipping countries and rates, switches."""
    quantity = _positive_int("SHOPPABLE_MAX_LINE_QUANTITY", config["SHOPPABLE_MAX_LINE_QUANTITY"])
    if quantity > 10_000:
        raise ConfigError("SHOPPABLE_MAX_LINE_QUANTITY", "must be at most 10000")
    ttl = config["SHOPPABLE_CHECKOUT_TTL_MINUTES"]
    if isinstance(ttl, bool) or not isinstance(ttl, int) or not 30 <= ttl <= 1440:
        raise ConfigError(
            "SHOPPABLE_CHECKOUT_TTL_MINUTES",
            f"must be a whole number of minutes from 30 to 1440 (Stripe's bounds), got {ttl!r}",
        )
    _positive_int(
        "SHOPPABLE_ATTRIBUTION_LOOKBACK_DAYS", config["SHOPPABLE_ATTRIBUTION_LOOKBACK_DAYS"]
    )
    for key in ("SHOPPABLE_AUTOMATIC_TAX", "SHOPPABLE_ALLOW_PROMOTION_CODES"):
        if not isinstance(config[key], bool):
            raise ConfigError(key, f"must be True or False, got {config[key]!r}")

    countries = config["SHOPPABLE_SHIPPING_COUNTRIES"]
    if isinstance(countries, str) or not isinstance(countries, list | tuple):
        raise ConfigError(
            "SHOPPABLE_SHIPPING_COUNTRIES", "must be a list of ISO 3166-1 alpha-2 codes"
        )
    normalized = []
    for code in countries:
        upper = code.strip().upper() if isinstance(code, str) else code
        if not isinstance(upper, str) or not _COUNTRY_RE.match(upper):
            raise ConfigError(
                "SHOPPABLE_SHIPPING_COUNTRIES",
                f"{code!r} is not an ISO 3166-1 alpha-2 country code such as 'US'",
            )
        if upper not in normalized:
            normalized.append(upper)
    config["SHOPPABLE_SHIPPING_COUNTRIES"] = normalized

    rates = config["SHOPPABLE_SHIPPING_RATES"]
    key = "SHOPPABLE_SHIPPING_RATES"
    if not isinstance(rates, dict):
        raise ConfigError(key, "must be a dict from currency to a rate (or a list of rates)")
    checked: dict[str, list[dict[str, Any]]] = {}
    for currency, value in rates.items():
        if not isinstance(currency, str) or currency.upper() not in CURRENCY_EXPONENTS:
            raise ConfigError(key, f"unknown ISO 4217 currency {currency!r}")
        options = value if isinstance(value, list | tuple) else [value]
        if not options:
            raise ConfigError(key, f"{currency}: give at least one rate")
        checked[currency.upper()] = []
        for rate in options:
            where = str(currency)
            if not isinstance(rate, dict) or not {"amount", "name"} <= rate.keys():
                raise ConfigError(key, f"{where}: a rate is a dict with 'amount' and 'name'")
            unknown = sorted(rate.keys() - _RATE_KEYS)
            if unknown:
                raise ConfigError(key, f"{where}: unknown rate keys {unknown}")
            amount, name = rate["amount"], rate["name"]
            free_over = rate.get("free_over")
            if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
                raise ConfigError(key, f"{where}: amount must be whole minor units >= 0")
            if not isinstance(name, str) or not name.strip() or len(name) > 100:
                raise ConfigError(key, f"{where}: name must be a non-empty string of at most 100")
            if free_over is not None and (
                isinstance(free_over, bool) or not isinstance(free_over, int) or free_over < 0
            ):
                raise ConfigError(key, f"{where}: free_over must be whole minor units >= 0")
            checked[currency.upper()].append(
                {"amount": amount, "name": name.strip(), "free_over": free_over}
            )
    config["SHOPPABLE_SHIPPING_RATES"] = checked


_GRAPH_VERSION_RE = re.compile(r"^v\d+\.\d+$")


def _check_listening(config: Any) -> None:
    """Graph address and version; with an app secret, the verify and page tokens."""
    base = config["SHOPPABLE_META_GRAPH_URL"]
    if not isinstance(base, str) or not _API_BASE_RE.match(base):
        raise ConfigError(
            "SHOPPABLE_META_GRAPH_URL", f"must be an absolute http(s) URL, got {base!r}"
        )
    config["SHOPPABLE_META_GRAPH_URL"] = base.rstrip("/")
    version = config["SHOPPABLE_META_GRAPH_VERSION"]
    if not isinstance(version, str) or not _GRAPH_VERSION_RE.match(version):
        raise ConfigError("SHOPPABLE_META_GRAPH_VERSION", f"must look like v21.0, got {version!r}")
    secret = config["SHOPPABLE_META_APP_SECRET"]
    if secret is not None:
        if not isinstance(secret, str) or len(secret) < 16:
            raise ConfigError("SHOPPABLE_META_APP_SECRET", "must be the app secret (a string)")
        for key in ("SHOPPABLE_META_VERIFY_TOKEN", "SHOPPABLE_META_PAGE_TOKEN"):
            value = config[key]
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(key, "is required when SHOPPABLE_META_APP_SECRET is set")
    _positive_int(
        "SHOPPABLE_LISTENING_MAX_COMMENTS_PER_USER",
        config["SHOPPABLE_LISTENING_MAX_COMMENTS_PER_USER"],
    )
    text = config["SHOPPABLE_LISTENING_REPLY_TEXT"]
    if not isinstance(text, str) or not text.strip() or len(text) > 900:
        raise ConfigError("SHOPPABLE_LISTENING_REPLY_TEXT", "must be 1 to 900 characters")


def _check_orders(config: Any) -> None:
    """Webhook body cap and the attribution settings."""
    from .attribution import MODELS

    _positive_int("SHOPPABLE_WEBHOOK_MAX_BYTES", config["SHOPPABLE_WEBHOOK_MAX_BYTES"])
    model = config["SHOPPABLE_ATTRIBUTION_MODEL"]
    if model not in MODELS:
        raise ConfigError(
            "SHOPPABLE_ATTRIBUTION_MODEL", f"must be one of {', '.join(MODELS)}, got {model!r}"
        )
    half_life = config["SHOPPABLE_ATTRIBUTION_HALF_LIFE_DAYS"]
    if (
        isinstance(half_life, bool)
        or not isinstance(half_life, int | float)
        or not 0 < half_life <= 365
    ):
        raise ConfigError(
            "SHOPPABLE_ATTRIBUTION_HALF_LIFE_DAYS", "must be a number of days in (0, 365]"
        )


def _check_admin(config: Any) -> None:
    """The merchant pages: the host's auth hook resolves to a callable; bounds are positive."""
    from .admin.auth import resolve_hook

    try:
        config["SHOPPABLE_ADMIN_AUTH"] = resolve_hook(config["SHOPPABLE_ADMIN_AUTH"])
    except ValueError as exc:
        raise ConfigError("SHOPPABLE_ADMIN_AUTH", str(exc)) from None
    for key in (
        "SHOPPABLE_ADMIN_IDLE_MINUTES",
        "SHOPPABLE_ADMIN_SESSION_HOURS",
        "SHOPPABLE_ADMIN_LOGIN_ATTEMPTS",
        "SHOPPABLE_ADMIN_LOGIN_WINDOW_MINUTES",
        "SHOPPABLE_ADMIN_UPLOAD_MAX_BYTES",
    ):
        _positive_int(key, config[key])
