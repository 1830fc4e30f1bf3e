"""Shared machinery of the Fourier pseudo-spectral physics operators."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from .._operator import AbstractSemilinearOperator
from ..discretization import FourierSpectral
from ..internal import check_instance


class AbstractSpectralOperator(AbstractSemilinearOperator):
    """A semilinear PDE on a periodic domain whose state is the real FFT of the
    physical fields, shape `(channels, *spectrum)`.

    Keeping the state in Fourier space across steps saves one transform pair
    per step compared with stepping physical fields. Nonlinear terms are
    evaluated pseudo-spectrally and de-aliased with `discretization.dealias`
    (Orszag's 2/3 rule by default): inputs are truncated and so is the result.
    """

    discretization: eqx.AbstractVar[FourierSpectral]

    def __check_init__(self):
        check_discretization(self)

    @property
    def grid(self):
        return self.discretization.grid

    def encode(self, fields):
        if fields.shape != (len(self.field_names), *self.grid.cells):
            raise ValueError(
                f"{type(self).__name__}: expected fields of shape "
                f"{(len(self.field_names), *self.grid.cells)} "
                f"({', '.join(self.field_names)}), got {fields.shape}"
            )
        return self.discretization.forward(fields)

    def decode(self, state):
        return self.discretization.inverse(state)

    # Helpers for nonlinear terms -------------------------------------------
    def _ik(self) -> tuple[np.ndarray, ...]:
        """`i k` per axis for first derivatives (Nyquist removed), with a
        leading channel axis so they broadcast against states."""
        return tuple(1j * k[None] for k in self.discretization.wavenumbers(odd=True))

    def _mask(self) -> np.ndarray:
        return self.discretization.dealias_mask()[None]

    def _to_physical(self, state_hat):
        """De-aliased inverse transform of spectral fields (any leading axes)."""
        return self.discretization.inverse(jnp.where(self._mask(), state_hat, 0.0))

    def _to_spectral(self, fields):
        """Forward transform with the de-aliasing truncation applied."""
        return jnp.where(self._mask(), self.discretization.forward(fields), 0.0)


def check_discretization(op: AbstractSpectralOperator) -> None:
    """Raise `TypeError` unless `op.discretization` is a `FourierSpectral`
    (called first by every spectral operator's `__check_init__`)."""
    check_instance(
        type(op).__name__,
        "discretization",
        op.discretization,
        FourierSpectral,
        "FourierSpectral(Grid(cells=[256]))",
    )


def real_dtype(x):
    return jnp.finfo(x.dtype).dtype
