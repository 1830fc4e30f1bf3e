"""The `FourierSpectral` strategy: pseudo-spectral, de-aliased, state in
Fourier space."""

from __future__ import annotations

from ..discretization import FourierSpectral
from ._discretize import register_strategy
from ._semilinear import FourierPDE


@register_strategy(FourierSpectral, "fourier")
def discretize_fourier(physics, fourier: FourierSpectral) -> FourierPDE:
    return FourierPDE(physics, fourier)
