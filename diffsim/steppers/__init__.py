from ._base import AbstractStepper as AbstractStepper
from .etdrk import ETDRK1 as ETDRK1, ETDRK2 as ETDRK2, ETDRK4 as ETDRK4
from .euler import ForwardEuler as ForwardEuler
from .imex import (
    AbstractImex as AbstractImex,
    IMEXARS222 as IMEXARS222,
    IMEXARS443 as IMEXARS443,
    IMEXEuler as IMEXEuler,
)
from .rk4 import RK4 as RK4
from .ssprk3 import SSPRK3 as SSPRK3
