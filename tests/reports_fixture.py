"""A small shop's week, with every report figure computed by hand (tests/test_reports.py).

The week is [2026-03-01, 2026-03-08) UTC. Two channels (instagram, facebook), two posts
(P1 "Summer hat", P2 "Linen shirt"), three tracked links, one partner ("ana"), six
visitors, five paid USD orders (two partly refunded, one fully), one direct order, and
rows just outside the range (or in another currency, or unpaid) that must not count.

Touches (clicks and comments) and what they carry:

=====  ==========  =========  =====  ====  ========  =======  =======
touch  when (UTC)  channel    post   link  campaign  partner  visitor
=====  ==========  =========  =====  ====  ========  =======  =======
c0     02-27 12:00 instagram  P1     L1    spring    -        v1   (before the range)
c1     03-01 12:00 instagram  P1     L1    spring    -        v1
c2     03-02 10:00 facebook   P2     L2    -         -        v1
cm1    03-02 14:00 instagram  P2     -     -         -        v2   (a comment)
c3     03-02 15:00 instagram  P2     L3    spring    ana      v2
c4     03-03 10:00 facebook   P2     L2    -         -        v3
c5     03-04 08:00 instagram  P1     L1    spring    -        v3
x4     03-05 12:30 (no row: a buffered click; O4 says instagram, P2, L3)   v4
c7     03-06 20:00 facebook   P2     L2    -         -        v6   (no order)
cend   03-08 00:00 facebook   P2     L2    -         -        v9   (at the end: out)
=====  ==========  =========  =====  ====  ========  =======  =======

Orders (USD, paid): O1 10000 paid 03-02 10:10 refunded 2500 (touches c0 c1 c2);
O2 5000 paid 03-02 15:20 (cm1 c3); O3 7000 paid 03-04 08:20 fully refunded (c4 c5);
O4 3000 paid 03-05 12:50 refunded 1000 (x4); O5 2000 paid 03-06 09:10, no touch
(direct). Not counted: O6 (EUR), O7 (pending), O8 (paid at the range's end), O9 (paid
before it).

Credits per model (amount, share), as the attribution module stores them at purchase,
each with its touch's channel, post, link, campaign and partner (x4's: O4's channel,
post and link, no campaign, no partner):
last_touch: O1 c2; O2 c3; O3 c5; O4 x4. first_touch: O1 c0; O2 cm1; O3 c4; O4 x4.
linear: O1 c0 3333, c1 3333, c2 3334 (1/3 each); O2 2500/2500; O3 3500/3500.
position_based: O1 4000 (.4) / 2000 (.2) / 4000 (.4); O2 and O3 halves.
time_decay (7-day half life): O1 2814 (.2814) / 3430 (.3430) / 3756 (.3756);
O2 cm1 2495 (.499) / c3 2505 (.501); O3 c4 3341 (.4773) / c5 3659 (.5227).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from flask_shoppable.models import Interaction, Order, OrderCredit, Post, TrackedLink

START = datetime(2026, 3, 1, tzinfo=UTC)
END = datetime(2026, 3, 8, tzinfo=UTC)
P1, P2 = 1, 2
L1, L2, L3 = 1, 2, 3


def at(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def uid(n: int) -> uuid.UUID:
    return uuid.UUID(int=n)


#: (id, kind, when, visitor, channel, post, link, campaign, partner)
_INTERACTIONS = [
    # impressions (embed views carry no visitor, except imp5, a page view)
    (101, "impression", at(3, 1, 10), None, "instagram", P1, None, "spring", ""),
    (102, "impression", at(3, 1, 11), None, "instagram", P1, None, "", ""),
    (103, "impression", at(3, 2, 9), None, "facebook", P2, None, "", ""),
    (104, "impression", at(3, 3, 9), None, "facebook", P2, None, "", ""),
    (105, "impression", at(3, 5, 12), "v4", "instagram", P1, None, "", ""),
    (100, "impression", at(2, 28, 23), "v8", "instagram", P1, None, "", ""),  # before
    # clicks and a comment
    (200, "click", at(2, 27, 12), "v1", "instagram", P1, L1, "spring", ""),  # c0
    (201, "click", at(3, 1, 12), "v1", "instagram", P1, L1, "spring", ""),  # c1
    (202, "click", at(3, 2, 10), "v1", "facebook", P2, L2, "", ""),  # c2
    (203, "click", at(3, 2, 15), "v2", "instagram", P2, L3, "spring", "ana"),  # c3
    (204, "click", at(3, 3, 10), "v3", "facebook", P2, L2, "", ""),  # c4
    (205, "click", at(3, 4, 8), "v3", "instagram", P1, L1, "spring", ""),  # c5
    (207, "click", at(3, 6, 20), "v6", "facebook", P2, L2, "", ""),  # c7
    (208, "click", at(3, 8), "v9", "facebook", P2, L2, "", ""),  # cend: at END, out
    (300, "comment", at(3, 2, 14), "v2", "instagram", P2, None, "", ""),  # cm1
    # checkouts started
    (401, "checkout_started", at(3, 2, 10, 5), "v1", "facebook", P2, L2, "", ""),
    (402, "checkout_started", at(3, 2, 15, 10), "v2", "instagram", P2, L3, "spring", "ana"),
    (403, "checkout_started", at(3, 4, 8, 10), "v3", "instagram", P1, L1, "spring", ""),
    (404, "checkout_started", at(3, 5, 12, 40), "v4", "instagram", P2, L3, "spring", "ana"),
    (405, "checkout_started", at(3, 6, 9), "v5", None, None, None, "", ""),
]
C0, C1, C2, C3, C4, C5, CM1 = 200, 201, 202, 203, 204, 205, 300
X4 = 999  # O4's origin: a click whose row is not written
CREDIT_DIMENSIONS = ("channel", "post_id", "link_id", "campaign", "partner")

#: (id, currency, status, total, refunded, paid_at, origin, channel, post, link)
_ORDERS = [
    (1, "USD", "paid", 10000, 2500, at(3, 2, 10, 10), C2, "facebook", P2, L2),
    (2, "USD", "paid", 5000, 0, at(3, 2, 15, 20), C3, "instagram", P2, L3),
    (3, "USD", "paid", 7000, 7000, at(3, 4, 8, 20), C5, "instagram", P1, L1),
    (4, "USD", "paid", 3000, 1000, at(3, 5, 12, 50), X4, "instagram", P2, L3),
    (5, "USD", "paid", 2000, 0, at(3, 6, 9, 10), None, None, None, None),
    (6, "EUR", "paid", 4000, 0, at(3, 3, 12), C4, "facebook", P2, L2),
    (7, "USD", "pending", 9999, 0, None, C5, "instagram", P1, L1),
    (8, "USD", "paid", 1111, 0, at(3, 8), C5, "instagram", P1, L1),
    (9, "USD", "paid", 1234, 0, at(2, 28, 23, 59), C1, "instagram", P1, L1),
]

_THIRD = 1 / 3
#: model -> [(order, touch, amount, share)]
_CREDITS: dict[str, list[tuple[int, int, int, float]]] = {
    "last_touch": [(1, C2, 10000, 1.0), (2, C3, 5000, 1.0), (3, C5, 7000, 1.0)],
    "first_touch": [(1, C0, 10000, 1.0), (2, CM1, 5000, 1.0), (3, C4, 7000, 1.0)],
    "linear": [
        (1, C0, 3333, _THIRD),
        (1, C1, 3333, _THIRD),
        (1, C2, 3334, _THIRD),
        (2, CM1, 2500, 0.5),
        (2, C3, 2500, 0.5),
        (3, C4, 3500, 0.5),
        (3, C5, 3500, 0.5),
    ],
    "time_decay": [
        (1, C0, 2814, 0.2814),
        (1, C1, 3430, 0.3430),
        (1, C2, 3756, 0.3756),
        (2, CM1, 2495, 0.499),
        (2, C3, 2505, 0.501),
        (3, C4, 3341, 0.4773),
        (3, C5, 3659, 0.5227),
    ],
    "position_based": [
        (1, C0, 4000, 0.4),
        (1, C1, 2000, 0.2),
        (1, C2, 4000, 0.4),
        (2, CM1, 2500, 0.5),
        (2, C3, 2500, 0.5),
        (3, C4, 3500, 0.5),
        (3, C5, 3500, 0.5),
    ],
}
#: The same in every model: O4's one (unrecorded) touch; excluded orders' touches.
_EVERY_MODEL = [(4, X4, 3000, 1.0), (6, C4, 4000, 1.0), (8, C5, 1111, 1.0), (9, C1, 1234, 1.0)]


def load(session: Session) -> None:
    """Write the week into an empty database."""
    conn = session.connection()
    conn.execute(
        sa.insert(Post.__table__),
        [
            {"id": P1, "slug": "summer-hat", "caption": "Summer hat", "status": "published"},
            {"id": P2, "slug": "linen-shirt", "caption": "Linen shirt", "status": "published"},
        ],
    )
    link: dict[str, Any] = {"utm_medium": "social", "target": "post", "utm_term": ""}
    conn.execute(
        sa.insert(TrackedLink.__table__),
        [
            {**link, "id": L1, "code": "hat-ig", "channel": "instagram", "label": "Hat bio",
             "utm_source": "instagram", "utm_campaign": "spring", "partner": "", "post_id": P1},
            {**link, "id": L2, "code": "shirt-fb", "channel": "facebook", "label": "",
             "utm_source": "facebook", "utm_campaign": "", "partner": "", "post_id": P2},
            {**link, "id": L3, "code": "shirt-ana", "channel": "instagram", "label": "Ana",
             "utm_source": "instagram", "utm_campaign": "spring", "partner": "ana",
             "post_id": P2},
        ],
    )  # fmt: skip
    conn.execute(
        sa.insert(Interaction.__table__),
        [
            {
                "id": uid(n),
                "kind": kind,
                "occurred_at": when,
                "visitor_id": visitor,
                "channel": channel,
                "post_id": post,
                "link_id": link_id,
                "utm_campaign": campaign,
                "partner": partner,
            }
            for n, kind, when, visitor, channel, post, link_id, campaign, partner in _INTERACTIONS
        ],
    )
    conn.execute(
        sa.insert(Order.__table__),
        [
            {
                "id": n,
                "currency": currency,
                "status": status,
                "subtotal_amount": total,
                "total_amount": total,
                "refunded_amount": refunded,
                "paid_at": paid_at,
                "origin_interaction_id": uid(origin) if origin else None,
                "channel": channel,
                "post_id": post,
                "link_id": link_id,
                "provider_session_id": f"cs_test_{n}",
            }
            for n, currency, status, total, refunded, paid_at, origin, channel, post, link_id in (
                _ORDERS
            )
        ],
    )
    touch = {n: (ch, post, link_id, camp or None, part or None)
             for n, _k, _w, _v, ch, post, link_id, camp, part in _INTERACTIONS}  # fmt: skip
    touch[X4] = ("instagram", P2, L3, None, None)
    conn.execute(
        sa.insert(OrderCredit.__table__),
        [
            {
                "order_id": o,
                "model": model,
                "interaction_id": uid(t),
                "amount": a,
                "share": s,
                **dict(zip(CREDIT_DIMENSIONS, touch[t], strict=True)),
            }
            for model, rows in _CREDITS.items()
            for o, t, a, s in [*rows, *_EVERY_MODEL]
        ],
    )
    if conn.dialect.name == "postgresql":
        for table in ("shoppable_post", "shoppable_tracked_link", "shoppable_order"):
            conn.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), 100)"))
    session.commit()
