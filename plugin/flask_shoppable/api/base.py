"""The merchant REST API: flask-smorest under ``<prefix>/api``, guarded by API keys.

Every blueprint registered through :func:`register` is behind :func:`_authenticate`
(401 without a valid key, 403 without the scope: ``read`` for GET/HEAD, ``write`` for
anything else) and answers errors in the one JSON shape of :mod:`.errors`. The OpenAPI
document (``/api/openapi.json``) and the docs page (``/api/docs``, Swagger UI served
from the swagger-ui-bundle package, no CDN) are public.
"""

from __future__ import annotations

from datetime import timedelta

import swagger_ui_bundle
from flask import Blueprint, Flask, Response, current_app, g, request, send_from_directory
from flask_smorest import Api
from flask_smorest import Blueprint as ApiBlueprint
from werkzeug.exceptions import HTTPException, default_exceptions

from .. import db
from ..config import SMOREST_PREFIX
from . import keys
from .errors import abort, error_response

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_G_KEY = "_shoppable_api_key"
_FALLBACK_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


class ShoppableApi(Api):  # type: ignore[misc]
    """flask-smorest's Api, with errors scoped to the plugin's own routes."""

    def _register_error_handlers(self) -> None:
        # flask-smorest would take over every HTTP error of the host app; the plugin's
        # blueprints carry their own handlers instead (see register()).
        return None


def current_key() -> keys.ApiKey:
    """The API key of the current request (set by the guard)."""
    key: keys.ApiKey = g.get(_G_KEY)
    return key


def _authenticate() -> None:
    request.max_content_length = current_app.config["SHOPPABLE_MAX_BODY_BYTES"]
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    challenge = {"WWW-Authenticate": 'Bearer realm="shoppable"'}
    if scheme.lower() != "bearer" or not token.strip():
        abort(
            401,
            "An API key is required: send it as 'Authorization: Bearer <key>'.",
            headers=challenge,
        )
    session = db.session()
    row = keys.verify(session, token.strip())
    if row is None:
        abort(401, "The API key is unknown or has been revoked.", headers=challenge)
    needed = "read" if request.method in _SAFE_METHODS else "write"
    if needed not in row.scope_set:
        abort(403, f"The API key lacks the '{needed}' scope this request needs.")
    seconds = current_app.config["SHOPPABLE_API_KEY_TOUCH_SECONDS"]
    keys.touch(session, row, timedelta(seconds=seconds))
    setattr(g, _G_KEY, row)


def _json_error(error: HTTPException) -> Response:
    return error_response(error)


def _json_errors_on(blueprint: Blueprint) -> None:
    """Answer every HTTP error raised in ``blueprint`` as JSON.

    Registered per status code as well as for the class: Flask prefers a handler for the
    code over one for the class, app-wide, so a host's own ``errorhandler(404)`` would
    otherwise answer the API's 404s with its HTML page.
    """
    if blueprint._got_registered_once:
        return
    blueprint.register_error_handler(HTTPException, _json_error)
    for code in default_exceptions:
        blueprint.register_error_handler(code, _json_error)


def _not_found(path: str = "") -> Response:
    # The catch-all also wins over a real route asked with the wrong method: tell which.
    adapter = current_app.url_map.bind_to_environ(request.environ)
    allowed = []
    for method in _FALLBACK_METHODS:
        if method == request.method:
            continue
        try:
            endpoint, _args = adapter.match(request.path, method=method)
        except HTTPException:
            continue
        if endpoint != "shoppable_api_fallback.not_found":
            allowed.append(method)
    if allowed:
        abort(
            405,
            f"{request.method} is not allowed here; use {', '.join(allowed)}.",
            headers={"Allow": ", ".join(allowed)},
        )
    abort(404, f"No API resource at {request.path}.")


def _docs_asset(filename: str) -> Response:
    folder = swagger_ui_bundle.swagger_ui_path
    return send_from_directory(folder, filename, max_age=86400)


def setup(app: Flask, prefix: str, blueprints: list[ApiBlueprint]) -> ShoppableApi:
    """Create the API for ``app`` and register the capability blueprints on it."""
    api_prefix = f"{prefix}/api"
    config = app.config
    config[f"{SMOREST_PREFIX}API_TITLE"] = config["SHOPPABLE_API_TITLE"]
    config[f"{SMOREST_PREFIX}API_VERSION"] = "v1"
    config[f"{SMOREST_PREFIX}OPENAPI_VERSION"] = "3.0.3"
    config[f"{SMOREST_PREFIX}OPENAPI_URL_PREFIX"] = api_prefix
    config[f"{SMOREST_PREFIX}OPENAPI_JSON_PATH"] = "openapi.json"
    if config["SHOPPABLE_API_DOCS"]:
        config[f"{SMOREST_PREFIX}OPENAPI_SWAGGER_UI_PATH"] = "docs"
        config[f"{SMOREST_PREFIX}OPENAPI_SWAGGER_UI_URL"] = f"{api_prefix}/docs/assets/"
    api = ShoppableApi(
        app,
        config_prefix=SMOREST_PREFIX,
        spec_kwargs={
            "info": {
                "description": "Merchant API of Flask-Shoppable. Authenticate with "
                "'Authorization: Bearer <key>' (flask shoppable create-api-key)."
            },
        },
    )
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "description": "shp_... API key"}
    )
    api.spec.options["security"] = [{"bearerAuth": []}]

    names: set[str] = set()
    for blp in blueprints:
        _json_errors_on(blp)
        api.register_blueprint(blp, url_prefix=api_prefix)
        names.add(blp.name)

    fallback = Blueprint("shoppable_api_fallback", __name__, url_prefix=api_prefix)
    if config["SHOPPABLE_API_DOCS"]:
        fallback.add_url_rule("/docs/assets/<path:filename>", "docs_asset", _docs_asset)
    fallback.add_url_rule(
        "/<path:path>",
        "not_found",
        _not_found,
        methods=list(_FALLBACK_METHODS),
    )
    _json_errors_on(fallback)
    app.register_blueprint(fallback)

    def guard() -> None:
        if request.blueprint in names:
            _authenticate()

    app.before_request(guard)
    return api
