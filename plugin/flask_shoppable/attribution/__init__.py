"""Attribution: pure functions that share an order's revenue among the touches before it."""

from .models import DEFAULT_MODEL as DEFAULT_MODEL
from .models import MODELS as MODELS
from .models import Credit as Credit
from .models import Touch as Touch
from .models import credit as credit
