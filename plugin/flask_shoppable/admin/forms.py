"""A small form object for the merchant pages: what was typed, and what is wrong with it.

Views validate through the capability's own schema and service (catalog, social, ...),
never by repeating their rules here; this only carries values and messages to the
template, where the ``field`` macro of ``shoppable/admin/_forms.html`` shows each message
beside its field and keeps what was typed::

    form = Form(request.form)
    try:
        data = ProductSchema().load(form.data_for(...))
    except ValidationError as exc:
        form.add_errors(exc.messages)
    ...
    return render_template("shoppable/admin/x.html", form=form), 422 if form.errors else 200

Nested marshmallow messages (``{"variants": {0: {"price": [...]}}}``) become field names
joined with ``-`` (``variants-0-price``); messages for the whole form go under ``_form``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any, TypeVar

from marshmallow import ValidationError

from .. import db
from ..catalog.service import CatalogError
from ..social.service import SocialError

T = TypeVar("T")

FORM_ERRORS = "_form"


class Form:
    def __init__(self, data: Mapping[str, Any] | None = None, **initial: Any) -> None:
        self.values: dict[str, Any] = {}
        for key, value in initial.items():
            self.values[key] = value
        if data is not None:
            for key in data:
                values = data.getlist(key) if hasattr(data, "getlist") else [data[key]]
                self.values[key] = values[0] if len(values) == 1 else list(values)
        self.errors: dict[str, list[str]] = {}

    def get(self, name: str, default: Any = "") -> Any:
        value = self.values.get(name, default)
        return default if value is None else value

    def text(self, name: str) -> str:
        """The field's value as stripped text ("" when absent or a list)."""
        value = self.values.get(name, "")
        return value.strip() if isinstance(value, str) else ""

    def checked(self, name: str) -> bool:
        return self.values.get(name) in ("on", "1", "true", True, "yes")

    def error(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)

    def add_errors(
        self,
        messages: Any,
        prefix: str = "",
        fields: Collection[str] | None = None,
    ) -> None:
        """Add marshmallow-shaped messages (dicts of lists, nested by field and index).

        With ``fields`` (the names the page has), a nested name is shown on the nearest
        field that exists: ``variants-0-price-amount`` on ``variants-0-price``; a name
        with no field at all goes to the form's own messages.
        """
        for name, message in _flatten(messages, prefix):
            self.error(_nearest(name, fields), message)

    def run(
        self,
        write: Callable[[], T],
        *,
        fields: Collection[str] | None = None,
        prefix: str = "",
    ) -> T | None:
        """Run ``write`` (a schema load and a service call) when the form has no errors yet.

        Its refusals (a marshmallow ValidationError, or a service error with ``message``
        and per-field ``errors``: CatalogError, SocialError) go beside the fields they
        name, after a rollback; returns what ``write`` returned, or None.
        """
        if not self.ok:
            return None
        try:
            return write()
        except ValidationError as exc:
            self.add_errors(exc.messages, prefix, fields)
        except (CatalogError, SocialError) as exc:
            db.session().rollback()
            self.add_errors(exc.errors or exc.message, prefix, fields)
        return None

    @property
    def ok(self) -> bool:
        return not self.errors

    def form_errors(self) -> list[str]:
        return self.errors.get(FORM_ERRORS, [])


def _flatten(messages: Any, prefix: str) -> Iterator[tuple[str, str]]:
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            name = "" if str(key) == "_schema" else str(key)
            yield from _flatten(value, f"{prefix}-{name}".strip("-") if name else prefix)
    elif isinstance(messages, list | tuple):
        for item in messages:
            yield from _flatten(item, prefix)
    elif isinstance(messages, str):
        yield prefix, messages


def _nearest(name: str, fields: Collection[str] | None) -> str:
    if not name:
        return FORM_ERRORS
    if fields is None:
        return name
    while name:
        if name in fields:
            return name
        name = name.rpartition("-")[0]
    return FORM_ERRORS
