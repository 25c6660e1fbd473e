"""User-agent rules: which requests are bots, and which browser a shopper is in.

Two questions, asked on every tracked click and embed view:

* :func:`is_bot`: is this a link-preview fetcher or crawler (facebookexternalhit,
  Twitterbot, Slackbot, WhatsApp, Googlebot, curl, ...)? Such requests get the page with
  its preview tags and are never counted, or every share would count as a click.
* :func:`ua_class`: a coarse class for reports, with the in-app browsers of the social
  apps told apart ("instagram-app", "facebook-app", "tiktok-app", ...), because those
  browsers drop or isolate cookies and are where attribution is most often lost.

Both are pure functions of the header, cached, because the same few user agents arrive
again and again. A missing or empty user agent counts as a bot: every browser sends one,
and a click nobody can classify is better left out of the reports.
"""

from __future__ import annotations

import re
from functools import lru_cache

#: Fragments (lower case) of the user agents of link-preview fetchers and crawlers.
BOT_MARKERS: tuple[str, ...] = (
    # Social link previews.
    "facebookexternalhit",
    "facebookcatalog",
    "facebot",
    "meta-externalagent",
    "meta-externalfetcher",
    "twitterbot",
    "linkedinbot",
    "slackbot",
    "slack-imgproxy",
    "pinterestbot",
    "pinterest/0.",
    "discordbot",
    "whatsapp/",
    "telegrambot",
    "skypeuripreview",
    "microsoftpreview",
    "bingpreview",
    "redditbot",
    "embedly",
    "iframely",
    "vkshare",
    "quora link preview",
    "mastodon/",
    "cardyb",
    "applebot",
    "google-pagerenderer",
    "googleother",
    # Search engines and other crawlers.
    "googlebot",
    "adsbot-google",
    "mediapartners-google",
    "google-inspectiontool",
    "storebot-google",
    "bingbot",
    "duckduckbot",
    "yandexbot",
    "yandex.com/bots",
    "baiduspider",
    "slurp",
    "ia_archiver",
    "bytespider",
    "petalbot",
    "semrushbot",
    "ahrefsbot",
    "gptbot",
    "claudebot",
    "perplexitybot",
    "amazonbot",
    "ccbot",
    # HTTP libraries and command-line tools (health checks, link checkers, HEAD probes).
    "curl/",
    "wget/",
    "python-requests/",
    "python-urllib/",
    "python-httpx/",
    "aiohttp/",
    "go-http-client/",
    "okhttp/",
    "java/",
    "apache-httpclient/",
    "libwww-perl/",
    "node-fetch/",
    "axios/",
    "undici",
    "http.rb/",
    "httpie/",
    "scrapy/",
)

#: Generic words crawlers put in their user agent ("SomethingBot/1.0", "+http://...").
_GENERIC_BOT = re.compile(
    r"(?:bot|crawler|spider|scraper|fetcher|preview)(?:[/;)\s_-]|$)|\+https?://|^mozilla/5\.0$"
)
#: Words that look like a bot's but are phone makers or apps of real people.
_NOT_BOTS = re.compile(r"cubot|\bbotw\b")

_IN_APP: tuple[tuple[str, re.Pattern[str]], ...] = (
    # Instagram's UA also carries Facebook's markers on some devices: look for it first.
    ("instagram-app", re.compile(r"\binstagram[ /]\d")),
    ("facebook-app", re.compile(r"fban/|fbav/|fb_iab|fbios|\[fb|fb4a|messengerfor")),
    ("tiktok-app", re.compile(r"musical_ly|bytedancewebview|bytelocale|\btiktok\b|trill_\d")),
    ("linkedin-app", re.compile(r"linkedinapp")),
    ("pinterest-app", re.compile(r"\[pinterest/|pinterest for (?:android|ios)")),
    ("x-app", re.compile(r"twitter for |twitterandroid|\bx for ios")),
)
_TABLET = re.compile(r"ipad|tablet|kindle|silk/|playbook|\bsm-t\d")
_MOBILE = re.compile(r"mobi|iphone|ipod|android|windows phone|blackberry|opera mini")
_DESKTOP = re.compile(r"windows nt|macintosh|mac os x|x11|linux|cros")

UA_CLASSES = (
    "instagram-app",
    "facebook-app",
    "tiktok-app",
    "linkedin-app",
    "pinterest-app",
    "x-app",
    "mobile",
    "tablet",
    "desktop",
    "other",
)


@lru_cache(maxsize=2048)
def is_bot(user_agent: str | None) -> bool:
    """True for link-preview fetchers, crawlers, HTTP tools and an empty user agent."""
    ua = (user_agent or "").strip().lower()
    if not ua:
        return True
    if any(marker in ua for marker in BOT_MARKERS):
        return True
    return bool(_GENERIC_BOT.search(ua)) and not _NOT_BOTS.search(ua)


@lru_cache(maxsize=2048)
def ua_class(user_agent: str | None) -> str:
    """One of :data:`UA_CLASSES`: an in-app browser first, then the device kind."""
    ua = (user_agent or "").lower()
    if not ua.strip():
        return "other"
    for name, pattern in _IN_APP:
        if pattern.search(ua):
            return name
    if _TABLET.search(ua) or ("android" in ua and "mobile" not in ua):
        return "tablet"
    if _MOBILE.search(ua):
        return "mobile"
    if _DESKTOP.search(ua):
        return "desktop"
    return "other"
