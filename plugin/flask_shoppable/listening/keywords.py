"""Keyword matching: case- and accent-insensitive words, and emoji.

A keyword of letters or digits matches whole words of the comment (``"link"`` matches
"LINK please" and "Línk!", not "linked"; ``"je veux"`` matches those two words in a
row). A keyword without letters or digits (an emoji, "🛒", "💖💖") matches anywhere in
the comment. Both sides are folded the same way: Unicode NFKD, combining marks removed,
case folded, variation selectors and skin-tone modifiers dropped (so "❤" matches "❤️").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

#: Longest keyword, and most keywords per post.
MAX_KEYWORD_LENGTH = 100
MAX_KEYWORDS = 50

_WORD = re.compile(r"\w+")
#: Variation selectors, zero-width joiner's neighbours kept; skin tones dropped.
_IGNORED = re.compile("[\ufe0e\ufe0f\U0001f3fb-\U0001f3ff]")


def fold(text: str) -> str:
    """``text`` without accents, case or emoji presentation differences."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _IGNORED.sub("", stripped).casefold()


def is_wordy(keyword: str) -> bool:
    return bool(_WORD.search(fold(keyword)))


def clean_keywords(keywords: Iterable[str]) -> list[str]:
    """The keywords trimmed, without empties and duplicates (as folded), in order.

    Raises ValueError with a message for a person on a keyword that is too long or
    that folds to nothing, or for too many keywords.
    """
    seen: set[str] = set()
    result: list[str] = []
    for raw in keywords:
        keyword = " ".join(raw.split())
        if not keyword:
            continue
        if len(keyword) > MAX_KEYWORD_LENGTH:
            raise ValueError(f"{keyword[:20]!r}...: at most {MAX_KEYWORD_LENGTH} characters")
        folded = fold(keyword)
        if not folded.strip():
            raise ValueError(f"{keyword!r} has nothing left to match once folded")
        if folded not in seen:
            seen.add(folded)
            result.append(keyword)
    if len(result) > MAX_KEYWORDS:
        raise ValueError(f"at most {MAX_KEYWORDS} keywords per post")
    return result


def match(keywords: Iterable[str], text: str) -> str | None:
    """The first of ``keywords`` found in ``text``, or None."""
    folded = fold(text)
    words = _WORD.findall(folded)
    for keyword in keywords:
        key = fold(keyword)
        key_words = _WORD.findall(key)
        if key_words:
            n = len(key_words)
            if any(words[i : i + n] == key_words for i in range(len(words) - n + 1)):
                return keyword
        elif key.strip() and "".join(key.split()) in "".join(folded.split()):
            return keyword
    return None
