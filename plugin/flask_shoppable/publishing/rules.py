"""Each platform's rules for a post: caption length, image type, size and shape.

Checked before anything is sent, so the merchant is told which rule failed; a caption
is never cut. Figures from the platforms' documentation:

* Instagram content publishing: JPEG only, at most 8 MB, aspect ratio from 4:5 to
  1.91:1; caption at most 2,200 characters, 30 hashtags and 20 @ mentions. Links in
  captions are not clickable, so the caption says "link in bio".
* Facebook Page photos: JPEG, BMP, PNG, GIF or TIFF, at most 4 MB (PNG at most 1 MB);
  a post's text at most 63,206 characters.
* Pinterest pins: BMP, JPEG, PNG, TIFF, GIF or WebP, at most 20 MB; title at most 100
  characters, description at most 800. The link is the pin's own field.
* LinkedIn posts: commentary at most 3,000 characters; the image is not uploaded (the
  article's link card shows the post page's Open Graph image).
* X posts: 280 characters, every URL counting as 23 (t.co); the image reaches X through
  the post page's Twitter Card tags.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .images import ImageInfo

MB = 1024 * 1024
X_URL_LENGTH = 23
_URL_RE = re.compile(r"https?://\S+")


@dataclass(frozen=True)
class ChannelRules:
    channel: str
    label: str
    caption_max: int
    #: Whether a link in the caption is clickable (else "link in bio").
    shows_links: bool
    #: Image formats accepted; empty: the image is not sent (no image rules).
    formats: tuple[str, ...] = ()
    max_bytes: int = 0
    max_bytes_by_format: tuple[tuple[str, int], ...] = ()
    #: Aspect ratio bounds (width / height), when the platform has them.
    min_ratio: float | None = None
    max_ratio: float | None = None
    min_ratio_text: str = ""
    max_ratio_text: str = ""
    title_max: int = 0
    hashtags_max: int = 0
    mentions_max: int = 0


RULES: dict[str, ChannelRules] = {
    "instagram": ChannelRules(
        "instagram",
        "Instagram",
        caption_max=2200,
        shows_links=False,
        formats=("jpeg",),
        max_bytes=8 * MB,
        min_ratio=4 / 5,
        max_ratio=1.91,
        min_ratio_text="4:5",
        max_ratio_text="1.91:1",
        hashtags_max=30,
        mentions_max=20,
    ),
    "facebook": ChannelRules(
        "facebook",
        "Facebook",
        caption_max=63206,
        shows_links=True,
        formats=("jpeg", "bmp", "png", "gif", "tiff"),
        max_bytes=4 * MB,
        max_bytes_by_format=(("png", 1 * MB),),
    ),
    "pinterest": ChannelRules(
        "pinterest",
        "Pinterest",
        caption_max=800,
        shows_links=True,
        formats=("bmp", "jpeg", "png", "tiff", "gif", "webp"),
        max_bytes=20 * MB,
        title_max=100,
    ),
    "linkedin": ChannelRules("linkedin", "LinkedIn", caption_max=3000, shows_links=True),
    "x": ChannelRules("x", "X", caption_max=280, shows_links=True),
}


def caption_length(channel: str, text: str) -> int:
    """The length the platform counts (X counts each URL as 23 characters)."""
    if channel == "x":
        return len(_URL_RE.sub("", text)) + X_URL_LENGTH * len(_URL_RE.findall(text))
    return len(text)


def caption_problems(channel: str, caption: str, title: str = "") -> list[str]:
    rules = RULES[channel]
    problems = []
    length = caption_length(channel, caption)
    if length > rules.caption_max:
        counted = " (each URL counted as 23)" if channel == "x" else ""
        what = "description" if channel == "pinterest" else "caption"
        problems.append(
            f"the {what} is {length} characters{counted}, {rules.label} allows "
            f"{rules.caption_max}: shorten it (give captions.{channel}); it is never cut"
        )
    if rules.hashtags_max and len(re.findall(r"#\w", caption)) > rules.hashtags_max:
        problems.append(f"{rules.label} allows at most {rules.hashtags_max} hashtags")
    if rules.mentions_max and len(re.findall(r"@\w", caption)) > rules.mentions_max:
        problems.append(f"{rules.label} allows at most {rules.mentions_max} @ mentions")
    if rules.title_max and len(title) > rules.title_max:
        problems.append(
            f"the title is {len(title)} characters, {rules.label} allows {rules.title_max}"
        )
    return problems


def _mb(size: int) -> str:
    return f"{size / MB:.1f} MB"


def image_problems(channel: str, image: ImageInfo) -> list[str]:
    """Which of the channel's image rules ``image`` breaks (empty: it is fine)."""
    rules = RULES[channel]
    if not rules.formats:
        return []
    label = rules.label
    if image.format not in rules.formats:
        shown = image.format.upper() or f"not an image format we know ({image.content_type})"
        accepted = ", ".join(f.upper() for f in rules.formats)
        return [f"image type: {label} takes {accepted}; this image is {shown}"]
    problems = []
    limit = dict(rules.max_bytes_by_format).get(image.format, rules.max_bytes)
    if limit and image.size > limit:
        problems.append(
            f"image size: {label} takes {image.format.upper()} images up to {_mb(limit)}; "
            f"this one is {_mb(image.size)}"
        )
    if rules.min_ratio is not None or rules.max_ratio is not None:
        if not (image.width and image.height):
            problems.append("aspect ratio: the image's dimensions could not be read")
        else:
            ratio = image.ratio
            shape = f"{image.width}x{image.height} is {ratio:.2f}:1"
            if rules.min_ratio is not None and ratio < rules.min_ratio - 1e-3:
                problems.append(
                    f"aspect ratio: {label} takes {rules.min_ratio_text} to "
                    f"{rules.max_ratio_text}; {shape}, too tall"
                )
            if rules.max_ratio is not None and ratio > rules.max_ratio + 1e-3:
                problems.append(
                    f"aspect ratio: {label} takes {rules.min_ratio_text} to "
                    f"{rules.max_ratio_text}; {shape}, too wide"
                )
    return problems


def needs_image(channel: str) -> bool:
    return bool(RULES[channel].formats)
