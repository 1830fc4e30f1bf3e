"""Learn the flux of a scalar conservation law from rollout data: nested
differentiation. The flux is `F = dPhi/du` of an MLP potential `Phi`, taken
with `jax.grad` inside the right-hand side (and its wave speed `Phi''` with
`jax.jvp` of that), so the gradient of the rollout misfit with respect to the
network's weights is a derivative of derivatives of the network, taken in
reverse mode through the whole rollout.

Data: inviscid Burgers (`Phi = u^3 / 6`, `F = u^2 / 2`) from random smooth
periodic initial states, past shock formation, saved at `time.snapshots`
times; the same finite-volume scheme (MUSCL-minmod + Rusanov) is used for the
data and the model. `speed_error_*` report how well the learned wave speed
`Phi''(u)` matches the true `F'(u) = u` over the range of the data (the flux
itself is identifiable only up to a constant).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, final

import equinox as eqx
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import pydantic
import xarray as xr

import diffsim as ds
import diffsim.jobs  # noqa: F401  (ds.jobs)
from diffsim.jobs import (
    EXPLICIT_STEPPERS,
    AbstractInverseProblem,
    BuildContext,
    ConfigError,
    OptimizationScenario,
    PhysicsConfig,
    register,
)
from diffsim.operators import Grid
from diffsim.operators.finite_volume import MUSCL, FiniteVolume, Rusanov
from diffsim.operators.physics import MLPPotential, PotentialFluxLaw, discretize
from diffsim.steppers import AbstractStepper

from ._common import random_smooth_field


class Physics(PhysicsConfig):
    samples: pydantic.PositiveInt = pydantic.Field(
        4, description="random initial states in the training data"
    )
    amplitude: pydantic.PositiveFloat = pydantic.Field(
        1.0, description="RMS of the initial states"
    )
    k_peak: pydantic.PositiveFloat = pydantic.Field(
        1.5,
        ge=0.5,
        description="peak wavenumber of the initial states, in units of the "
        "fundamental 2 pi / L (>= 0.5)",
    )
    width: pydantic.PositiveInt = pydantic.Field(
        32, description="hidden units per layer of the potential network"
    )
    depth: pydantic.PositiveInt = pydantic.Field(
        2, description="hidden layers of the potential network"
    )


def burgers_potential(u):
    """`Phi = u^3 / 6`: the flux `u^2 / 2` of inviscid Burgers."""
    return u**3 / 6.0


class Rollouts(eqx.Module):
    """The forward model: finite-volume rollouts (MUSCL-minmod + Rusanov,
    periodic) of the scalar conservation law with flux `dPhi/du` from the
    initial states `u0` `(samples, 1, cells)`, saved every `every` steps."""

    grid: Grid
    stepper: AbstractStepper
    adjoint: ds.AbstractAdjoint
    dt: float
    num_steps: int
    every: int
    u0: jax.Array

    def __call__(self, potential):
        """`(samples, saves, 1, cells)` for the potential `Phi`."""
        op = discretize(
            PotentialFluxLaw(potential),
            FiniteVolume(self.grid, MUSCL(limiter="minmod"), Rusanov()),
        )

        def run(y):
            return ds.solve(
                op,
                self.stepper,
                y,
                dt=self.dt,
                num_steps=self.num_steps,
                saveat=ds.SaveAt(every=self.every),
                adjoint=self.adjoint,
            ).ys

        return jax.vmap(run)(self.u0)

    @eqx.filter_jit
    def predict(self, potential):
        """The rollouts, compiled once for every later call."""
        return self(potential)


@final
class LearnedFluxProblem(AbstractInverseProblem):
    """Fit an MLP potential to Burgers rollouts: the loss is the mean squared
    rollout misfit relative to the mean squared data."""

    params: MLPPotential
    rollouts: Rollouts
    data: jax.Array
    norm: jax.Array
    u_range: np.ndarray
    times: np.ndarray
    x: np.ndarray
    loss_label: ClassVar[str] = (
        "mean squared rollout misfit / mean squared data (dimensionless)"
    )

    def loss(self, params):
        return jnp.mean((self.rollouts(params) - self.data) ** 2) / self.norm

    def speed(self, potential) -> np.ndarray:
        """The learned wave speed `Phi''(u)` over the range of the data."""
        law = PotentialFluxLaw(potential)
        return np.asarray(law.flux_and_speed(jnp.asarray(self.u_range))[1])

    def speed_error(self, potential) -> float:
        """RMS of `Phi''(u) - u` over the data range, relative to the RMS of
        `u` there."""
        u = self.u_range
        return float(np.sqrt(np.mean((self.speed(potential) - u) ** 2) / np.mean(u**2)))

    def metrics(self, params):
        return {
            "speed_error_initial": self.speed_error(self.params),
            "speed_error_final": self.speed_error(params),
        }

    def fields(self, params):
        return xr.Dataset(
            {
                "u_data": (("sample", "t", "x"), np.asarray(self.data[:, :, 0])),
                "u_model": (
                    ("sample", "t", "x"),
                    np.asarray(self.rollouts.predict(params)[:, :, 0]),
                ),
                "wave_speed": (("u",), self.speed(params)),
            },
            coords={"x": self.x, "t": self.times, "u": self.u_range},
        )

    def plot(self, params, out, history):
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        u_range, x, times, data = self.u_range, self.x, self.times, self.data
        fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
        a.plot(u_range, u_range, "k-", lw=2, label="Burgers: F'(u) = u")
        a.plot(
            u_range,
            self.speed(params),
            "C0--",
            lw=2,
            label=f"learned Phi''(u) (rel. error {self.speed_error(params):.3f})",
        )
        a.plot(
            u_range, self.speed(self.params), color="0.6", lw=1, label="initial network"
        )
        a.set(
            xlabel="u (dimensionless)",
            ylabel="wave speed F'(u) (dimensionless)",
            title="learned flux derivative vs. Burgers",
        )
        a.legend(frameon=False, fontsize=8)
        pred = np.asarray(self.rollouts.predict(params))
        for j, col in zip((0, len(times) // 2, len(times) - 1), ("C1", "C2", "C3")):
            b.plot(
                x,
                data[0, j, 0],
                "-",
                color=col,
                lw=2,
                label=f"data t={times[j]:.2g}",
            )
            b.plot(
                x,
                pred[0, j, 0],
                "--",
                color="k",
                lw=1,
                label="learned model" if j == 0 else None,
            )
        b.set(
            xlabel="x (dimensionless)",
            ylabel="u (dimensionless)",
            title="sample 0: data (colour) vs learned model (dashed)",
        )
        b.legend(frameon=False, fontsize=8)
        fig.suptitle(
            "learned flux: a neural potential trained on "
            f"{data.shape[0]} Burgers rollouts"
        )
        path = out / "learned_flux.png"
        ds.save_figure(fig, path, dpi=130)
        plt.close(fig)
        return [path]


@register
class LearnedFlux(OptimizationScenario):
    name = "learned_flux"
    description = (
        "learn the flux F = dPhi/du of a scalar conservation law (MLP "
        "potential) from Burgers rollouts: second-order AD through the "
        "rollout"
    )
    ndim = 1
    steppers = EXPLICIT_STEPPERS
    Physics = Physics
    defaults = {
        "grid": {"cells": [64], "lower": [0.0], "upper": [2 * np.pi]},
        "time": {"t_end": 1.5, "dt": 0.025, "snapshots": 6},
        "stepper": "ssprk3",
        "adjoint": "direct",
        "optimize": {
            "iterations": 300,
            "checkpoint_every": 50,
            "gradient": "reverse",
            "optimizer": {
                "name": "adam",
                "learning_rate": 1e-2,
                "clip_norm": 1.0,
                "schedule": {"name": "cosine", "alpha": 0.05},
            },
        },
    }

    @classmethod
    def validate(cls, config, physics):
        if config.num_steps is None:
            raise ConfigError(
                "time.dt", "learned_flux takes fixed steps (time.dt), not time.cfl"
            )

    def build_problem(self, ctx: BuildContext) -> LearnedFluxProblem:
        config, physics, grid = ctx.config, ctx.physics, ctx.grid
        self.validate(config, physics)
        every = config.num_steps // config.time.snapshots
        data_key, net_key = jax.random.split(ctx.key)
        u0 = jnp.stack(
            [
                random_smooth_field(k, grid, physics.k_peak, physics.amplitude)
                for k in jax.random.split(data_key, physics.samples)
            ]
        )[:, None]
        rollouts = Rollouts(
            grid, ctx.stepper, ctx.adjoint, config.dt, config.num_steps, every, u0
        )
        data = rollouts.predict(burgers_potential)
        if not bool(jnp.all(jnp.isfinite(data))):
            raise ds.RunError(
                "learned_flux: the Burgers data are not finite; lower time.dt"
            )
        scale = float(jnp.max(jnp.abs(data)))
        potential = MLPPotential(
            key=net_key, width=physics.width, depth=physics.depth, scale=scale
        )
        return LearnedFluxProblem(
            params=potential,
            rollouts=rollouts,
            data=data,
            norm=jnp.mean(data**2),
            u_range=np.linspace(float(jnp.min(data)), float(jnp.max(data)), 101),
            times=config.dt * every * np.arange(1, config.time.snapshots + 1),
            x=np.asarray(grid.coordinates[0]),
        )
