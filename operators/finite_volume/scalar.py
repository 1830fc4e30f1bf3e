"""A scalar conservation law whose flux is the derivative of a potential
(for instance a learned one), discretized by finite volumes."""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, Float, PRNGKeyArray, Scalar

from .._grid import Grid
from .._operator import AbstractCFLOperator
from ..internal import check_instance, checks_own_arguments
from .boundary import AbstractBoundaryCondition, Outflow, Periodic, pad
from .reconstruction import MUSCL, AbstractReconstruction


class MLPPotential(eqx.Module):
    """A learned potential `Phi(u) = scale * N_theta(u / scale)`, `N_theta` a
    scalar-to-scalar `eqx.nn.MLP` with a smooth activation (so that `Phi'`
    and `Phi''`, which a `ScalarConservationLaw` takes by automatic
    differentiation, are smooth too). The last layer starts at zero, so the
    initial flux `Phi'` vanishes.

    **Arguments:**

    - `key`: PRNG key of the hidden layers.
    - `width`, `depth`: of the MLP (default 32, 2 hidden layers).
    - `scale`: the typical magnitude of `u` (inputs are divided by it and
      outputs multiplied, keeping the network's inputs O(1)).
    - `activation`: default `jax.nn.softplus` (C-infinity).
    """

    mlp: eqx.nn.MLP
    scale: float = eqx.field(static=True)

    def __init__(
        self,
        *,
        key: PRNGKeyArray,
        width: int = 32,
        depth: int = 2,
        scale: float = 1.0,
        activation: Callable = jax.nn.softplus,
    ):
        if not scale > 0:
            raise ValueError(f"MLPPotential: scale must be positive, got {scale!r}")
        mlp = eqx.nn.MLP(
            "scalar", "scalar", width, depth, activation=activation, key=key
        )
        last = mlp.layers[-1]
        assert last.bias is not None  # eqx.nn.MLP layers have biases by default
        self.mlp = eqx.tree_at(
            lambda m: (m.layers[-1].weight, m.layers[-1].bias),
            mlp,
            (jnp.zeros_like(last.weight), jnp.zeros_like(last.bias)),
        )
        self.scale = float(scale)

    def __call__(self, u: Scalar) -> Scalar:
        return self.scale * self.mlp(u / self.scale)


