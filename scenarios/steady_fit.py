"""Recover the forcing of a steady, damped, viscous Burgers flow from noisy
sparse observations of the steady state, differentiating the steady state by
the implicit function theorem (no time stepping, no backpropagation through
Newton iterations).

The forward model is the periodic boundary-value problem

    nu u_xx - lambda u - u u_x + f(x; theta) = 0,
    f(x; theta) = sum_{k=1..K} a_k cos(k x) + b_k sin(k x),  theta = (a, b),

the steady state of `ForcedBurgers` (the linear damping `lambda > 0` makes
the root unique for moderate forcing; a Kolmogorov-like forced flow in 1D).
It is solved by Newton-Krylov (`diffsim.steady_state`) preconditioned with
the inverse of the linear part `nu d_xx - lambda`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, final

import equinox as eqx
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import optimistix as optx
import pydantic
import xarray as xr

import diffsim as ds
import diffsim.jobs  # noqa: F401  (ds.jobs)
from diffsim.jobs import (
    AbstractInverseProblem,
    BuildContext,
    ConfigError,
    OptimizationScenario,
    PhysicsConfig,
    register,
)
from diffsim.operators import AbstractPhysics, FourierSpectral, discretize
from diffsim.operators.internal import parameter


class ForcedBurgers(AbstractPhysics):
    """`u_t = nu u_xx - damping u - (u^2 / 2)_x + forcing(x)` in 1D: Burgers'
    flux, a linear part and a pointwise source (`forcing` is a physical field
    `(1, n)` on the grid). On `FourierSpectral`: pseudo-spectral, 2/3
    de-aliased. Channel: `velocity_x`.

    **Arguments:**

    - `nu`: the viscosity.
    - `damping`: the linear damping `lambda`.
    - `forcing`: the forcing field, shape `(1, n)`.
    """

    nu: jax.Array = eqx.field(converter=parameter)
    damping: jax.Array = eqx.field(converter=parameter)
    forcing: jax.Array

    def field_names(self, ndim):
        return ("velocity_x",)

    def flux(self, u, axis):
        return 0.5 * (u * u)

    def linear(self, u, d):
        return self.nu * d.laplacian(u) - self.damping * u

    def reaction(self, u, x, t):
        return self.forcing


class Physics(PhysicsConfig):
    nu: pydantic.PositiveFloat = pydantic.Field(0.1, description="viscosity")
    damping: pydantic.PositiveFloat = pydantic.Field(
        1.0, description="linear damping lambda (> 0 makes the steady state unique)"
    )
    modes: pydantic.PositiveInt = pydantic.Field(
        4, description="Fourier modes K of the forcing (2 K parameters)"
    )
    amplitude: pydantic.PositiveFloat = pydantic.Field(
        1.5, description="amplitude of the true forcing"
    )
    sensors: pydantic.PositiveInt = pydantic.Field(
        24, description="equally spaced sensors"
    )
    noise: pydantic.NonNegativeFloat = pydantic.Field(
        0.01, description="observation noise standard deviation"
    )
    regularization: pydantic.NonNegativeFloat = pydantic.Field(
        1e-5, description="weight of the penalty on the forcing coefficients"
    )


class Solver(PhysicsConfig):
    max_steps: pydantic.PositiveInt = pydantic.Field(
        30, description="Newton iteration cap"
    )
    rtol: pydantic.PositiveFloat = pydantic.Field(
        1e-10, description="Newton tolerance on the relative residual"
    )


def forcing_basis(x, modes: int) -> np.ndarray:
    """`(2 K, n)`: `cos(k x)` then `sin(k x)` for `k = 1..K`."""
    k = np.arange(1, modes + 1)[:, None]
    return np.concatenate([np.cos(k * x), np.sin(k * x)])


def steady_adjoint(name: str, rtol: float):
    """The config's `adjoint` for a steady state: `implicit` (implicit
    function theorem, one adjoint GMRES solve) or, for checks, `checkpoint`:
    reverse mode through the Newton iterations (optimistix's online binomial
    checkpointing)."""
    if name == "implicit":
        return optx.ImplicitAdjoint(
            linear_solver=ds.GMRES(rtol=rtol, restart=40, max_steps=400)
        )
    return optx.RecursiveCheckpointAdjoint()


class SteadyModel(eqx.Module):
    """The forward model: the steady state `u*(theta)` `(cells,)` of
    `ForcedBurgers` with forcing `theta @ basis`, by Newton-Krylov from
    `u_guess`, differentiated by `adjoint`."""

    discretization: FourierSpectral
    nu: float
    damping: float
    basis: jax.Array
    solver: Any
    adjoint: Any
    max_steps: int
    u_guess: jax.Array

    def __call__(self, theta):
        op = discretize(
            ForcedBurgers(self.nu, self.damping, (theta @ self.basis)[None]),
            self.discretization,
        )
        return ds.steady_state(
            op,
            self.u_guess,
            solver=self.solver,
            adjoint=self.adjoint,
            max_steps=self.max_steps,
        ).value[0]


@final
class SteadyForcingFit(AbstractInverseProblem):
    """Recover the forcing coefficients `theta` from noisy sensor values of
    the steady state: mean squared misfit plus `regularization` times
    `|theta|^2`."""

    params: jax.Array
    steady: SteadyModel
    theta_true: jax.Array
    u_true: jax.Array
    sensors: np.ndarray
    data: jax.Array
    regularization: float
    x: np.ndarray
    loss_label: ClassVar[str] = (
        "mean squared sensor misfit + L2 penalty on the forcing coefficients "
        "(u units squared)"
    )

    def loss(self, params):
        misfit = jnp.mean((self.steady(params)[self.sensors] - self.data) ** 2)
        return misfit + self.regularization * jnp.sum(params**2)

    def error(self, theta) -> float:
        """`|theta - theta_true| / |theta_true|` (the basis is orthogonal with
        equal norms: also the relative L2 error of the forcing)."""
        return float(
            jnp.linalg.norm(theta - self.theta_true) / jnp.linalg.norm(self.theta_true)
        )

    def fields(self, params):
        basis = self.steady.basis
        return xr.Dataset(
            {
                "u": (("x",), np.asarray(self.steady(params))),
                "u_true": (("x",), np.asarray(self.u_true)),
                "forcing": (("x",), np.asarray(params @ basis)),
                "forcing_true": (("x",), np.asarray(self.theta_true @ basis)),
                "observations": (("sensor",), np.asarray(self.data)),
            },
            coords={"x": self.x, "sensor_x": (("sensor",), self.x[self.sensors])},
        )

    def metrics(self, params):
        return {
            "parameter_error_initial": self.error(self.params),
            "parameter_error_final": self.error(params),
            "theta_true": np.asarray(self.theta_true).tolist(),
            "theta_final": np.asarray(params).tolist(),
        }

    def plot(self, params, out, history):
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        x, basis, sensors = self.x, self.steady.basis, self.sensors
        fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
        a.plot(x, self.theta_true @ basis, "k-", lw=2, label="true forcing")
        a.plot(
            x,
            params @ basis,
            "C0--",
            lw=2,
            label=f"recovered (parameter error {self.error(params):.3f})",
        )
        a.set(
            xlabel="x (dimensionless)",
            ylabel="forcing f(x) (dimensionless)",
            title="forcing f(x): truth vs. recovered",
        )
        a.legend(frameon=False, fontsize=8)
        b.plot(x, self.u_true, "k-", lw=2, label="true steady state")
        b.plot(x, self.steady(params), "C0--", lw=2, label="fitted steady state")
        b.plot(x[sensors], self.data, "o", color="C1", ms=4, label="noisy observations")
        b.set(
            xlabel="x (dimensionless)",
            ylabel="steady state u*(x) (dimensionless)",
            title="steady state u*(x) and observations",
        )
        b.legend(frameon=False, fontsize=8)
        fig.suptitle(
            f"steady forced Burgers: forcing ({len(self.theta_true)} Fourier "
            f"coefficients) fitted to {len(sensors)} sensors of u*"
        )
        path = out / "steady_fit.png"
        ds.save_figure(fig, path, dpi=130)
        plt.close(fig)
        return [path]


@register
class SteadyFit(OptimizationScenario):
    name = "steady_fit"
    description = (
        "recover the forcing of a steady damped Burgers flow from "
        "noisy sensors (Newton-Krylov, implicit adjoint)"
    )
    ndim = 1
    Physics = Physics
    Solver = Solver
    #: `diffsim gradcheck --all-modes` compares both in reverse mode and the
    #: implicit one in forward mode (unrolled optimistix loops are reverse only).
    adjoints = {
        "implicit": "implicit function theorem at the Newton-Krylov steady state "
        "(optimistix ImplicitAdjoint; one adjoint GMRES solve to "
        "solver.rtol)",
        "checkpoint": "reverse mode through the Newton iterations (optimistix "
        "RecursiveCheckpointAdjoint)",
    }
    #: The adjoint GMRES solve's tolerance for `diffsim gradcheck` (the Newton
    #: iteration itself stops at 1e-11 in float64).
    gradcheck_rtol = 1e-12
    defaults = {
        "grid": {"cells": [64], "lower": [0.0], "upper": [2 * np.pi]},
        "adjoint": "implicit",
        "optimize": {
            "iterations": 40,
            "checkpoint_every": 10,
            "gradient": "reverse",
            "optimizer": {"name": "lbfgs"},
        },
    }

    @classmethod
    def validate(cls, config, physics):
        n = config.grid.cells[0]
        if physics.sensors > n:
            raise ConfigError("physics.sensors", f"at most grid.cells[0] = {n} sensors")
        if 3 * physics.modes > n:
            raise ConfigError(
                "physics.modes",
                f"at most grid.cells[0] / 3 = {n // 3} forcing modes are resolved "
                "after de-aliasing",
            )
        if config.adjoint not in cls.adjoints:
            raise ConfigError(
                "adjoint",
                "steady_fit differentiates a steady state: implicit, or checkpoint "
                "(through the Newton iterations)",
            )
        if config.adjoint_memory_budget is not None:
            raise ConfigError(
                "adjoint_memory_budget",
                "steady_fit has no time loop to checkpoint (its adjoints run through "
                "the Newton solve); remove the key",
            )

    def build_problem(self, ctx: BuildContext) -> SteadyForcingFit:
        config, physics, grid = ctx.config, ctx.physics, ctx.grid
        solver_cfg = Solver(**config.solver)
        self.validate(config, physics)
        n = grid.cells[0]
        x = np.asarray(grid.coordinates[0])
        truth_key, noise_key, guess_key = jax.random.split(ctx.key, 3)
        decay = physics.amplitude * jnp.asarray(
            np.concatenate([np.arange(1, physics.modes + 1)] * 2) ** -1.0
        )
        theta_true = decay * jax.random.normal(truth_key, (2 * physics.modes,))
        # The initial guess: another, weaker draw from the same prior (not
        # zero forcing, whose steady state u* = 0 is a degenerate point at
        # which to check gradients).
        theta_guess = 0.5 * decay * jax.random.normal(guess_key, (2 * physics.modes,))
        tol = 1e-11 if config.precision == "float64" else 1e-5
        steady = SteadyModel(
            FourierSpectral(grid),
            physics.nu,
            physics.damping,
            jnp.asarray(forcing_basis(x, physics.modes)),
            ds.newton_krylov(atol=tol, rtol=tol),
            steady_adjoint(config.adjoint, solver_cfg.rtol),
            solver_cfg.max_steps,
            jnp.zeros((1, n)),
        )
        sensors = np.linspace(0, n, physics.sensors, endpoint=False).astype(int)
        u_true = steady(theta_true)
        data = u_true[sensors] + physics.noise * jax.random.normal(
            noise_key, (physics.sensors,), u_true.dtype
        )
        return SteadyForcingFit(
            params=theta_guess,
            steady=steady,
            theta_true=theta_true,
            u_true=u_true,
            sensors=sensors,
            data=data,
            regularization=physics.regularization,
            x=x,
        )
