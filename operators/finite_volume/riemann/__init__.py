"""Approximate Riemann solvers (numerical fluxes) for the Euler equations."""

from ._base import AbstractRiemannSolver as AbstractRiemannSolver
from .hll import HLL as HLL
from .hllc import HLLC as HLLC
from .hllclm import HLLCLM as HLLCLM
from .roe import Roe as Roe
from .rusanov import Rusanov as Rusanov
