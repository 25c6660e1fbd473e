"""What an image is, read from its first bytes: format, width and height.

The platforms fetch a post's image themselves from its URL and refuse one they cannot
take; the plugin fetches it first (:func:`fetch`) and checks it against each channel's
rules (:mod:`.rules`), so the merchant hears which rule failed before anything is sent.
Only the header is parsed (JPEG SOF, PNG IHDR, GIF, WebP VP8/VP8L/VP8X, BMP, TIFF): no
image library is needed.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

#: Bytes read to find the dimensions (a JPEG's SOF may follow large EXIF blocks).
HEAD_BYTES = 256 * 1024


@dataclass(frozen=True)
class ImageInfo:
    format: str  # jpeg, png, gif, webp, bmp, tiff, or "" when unknown
    width: int
    height: int
    size: int  # bytes
    content_type: str

    @property
    def ratio(self) -> float:
        return self.width / self.height if self.height else 0.0


class ImageError(ValueError):
    """The image could not be fetched or read."""


def _jpeg(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        i += 2 + length
    return None


def probe(data: bytes) -> tuple[str, int, int]:
    """``(format, width, height)`` of the image whose first bytes are ``data``.

    Format "" (and 0 x 0) when the bytes are no image format this knows.
    """
    if data[:3] == b"\xff\xd8\xff":
        size = _jpeg(data)
        return ("jpeg", *size) if size else ("jpeg", 0, 0)
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return "png", width, height
    if data[:6] in (b"GIF87a", b"GIF89a"):
        width, height = struct.unpack("<HH", data[6:10])
        return "gif", width, height
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        chunk = data[12:16]
        if chunk == b"VP8 " and len(data) >= 30:
            width, height = struct.unpack("<HH", data[26:30])
            return "webp", width & 0x3FFF, height & 0x3FFF
        if chunk == b"VP8L" and len(data) >= 25:
            bits = int.from_bytes(data[21:25], "little")
            return "webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        if chunk == b"VP8X" and len(data) >= 30:
            width = int.from_bytes(data[24:27], "little") + 1
            height = int.from_bytes(data[27:30], "little") + 1
            return "webp", width, height
        return "webp", 0, 0
    if data[:2] == b"BM" and len(data) >= 26:
        width, height = struct.unpack("<ii", data[18:26])
        return "bmp", abs(width), abs(height)
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff", *_tiff(data)
    return "", 0, 0


def _tiff(data: bytes) -> tuple[int, int]:
    endian = "<" if data[:2] == b"II" else ">"
    try:
        (offset,) = struct.unpack(endian + "I", data[4:8])
        (count,) = struct.unpack(endian + "H", data[offset : offset + 2])
        found: dict[int, int] = {}
        for n in range(count):
            entry = data[offset + 2 + 12 * n : offset + 14 + 12 * n]
            tag, kind = struct.unpack(endian + "HH", entry[:4])
            if tag in (256, 257):
                fmt = "H" if kind == 3 else "I"
                (found[tag],) = struct.unpack(endian + fmt, entry[8 : 8 + struct.calcsize(fmt)])
        return found.get(256, 0), found.get(257, 0)
    except struct.error:
        return 0, 0


def _private_address(host: str) -> str | None:
    """An address of ``host`` the internet cannot reach (private, loopback...), or None."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        raise ImageError(f"the image's host {host!r} cannot be resolved") from None
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not address.is_global:
            return str(address)
    return None


def fetch(url: str, *, timeout: float, max_bytes: int, local: bool = False) -> ImageInfo:
    """Fetch ``url`` and describe it; ImageError saying why when that fails.

    The size is the Content-Length when given (the body is then read only as far as the
    header needs), else the bytes counted, up to ``max_bytes`` + 1. The platforms fetch
    the image from the internet, so an address they cannot reach (private, loopback,
    link-local) is refused before any request, unless ``local`` (tests, the demo);
    redirects are not followed (the platforms want the final address).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ImageError(
            f"the image URL {url!r} is not an absolute http(s) URL the platforms can fetch"
        )
    if not local:
        private = _private_address(parts.hostname)
        if private is not None:
            raise ImageError(
                f"the image is on an address the platforms cannot reach ({private}): "
                "publish an image on a public address"
            )
    try:
        with requests.get(url, stream=True, timeout=timeout, allow_redirects=False) as response:
            if 300 <= response.status_code < 400:
                raise ImageError(
                    f"the image URL redirects (HTTP {response.status_code}): give its final address"
                )
            if response.status_code != 200:
                raise ImageError(f"fetching the image answered HTTP {response.status_code}")
            content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
            head = bytearray()
            total = 0
            declared = response.headers.get("Content-Length")
            for chunk in response.iter_content(64 * 1024):
                total += len(chunk)
                if len(head) < HEAD_BYTES:
                    head.extend(chunk[: HEAD_BYTES - len(head)])
                if declared and len(head) >= HEAD_BYTES:
                    break
                if total > max_bytes:
                    break
    except requests.RequestException as exc:
        raise ImageError(f"the image could not be fetched ({type(exc).__name__})") from None
    size = int(declared) if declared and declared.isdigit() else total
    fmt, width, height = probe(bytes(head))
    return ImageInfo(fmt, width, height, size, content_type)
