"""Channels: where a tracked link is shared, with its UTM defaults and share-intent URL.

A channel names the place a link goes (a Facebook post, an Instagram bio, a newsletter)
so that clicks and sales can be reported per channel. Each has default ``utm_source`` /
``utm_medium`` values for its links, and, where the platform offers one, a share-intent
URL: a page on the platform that opens a prefilled post carrying the channel's own
tracked link. Instagram, TikTok and YouTube have no web share intent (the merchant
copies the link into a bio or description), nor do ``blog`` and ``other``; for those
:func:`share_url` returns None.

Every value is percent-encoded with ``%20`` for spaces (not ``+``), which ``mailto:``
requires (RFC 6068) and every platform accepts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, urlencode

#: X counts any URL as 23 characters; 250 + space + 23 stays under its 280.
X_TEXT_MAX = 250
#: Pinterest cuts pin descriptions at 500 characters.
PINTEREST_TEXT_MAX = 500
#: A subject line longer than this is cut by most mail clients anyway.
EMAIL_SUBJECT_MAX = 120
#: Share texts beyond this are cut before they reach any platform (URLs stay short).
TEXT_MAX = 1000


def _clip(text: str, limit: int) -> str:
    """``text`` on one line (for subjects) or as is, cut to ``limit`` with an ellipsis."""
    text = text.strip()
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + "\u2026"


def _query(params: dict[str, str]) -> str:
    """Encode ``params`` (empty values left out), spaces as ``%20``."""
    return urlencode({k: v for k, v in params.items() if v}, quote_via=quote)


def _x(url: str, text: str, image_url: str) -> str:
    return "https://twitter.com/intent/tweet?" + _query(
        {"text": _clip(text, X_TEXT_MAX), "url": url}
    )


def _facebook(url: str, text: str, image_url: str) -> str:
    # The sharer takes only the URL; the text and image come from the page's Open Graph tags.
    return "https://www.facebook.com/sharer/sharer.php?" + _query({"u": url})


def _linkedin(url: str, text: str, image_url: str) -> str:
    # Like Facebook, LinkedIn reads title and image from the page's Open Graph tags.
    return "https://www.linkedin.com/sharing/share-offsite/?" + _query({"url": url})


def _pinterest(url: str, text: str, image_url: str) -> str:
    return "https://www.pinterest.com/pin/create/button/?" + _query(
        {"url": url, "media": image_url, "description": _clip(text, PINTEREST_TEXT_MAX)}
    )


def _email(url: str, text: str, image_url: str) -> str:
    subject = _clip(" ".join(text.split()), EMAIL_SUBJECT_MAX)
    # RFC 6068: line breaks in a mailto body are CRLF.
    lines = [*text.strip().splitlines(), "", url] if text.strip() else [url]
    body = "\r\n".join(lines)
    return "mailto:?" + _query({"subject": subject, "body": body})


ShareBuilder = Callable[[str, str, str], str]


@dataclass(frozen=True)
class Channel:
    """A place links are shared, with the UTM values its links get by default."""

    name: str
    label: str
    utm_source: str
    utm_medium: str
    #: Builds the share-intent URL from (tracked url, text, absolute image url); None if
    #: the platform has no web share intent (copy the link instead).
    share_builder: ShareBuilder | None = None

    @property
    def can_share(self) -> bool:
        return self.share_builder is not None

    def share_url(self, url: str, text: str = "", image_url: str = "") -> str | None:
        """The platform's share-intent URL carrying ``url``, or None if it has none."""
        if self.share_builder is None:
            return None
        return self.share_builder(url, _clip(text or "", TEXT_MAX), image_url or "")


CHANNELS: dict[str, Channel] = {
    c.name: c
    for c in (
        Channel("facebook", "Facebook", "facebook", "social", _facebook),
        Channel("instagram", "Instagram", "instagram", "social"),
        Channel("x", "X (Twitter)", "x", "social", _x),
        Channel("linkedin", "LinkedIn", "linkedin", "social", _linkedin),
        Channel("pinterest", "Pinterest", "pinterest", "social", _pinterest),
        Channel("tiktok", "TikTok", "tiktok", "social"),
        Channel("youtube", "YouTube", "youtube", "video"),
        Channel("blog", "Blog", "blog", "referral"),
        Channel("email", "Email", "newsletter", "email", _email),
        Channel("other", "Other", "other", "referral"),
    )
}


def share_url(channel: str | Channel, url: str, text: str = "", image_url: str = "") -> str | None:
    """The share-intent URL of ``channel`` (a name or a :class:`Channel`) for ``url``.

    ``url`` should be that channel's own tracked link (absolute), ``image_url`` an
    absolute image URL (Pinterest pins it). Returns None for a channel without a share
    intent. Raises KeyError for an unknown channel name.
    """
    if isinstance(channel, str):
        channel = CHANNELS[channel]
    return channel.share_url(url, text, image_url)
