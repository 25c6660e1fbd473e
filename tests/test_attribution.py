"""Attribution models: exact integer credits that always sum to the order amount."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flask_shoppable.attribution import MODELS, Touch, credit
from flask_shoppable.attribution.models import apportion

AT = datetime(2026, 6, 30, 12, tzinfo=UTC)


def touches(*days_before: float) -> list[Touch]:
    return [Touch(f"t{i}", AT - timedelta(days=d)) for i, d in enumerate(days_before)]


def amounts(model: str, ts: list[Touch], amount: int, **kw: timedelta) -> dict[object, int]:
    return {c.touch_id: c.amount for c in credit(model, ts, amount, AT, **kw)}


def test_last_and_first_touch() -> None:
    ts = touches(10, 5, 1)
    assert amounts("last_touch", ts, 1000) == {"t2": 1000}
    assert amounts("first_touch", ts, 1000) == {"t0": 1000}


def test_linear_splits_evenly_with_the_remainder_to_the_latest() -> None:
    assert amounts("linear", touches(3, 2, 1), 100) == {"t0": 33, "t1": 33, "t2": 34}
    assert amounts("linear", touches(3, 2, 1), 2) == {"t0": 0, "t1": 1, "t2": 1}


def test_position_based_40_20_40() -> None:
    assert amounts("position_based", touches(4, 3, 2, 1), 1000) == {
        "t0": 400, "t1": 100, "t2": 100, "t3": 400,
    }  # fmt: skip
    assert amounts("position_based", touches(2, 1), 999) == {"t0": 499, "t1": 500}
    assert amounts("position_based", touches(1), 999) == {"t0": 999}


def test_time_decay_halves_per_half_life() -> None:
    result = amounts("time_decay", touches(7, 0), 3000, half_life=timedelta(days=7))
    assert result == {"t0": 1000, "t1": 2000}


def test_lookback_window_and_future_touches_are_ignored() -> None:
    ts = [*touches(31, 29), Touch("future", AT + timedelta(minutes=1))]
    assert amounts("first_touch", ts, 500) == {"t1": 500}
    assert amounts("linear", ts, 500, lookback=timedelta(days=60)) == {"t0": 250, "t1": 250}


def test_no_touch_means_no_credit() -> None:
    assert credit("last_touch", [], 1000, AT) == []
    assert credit("linear", touches(40), 1000, AT) == []


def test_zero_amount_keeps_the_shares() -> None:
    result = credit("linear", touches(2, 1), 0, AT)
    assert [c.amount for c in result] == [0, 0]
    assert [c.share for c in result] == [0.5, 0.5]


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unknown attribution model"):
        credit("u_shaped", touches(1), 1, AT)
    with pytest.raises(ValueError, match="half_life"):
        credit("time_decay", touches(1), 1, AT, half_life=timedelta(0))
    with pytest.raises(ValueError, match="negative"):
        apportion(-1, [1])


def test_apportion_is_exact() -> None:
    assert apportion(10, [Fraction(1, 3)] * 3) == [3, 3, 4]
    assert apportion(7, [0, 0]) == [3, 4]


touch_lists = st.lists(
    st.floats(min_value=0, max_value=45, allow_nan=False), min_size=0, max_size=12
).map(lambda days: touches(*days))


@given(
    model=st.sampled_from(MODELS),
    ts=touch_lists,
    amount=st.integers(min_value=0, max_value=10**12),
    half_life_hours=st.integers(min_value=1, max_value=24 * 60),
)
def test_credits_sum_exactly_to_the_amount(
    model: str, ts: list[Touch], amount: int, half_life_hours: int
) -> None:
    result = credit(model, ts, amount, AT, half_life=timedelta(hours=half_life_hours))
    in_window = [t for t in ts if AT - timedelta(days=30) <= t.at <= AT]
    if not in_window:
        assert result == []
        return
    assert sum(c.amount for c in result) == amount
    assert all(c.amount >= 0 for c in result)
    assert sum(c.share for c in result) == pytest.approx(1.0)
    assert {c.touch_id for c in result} <= {t.id for t in in_window}


@given(ts=touch_lists.filter(lambda t: len(t) >= 1), amount=st.integers(0, 10**9))
def test_linear_parts_differ_by_at_most_one_unit(ts: list[Touch], amount: int) -> None:
    result = credit("linear", ts, amount, AT)
    if result:
        parts = [c.amount for c in result]
        assert max(parts) - min(parts) <= 1
