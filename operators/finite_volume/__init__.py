"""Finite volumes: the compressible Euler equations (ideal- and stiffened-gas
EOS, variable conversions, reconstructions, Riemann solvers, boundary
conditions and the `Euler` operator), and `FiniteVolume`, the discretization
of any physics with a pointwise flux (`operators.physics.discretize`)."""

from .boundary import (
    AbstractBoundaryCondition as AbstractBoundaryCondition,
    Inflow as Inflow,
    InflowState as InflowState,
    NoSlipWall as NoSlipWall,
    Outflow as Outflow,
    Periodic as Periodic,
    ReflectingWall as ReflectingWall,
    Switch as Switch,
)
from .discretization import FiniteVolume as FiniteVolume
from .eos import (
    AbstractEquationOfState as AbstractEquationOfState,
    IdealGas as IdealGas,
    StiffenedGas as StiffenedGas,
)
from .euler import Euler as Euler
from .exact_riemann import (
    RiemannSolution as RiemannSolution,
    cell_averages as cell_averages,
    solve_riemann as solve_riemann,
)
from .neural_flux import NeuralFlux as NeuralFlux
from .nonreflecting import (
    NonReflecting as NonReflecting,
    TotalInflow as TotalInflow,
)
from .reconstruction import (
    MUSCL as MUSCL,
    TENO5 as TENO5,
    WENO5JS as WENO5JS,
    WENO5Z as WENO5Z,
    AbstractReconstruction as AbstractReconstruction,
    FirstOrder as FirstOrder,
)
from .riemann import (
    HLL as HLL,
    HLLC as HLLC,
    HLLCLM as HLLCLM,
    AbstractRiemannSolver as AbstractRiemannSolver,
    Roe as Roe,
    Rusanov as Rusanov,
)
from .state import (
    conservative_to_primitive as conservative_to_primitive,
    primitive_to_conservative as primitive_to_conservative,
)
from .transport import (
    AbstractViscosity as AbstractViscosity,
    ConstantViscosity as ConstantViscosity,
    PowerLawViscosity as PowerLawViscosity,
    SutherlandViscosity as SutherlandViscosity,
    Transport as Transport,
)
