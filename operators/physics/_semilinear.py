"""Physics on a periodic grid, stepped in Fourier space: the strategy behind
`FourierSpectral` and periodic `FiniteDifference`.

The state is the (real or complex) FFT of the fields, so the declared linear
part is diagonal and exponential integrators (ETDRK) apply: its symbol is the
spectral one (`(i k)^n`) on `FourierSpectral` and the stencil's on
`FiniteDifference`. The other terms are evaluated in physical space with the
discretization's calculus and transformed back once per evaluation.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any, cast

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from .._operator import AbstractSemilinearOperator
from ..discretization import FourierSpectral
from ._calculus import AbstractCalculus
from ._physics import AbstractPhysics


def _batched(a, like):
    """`a` (shaped like the trailing axes of `like`) with leading unit axes, so
    that it broadcasts over `like`'s leading (channel) axes under
    `jax_numpy_rank_promotion="raise"`."""
    extra = jnp.ndim(like) - jnp.ndim(a)
    return a.reshape((1,) * extra + a.shape) if extra > 0 else a


class SymbolCalculus(AbstractCalculus):
    """Applies operators to Fourier coefficients by multiplying with their
    symbols: `linear(ones, SymbolCalculus)` is the symbol of the linear part.
    Only constant-coefficient operators have a symbol."""

    def __init__(self, grid, derivative_symbol: Callable, diffusion_symbol: Callable):
        self.grid = grid
        self._derivative_symbol = derivative_symbol
        self._diffusion_symbol = diffusion_symbol

    def derivative(self, u, axis, order=1):
        return u * _batched(self._derivative_symbol(axis, order), u)

    def laplacian(self, u):
        lap = sum(self._derivative_symbol(a, 2) for a in range(self.grid.ndim))
        return u * _batched(lap, u)

    def diffusion(self, u, coefficient):
        if jnp.ndim(coefficient) != 0:
            raise ValueError(
                "the linear part is integrated exactly (ETDRK) only when it is "
                "diagonal in Fourier space: a variable diffusion coefficient is "
                "not. Put the term in `nonlinear` (explicit) or use walls/IMEX"
            )
        return (
            coefficient
            * u
            * _batched(sum(self._diffusion_symbol(a) for a in range(self.grid.ndim)), u)
        )

    def inverse_laplacian(self, f):
        lap = sum(self._derivative_symbol(a, 2) for a in range(self.grid.ndim))
        inv = np.where(lap == 0.0, 0.0, 1.0 / np.where(lap == 0.0, 1.0, lap))
        return f * _batched(inv, f)

    def jacobian(self, a, b):
        raise ValueError("the Jacobian J(a, b) is not linear: it has no symbol")


class FourierCalculus(AbstractCalculus):
    """Pseudo-spectral calculus on physical fields.

    Remembers (for one right-hand-side evaluation, at trace time) the spectrum
    of every field it produced or was told about, so that chains such as
    `derivative(inverse_laplacian(w), 1)` transform only once; transforms whose
    physical result is never used are removed by XLA. No de-aliasing here:
    the strategy truncates the inputs and the result.
    """

    def __init__(self, fourier: FourierSpectral):
        self.grid = fourier.grid
        self.fourier = fourier
        self._spectra: dict[int, tuple[Array, Array]] = {}

    def know(self, u, u_hat):
        """Record that `u_hat` is the spectrum of `u`; returns `u`."""
        self._spectra[id(u)] = (u, u_hat)
        return u

    def spectrum(self, u):
        entry = self._spectra.get(id(u))
        if entry is not None and entry[0] is u:
            return entry[1]
        return self.fourier.forward(u)

    def _apply(self, u, symbol):
        real = not jnp.iscomplexobj(u)
        u_hat = self.spectrum(u)
        out_hat = u_hat * _batched(symbol(real).astype(u_hat.dtype), u_hat)
        return self.know(self.fourier.inverse(out_hat, real), out_hat)

    def _ik(self, axis, real, order):
        k = self.fourier.wavenumbers(real, odd=order % 2 == 1)[axis]
        return (1j * k) ** order

    def derivative(self, u, axis, order=1):
        return self._apply(u, lambda real: self._ik(axis, real, order))

    def laplacian(self, u):
        return self._apply(u, lambda real: self.fourier.laplacian_symbol(real))

    def diffusion(self, u, coefficient):
        if jnp.ndim(coefficient) == 0:
            return coefficient * self.laplacian(u)
        terms = [
            self.derivative(
                _batched(jnp.asarray(coefficient), u) * self.derivative(u, a), a
            )
            for a in range(self.grid.ndim)
        ]
        return sum(terms[1:], terms[0])

    def inverse_laplacian(self, f):
        def inverse_symbol(real):
            lap = self.fourier.laplacian_symbol(real)
            return np.where(lap == 0.0, 0.0, 1.0 / np.where(lap == 0.0, 1.0, lap))

        return self._apply(f, inverse_symbol)

    def jacobian(self, a, b):
        # a_x b_y - a_y b_x = d_y(a_x b) - d_x(a_y b): two transforms fewer
        ax, ay = self.derivative(a, 0), self.derivative(a, 1)
        return self.derivative(ax * b, 1) - self.derivative(ay * b, 0)


def fourier_symbols(fourier: FourierSpectral, real: bool):
    def derivative_symbol(axis, order):
        k = fourier.wavenumbers(real, odd=order % 2 == 1)[axis]
        return (1j * k) ** order if order % 2 else (-(k**2)) ** (order // 2)

    def diffusion_symbol(axis):
        return -(fourier.wavenumbers(real)[axis] ** 2)

    return derivative_symbol, diffusion_symbol


class SemilinearPDE(AbstractSemilinearOperator):
    """`physics` on a periodic discretization, state = FFT of the fields.

    Subclasses say which transform, calculus and symbols the discretization
    uses (`FourierPDE`; the periodic finite-difference one).
    """

    physics: eqx.AbstractVar[AbstractPhysics]
    discretization: eqx.AbstractVar[Any]

    @property
    @abc.abstractmethod
    def fourier(self) -> FourierSpectral:
        """The transform between fields and state (with its de-aliasing)."""

    @abc.abstractmethod
    def calculus(self) -> AbstractCalculus:
        """A fresh physical-space calculus for one evaluation."""

    @abc.abstractmethod
    def symbols(self) -> tuple[Callable, Callable]:
        """`(derivative_symbol(axis, order), diffusion_symbol(axis))` on the
        spectrum."""

    @property
    def grid(self):
        return self.discretization.grid

    @property
    def field_names(self):
        return self.physics.field_names(self.grid.ndim)

    @property
    def _real(self) -> bool:
        return not self.physics.complex_fields

    def encode(self, fields):
        expected = (len(self.field_names), *self.grid.cells)
        if fields.shape != expected:
            raise ValueError(
                f"{type(self.physics).__name__}: expected fields of shape "
                f"{expected} ({', '.join(self.field_names)}), got {fields.shape}"
            )
        if self.physics.complex_fields:
            fields = fields.astype(jnp.result_type(fields.dtype, jnp.complex64))
        return self.fourier.forward(self.physics.encode(fields))

    def decode(self, state):
        return self.physics.decode(self.fourier.inverse(state, self._real))

    def _mask(self):
        return self.fourier.dealias_mask(self._real)[None]

    def linear_symbol(self):
        calc = SymbolCalculus(self.grid, *self.symbols())
        shape = (len(self.field_names), *self.fourier.spectral_shape(self._real))
        ones = jnp.ones(shape)
        out = self.physics.linear(ones, calc)
        if out is None:
            return jnp.zeros(shape[:1] + (1,) * self.grid.ndim)
        return out

    def nonlinear(self, state, t):
        calc = self.calculus()
        mask = self._mask()
        u_hat = jnp.where(mask, state, 0.0)
        u = self.fourier.inverse(u_hat, self._real)
        if isinstance(calc, FourierCalculus):
            calc.know(u, u_hat)
        ndim = self.grid.ndim
        spectral = []
        physical = []
        maybe = [self.physics.flux(u, a) for a in range(ndim)]
        if maybe[0] is not None:
            fluxes = cast(list[Array], maybe)
            if isinstance(calc, FourierCalculus):
                f_hat = self.fourier.forward(jnp.stack(fluxes))
                ik = [calc._ik(a, self._real, 1) for a in range(ndim)]
                terms = [  # symbols broadcast over the leading channel axis
                    f_hat[a] * ik[a].astype(f_hat.dtype)[None] for a in range(ndim)
                ]
                spectral.append(-sum(terms[1:], terms[0]))
            else:
                physical.append(-calc.divergence(jnp.stack(fluxes)))
        x = self.grid.mesh(jnp.finfo(u.dtype).dtype)
        for term in (
            self.physics.reaction(u, x, t),
            self.physics.nonlinear(u, calc, t),
        ):
            if term is not None:
                physical.append(term)
        if physical:
            total = sum(physical[1:], physical[0])
            spectral.append(
                calc.spectrum(total)
                if isinstance(calc, FourierCalculus)
                else self.fourier.forward(total)
            )
        if not spectral:
            return jnp.zeros_like(state)
        out = sum(spectral[1:], spectral[0])
        return jnp.where(mask, out, 0.0).astype(state.dtype)


class FourierPDE(SemilinearPDE):
    """`physics` on `FourierSpectral`: pseudo-spectral, de-aliased."""

    physics: AbstractPhysics
    discretization: FourierSpectral

    @property
    def fourier(self):
        return self.discretization

    def calculus(self):
        return FourierCalculus(self.discretization)

    def symbols(self):
        return fourier_symbols(self.discretization, not self.physics.complex_fields)
