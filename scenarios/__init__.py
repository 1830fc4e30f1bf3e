"""Concrete problems, registered with `diffsim.jobs.register` (found by the CLI
through the `diffsim.scenarios` entry point)."""

from . import (  # noqa: F401  (importing registers)
    acoustic_lens,
    acoustic_pulse,
    advection_diffusion,
    allen_cahn,
    burgers_inverse,
    burgers_shock,
    cahn_hilliard,
    decaying_turbulence,
    euler_1d,
    euler_2d,
    euler_closure,
    fisher_kpp,
    gray_scott,
    helmholtz_inverse,
    helmholtz_point_source,
    helmholtz_scattering,
    kdv_two_soliton,
    kolmogorov_flow,
    ks_chaos,
    learned_flux,
    navier_stokes,
    nls_soliton,
    shallow_water,
    shock_tube_inverse,
    shock_tubes,
    steady_fit,
    swift_hohenberg,
    taylor_green,
)
from ._common import random_smooth_field as random_smooth_field
