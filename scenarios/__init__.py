"""Concrete problems, registered with `diffsim.jobs.register` (found by the CLI
through the `diffsim.scenarios` entry point)."""

from . import (  # noqa: F401  (importing registers)
    acoustic_lens,
    advection_diffusion,
    burgers_inverse,
    burgers_shock,
    decaying_turbulence,
    euler_1d,
    euler_2d,
    euler_closure,
    fisher_kpp,
    helmholtz_inverse,
    helmholtz_point_source,
    helmholtz_scattering,
    kdv_two_soliton,
    kolmogorov_flow,
    ks_chaos,
    learned_flux,
    shallow_water,
    shock_tube_inverse,
    shock_tubes,
    steady_fit,
    taylor_green,
)
from ._common import random_smooth_field as random_smooth_field
