"""Grids, discretizations and the physics operators built from them.

Knows nothing of time stepping or files (that is `diffsim`).
"""

from ._grid import Grid as Grid
from ._operator import (
    AbstractOperator as AbstractOperator,
    AbstractSemilinearOperator as AbstractSemilinearOperator,
)
from .discretization import (
    AbstractDiscretization as AbstractDiscretization,
    FiniteDifference as FiniteDifference,
    FourierSpectral as FourierSpectral,
)
from .spectral import (
    AbstractSpectralOperator as AbstractSpectralOperator,
    Burgers as Burgers,
    KortewegDeVries as KortewegDeVries,
    KuramotoSivashinsky as KuramotoSivashinsky,
    KuramotoSivashinskyCombustion as KuramotoSivashinskyCombustion,
    NavierStokesVorticity as NavierStokesVorticity,
)
from .helmholtz import (
    PML as PML,
    Helmholtz as Helmholtz,
    HelmholtzPreconditioner as HelmholtzPreconditioner,
    band_limited_delta as band_limited_delta,
    line_source as line_source,
    point_source as point_source,
)
