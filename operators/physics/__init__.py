"""Physics written once (`AbstractPhysics`), run on any discretization
(`discretize`)."""

from . import _fourier as _fourier  # registers the FourierSpectral strategy
from ._calculus import AbstractCalculus as AbstractCalculus
from ._discretize import discretize as discretize
from ._physics import AbstractPhysics as AbstractPhysics
from ._semilinear import (
    FourierCalculus as FourierCalculus,
    FourierPDE as FourierPDE,
    SemilinearPDE as SemilinearPDE,
    SymbolCalculus as SymbolCalculus,
)
from .burgers import Burgers as Burgers
from .kdv import KortewegDeVries as KortewegDeVries
from .kuramoto_sivashinsky import (
    KuramotoSivashinsky as KuramotoSivashinsky,
    KuramotoSivashinskyCombustion as KuramotoSivashinskyCombustion,
)
from .navier_stokes import NavierStokesVorticity as NavierStokesVorticity
