"""Attribution models: who gets credit for an order, in integer minor units.

Pure functions over the touches (clicks, comments) that preceded a purchase. Every
model returns one credit per touch it credits, and the credits sum exactly to the order
amount: shares are computed exactly (fractions) or as weights, then rounded by the
largest-remainder method, ties going to the later touch.

- ``last_touch`` (the default): everything to the most recent touch.
- ``first_touch``: everything to the earliest touch.
- ``linear``: equal shares.
- ``time_decay``: weight halves for every ``half_life`` between touch and purchase.
- ``position_based``: 40% first, 40% last, 20% shared by the touches between (one touch
  takes all; two split 50/50).

Touches outside the lookback window (or after the purchase) are ignored; with none left
the order is unattributed (direct) and no credit is returned.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction

MODELS = ("last_touch", "first_touch", "linear", "time_decay", "position_based")
DEFAULT_MODEL = "last_touch"
DEFAULT_LOOKBACK = timedelta(days=30)
DEFAULT_HALF_LIFE = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Touch:
    """One interaction that may earn credit: its id and when it happened."""

    id: Hashable
    at: datetime


@dataclass(frozen=True, slots=True)
class Credit:
    """A touch's part of the order: ``amount`` in minor units, ``share`` of one conversion."""

    touch_id: Hashable
    amount: int
    share: float


def apportion(amount: int, weights: Sequence[Fraction | float]) -> list[int]:
    """Split ``amount`` in proportion to ``weights`` so the parts sum exactly to it.

    Largest remainder: each part is rounded down, then the units left over go to the
    largest fractional remainders (ties to the later position).
    """
    if amount < 0:
        raise ValueError("amount must not be negative")
    if not weights:
        raise ValueError("at least one weight is needed")
    exact = [Fraction(w) for w in weights]
    if any(w < 0 for w in exact):
        raise ValueError("weights must not be negative")
    total = sum(exact)
    if total == 0:
        exact = [Fraction(1)] * len(exact)
        total = Fraction(len(exact))
    shares = [amount * w / total for w in exact]
    parts = [int(s) for s in shares]  # floor: shares are non-negative
    left = amount - sum(parts)
    order = sorted(range(len(shares)), key=lambda i: (shares[i] - parts[i], i), reverse=True)
    for i in order[:left]:
        parts[i] += 1
    return parts


def _weights_last(touches: Sequence[Touch], at: datetime, half_life: timedelta) -> list[Fraction]:
    return [Fraction(0)] * (len(touches) - 1) + [Fraction(1)]


def _weights_first(touches: Sequence[Touch], at: datetime, half_life: timedelta) -> list[Fraction]:
    return [Fraction(1)] + [Fraction(0)] * (len(touches) - 1)


def _weights_linear(touches: Sequence[Touch], at: datetime, half_life: timedelta) -> list[Fraction]:
    return [Fraction(1)] * len(touches)


def _weights_decay(touches: Sequence[Touch], at: datetime, half_life: timedelta) -> list[float]:
    seconds = half_life.total_seconds()
    return [0.5 ** ((at - t.at).total_seconds() / seconds) for t in touches]


def _weights_position(
    touches: Sequence[Touch], at: datetime, half_life: timedelta
) -> list[Fraction]:
    n = len(touches)
    if n == 1:
        return [Fraction(1)]
    if n == 2:
        return [Fraction(1, 2), Fraction(1, 2)]
    middle = Fraction(1, 5) / (n - 2)
    return [Fraction(2, 5)] + [middle] * (n - 2) + [Fraction(2, 5)]


_WEIGHTS: dict[
    str, Callable[[Sequence[Touch], datetime, timedelta], Sequence[Fraction | float]]
] = {
    "last_touch": _weights_last,
    "first_touch": _weights_first,
    "linear": _weights_linear,
    "time_decay": _weights_decay,
    "position_based": _weights_position,
}


def eligible(
    touches: Sequence[Touch], at: datetime, lookback: timedelta = DEFAULT_LOOKBACK
) -> list[Touch]:
    """The touches inside ``[at - lookback, at]``, oldest first (ties by id order given)."""
    start = at - lookback
    kept = [t for t in touches if start <= t.at <= at]
    return sorted(kept, key=lambda t: t.at)


def credit(
    model: str,
    touches: Sequence[Touch],
    amount: int,
    at: datetime,
    *,
    lookback: timedelta = DEFAULT_LOOKBACK,
    half_life: timedelta = DEFAULT_HALF_LIFE,
) -> list[Credit]:
    """Credits for an order of ``amount`` minor units purchased at ``at``.

    Returns one credit per touch with a positive weight, oldest first: amounts sum exactly
    to ``amount`` and shares (the fraction of one conversion) sum to 1.
    """
    if model not in _WEIGHTS:
        raise ValueError(f"unknown attribution model {model!r}: choose from {', '.join(MODELS)}")
    if half_life <= timedelta(0):
        raise ValueError("half_life must be positive")
    kept = eligible(touches, at, lookback)
    if not kept:
        return []
    weights = [Fraction(w) for w in _WEIGHTS[model](kept, at, half_life)]
    total = sum(weights)
    parts = apportion(amount, weights)
    return [
        Credit(t.id, p, float(w / total))
        for t, p, w in zip(kept, parts, weights, strict=True)
        if w > 0
    ]
