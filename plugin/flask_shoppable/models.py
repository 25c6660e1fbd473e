"""Imports every model module, so that ``Base.metadata`` knows all the plugin's tables.

Alembic's environment and the tests import this; a new capability adds its line here.
"""

from __future__ import annotations

from .api.keys import ApiKey as ApiKey
from .catalog.models import Product as Product
from .catalog.models import Variant as Variant
from .db import Base as Base
from .social.models import Post as Post
from .social.models import PostTag as PostTag
from .social.models import TrackedLink as TrackedLink
from .tracking.models import Interaction as Interaction
