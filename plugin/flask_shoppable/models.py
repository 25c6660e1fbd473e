"""Imports every model module, so that ``Base.metadata`` knows all the plugin's tables.

Alembic's environment and the tests import this; a new capability adds its line here.
"""

from __future__ import annotations

from .admin.models import AdminSession as AdminSession
from .admin.models import LoginFailure as LoginFailure
from .admin.models import MerchantUser as MerchantUser
from .admin.models import ShopSettings as ShopSettings
from .api.keys import ApiKey as ApiKey
from .catalog.models import Product as Product
from .catalog.models import Variant as Variant
from .checkout.models import Checkout as Checkout
from .checkout.models import CheckoutLine as CheckoutLine
from .crm.models import OutboxMessage as OutboxMessage
from .db import Base as Base
from .listening.models import Comment as Comment
from .listening.models import KeywordRule as KeywordRule
from .listening.models import MetaChange as MetaChange
from .listening.models import PostMedia as PostMedia
from .listening.models import SocialIdentity as SocialIdentity
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
from .publishing.models import ChannelAccount as ChannelAccount
from .publishing.models import Publication as Publication
from .social.models import Post as Post
from .social.models import PostTag as PostTag
from .social.models import TrackedLink as TrackedLink
from .tracking.models import Interaction as Interaction
