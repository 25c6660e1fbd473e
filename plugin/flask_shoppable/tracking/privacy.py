"""What a request allows the plugin to keep about the person behind it.

Two switches decide (both read from the app's config):

* ``SHOPPABLE_HONOR_DNT``: a request with ``DNT: 1`` or ``Sec-GPC: 1`` (Global Privacy
  Control) is not tracked.
* ``SHOPPABLE_REQUIRE_CONSENT``: tracking needs the consent cookie
  (``SHOPPABLE_CONSENT_COOKIE``, set by the host's consent banner) with a value that is
  not a refusal ("0", "false", "no", "denied", empty).

A request that is not tracked still counts: its click is recorded without a visitor
id, IP hash or ad click ids, so channel and campaign totals stay right while nothing
ties the click to a person. The signed token in the redirect still names the click: it
lives in that one URL and attributes a sale to a link, not to a person.

The IP hash is a keyed HMAC-SHA256 of the client address (a key derived from
``SHOPPABLE_SECRET_KEY``), so the raw address is never stored and a leaked table cannot
be reversed by hashing all 2^32 IPv4 addresses without the key. The address is
``request.remote_addr``: a host behind a proxy applies ``werkzeug.middleware.proxy_fix``,
and the plugin never trusts ``X-Forwarded-For`` on its own (anyone can send it).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any

from flask import Request

from .tokens import keyed

#: An IPv4 address as a server writes it (no leading zeros): hashed as is, unparsed.
_PLAIN_IPV4 = re.compile(
    r"(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
)
_REFUSALS = frozenset({"", "0", "false", "no", "n", "off", "denied", "deny", "reject", "rejected"})


def signals_opt_out(request: Request) -> bool:
    """Whether the browser sends Do Not Track or Global Privacy Control."""
    # Read from the WSGI environ: cheaper than request.headers, on every click.
    environ = request.environ
    return (
        environ.get("HTTP_DNT", "").strip() == "1" or environ.get("HTTP_SEC_GPC", "").strip() == "1"
    )


def has_consent(request: Request, cookie_name: str) -> bool:
    """Whether the host's consent cookie is present and not a refusal."""
    value = request.cookies.get(cookie_name)
    return value is not None and value.strip().lower() not in _REFUSALS


def tracking_allowed(request: Request, config: Mapping[str, Any]) -> bool:
    """Whether a visitor cookie may be set and the IP hash and ad click ids kept."""
    if config["SHOPPABLE_HONOR_DNT"] and signals_opt_out(request):
        return False
    return not (
        config["SHOPPABLE_REQUIRE_CONSENT"]
        and not has_consent(request, str(config["SHOPPABLE_CONSENT_COOKIE"]))
    )


def ip_hash(address: str | None, secret: bytes) -> str:
    """Keyed hash (64 hex characters) of a client address; "" when there is none.

    The address is normalised first (``::ffff:1.2.3.4`` is ``1.2.3.4``, IPv6 in its short
    form) so that one client gets one hash however its address was written.
    """
    if not address:
        return ""
    text = address.strip()
    if not _PLAIN_IPV4.fullmatch(text):
        try:
            parsed = ipaddress.ip_address(text)
        except ValueError:
            text = text[:100]
        else:
            if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
                parsed = parsed.ipv4_mapped
            text = parsed.compressed
    return keyed(secret, "ip-hash").digest(text.encode("utf-8", "replace")).hex()
