"""Helpers shared by scenarios: random smooth fields."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from diffsim.operators import FourierSpectral, Grid


def random_smooth_field(key, grid: Grid, k_peak: float, rms: float = 1.0, dtype=None):
    """A zero-mean random real field with energy spectrum `~ k^4 exp(-2 (k/k_peak)^2)`
    (in units of the fundamental wavenumber), normalised to root-mean-square `rms`."""
    disc = FourierSpectral(grid, dealias=1.0)
    k = np.sqrt(
        sum(
            (kk * length / (2 * np.pi)) ** 2
            for kk, length in zip(disc.wavenumbers(), grid.lengths)
        )
    )
    amplitude = np.where(
        k > 0, k**1.5 * np.exp(-((k / k_peak) ** 2)), 0.0
    )  # |u_k| ~ sqrt(E(k)/k^(d-1)), d = 2
    shape = disc.spectral_shape()
    kr, ki = jax.random.split(key)
    phases = jax.random.normal(kr, shape) + 1j * jax.random.normal(ki, shape)
    u = disc.inverse(jnp.asarray(amplitude) * phases)
    u = u - jnp.mean(u)
    return (rms * u / jnp.sqrt(jnp.mean(u**2))).astype(dtype or jnp.result_type(float))
