"""A local image host: the pictures a post points at, of any type, size and shape.

The platforms fetch a post's image from its URL, and the plugin fetches it first to
check it (type, size, aspect ratio). ``FakeImageHost`` serves
``/<name>.<jpg|png|gif|webp>?w=<width>&h=<height>&bytes=<size>``: a file of that format
whose header carries those dimensions, padded to ``size`` bytes (default a few KB), with
the format's Content-Type. ``url(...)`` builds such an address.
"""

from __future__ import annotations

import struct
import zlib
from urllib.parse import urlencode

from werkzeug.wrappers import Request, Response

from .server import FakeServer

_TYPES = {"jpg": "image/jpeg", "png": "image/png", "gif": "image/gif", "webp": "image/webp"}


def _png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b""))
        + (chunk(b"IEND", b""))
    )


def _jpeg(width: int, height: int) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof = (
        b"\xff\xc0"
        + struct.pack(">HBHHB", 17, 8, height, width, 3)
        + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    )
    return b"\xff\xd8" + app0 + sof + b"\xff\xd9"


def image_bytes(fmt: str, width: int, height: int, size: int = 0) -> bytes:
    if fmt == "png":
        data = _png(width, height)
    elif fmt == "jpg":
        data = _jpeg(width, height)
    elif fmt == "gif":
        data = b"GIF89a" + struct.pack("<HH", width, height) + b"\x00\x00\x00;"
    elif fmt == "webp":
        vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00"
        vp8x += (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
        data = b"RIFF" + struct.pack("<I", 4 + len(vp8x)) + b"WEBP" + vp8x
    else:
        raise ValueError(f"unknown format {fmt!r}")
    return data + b"\x00" * max(0, size - len(data))


class FakeImageHost(FakeServer):
    name = "images"

    def image_url(
        self,
        name: str = "look",
        fmt: str = "jpg",
        *,
        width: int = 1080,
        height: int = 1080,
        size: int = 4096,
    ) -> str:
        query = urlencode({"w": width, "h": height, "bytes": size})
        return f"{self.url}/{name}.{fmt}?{query}"

    def handle(self, request: Request) -> Response:
        name, _, fmt = request.path.rpartition(".")
        if fmt not in _TYPES or not name:
            return Response("not found", status=404)
        try:
            width = int(request.args.get("w", "1080"))
            height = int(request.args.get("h", "1080"))
            size = int(request.args.get("bytes", "4096"))
        except ValueError:
            return Response("bad dimensions", status=400)
        data = image_bytes(fmt, width, height, size)
        return Response(data, headers={"Content-Type": _TYPES[fmt]})
