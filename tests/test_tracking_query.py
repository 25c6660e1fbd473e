"""The redirect's own reading of utm_* and ad click ids from the query string."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from flask_shoppable.tracking.views import _WANTED, query_values


def _environ(query: str) -> dict[str, str]:
    # As a WSGI server hands it over: the raw bytes as latin-1 text.
    return {"QUERY_STRING": query.encode("utf-8").decode("latin-1")}


def test_reads_the_first_value_of_each_wanted_key() -> None:
    query = "utm_source=a&utm_source=b&fbclid=x%20y&gclid=p+q&other=1&utm_term&utm_content="
    assert query_values(_environ(query)) == {
        "utm_source": "a",
        "fbclid": "x y",
        "gclid": "p q",
        "utm_term": "",
        "utm_content": "",
    }


def test_percent_encoded_keys_and_utf8() -> None:
    query = "utm%5Fcampaign=%E2%82%AC%F0%9F%98%80&utm_term=caf\u00e9"
    assert query_values(_environ(query)) == {
        "utm_campaign": "\u20ac\U0001f600",
        "utm_term": "caf\u00e9",
    }


def test_invalid_bytes_never_fail() -> None:
    environ = {"QUERY_STRING": "utm_source=%ff%fe%00&utm_medium=\xff\xfe&fbclid=%"}
    values = query_values(environ)
    assert values["utm_source"] == "\ufffd\ufffd\x00"
    assert values["utm_medium"] == "\ufffd\ufffd"
    assert values["fbclid"] == "%"


def test_empty() -> None:
    assert query_values({}) == {}
    assert query_values({"QUERY_STRING": ""}) == {}


_KEYS = st.sampled_from([*sorted(_WANTED), "utm_x", "st", "next", ""])
_VALUES = st.text(alphabet=st.sampled_from("ab +%=&é€2F0"), max_size=12)


@given(st.lists(st.tuples(_KEYS, _VALUES), max_size=8))
def test_agrees_with_werkzeug_on_valid_queries(pairs: list[tuple[str, str]]) -> None:
    """For UTF-8 queries, the same values as request.args (first value per key)."""
    from urllib.parse import quote_plus

    query = "&".join(f"{quote_plus(k)}={quote_plus(v)}" for k, v in pairs)
    request = Request(EnvironBuilder(query_string=query).get_environ())
    expected = {k: request.args[k] for k in _WANTED if k in request.args}
    assert query_values(request.environ) == expected
