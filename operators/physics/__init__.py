"""Physics written once (`AbstractPhysics`), run on any discretization
(`discretize`)."""

from ..finite_volume.discretization import FiniteVolume as FiniteVolume
from . import (
    _finite_difference as _finite_difference,  # registers FiniteDifference
    _fourier as _fourier,  # registers the FourierSpectral strategy
)
from ._calculus import AbstractCalculus as AbstractCalculus
from ._discretize import discretize as discretize
from ._finite_difference import (
    FiniteDifferenceCalculus as FiniteDifferenceCalculus,
    PeriodicFiniteDifferencePDE as PeriodicFiniteDifferencePDE,
    WalledFiniteDifferencePDE as WalledFiniteDifferencePDE,
)
from ._finite_volume import (  # registers the FiniteVolume strategy
    FiniteVolumeCalculus as FiniteVolumeCalculus,
    FiniteVolumePDE as FiniteVolumePDE,
)
from ._physics import AbstractPhysics as AbstractPhysics
from ._semilinear import (
    FourierCalculus as FourierCalculus,
    FourierPDE as FourierPDE,
    SemilinearPDE as SemilinearPDE,
    SymbolCalculus as SymbolCalculus,
)
from .advection_diffusion import AdvectionDiffusion as AdvectionDiffusion
from .allen_cahn import AllenCahn as AllenCahn
from .burgers import Burgers as Burgers
from .cahn_hilliard import CahnHilliard as CahnHilliard
from .fisher_kpp import FisherKPP as FisherKPP
from .gray_scott import GrayScott as GrayScott
from .kdv import KortewegDeVries as KortewegDeVries
from .kuramoto_sivashinsky import (
    KuramotoSivashinsky as KuramotoSivashinsky,
    KuramotoSivashinskyCombustion as KuramotoSivashinskyCombustion,
)
from .navier_stokes import NavierStokesVorticity as NavierStokesVorticity
from .nonlinear_schrodinger import NonlinearSchrodinger as NonlinearSchrodinger
from .potential_flux import (
    MLPPotential as MLPPotential,
    PotentialFluxLaw as PotentialFluxLaw,
)
from .shallow_water import (
    ShallowWater as ShallowWater,
    ShallowWaterRiemann as ShallowWaterRiemann,
    solve_shallow_water_riemann as solve_shallow_water_riemann,
)
from .swift_hohenberg import SwiftHohenberg as SwiftHohenberg
