"""diffsim: differentiable PDE solving on JAX.

The library: time stepping and rollouts (`solve`, `solve_cfl`), adjoints,
linear and steady solves, gradients and gradient checks, the optax loop with
exact resume (`optimize`), batched ensembles and sharding. Operators live in
`diffsim.operators`, the config-driven job layer (configs, CLI, files, plots)
in `diffsim.jobs`; `import diffsim` imports neither the job layer nor
pydantic, yaml, tqdm, matplotlib or submitit.
"""

from importlib.metadata import (
    PackageNotFoundError as _PackageNotFoundError,
    version as _version,
)

from ._adjoint import (
    AbstractAdjoint as AbstractAdjoint,
    CheckpointAdjoint as CheckpointAdjoint,
    CheckpointPlan as CheckpointPlan,
    DirectAdjoint as DirectAdjoint,
    MemoryBudgetError as MemoryBudgetError,
)
from ._compile import (
    compile_ahead as compile_ahead,
    compiler_options as compiler_options,
)
from ._ensemble import Ensemble as Ensemble, batch_mesh as batch_mesh
from ._errors import RunError as RunError
from ._files import (
    WriteError as WriteError,
    atomic_write as atomic_write,
    save_figure as save_figure,
)
from ._gradients import (
    gradcheck as gradcheck,
    hvp as hvp,
    value_and_grad as value_and_grad,
)
from ._helmholtz import (
    HELMHOLTZ_SOLVER as HELMHOLTZ_SOLVER,
    solve_helmholtz as solve_helmholtz,
)
from ._linear_solve import (
    GMRES as GMRES,
    BiCGStab as BiCGStab,
    LinearSolution as LinearSolution,
    linear_solve as linear_solve,
)
from ._optimize import OptimizeResult as OptimizeResult, optimize as optimize
from ._solve import (
    SaveAt as SaveAt,
    Solution as Solution,
    solve as solve,
    solve_cfl as solve_cfl,
)
from ._steady import (
    SteadyState as SteadyState,
    newton_krylov as newton_krylov,
    steady_state as steady_state,
)
from .steppers import (
    ETDRK1 as ETDRK1,
    ETDRK2 as ETDRK2,
    ETDRK4 as ETDRK4,
    IMEXARS222 as IMEXARS222,
    IMEXARS443 as IMEXARS443,
    RK4 as RK4,
    SSPRK3 as SSPRK3,
    AbstractImex as AbstractImex,
    AbstractStepper as AbstractStepper,
    ForwardEuler as ForwardEuler,
    IMEXEuler as IMEXEuler,
)

try:  # pyproject.toml is the one source of the version
    __version__ = _version("diffsim")
except _PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
