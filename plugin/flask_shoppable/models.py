"""Imports every model module, so that ``Base.metadata`` knows all the plugin's tables.

Alembic's environment and the tests import this; a new capability adds its line here.
"""

from __future__ import annotations

from .api.keys import ApiKey as ApiKey
from .catalog.models import Product as Product
from .catalog.models import Variant as Variant
from .checkout.models import Checkout as Checkout
from .checkout.models import CheckoutLine as CheckoutLine
from .db import Base as Base
from .orders.models import Customer as Customer
from .orders.models import CustomerVisitor as CustomerVisitor
from .orders.models import Dispute as Dispute
from .orders.models import Order as Order
from .orders.models import OrderCredit as OrderCredit
from .orders.models import OrderEvent as OrderEvent
from .orders.models import OrderLine as OrderLine
from .orders.models import Refund as Refund
from .orders.models import WebhookEvent as WebhookEvent
from .orders.models import WebhookRejection as WebhookRejection
from .social.models import Post as Post
from .social.models import PostTag as PostTag
from .social.models import TrackedLink as TrackedLink
from .tracking.models import Interaction as Interaction
