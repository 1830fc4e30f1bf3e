"""diffsim: time stepping, rollouts and adjoints, configs, CLI and I/O."""

from ._adjoint import (
    AbstractAdjoint as AbstractAdjoint,
    CheckpointAdjoint as CheckpointAdjoint,
    DirectAdjoint as DirectAdjoint,
)
from ._compile import compile_ahead as compile_ahead, compiler_options as compiler_options
from ._config import STEPPERS as STEPPERS, load_config as load_config
from ._optimize import OptimizeResult as OptimizeResult, make_optimizer as make_optimizer, optimize as optimize
from ._gradients import ADJOINTS as ADJOINTS, gradcheck as gradcheck, hvp as hvp, value_and_grad as value_and_grad
from ._errors import ConfigError as ConfigError, KeyedError as KeyedError, RunError as RunError
from ._files import WriteError as WriteError, atomic_write as atomic_write, save_figure as save_figure
from ._gradients import adjoint_from as adjoint_from
from ._adjoint import CheckpointPlan as CheckpointPlan, MemoryBudgetError as MemoryBudgetError
from ._ensemble import Ensemble as Ensemble, batch_mesh as batch_mesh
from ._scenario import (
    EXPLICIT_STEPPERS as EXPLICIT_STEPPERS,
    InverseProblem as InverseProblem,
    OptimizationScenario as OptimizationScenario,
    PhysicsConfig as PhysicsConfig,
    Scenario as Scenario,
    Setup as Setup,
    SteadyResult as SteadyResult,
    SteadyScenario as SteadyScenario,
    TimeDependentScenario as TimeDependentScenario,
    register as register,
    registry as registry,
)
from ._solve import SaveAt as SaveAt, Solution as Solution, solve as solve, solve_cfl as solve_cfl
from ._steady import SteadyState as SteadyState, newton_krylov as newton_krylov, steady_state as steady_state
from .steppers import (
    ETDRK1 as ETDRK1,
    ETDRK2 as ETDRK2,
    ETDRK4 as ETDRK4,
    RK4 as RK4,
    SSPRK3 as SSPRK3,
    AbstractStepper as AbstractStepper,
    ForwardEuler as ForwardEuler,
)

def _version() -> str:
    """The installed distribution's version (pyproject.toml is the one source)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("diffsim")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


__version__ = _version()
from ._linear_solve import BiCGStab as BiCGStab, GMRES as GMRES, LinearSolution as LinearSolution, linear_solve as linear_solve
from ._helmholtz import HELMHOLTZ_SOLVER as HELMHOLTZ_SOLVER, solve_helmholtz as solve_helmholtz
