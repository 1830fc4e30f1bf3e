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
    ConfigError,
    InverseProblem,
    OptimizationScenario,
    PhysicsConfig,
    register,
)
from diffsim.operators.finite_volume import MLPPotential, ScalarConservationLaw

from ._common import grid_from, random_smooth_field


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
        description="peak wavenumber of the initial states, in units of the fundamental 2 pi / L (>= 0.5)",
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


@register
class LearnedFlux(OptimizationScenario):
    name = "learned_flux"
    description = "learn the flux F = dPhi/du of a scalar conservation law (MLP potential) from Burgers rollouts: second-order AD through the rollout"
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

    def build_problem(self, config, physics, key):
        self.validate(config, physics)
        grid = grid_from(config)
        stepper = ds.jobs.STEPPERS[config.stepper]()
        adjoint = ds.jobs.adjoint_from(config)
        every = config.num_steps // config.time.snapshots
        data_key, net_key = jax.random.split(key)
        u0 = jnp.stack(
            [
                random_smooth_field(k, grid, physics.k_peak, physics.amplitude)
                for k in jax.random.split(data_key, physics.samples)
            ]
        )[:, None]

        def rollout(potential):
            op = ScalarConservationLaw(grid, potential)
            run = lambda y: (
                ds.solve(
                    op,
                    stepper,
                    y,
                    dt=config.dt,
                    num_steps=config.num_steps,  # noqa: E731
                    saveat=ds.SaveAt(every=every),
                    adjoint=adjoint,
                ).ys
            )
            return jax.vmap(run)(u0)

        data = jax.jit(lambda: rollout(burgers_potential))()
        if not bool(jnp.all(jnp.isfinite(data))):
            raise ds.RunError(
                "learned_flux: the Burgers data are not finite; lower time.dt"
            )
        scale = float(jnp.max(jnp.abs(data)))
        norm = jnp.mean(data**2)

        def loss(potential):
            return jnp.mean((rollout(potential) - data) ** 2) / norm

        u_range = np.linspace(float(jnp.min(data)), float(jnp.max(data)), 101)

        def speed(potential):
            return np.asarray(
                ScalarConservationLaw(grid, potential).flux_and_speed(
                    jnp.asarray(u_range)
                )[1]
            )

        def speed_error(potential):
            """RMS of `Phi''(u) - u` over the data range, relative to the RMS of `u` there."""
            return float(
                np.sqrt(
                    np.mean((speed(potential) - u_range) ** 2) / np.mean(u_range**2)
                )
            )

        def metrics(initial, final):
            return {
                "speed_error_initial": speed_error(initial),
                "speed_error_final": speed_error(final),
            }

        x = np.asarray(grid.coordinates[0])
        times = config.dt * every * np.arange(1, config.time.snapshots + 1)
        predict = eqx.filter_jit(rollout)

        def fields(potential):
            return xr.Dataset(
                {
                    "u_data": (("sample", "t", "x"), np.asarray(data[:, :, 0])),
                    "u_model": (
                        ("sample", "t", "x"),
                        np.asarray(predict(potential)[:, :, 0]),
                    ),
                    "wave_speed": (("u",), speed(potential)),
                },
                coords={"x": x, "t": times, "u": u_range},
            )

        def plot(initial, final, history, out):
            out = Path(out)
            out.mkdir(parents=True, exist_ok=True)
            fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
            a.plot(u_range, u_range, "k-", lw=2, label="Burgers: F'(u) = u")
            a.plot(
                u_range,
                speed(final),
                "C0--",
                lw=2,
                label=f"learned Phi''(u) (rel. error {speed_error(final):.3f})",
            )
            a.plot(u_range, speed(initial), color="0.6", lw=1, label="initial network")
            a.set(
                xlabel="u (dimensionless)",
                ylabel="wave speed F'(u) (dimensionless)",
                title="learned flux derivative vs. Burgers",
            )
            a.legend(frameon=False, fontsize=8)
            pred = np.asarray(predict(final))
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
                f"learned flux: a neural potential trained on {data.shape[0]} Burgers rollouts"
            )
            path = out / "learned_flux.png"
            ds.save_figure(fig, path, dpi=130)
            plt.close(fig)
            return [path]

        potential = MLPPotential(
            key=net_key, width=physics.width, depth=physics.depth, scale=scale
        )
        return InverseProblem(
            potential,
            loss,
            fields=fields,
            metrics=metrics,
            plot=plot,
            loss_label="mean squared rollout misfit / mean squared data (dimensionless)",
        )
