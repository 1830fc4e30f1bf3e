"""Recover the initial condition of viscous Burgers from sparse, noisy
observations of the later flow: a classic data-assimilation (4D-Var) problem."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import pydantic
import xarray as xr

import diffsim as ds
import diffsim.jobs  # noqa: F401  (ds.jobs)
from diffsim.jobs import (
    InverseProblem,
    OptimizationScenario,
    PhysicsConfig,
    Setup,
    TimeDependentScenario,
    register,
)
from diffsim.operators import Burgers, FourierSpectral

from ._common import grid_from, random_smooth_field


class Physics(PhysicsConfig):
    nu: pydantic.PositiveFloat = pydantic.Field(0.05, description="viscosity")
    sensors: pydantic.PositiveInt = pydantic.Field(
        16, description="number of equally spaced sensors"
    )
    observation_every: pydantic.PositiveInt = pydantic.Field(
        10, description="steps between observations (must divide the step count)"
    )
    noise: pydantic.NonNegativeFloat = pydantic.Field(
        0.01,
        description="observation noise standard deviation, relative to the data's RMS",
    )
    regularization: pydantic.NonNegativeFloat = pydantic.Field(
        1e-3, description="weight of the smoothness penalty on the initial condition"
    )
    amplitude: pydantic.PositiveFloat = pydantic.Field(
        1.0, description="RMS of the true initial condition"
    )


@register
class BurgersInverse(TimeDependentScenario, OptimizationScenario):
    name = "burgers_inverse"
    description = "recover a Burgers initial condition from sparse noisy sensor data (4D-Var, reverse mode through the rollout)"
    ndim = 1
    cfl_steps = False  # spectral: fixed time.dt
    Physics = Physics
    defaults = {
        "grid": {"cells": [128], "lower": [0.0], "upper": [2 * np.pi]},
        "time": {"t_end": 1.0, "dt": 0.01, "snapshots": 10},
        "stepper": "etdrk4",
        "optimize": {
            "iterations": 200,
            "checkpoint_every": 20,
            "optimizer": {"name": "adam", "learning_rate": 0.05},
        },
    }

    def _truth(self, config, physics, key):
        grid = grid_from(config)
        truth = random_smooth_field(
            key, grid, k_peak=2.0, rms=physics.amplitude / np.sqrt(2)
        )
        return grid, truth

    def build(self, config, physics, key):
        grid, truth = self._truth(config, physics, key)
        return Setup(Burgers(FourierSpectral(grid), nu=physics.nu), grid, truth[None])

    @classmethod
    def validate(cls, config, physics):
        if config.num_steps is None:
            raise ds.jobs.ConfigError(
                "time.dt", "burgers_inverse takes fixed steps (time.dt), not time.cfl"
            )
        n = config.grid.cells[0]
        if physics.sensors > n:
            raise ds.jobs.ConfigError(
                "physics.sensors", f"at most grid.cells[0] = {n} sensors"
            )
        if config.num_steps % physics.observation_every:
            raise ds.jobs.ConfigError(
                "physics.observation_every",
                f"must divide the number of steps ({config.num_steps})",
            )

    def build_problem(self, config, physics, key):
        self.validate(config, physics)
        truth_key, noise_key = jax.random.split(key)
        grid, truth = self._truth(config, physics, truth_key)
        op = Burgers(FourierSpectral(grid), nu=physics.nu)
        stepper = ds.jobs.STEPPERS[config.stepper]()
        n = config.grid.cells[0]
        if physics.sensors > n:
            raise ds.jobs.ConfigError(
                "physics.sensors", f"at most grid.cells[0] = {n} sensors"
            )
        sensors = np.linspace(0, n, physics.sensors, endpoint=False).astype(int)
        every = physics.observation_every
        if config.num_steps % every:
            raise ds.jobs.ConfigError(
                "physics.observation_every",
                f"must divide the number of steps ({config.num_steps})",
            )

        @jax.jit
        def observe(u0):
            sol = ds.solve(
                op,
                stepper,
                u0[None],
                dt=config.dt,
                num_steps=config.num_steps,
                saveat=ds.SaveAt(every=every),
                adjoint=ds.jobs.adjoint_from(config),
            )
            return sol.ys[:, 0, sensors]

        clean = observe(truth)
        data = clean + physics.noise * jax.random.normal(
            noise_key, clean.shape, clean.dtype
        )
        disc = FourierSpectral(grid)

        def loss(u0):
            misfit = jnp.mean((observe(u0) - data) ** 2)
            return misfit + physics.regularization * jnp.mean(
                disc.derivative(u0, 0) ** 2
            )

        times = config.dt * every * np.arange(1, data.shape[0] + 1)
        x = grid.coordinates[0]

        def fields(u0):
            return xr.Dataset(
                {
                    "u0": (("x",), np.asarray(u0)),
                    "u0_true": (("x",), np.asarray(truth)),
                    "observations": (("t", "sensor"), np.asarray(data)),
                    "predictions": (("t", "sensor"), np.asarray(observe(u0))),
                },
                coords={"x": x, "t": times, "sensor_x": (("sensor",), x[sensors])},
            )

        def error(u0):
            return float(jnp.linalg.norm(u0 - truth) / jnp.linalg.norm(truth))

        def metrics(initial, final):
            return {"ic_error_initial": error(initial), "ic_error_final": error(final)}

        def plot(initial, final, history, out):
            out = Path(out)
            out.mkdir(parents=True, exist_ok=True)
            fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
            a.plot(x, truth, "k-", lw=2, label="truth")
            a.plot(
                x,
                final,
                "C0--",
                lw=2,
                label=f"recovered (rel. error {error(final):.3f})",
            )
            a.plot(x, initial, color="0.6", lw=1, label="initial guess")
            a.plot(x[sensors], truth[sensors], "kv", ms=5, label="sensor positions")
            a.set(
                xlabel="x (dimensionless)",
                ylabel="u(x, 0) (dimensionless)",
                title="initial condition u(x, 0): truth vs. recovered",
            )
            a.legend(frameon=False, fontsize=8)
            pred = np.asarray(observe(final))
            for j, col in zip(
                range(0, data.shape[0], max(1, data.shape[0] // 3)),
                ("C1", "C2", "C3", "C4"),
            ):
                b.plot(
                    x[sensors],
                    data[j],
                    "o",
                    color=col,
                    ms=4,
                    label=f"data t={times[j]:.2g}",
                )
                b.plot(x[sensors], pred[j], "-", color=col, lw=1)
            b.set(
                xlabel="sensor position x (dimensionless)",
                ylabel="u at sensors (dimensionless)",
                title="observations (dots) vs. fitted model (lines)",
            )
            b.legend(frameon=False, fontsize=8)
            fig.suptitle(
                f"Burgers inverse problem: initial condition from {len(x[sensors])} sensors, {data.shape[0]} observation times"
            )
            path = out / "initial_condition.png"
            ds.save_figure(fig, path, dpi=130)
            plt.close(fig)
            return [path]

        return InverseProblem(
            jnp.zeros_like(truth),
            loss,
            fields=fields,
            metrics=metrics,
            plot=plot,
            loss_label="mean squared sensor misfit + smoothness penalty (u units squared)",
        )
