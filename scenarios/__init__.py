"""Concrete problems, registered with `diffsim.register` (found by the CLI
through the `diffsim.scenarios` entry point)."""

from . import (  # noqa: F401  (importing registers)
    acoustic_lens,
    burgers_inverse,
    burgers_shock,
    decaying_turbulence,
    euler_1d,
    euler_2d,
    helmholtz_point_source,
    helmholtz_scattering,
    kdv_two_soliton,
    kolmogorov_flow,
    ks_chaos,
    shock_tubes,
    taylor_green,
)
