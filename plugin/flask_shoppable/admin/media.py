"""Uploaded images (post images, the shop's logo): checked, stored, served.

An upload is accepted when its first bytes are those of a PNG, JPEG, GIF or WebP image
(the file name and the browser's Content-Type are not trusted; SVG is refused, as it can
carry script) and it is at most ``SHOPPABLE_ADMIN_UPLOAD_MAX_BYTES``. It is stored under
the app's instance folder, ``<instance>/shoppable-media/<random>.<ext>``, and served at
``<prefix>/media/<name>`` with its own type, ``nosniff`` and a long cache lifetime (names
are never reused). With several web hosts, put that folder on shared storage (or link
images hosted elsewhere instead of uploading).
"""

from __future__ import annotations

import os
import re
import secrets

from flask import Blueprint, Response, abort, current_app, send_from_directory, url_for
from werkzeug.datastructures import FileStorage

bp = Blueprint("shoppable_media", __name__)

FOLDER = "shoppable-media"
_NAME_RE = re.compile(r"^[a-f0-9]{32}\.(png|jpg|gif|webp)$")
_TYPES = {"png": "image/png", "jpg": "image/jpeg", "gif": "image/gif", "webp": "image/webp"}


class UploadError(ValueError):
    """An upload refused; the message is shown beside the field."""


def sniff(head: bytes) -> str | None:
    """The extension for an image's first bytes, or None if not an accepted image."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


def folder() -> str:
    return os.path.join(current_app.instance_path, FOLDER)


def save_image(upload: FileStorage) -> str:
    """Check and store an uploaded image; return the URL path it is served at."""
    limit = current_app.config["SHOPPABLE_ADMIN_UPLOAD_MAX_BYTES"]
    body = upload.stream.read(limit + 1)
    if not body:
        raise UploadError("The file is empty.")
    if len(body) > limit:
        raise UploadError(f"The file is larger than {_size(limit)}; choose a smaller image.")
    ext = sniff(body[:16])
    if ext is None:
        raise UploadError("Choose a PNG, JPEG, GIF or WebP image.")
    os.makedirs(folder(), exist_ok=True)
    name = f"{secrets.token_hex(16)}.{ext}"
    path = os.path.join(folder(), name)
    with open(path, "xb") as out:
        out.write(body)
    return url_for("shoppable_media.media", name=name)


def _size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):g} MB"
    return f"{n / 1024:g} KB"


@bp.get("/media/<name>")
def media(name: str) -> Response:
    match = _NAME_RE.match(name)
    if not match:
        abort(404)
    response = send_from_directory(
        folder(), name, mimetype=_TYPES[match.group(1)], max_age=31536000
    )
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
