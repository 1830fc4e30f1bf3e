"""A learned correction of the numerical flux of the finite-volume Euler operator."""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, Float, PRNGKeyArray

from .._operator import AbstractCFLOperator, AbstractConstrainedOperator
from ..internal import check_instance, checks_own_arguments
from .boundary import pad
from .eos import IdealGas
from .euler import Euler
from .state import conservative_to_primitive_components

_FORMS = ("flux", "jump")


class NeuralFlux(AbstractCFLOperator, AbstractConstrainedOperator):
    """The `Euler` operator `base` with a learned correction added to its
    numerical flux at every face (a neural flux closure in the spirit of
    Bar-Sinai et al. 2019, PNAS 116:15344, and Kochkov et al. 2021, PNAS
    118:e2101784118):

        `F_{k-1/2} = F^base_{k-1/2} + S_{k-1/2} N_theta(z_{k-1/2})`,

    differenced as `dU_i/dt = -sum_d (F_{i+1/2} - F_{i-1/2}) / dx_d` (the
    base operator's rate minus the differenced corrections), so the scheme
    stays conservative whatever the network does.

    The network `N_theta` (an `eqx.nn.MLP`) sees the `2 * radius` cells
    around the face (`k - radius .. k + radius - 1` along the face normal),
    nondimensionalized by the stencil means `rho_0`, `p_0` and
    `c_0 = sqrt(gamma p_0 / rho_0)`: `log(rho_j / rho_0)`, `u_n,j / c_0`,
    tangential velocities `/ c_0`, `log(p_j / p_0)`. Its outputs, the
    corrections of the mass, normal momentum, tangential momentum and energy
    fluxes, are scaled by `S = (rho_0 c_0, rho_0 c_0^2, rho_0 c_0^2, rho_0 c_0^3)`.
    With `form="jump"` the outputs are instead dimensionless coefficients
    `alpha` of a learned (anti-)diffusion, `S N_theta = c_0 alpha (U_k - U_{k-1})`
    per conservative variable (normal frame), which vanishes where the two
    cells next to the face agree. Either correction is invariant under the
    scalings `rho -> a rho`, `p -> b p`, `u -> sqrt(b / a) u` of the Euler
    equations, and the same
    network serves every axis in the face-normal frame. With `symmetric=True`
    it is averaged with its mirror image (stencil reversed, `u_n -> -u_n`,
    outputs mapped by `(-1, +1, -1, -1)`), so the correction respects the
    reflection symmetry `x -> -x` exactly.

    The last layer starts at zero: the initial operator is exactly `base`,
    and training starts from the base scheme.

    **Arguments:**

    - `base`: the `Euler` operator whose flux is corrected (its grid, EOS,
      boundary conditions, reconstruction and Riemann solver are used
      unchanged; the ghost cells the stencil needs come from its
      boundary conditions).
    - `key`: PRNG key of the network's hidden layers.
    - `radius`: stencil half width (default 2: four cells per face).
    - `width`, `depth`: of the MLP (default 32, 2 hidden layers; tanh).
    - `symmetric`: enforce the mirror symmetry (default True).
    - `form`: `"flux"` (default; additive flux correction) or `"jump"`
      (learned diffusion coefficients times the jump across the face).
    """

    base: Euler
    network: eqx.nn.MLP
    radius: int = eqx.field(static=True)
    symmetric: bool = eqx.field(static=True)
    form: str = eqx.field(static=True)

    @checks_own_arguments
    def __init__(
        self,
        base: Euler,
        *,
        key: PRNGKeyArray,
        radius: int = 2,
        width: int = 32,
        depth: int = 2,
        symmetric: bool = True,
        form: str = "flux",
    ):
        check_instance("NeuralFlux", "base", base, Euler, "Euler(grid)")
        if not isinstance(base.eos, IdealGas):
            # its features (c0) and the jump form's energies are the ideal gas'
            raise TypeError(
                "NeuralFlux: base.eos must be an IdealGas, got "
                f"{type(base.eos).__name__}"
            )
        if form not in _FORMS:
            raise ValueError(f"NeuralFlux: form must be one of {_FORMS}, got {form!r}")
        if not isinstance(radius, int) or radius < 1:
            raise ValueError(f"NeuralFlux: radius must be an int >= 1, got {radius!r}")
        nvars = 2 + base.grid.ndim
        for axis, n in enumerate(base.grid.cells):
            if n < radius:
                raise ValueError(
                    f"NeuralFlux: radius {radius} needs at least {radius} cells per "
                    f"axis, grid.cells[{axis}] = {n}"
                )
        mlp = eqx.nn.MLP(
            2 * radius * nvars, nvars, width, depth, activation=jnp.tanh, key=key
        )
        last = mlp.layers[-1]
        assert last.bias is not None  # eqx.nn.MLP layers have biases by default
        self.network = eqx.tree_at(
            lambda m: (m.layers[-1].weight, m.layers[-1].bias),
            mlp,
            (jnp.zeros_like(last.weight), jnp.zeros_like(last.bias)),
        )
        self.base = base
        self.radius = radius
        self.symmetric = bool(symmetric)
        self.form = form

    # AbstractOperator: everything but the flux is the base operator's --------
    @property
    def grid(self):
        return self.base.grid

    @property
    def eos(self):
        return self.base.eos

    @property
    def field_names(self) -> tuple[str, ...]:
        return self.base.field_names

    def encode(
        self, fields: Float[Array, "vars *cells"]
    ) -> Float[Array, "vars *cells"]:
        return self.base.encode(fields)

    def decode(self, state: Float[Array, "vars *cells"]) -> Float[Array, "vars *cells"]:
        return self.base.decode(state)

    def max_wave_speed(self, state: Float[Array, "vars *cells"]) -> Float[Array, ""]:
        return self.base.max_wave_speed(state)

    def stable_dt(
        self, state: Float[Array, "vars *cells"], cfl=0.5
    ) -> Float[Array, ""]:
        """The base operator's CFL time step (the correction is assumed small)."""
        return self.base.stable_dt(state, cfl)

    @property
    def positive_quantities(self) -> tuple[str, ...]:
        return self.base.positive_quantities

    def positive_values(
        self, fields: Float[Array | np.ndarray, "vars *cells"]
    ) -> Float[Array, "2 *cells"]:
        return self.base.positive_values(fields)

    def __call__(
        self, state: Float[Array, "vars *cells"], t=None
    ) -> Float[Array, "vars *cells"]:
        """The base operator's rate minus the divergence of the learned flux
        corrections, `-sum_d (C_{i+1/2} - C_{i-1/2}) / dx_d`."""
        rate = self.base(state, t)
        w = conservative_to_primitive_components(tuple(state), self.base.eos)
        for axis in range(self.grid.ndim):
            c = jnp.stack(self.correction(w, axis))
            n = self.grid.cells[axis]
            rate = rate - (
                lax.slice_in_dim(c, 1, n + 1, axis=axis + 1)
                - lax.slice_in_dim(c, 0, n, axis=axis + 1)
            ) * (1.0 / self.grid.spacing[axis])
        return rate

    # Pieces ------------------------------------------------------------------
    def face_fluxes(self, primitive: Sequence[Array], axis: int) -> tuple[Array, ...]:
        """Base fluxes plus the learned correction at the `n + 1` faces normal
        to `axis` (one array per conservative variable)."""
        base = self.base.face_fluxes(primitive, axis)
        correction = self.correction(primitive, axis)
        return tuple(f + c for f, c in zip(base, correction))

    def correction(self, primitive: Sequence[Array], axis: int) -> tuple[Array, ...]:
        """The learned flux correction `S N_theta(z)` at the `n + 1` faces
        normal to `axis` (one array per conservative variable)."""
        r = self.radius
        padded = pad(tuple(primitive), axis, self.base.boundaries[axis], r)
        faces = primitive[0].shape[axis] + 1
        # stencil[j][v]: variable v of cell k - r + j for every face k
        stencil = [
            [lax.slice_in_dim(x, j, j + faces, axis=axis) for x in padded]
            for j in range(2 * r)
        ]
        ndim = len(primitive) - 2
        tangential = [d for d in range(ndim) if d != axis]
        rho = jnp.stack([s[0] for s in stencil], axis=-1)
        p = jnp.stack([s[-1] for s in stencil], axis=-1)
        un = jnp.stack([s[1 + axis] for s in stencil], axis=-1)
        ut = [jnp.stack([s[1 + d] for s in stencil], axis=-1) for d in tangential]
        out = self._local(rho, un, ut, p)
        if self.symmetric:
            mirrored = self._local(
                rho[..., ::-1], -un[..., ::-1], [v[..., ::-1] for v in ut], p[..., ::-1]
            )
            sign = jnp.asarray(
                [-1.0, 1.0] + [-1.0] * len(tangential) + [-1.0], dtype=out.dtype
            )
            out = 0.5 * (
                out + sign.reshape((1,) * (out.ndim - 1) + sign.shape) * mirrored
            )
        # (mass, normal momentum, tangential momenta, energy) -> conservative order
        column = {axis: 1} | {d: 2 + i for i, d in enumerate(tangential)}
        momenta = [out[..., column[d]] for d in range(ndim)]
        return (out[..., 0], *momenta, out[..., -1])

    def _local(self, rho, un, ut, p):
        """The correction in the face-normal frame, `(..., 2 + ndim)`, from the
        stencil's primitive variables, each `(..., 2 * radius)`."""
        rho0 = jnp.mean(rho, axis=-1, keepdims=True)
        p0 = jnp.mean(p, axis=-1, keepdims=True)
        gamma = self.base.eos.gamma.astype(rho.dtype)
        c0 = jnp.sqrt(gamma * p0 / rho0)
        out = self._apply(
            jnp.log(rho / rho0), un / c0, [v / c0 for v in ut], jnp.log(p / p0)
        )
        if self.form == "jump":
            r = self.radius

            def conservative(j):
                kinetic = (
                    0.5
                    * rho[..., j]
                    * (un[..., j] ** 2 + sum(v[..., j] ** 2 for v in ut))
                )
                return jnp.stack(
                    [
                        rho[..., j],
                        rho[..., j] * un[..., j],
                        *(rho[..., j] * v[..., j] for v in ut),
                        p[..., j] / (gamma - 1.0) + kinetic,
                    ],
                    axis=-1,
                )

            return c0 * out * (conservative(r) - conservative(r - 1))
        mass = rho0 * c0
        nt = len(ut)
        scale = jnp.concatenate(
            [mass, *([mass * c0] * (1 + nt)), mass * c0 * c0], axis=-1
        )
        return scale * out

    def _apply(self, log_rho, un, ut, log_p):
        z = jnp.concatenate([log_rho, un, *ut, log_p], axis=-1)
        shape = z.shape[:-1]
        out = jax.vmap(self.network)(z.reshape(-1, z.shape[-1]))
        return out.reshape(*shape, out.shape[-1])
