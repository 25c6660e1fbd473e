"""Stripe's form encoding, read back: ``a[b][0][c]=v`` into nested dicts and lists.

stripe-python sends v1 parameters as ``application/x-www-form-urlencoded`` with bracketed
keys (arrays always indexed: ``line_items[0][quantity]=2``; ``expand[]`` is accepted too).
Values stay strings; the endpoint converts them (``int_param``, ``bool_param``) so a bad
value gets Stripe's own kind of error, naming the parameter.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from .errors import StripeApiError

_KEY_RE = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART_RE = re.compile(r"\[([^\[\]]*)\]")


def split_key(key: str) -> list[str]:
    """``"a[b][0]"`` → ``["a", "b", "0"]``; ``"a[]"`` → ``["a", ""]``."""
    match = _KEY_RE.match(key)
    if not match:
        raise StripeApiError(f"Invalid parameter name: {key}", param=key)
    return [match.group(1), *_PART_RE.findall(match.group(2))]


def parse_form(body: str) -> dict[str, Any]:
    """Nested parameters of a form-encoded body or query string."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(body, keep_blank_values=True, strict_parsing=False):
        _insert(root, split_key(key), value, key)
    params = _listify(root)
    if not isinstance(params, dict):
        raise StripeApiError("Invalid parameters: top-level names must not be array indexes.")
    return params


def _insert(node: dict[str, Any], parts: list[str], value: str, key: str) -> None:
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if part == "":
            # "a[]": an unindexed array element; give it the next free index.
            part = str(sum(1 for k in node if k.isdigit()))
        if last:
            if isinstance(node.get(part), dict):
                raise StripeApiError(
                    f"Invalid parameter: {key} is both a value and a hash", param=key
                )
            node[part] = value
            return
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise StripeApiError(f"Invalid parameter: {key} is both a value and a hash", param=key)
        node = child


def _listify(node: dict[str, Any]) -> Any:
    """Dicts whose keys are all indexes become lists (in index order)."""
    converted = {k: _listify(v) if isinstance(v, dict) else v for k, v in node.items()}
    if converted and all(k.isdigit() for k in converted):
        indexes = sorted(converted, key=int)
        if [int(i) for i in indexes] != list(range(len(indexes))):
            raise StripeApiError(
                "Invalid array: indexes must start at 0 and have no gaps", param=None
            )
        return [converted[i] for i in indexes]
    return converted


def int_param(
    value: Any, param: str, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    """An integer parameter, checked the way Stripe checks it."""
    if not isinstance(value, str) or not re.fullmatch(r"-?\d+", value.strip()):
        raise StripeApiError(f"Invalid integer: {value}", param=param)
    number = int(value)
    if minimum is not None and number < minimum:
        raise StripeApiError(f"This value must be greater than or equal to {minimum}.", param=param)
    if maximum is not None and number > maximum:
        raise StripeApiError(f"This value must be less than or equal to {maximum}.", param=param)
    return number


def bool_param(value: Any, param: str) -> bool:
    if value in ("true", "True", "1"):
        return True
    if value in ("false", "False", "0", ""):
        return False
    raise StripeApiError(f"Invalid boolean: {value}", param=param)


def str_param(value: Any, param: str, *, max_length: int = 5000) -> str:
    if not isinstance(value, str):
        raise StripeApiError(
            f"Invalid string: {param} must be a string, not a hash or array", param=param
        )
    if len(value) > max_length:
        raise StripeApiError(
            f"Invalid string: {value[:20]}...; must be at most {max_length} characters",
            param=param,
        )
    return value


def list_param(value: Any, param: str) -> list[Any]:
    if not isinstance(value, list):
        raise StripeApiError(f"Invalid array: {param} must be an array", param=param)
    return value


def hash_param(value: Any, param: str) -> dict[str, Any]:
    if value == "":
        return {}
    if not isinstance(value, dict):
        raise StripeApiError(f"Invalid hash: {param} must be a hash", param=param)
    return value


def check_known(params: dict[str, Any], known: set[str] | frozenset[str], prefix: str = "") -> None:
    """Stripe refuses parameters it does not know (a typo never passes silently)."""
    for key in params:
        if key not in known:
            name = f"{prefix}[{key}]" if prefix else key
            raise StripeApiError(f"Received unknown parameter: {name}", param=name)