class ScalarConservationLaw(AbstractCFLOperator):
    """`u_t + F(u)_x = 0` in 1D with the flux `F = dPhi/du` of a scalar
    potential `Phi` (any differentiable `Phi(u: scalar) -> scalar`, e.g. an
    `MLPPotential`; `Phi = u^3 / 6` gives inviscid Burgers).

    Finite volumes on a uniform grid: the cell averages are reconstructed to
    both sides of every face (`reconstruction`, default `MUSCL("minmod")`)
    and the Rusanov / local Lax-Friedrichs flux
    `F_{i+1/2} = (F(u_L) + F(u_R)) / 2 - a (u_R - u_L) / 2`,
    `a = max(|F'(u_L)|, |F'(u_R)|)` (Rusanov 1961; LeVeque 2002, §12.5) is
    differenced: `du_i/dt = -(F_{i+1/2} - F_{i-1/2}) / dx`. Conservative by
    construction.

    Both `F = Phi'` and the wave speed `F' = Phi''` are taken by automatic
    differentiation inside the right-hand side (one `jax.jvp` of
    `jax.grad(Phi)` per face state), so the gradient of a rollout loss with
    respect to the parameters of `Phi` is a nested (third-order in `u`,
    second-order through the rollout) derivative.

    **Arguments:**

    - `grid`: a 1D `Grid`.
    - `potential`: `Phi`.
    - `reconstruction`: default `MUSCL(limiter="minmod")`.
    - `boundaries`: `Periodic()` (default) or `Outflow()`, on both ends or as
      a `(low, high)` pair.
    """

    grid: Grid
    potential: Callable[[Scalar], Scalar]
    reconstruction: AbstractReconstruction
    boundaries: tuple[AbstractBoundaryCondition, AbstractBoundaryCondition]

    @checks_own_arguments
    def __init__(
        self,
        grid: Grid,
        potential: Callable,
        reconstruction: AbstractReconstruction | None = None,
        boundaries=None,
    ):
        self.grid = grid
        self.potential = potential
        self.reconstruction = (
            MUSCL(limiter="minmod") if reconstruction is None else reconstruction
        )
        boundaries = Periodic() if boundaries is None else boundaries
        self.boundaries = (
            tuple(boundaries)
            if isinstance(boundaries, (tuple, list))
            else (boundaries, boundaries)
        )

    def __check_init__(self):
        if not isinstance(self.grid, Grid) or self.grid.ndim != 1:
            raise ValueError(
                f"ScalarConservationLaw: needs a 1D Grid, got {self.grid!r}"
            )
        if not callable(self.potential):
            raise TypeError(
                "ScalarConservationLaw: potential must be callable, got "
                f"{type(self.potential).__name__}"
            )
        check_instance(
            "ScalarConservationLaw",
            "reconstruction",
            self.reconstruction,
            AbstractReconstruction,
            'MUSCL(limiter="minmod")',
        )
        if len(self.boundaries) != 2 or not all(
            isinstance(b, (Periodic, Outflow)) for b in self.boundaries
        ):
            raise ValueError(
                "ScalarConservationLaw: boundaries must be Periodic() or Outflow() "
                f"(or a pair), got {self.boundaries!r}"
            )
        if isinstance(self.boundaries[0], Periodic) != isinstance(
            self.boundaries[1], Periodic
        ):
            raise ValueError(
                "ScalarConservationLaw: a periodic axis needs Periodic() on both ends"
            )
        if self.grid.cells[0] < self.reconstruction.num_ghost:
            raise ValueError(
                f"ScalarConservationLaw: {type(self.reconstruction).__name__} needs at "
                f"least {self.reconstruction.num_ghost} cells, got {self.grid.cells[0]}"
            )

    @property
    def field_names(self) -> tuple[str, ...]:
        return ("u",)

    def encode(self, fields: Float[Array, "1 n"]) -> Float[Array, "1 n"]:
        self._check_shape(fields, "fields")
        return fields

    def decode(self, state: Float[Array, "1 n"]) -> Float[Array, "1 n"]:
        self._check_shape(state, "state")
        return state

    def flux_and_speed(
        self, u: Float[Array, "..."]
    ) -> tuple[Float[Array, "..."], Float[Array, "..."]]:
        """`F(u) = Phi'(u)` and `F'(u) = Phi''(u)`, elementwise, by forward
        over reverse automatic differentiation of the potential."""
        first = jax.grad(self.potential)

        def one(x):
            return jax.jvp(first, (x,), (jnp.ones_like(x),))

        f, df = jax.vmap(one)(u.ravel())
        return f.reshape(u.shape), df.reshape(u.shape)

    def face_fluxes(self, u: Float[Array, " n"]) -> Float[Array, " n+1"]:
        """Rusanov fluxes at the `n + 1` faces (face `k` between cells `k - 1`, `k`)."""
        padded = pad((u,), 0, self.boundaries, self.reconstruction.num_ghost)[0]
        left, right = self.reconstruction.reconstruct(padded, 0)
        m = left.shape[0]
        f, df = self.flux_and_speed(jnp.concatenate([left, right]))
        a = jnp.maximum(jnp.abs(df[:m]), jnp.abs(df[m:]))
        return 0.5 * (f[:m] + f[m:]) - 0.5 * a * (right - left)

    def __call__(self, state: Float[Array, "1 n"], t=None) -> Float[Array, "1 n"]:
        """`du_i/dt = -(F_{i+1/2} - F_{i-1/2}) / dx`; `t` is unused."""
        self._check_shape(state, "state")
        flux = self.face_fluxes(state[0])
        n = self.grid.cells[0]
        return (
            -(lax.slice_in_dim(flux, 1, n + 1) - lax.slice_in_dim(flux, 0, n))
            / self.grid.spacing[0]
        )[None]

    def max_wave_speed(self, state: Float[Array, "1 n"]) -> Float[Array, ""]:
        """`max |F'(u)|` over cells."""
        self._check_shape(state, "state")
        return jnp.max(jnp.abs(self.flux_and_speed(state[0])[1]))

    def stable_dt(self, state: Float[Array, "1 n"], cfl=0.5) -> Float[Array, ""]:
        """`cfl dx / max |F'(u)|`."""
        return cfl * self.grid.spacing[0] / self.max_wave_speed(state)

    def _check_shape(self, x, what):
        expected = (1, *self.grid.cells)
        if x.shape != expected:
            raise ValueError(
                f"ScalarConservationLaw: expected {what} of shape {expected}, got "
                f"{x.shape}"
            )
