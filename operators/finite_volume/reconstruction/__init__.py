"""Face reconstructions for finite volumes: first order, MUSCL, WENO5, TENO5."""

from ._base import AbstractReconstruction as AbstractReconstruction
from .first_order import FirstOrder as FirstOrder
from .muscl import MUSCL as MUSCL
from .teno import TENO5 as TENO5
from .weno import WENO5JS as WENO5JS, WENO5Z as WENO5Z
