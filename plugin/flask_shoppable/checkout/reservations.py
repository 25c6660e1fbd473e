"""Stock held for a checkout: taken with one conditional UPDATE, given back exactly once.

Taking stock is a single statement per variant::

    UPDATE shoppable_variant SET stock = stock - :q WHERE id = :id AND stock >= :q

and its row count says whether it worked. The database does the check and the write as
one step under the row's lock (PostgreSQL) or the database's write lock (SQLite), so no
two checkouts can both take the last unit, whatever the number of processes: there is
no read-then-write window to race through. A variant whose stock is NULL is not
stock-tracked (unlimited): nothing is taken and nothing given back.

These functions never commit: they run inside the caller's transaction, so a checkout
and the stock it holds are written, or rolled back, together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from ..catalog.models import Variant

_VARIANT = cast(Table, Variant.__table__)


@dataclass(frozen=True)
class Taken:
    """The outcome of :func:`take`: how many units are now held (0 for unlimited stock)."""

    ok: bool
    reserved: int
    #: Units on hand when the take failed (for the shopper's message); None if unlimited.
    available: int | None = None


def take(session: Session, variant_id: int, quantity: int) -> Taken:
    """Take ``quantity`` units of a variant's stock, or nothing if there are not enough."""
    if quantity <= 0:
        raise ValueError("quantity must be positive")
    result = session.execute(
        update(_VARIANT)
        .where(_VARIANT.c.id == variant_id, _VARIANT.c.stock >= quantity)
        .values(stock=_VARIANT.c.stock - quantity)
    )
    if result.rowcount == 1:  # type: ignore[attr-defined]
        return Taken(ok=True, reserved=quantity)
    # Not enough, unlimited (NULL never compares), or gone: the row says which.
    row = session.execute(select(_VARIANT.c.stock).where(_VARIANT.c.id == variant_id)).first()
    if row is None:
        return Taken(ok=False, reserved=0, available=0)
    if row.stock is None:
        return Taken(ok=True, reserved=0)
    return Taken(ok=False, reserved=0, available=int(row.stock))


def give_back(session: Session, variant_id: int, quantity: int) -> None:
    """Return ``quantity`` held units to a variant (a no-op if it became unlimited or went)."""
    if quantity <= 0:
        return
    session.execute(
        update(_VARIANT)
        .where(_VARIANT.c.id == variant_id, _VARIANT.c.stock.is_not(None))
        .values(stock=_VARIANT.c.stock + quantity)
    )
