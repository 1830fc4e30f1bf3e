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
from ..internal import operator_name
from ._calculus import AbstractCalculus, check_vector
from ._physics import AbstractPhysics, flux_rows, scatter_channels


def lift(symbol, x):
    """`symbol` (shaped over the grid axes, NumPy or JAX) with leading unit
    axes so that it broadcasts against `x` (channels and batch axes first)
    without implicit rank promotion."""
    return symbol.reshape((1,) * (x.ndim - symbol.ndim) + symbol.shape)


class SymbolCalculus(AbstractCalculus):
    """Applies operators to Fourier coefficients by multiplying with their
    symbols: `linear(ones, SymbolCalculus)` is the symbol of the linear part.
    Only constant-coefficient operators have a symbol."""

    def __init__(self, grid, derivative_symbol: Callable, diffusion_symbol: Callable):
        self.grid = grid
        self._derivative_symbol = derivative_symbol
        self._diffusion_symbol = diffusion_symbol

    def derivative(self, u, axis, order=1):
        return u * lift(self._derivative_symbol(axis, order), u)

    def laplacian(self, u):
        return u * lift(
            sum(self._derivative_symbol(a, 2) for a in range(self.grid.ndim)), u
        )

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
            * lift(sum(self._diffusion_symbol(a) for a in range(self.grid.ndim)), u)
        )

    def inverse_laplacian(self, f):
        lap = sum(self._derivative_symbol(a, 2) for a in range(self.grid.ndim))
        inv = np.where(lap == 0.0, 0.0, 1.0 / np.where(lap == 0.0, 1.0, lap))
        return f * lift(inv, f)

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

    def knows(self, u) -> bool:
        """Whether the spectrum of `u` is known (no transform needed)."""
        entry = self._spectra.get(id(u))
        return entry is not None and entry[0] is u

    def spectrum(self, u):
        entry = self._spectra.get(id(u))
        if entry is not None and entry[0] is u:
            return entry[1]
        return self.fourier.forward(u)

    def _apply(self, u, symbol):
        real = not jnp.iscomplexobj(u)
        u_hat = self.spectrum(u)
        out_hat = u_hat * lift(symbol(real).astype(u_hat.dtype), u_hat)
        return self.know(self.fourier.inverse(out_hat, real), out_hat)

    def _ik(self, axis, real, order):
        k = self.fourier.wavenumbers(real, odd=order % 2 == 1)[axis]
        return (1j * k) ** order

    def derivative(self, u, axis, order=1):
        return self._apply(u, lambda real: self._ik(axis, real, order))

    def gradient(self, u):
        # all first derivatives in one batched inverse transform
        real = not jnp.iscomplexobj(u)
        u_hat = self.spectrum(u)
        g_hat = jnp.stack(
            [
                u_hat * lift(self._ik(a, real, 1).astype(u_hat.dtype), u_hat)
                for a in range(self.grid.ndim)
            ]
        )
        return self.know(self.fourier.inverse(g_hat, real), g_hat)

    def divergence(self, v):
        # one batched forward transform; the result's spectrum is remembered
        real = not jnp.iscomplexobj(v)
        v_hat = self.spectrum(v)
        terms = [
            v_hat[a] * lift(self._ik(a, real, 1).astype(v_hat.dtype), v_hat[a])
            for a in range(self.grid.ndim)
        ]
        out_hat = sum(terms[1:], terms[0])
        return self.know(self.fourier.inverse(out_hat, real), out_hat)

    def curl(self, v):
        # from the spectrum of `v` (the state's, for a velocity): one inverse
        # transform of the curl's 1 (2D) or 3 (3D) components, instead of
        # the ndim^2 of the gradient
        check_vector(self, v, "curl")
        real = not jnp.iscomplexobj(v)
        v_hat = self.spectrum(v)
        ik = [
            lift(self._ik(a, real, 1).astype(v_hat.dtype), v_hat[0])
            for a in range(self.grid.ndim)
        ]

        def rotation(i, j) -> Array:  # d_i v_j - d_j v_i
            return ik[i] * v_hat[j] - ik[j] * v_hat[i]

        if self.grid.ndim == 2:
            w_hat = rotation(0, 1)
        else:
            w_hat = jnp.stack([rotation(1, 2), rotation(2, 0), rotation(0, 1)])
        return self.know(self.fourier.inverse(w_hat, real), w_hat)

    def laplacian(self, u):
        return self._apply(u, lambda real: self.fourier.laplacian_symbol(real))

    def diffusion(self, u, coefficient):
        if jnp.ndim(coefficient) == 0:
            return coefficient * self.laplacian(u)
        terms = [
            self.derivative(
                lift(jnp.asarray(coefficient), u) * self.derivative(u, a), a
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
        # In flux form, J(a, b) = d_x(a b_y) - d_y(a b_x) = d_y(a_x b) - d_x(a_y b):
        # the gradient of the operand whose spectrum is known (one batched
        # inverse transform), two products, one batched forward transform. The
        # result's spectrum is remembered, so a caller that returns it costs no
        # further transform (its inverse is dead code).
        if self.grid.ndim != 2:
            raise ValueError(
                f"the Jacobian J(a, b) is two-dimensional, got a {self.grid.ndim}D grid"
            )
        real = not (jnp.iscomplexobj(a) or jnp.iscomplexobj(b))
        if self.knows(a) and self.knows(b) and a.shape == b.shape:
            # `a` again from its spectrum, in the same batched inverse transform
            # as the gradient of `b`: the caller's own transform of `a` (e.g.
            # the state's) is then dead code if nothing else uses it
            a_hat, b_hat = self.spectrum(a), self.spectrum(b)
            ik = [lift(self._ik(axis, real, 1), b_hat) for axis in (0, 1)]
            both = self.fourier.inverse(
                jnp.stack(
                    [
                        a_hat,
                        b_hat * ik[0].astype(b_hat.dtype),
                        b_hat * ik[1].astype(b_hat.dtype),
                    ]
                ),
                real,
            )
            a, gb = both[0], both[1:]
            products = jnp.stack([a * gb[1], -(a * gb[0])])
        elif self.knows(b) or not self.knows(a):
            gb = self.gradient(b)
            products = jnp.stack([a * gb[1], -(a * gb[0])])
        else:
            ga = self.gradient(a)
            products = jnp.stack([-(ga[1] * b), ga[0] * b])
        p_hat = self.fourier.forward(products)
        ik = [
            lift(self._ik(axis, real, 1).astype(p_hat.dtype), p_hat[0])
            for axis in (0, 1)
        ]
        out_hat = p_hat[0] * ik[0] + p_hat[1] * ik[1]
        return self.know(self.fourier.inverse(out_hat, real), out_hat)


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
        maybe = [flux_rows(self.physics, u, a) for a in range(ndim)]
        if maybe[0] is not None:
            rows = cast(list[tuple[tuple[int, ...], Array]], maybe)
            channels = u.shape[0]
            dense = all(c == tuple(range(channels)) for c, _ in rows)
            if isinstance(calc, FourierCalculus):
                ik = [calc._ik(a, self._real, 1) for a in range(ndim)]
                if dense:
                    # every axis' flux in one batched forward transform
                    f_hat = self.fourier.forward(jnp.stack([f for _, f in rows]))
                    terms = [
                        f_hat[a] * lift(ik[a].astype(f_hat.dtype), f_hat[a])
                        for a in range(ndim)
                    ]
                    spectral.append(-sum(terms[1:], terms[0]))
                else:
                    # per-component flux: one forward transform per axis, of
                    # the declared rows only; identical rows of different
                    # axes (Burgers' |u|^2 / 2) are identical transforms,
                    # which XLA computes once
                    parts = []
                    for a, (c, f) in enumerate(rows):
                        f_hat = self.fourier.forward(f)
                        parts.append(
                            (c, f_hat * lift(ik[a].astype(f_hat.dtype), f_hat))
                        )
                    spectral.append(-scatter_channels(parts, channels))
            elif dense:
                physical.append(-calc.divergence(jnp.stack([f for _, f in rows])))
            else:
                parts = [(c, calc.derivative(f, a)) for a, (c, f) in enumerate(rows)]
                physical.append(-scatter_channels(parts, channels))
        x = self.grid.mesh(jnp.finfo(u.dtype).dtype)
        for term in (
            self.physics.reaction(u, x, t),
            self.physics.nonlinear(u, calc, t),
        ):
            if term is None:
                continue
            if isinstance(calc, FourierCalculus) and calc.knows(term):
                # e.g. a Jacobian or derivative returned as is: its spectrum
                # is at hand, transforming it back would waste two transforms
                spectral.append(calc.spectrum(term))
            else:
                physical.append(term)
        if physical:
            # the terms without a known spectrum: one forward transform
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


@operator_name.register
def _(operator: SemilinearPDE) -> str:
    return type(operator.physics).__name__
