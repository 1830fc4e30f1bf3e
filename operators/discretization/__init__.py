from ._base import AbstractDiscretization as AbstractDiscretization
from .boundary import (
    AbstractBoundary as AbstractBoundary,
    AbstractWallBoundary as AbstractWallBoundary,
    Dirichlet as Dirichlet,
    Neumann as Neumann,
    Periodic as Periodic,
    Robin as Robin,
)
from .finite_difference import FiniteDifference as FiniteDifference
from .fourier import FourierSpectral as FourierSpectral
