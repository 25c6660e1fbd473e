"""The one shape of every error the merchant API answers.

``{"code": 422, "status": "Unprocessable Entity", "message": "...", "errors": {...}}``:
``code`` is the HTTP status, ``status`` its name, ``message`` a sentence for a person,
``errors`` (when present) per-field messages, keyed by location then field, as
webargs reports them (``{"json": {"variants": {"0": {"sku": ["..."]}}}}``).
"""

from __future__ import annotations

from typing import Any, NoReturn

from flask import Blueprint, Response, current_app, jsonify, request
from flask_smorest import abort as _smorest_abort
from werkzeug.exceptions import HTTPException

_DEFAULT_MESSAGES = {
    400: "The request could not be read.",
    401: "An API key is required: send it as 'Authorization: Bearer <key>'.",
    403: "The API key lacks the scope this request needs.",
    404: "Not found.",
    405: "Method not allowed on this resource.",
    409: "Conflict with the current state of the resource.",
    413: "The request body is too large.",
    415: "Unsupported media type: send application/json.",
    422: "The request body failed validation.",
    500: "Internal error; it has been logged.",
}


def abort(
    code: int,
    message: str,
    *,
    errors: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> NoReturn:
    """Stop the request with an API error of the stable shape."""
    kwargs: dict[str, Any] = {"message": message}
    if errors is not None:
        kwargs["errors"] = errors
    if headers is not None:
        kwargs["headers"] = headers
    _smorest_abort(code, **kwargs)
    raise AssertionError("unreachable")  # pragma: no cover


def error_response(error: HTTPException) -> Response:
    """Render ``error`` (from ``abort``, webargs or Werkzeug) as the stable JSON shape."""
    code = error.code or 500
    payload: dict[str, Any] = {"code": code, "status": error.name}
    data = getattr(error, "data", None) or {}
    message = data.get("message")
    if message is None and code == 413:
        limit = current_app.config["SHOPPABLE_MAX_BODY_BYTES"]
        message = f"The request body is larger than the limit of {limit} bytes."
    payload["message"] = message or _DEFAULT_MESSAGES.get(code, error.description or error.name)
    errors = data.get("errors") or data.get("messages")
    if errors:
        payload["errors"] = errors
    response = jsonify(payload)
    response.status_code = code
    headers = dict(error.get_headers())
    headers.update(data.get("headers") or {})
    for name, value in headers.items():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def json_bodies_only(blueprint: Blueprint, *, when_sent: bool = False) -> None:
    """Refuse (415) a POST, PATCH or PUT on ``blueprint`` whose body is not JSON, which
    would otherwise read as an empty object; ``when_sent``: only when it has a body (for
    actions that may take none)."""

    @blueprint.before_request
    def _json_bodies_only() -> None:
        if request.method not in ("POST", "PATCH", "PUT") or request.is_json:
            return
        if when_sent and not request.content_length:
            return
        abort(415, "Send the request body as JSON (Content-Type: application/json).")
