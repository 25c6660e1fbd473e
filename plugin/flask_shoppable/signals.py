"""Blinker signals a host app can listen to; all sent after the change is committed.

Each is sent with the app as sender. A listener runs in the process that made the change
(the web request answering the provider's webhook, or ``flask shoppable worker``), after
the commit, so it never sees a change that could still roll back; an exception in a
listener is logged and does not undo the order. Example::

    from flask_shoppable.signals import order_paid

    @order_paid.connect_via(app)
    def thank_customer(sender, order, **extra):
        send_mail(order.email, f"Thanks for order {order.id}")

* ``order_paid``: ``order=`` the :class:`~flask_shoppable.orders.models.Order` that became
  paid (sent once per order).
* ``order_refunded``: ``order=`` the order whose confirmed refunded amount grew,
  ``amount=`` by how much (minor units, the order's currency).
* ``interaction_recorded``: ``interaction=`` a dict of the recorded interaction's columns
  (sent by the tracking code).
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

order_paid = _signals.signal("order-paid")
order_refunded = _signals.signal("order-refunded")
interaction_recorded = _signals.signal("interaction-recorded")
