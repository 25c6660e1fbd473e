"""Bot detection and user-agent classes, on real user-agent strings."""

from __future__ import annotations

import pytest

from flask_shoppable.tracking.useragent import UA_CLASSES, is_bot, ua_class

BOTS = {
    "facebook": "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "facebook-plain": "facebookexternalhit/1.1",
    "facebot": "Facebot",
    "meta-agent": "meta-externalagent/1.1 (+https://developers.facebook.com/docs/sharing/webmasters/crawler)",
    "twitter": "Twitterbot/1.0",
    "linkedin": "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
    "slack": "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "slack-img": "Slack-ImgProxy (+https://api.slack.com/robots)",
    "pinterest": "Pinterest/0.2 (+https://www.pinterest.com/bot.html)",
    "pinterestbot": "Mozilla/5.0 (compatible; Pinterestbot/1.0; +http://www.pinterest.com/bot.html)",
    "discord": "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
    "whatsapp": "WhatsApp/2.23.20.0 A",
    "whatsapp-ios": "WhatsApp/2.21.120.17 i",
    "telegram": "TelegramBot (like TwitterBot)",
    "googlebot": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "googlebot-smartphone": (
        "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/120.0.6099.129 Mobile Safari/537.36 "
        "(compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    ),
    "bing": "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "apple": (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/13.1.1 Safari/605.1.15 (Applebot/0.1; "
        "+http://www.apple.com/go/applebot)"
    ),
    "skype": (
        "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5 "
        "skype-url-preview@microsoft.com"
    ),
    "embedly": "Mozilla/5.0 (compatible; Embedly/0.2; +http://support.embed.ly/)",
    "iframely": "Iframely/1.3.1 (+https://iframely.com/docs/about)",
    "redditbot": "Mozilla/5.0 (compatible; redditbot/1.0; +http://www.reddit.com/feedback)",
    "curl": "curl/8.5.0",
    "wget": "Wget/1.21.4",
    "requests": "python-requests/2.31.0",
    "go": "Go-http-client/1.1",
    "generic-crawler": "Mozilla/5.0 (compatible; SomeNewCrawler/3.1)",
    "bare-mozilla": "Mozilla/5.0",
    "empty": "",
    "blank": "   ",
}

BROWSERS = {
    "instagram-ios": (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Mobile/15E148 Instagram 300.0.0.29.110 (iPhone15,3; iOS 17_1; "
        "en_US; en; scale=3.00; 1290x2796; 518036545)",
        "instagram-app",
    ),
    "instagram-android": (
        "Mozilla/5.0 (Linux; Android 13; SM-S918B Build/TP1A.220624.014; wv) "
        "AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/119.0.6045.163 Mobile "
        "Safari/537.36 Instagram 307.0.0.34.111 Android (33/13; 480dpi; 1080x2340; samsung; "
        "SM-S918B; dm3q; qcom; en_GB; 532277055)",
        "instagram-app",
    ),
    "facebook-ios": (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBDV/iPhone14,2;FBMD/iPhone;"
        "FBSN/iOS;FBSV/16.6;FBSS/3;FBID/phone;FBLC/en_US;FBOP/5;FBRV/0]",
        "facebook-app",
    ),
    "facebook-android": (
        "Mozilla/5.0 (Linux; Android 12; Pixel 6 Build/SQ3A.220705.004; wv) "
        "AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/118.0.5993.111 Mobile "
        "Safari/537.36 [FB_IAB/FB4A;FBAV/439.0.0.44.117;]",
        "facebook-app",
    ),
    "tiktok-ios": (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Mobile/15E148 musical_ly_31.5.0 JsSdk/2.0 NetType/WIFI "
        "Channel/App Store ByteLocale/en Region/US ByteFullLocale/en-US isDarkMode/0 "
        "WKWebView/1 RevealType/Dialog BytedanceWebview/d8a21c6",
        "tiktok-app",
    ),
    "tiktok-android": (
        "Mozilla/5.0 (Linux; Android 13; SM-A536B Build/TP1A.220624.014; wv) "
        "AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/116.0.5845.163 Mobile "
        "Safari/537.36 trill_310503 JsSdk/1.0 NetType/WIFI Channel/googleplay AppName/trill "
        "app_version/31.5.3 ByteLocale/en ByteFullLocale/en Region/GB BytedanceWebview/d8a21c6",
        "tiktok-app",
    ),
    "linkedin-ios": (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 16_5 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Mobile/15E148 [LinkedInApp]/9.27.3341",
        "linkedin-app",
    ),
    "pinterest-ios": (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Mobile/15E148 [Pinterest/iOS]",
        "pinterest-app",
    ),
    "pinterest-android": (
        "Mozilla/5.0 (Linux; Android 11; SM-G991B Build/RP1A.200720.012; wv) "
        "AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/96.0.4664.104 Mobile "
        "Safari/537.36 [Pinterest/Android]",
        "pinterest-app",
    ),
    "x-ios": (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Mobile/15E148 Twitter for iPhone/10.20",
        "x-app",
    ),
    "iphone-safari": (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
        "mobile",
    ),
    "android-chrome": (
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Mobile Safari/537.36",
        "mobile",
    ),
    "cubot-phone": (
        "Mozilla/5.0 (Linux; Android 9; CUBOT P40 Build/PPR1.180610.011) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
        "mobile",
    ),
    "ipad": (
        "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
        "tablet",
    ),
    "android-tablet": (
        "Mozilla/5.0 (Linux; Android 13; SM-X200) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36",
        "tablet",
    ),
    "windows-chrome": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36",
        "desktop",
    ),
    "mac-safari": (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.1 Safari/605.1.15",
        "desktop",
    ),
    "linux-firefox": (
        "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
        "desktop",
    ),
    "headless-chromium": (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "HeadlessChrome/120.0.6099.224 Safari/537.36",
        "desktop",
    ),
    "unknown": ("SomethingElse/1.0", "other"),
}


@pytest.mark.parametrize("ua", BOTS.values(), ids=BOTS.keys())
def test_bots_are_recognised(ua: str) -> None:
    assert is_bot(ua)


def test_missing_user_agent_is_a_bot() -> None:
    assert is_bot(None)


@pytest.mark.parametrize(("ua", "expected"), BROWSERS.values(), ids=BROWSERS.keys())
def test_browsers_are_not_bots_and_are_classified(ua: str, expected: str) -> None:
    assert not is_bot(ua)
    assert ua_class(ua) == expected
    assert expected in UA_CLASSES


@pytest.mark.parametrize("ua", ["", None, "   "])
def test_empty_user_agent_is_other(ua: str | None) -> None:
    assert ua_class(ua) == "other"


def test_huge_and_odd_user_agents_do_not_fail() -> None:
    huge = "Mozilla/5.0 " + "x" * 100_000
    assert ua_class(huge) == "other"
    assert isinstance(is_bot(huge), bool)
    odd = "Mozilla/5.0 (\x00\udcff\u202e) Instagram"
    assert ua_class(odd) in UA_CLASSES
