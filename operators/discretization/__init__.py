from ._base import AbstractDiscretization as AbstractDiscretization
from .finite_difference import FiniteDifference as FiniteDifference
from .fourier import FourierSpectral as FourierSpectral
