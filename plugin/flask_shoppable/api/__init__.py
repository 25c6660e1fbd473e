"""The merchant REST API (flask-smorest + marshmallow, OpenAPI 3)."""

from .base import current_key as current_key
from .errors import abort as abort
from .errors import json_bodies_only as json_bodies_only
