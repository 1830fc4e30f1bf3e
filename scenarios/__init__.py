"""Concrete problems, registered with `diffsim.register` (found by the CLI
through the `diffsim.scenarios` entry point)."""

from . import (  # noqa: F401  (importing registers)
    burgers_inverse,
    burgers_shock,
    decaying_turbulence,
    euler_1d,
    euler_2d,
    kdv_two_soliton,
    kolmogorov_flow,
    ks_chaos,
    shock_tubes,
    taylor_green,
)
