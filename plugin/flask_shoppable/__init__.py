"""Flask-Shoppable: shoppable social posts, tracked links and checkout for Flask."""

from .extension import Shoppable as Shoppable
from .extension import ShoppableState as ShoppableState

__version__ = "0.1.0"
