"""Diagnostics shared by the pattern-formation scenarios."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from diffsim.operators import FourierSpectral, Grid
from diffsim.operators.physics import FourierCalculus


def free_energy_summary(physics, grid: Grid, ys: np.ndarray) -> dict:
    """`free_energy_initial`, `free_energy_final` and whether it never rose
    between snapshots (`free_energy_decreasing`, to a relative 1e-9 of
    round-off slack) for a gradient-flow `physics` with a `free_energy(u, d)`
    method; the gradient is spectral (all modes) whatever the run's
    discretization."""
    calculus = FourierCalculus(FourierSpectral(grid, dealias=1.0))
    energy = np.array(
        [float(physics.free_energy(jnp.asarray(y), calculus)) for y in ys]
    )
    slack = 1e-9 * np.max(np.abs(energy))
    return {
        "free_energy_initial": float(energy[0]),
        "free_energy_final": float(energy[-1]),
        "free_energy_decreasing": bool(np.all(np.diff(energy) <= slack)),
    }


def dominant_wavenumber(grid: Grid, u: np.ndarray) -> float:
    """`|k|` of the Fourier mode of largest amplitude of the zero-mean part
    of the real field `u` (shape `cells`)."""
    disc = FourierSpectral(grid, dealias=1.0)
    power = np.abs(np.fft.rfftn(u - u.mean()))
    k = np.sqrt(sum(kk**2 for kk in disc.wavenumbers()))
    return float(k.flat[int(np.argmax(power))])
