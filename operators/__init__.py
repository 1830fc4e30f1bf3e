"""Grids, discretizations and the physics operators built from them.

Knows nothing of time stepping or files (that is `diffsim`).
"""

from ._grid import Grid as Grid
from ._operator import (
    AbstractCFLOperator as AbstractCFLOperator,
    AbstractConstrainedOperator as AbstractConstrainedOperator,
    AbstractImexOperator as AbstractImexOperator,
    AbstractOperator as AbstractOperator,
    AbstractSemilinearOperator as AbstractSemilinearOperator,
)
from .discretization import (
    AbstractDiscretization as AbstractDiscretization,
    Dirichlet as Dirichlet,
    FiniteDifference as FiniteDifference,
    FourierSpectral as FourierSpectral,
    Neumann as Neumann,
    Robin as Robin,
)
from .finite_volume import (
    HLL as HLL,
    HLLC as HLLC,
    HLLCLM as HLLCLM,
    MUSCL as MUSCL,
    TENO5 as TENO5,
    WENO5JS as WENO5JS,
    WENO5Z as WENO5Z,
    AbstractBoundaryCondition as AbstractBoundaryCondition,
    AbstractEquationOfState as AbstractEquationOfState,
    AbstractReconstruction as AbstractReconstruction,
    AbstractRiemannSolver as AbstractRiemannSolver,
    ConstantViscosity as ConstantViscosity,
    Euler as Euler,
    FiniteVolume as FiniteVolume,
    FirstOrder as FirstOrder,
    IdealGas as IdealGas,
    Inflow as Inflow,
    InflowState as InflowState,
    NoSlipWall as NoSlipWall,
    Outflow as Outflow,
    Periodic as Periodic,
    PowerLawViscosity as PowerLawViscosity,
    ReflectingWall as ReflectingWall,
    Roe as Roe,
    Rusanov as Rusanov,
    StiffenedGas as StiffenedGas,
    SutherlandViscosity as SutherlandViscosity,
    Transport as Transport,
    conservative_to_primitive as conservative_to_primitive,
    primitive_to_conservative as primitive_to_conservative,
)
from .helmholtz import (
    PML as PML,
    Helmholtz as Helmholtz,
    HelmholtzPreconditioner as HelmholtzPreconditioner,
    band_limited_delta as band_limited_delta,
    line_source as line_source,
    point_source as point_source,
)
from .physics import (
    AbstractCalculus as AbstractCalculus,
    AbstractPhysics as AbstractPhysics,
    Burgers as Burgers,
    KortewegDeVries as KortewegDeVries,
    KuramotoSivashinsky as KuramotoSivashinsky,
    KuramotoSivashinskyCombustion as KuramotoSivashinskyCombustion,
    NavierStokesVorticity as NavierStokesVorticity,
    discretize as discretize,
)
