"""Catalog: products, variants, prices and stock."""

from .models import Product as Product
from .models import Variant as Variant
