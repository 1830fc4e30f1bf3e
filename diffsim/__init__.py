"""diffsim: time stepping, rollouts and adjoints, configs, CLI and I/O."""

from ._adjoint import (
    AbstractAdjoint as AbstractAdjoint,
    CheckpointAdjoint as CheckpointAdjoint,
    DirectAdjoint as DirectAdjoint,
)
from ._config import ConfigError as ConfigError, load_config as load_config
from ._scenario import PhysicsConfig as PhysicsConfig, Scenario as Scenario, Setup as Setup, register as register, registry as registry
from ._solve import SaveAt as SaveAt, Solution as Solution, solve as solve, solve_cfl as solve_cfl
from .steppers import (
    ETDRK1 as ETDRK1,
    ETDRK2 as ETDRK2,
    ETDRK4 as ETDRK4,
    RK4 as RK4,
    SSPRK3 as SSPRK3,
    AbstractStepper as AbstractStepper,
    ForwardEuler as ForwardEuler,
)

__version__ = "0.1.0"
