"""The job layer: configs (pydantic/YAML), scenarios, `diffsim run|optimize|
gradcheck|sweep|collect`, output files and plots. Built on the library
(`diffsim`), which never imports this package."""

from ..internal import ConfigError as ConfigError, KeyedError as KeyedError
from .config import (
    ADJOINTS as ADJOINTS,
    STEPPERS as STEPPERS,
    adjoint_from as adjoint_from,
    load_config as load_config,
)
from .optimize import make_optimizer as make_optimizer
from .scenario import (
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
