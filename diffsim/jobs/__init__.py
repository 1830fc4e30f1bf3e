"""The job layer: configs (pydantic/YAML), scenarios, `diffsim run|optimize|
gradcheck|sweep|collect`, output files and plots. Built on the library
(`diffsim`), which never imports this package."""

from .boundary import BoundaryConfig as BoundaryConfig
from .config import load_config as load_config
from .errors import (
    ConfigError as ConfigError,
    KeyedError as KeyedError,
    OptionError as OptionError,
    config_key as config_key,
)
from .optimize import make_optimizer as make_optimizer
from .scenario import (
    ADJOINTS as ADJOINTS,
    EXPLICIT_STEPPERS as EXPLICIT_STEPPERS,
    EXPONENTIAL_STEPPERS as EXPONENTIAL_STEPPERS,
    IMEX_STEPPERS as IMEX_STEPPERS,
    STEPPERS as STEPPERS,
    AbstractInverseProblem as AbstractInverseProblem,
    BuildContext as BuildContext,
    OptimizationScenario as OptimizationScenario,
    PhysicsConfig as PhysicsConfig,
    Scenario as Scenario,
    Setup as Setup,
    SteadyResult as SteadyResult,
    SteadyScenario as SteadyScenario,
    TimeDependentScenario as TimeDependentScenario,
    adjoint_from as adjoint_from,
    build_problem as build_problem,
    build_setup as build_setup,
    cfl_applies as cfl_applies,
    discretization_of as discretization_of,
    grid_from as grid_from,
    register as register,
    registry as registry,
    stepper_rule as stepper_rule,
    unregister as unregister,
)
from .schemes import FiniteVolumeScheme as FiniteVolumeScheme
