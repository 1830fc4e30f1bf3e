"""Recover the initial condition of viscous Burgers from sparse, noisy
observations of the later flow: a classic data-assimilation (4D-Var) problem."""

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
    AbstractInverseProblem,
    BuildContext,
    ConfigError,
    OptimizationScenario,
    PhysicsConfig,
    Setup,
    TimeDependentScenario,
    register,
)
from diffsim.operators import AbstractOperator, Burgers, FourierSpectral
from diffsim.steppers import AbstractStepper

from ._common import random_smooth_field


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


class BurgersObservation(eqx.Module):
    """The forward model: a Burgers rollout from an initial condition `u0`
    `(cells,)`, observed at the `sensors` (cell indices) every `every`
    steps."""

    operator: AbstractOperator
    stepper: AbstractStepper
    adjoint: ds.AbstractAdjoint
    dt: float
    num_steps: int
    every: int
    sensors: np.ndarray

    @eqx.filter_jit
    def __call__(self, u0):
        """`(observations, sensors)`: the rollout at the sensors after every
        `every` steps."""
        sol = ds.solve(
            self.operator,
            self.stepper,
            u0[None],
            dt=self.dt,
            num_steps=self.num_steps,
            saveat=ds.SaveAt(every=self.every),
            adjoint=self.adjoint,
        )
        return sol.ys[:, 0, self.sensors]


@final
class BurgersInitialCondition(AbstractInverseProblem):
    """Recover `u(x, 0)` from noisy sensor data of the later flow (4D-Var):
    the loss is the mean squared sensor misfit plus `regularization` times
    the mean squared derivative of the initial condition (spectral, on
    `spectral`)."""

    params: jax.Array
    observe: BurgersObservation
    spectral: FourierSpectral
    truth: jax.Array
    data: jax.Array
    regularization: float
    times: np.ndarray
    x: np.ndarray
    loss_label: ClassVar[str] = (
        "mean squared sensor misfit + smoothness penalty (u units squared)"
    )

    def loss(self, params):
        misfit = jnp.mean((self.observe(params) - self.data) ** 2)
        derivative = self.spectral.derivative(params, 0)
        return misfit + self.regularization * jnp.mean(derivative**2)

    def error(self, u0) -> float:
        """`||u0 - truth|| / ||truth||`."""
        return float(jnp.linalg.norm(u0 - self.truth) / jnp.linalg.norm(self.truth))

    def fields(self, params):
        sensors = self.observe.sensors
        return xr.Dataset(
            {
                "u0": (("x",), np.asarray(params)),
                "u0_true": (("x",), np.asarray(self.truth)),
                "observations": (("t", "sensor"), np.asarray(self.data)),
                "predictions": (("t", "sensor"), np.asarray(self.observe(params))),
            },
            coords={
                "x": self.x,
                "t": self.times,
                "sensor_x": (("sensor",), self.x[sensors]),
            },
        )

    def metrics(self, params):
        return {
            "ic_error_initial": self.error(self.params),
            "ic_error_final": self.error(params),
        }

    def plot(self, params, out, history):
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        x, sensors, truth, data = self.x, self.observe.sensors, self.truth, self.data
        times = self.times
        fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
        a.plot(x, truth, "k-", lw=2, label="truth")
        a.plot(
            x,
            params,
            "C0--",
            lw=2,
            label=f"recovered (rel. error {self.error(params):.3f})",
        )
        a.plot(x, self.params, color="0.6", lw=1, label="initial guess")
        a.plot(x[sensors], truth[sensors], "kv", ms=5, label="sensor positions")
        a.set(
            xlabel="x (dimensionless)",
            ylabel="u(x, 0) (dimensionless)",
            title="initial condition u(x, 0): truth vs. recovered",
        )
        a.legend(frameon=False, fontsize=8)
        pred = np.asarray(self.observe(params))
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
            f"Burgers inverse problem: initial condition from {len(x[sensors])} "
            f"sensors, {data.shape[0]} observation times"
        )
        path = out / "initial_condition.png"
        ds.save_figure(fig, path, dpi=130)
        plt.close(fig)
        return [path]


@register
class BurgersInverse(TimeDependentScenario, OptimizationScenario):
    name = "burgers_inverse"
    description = (
        "recover a Burgers initial condition from sparse noisy sensor "
        "data (4D-Var, reverse mode through the rollout)"
    )
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

    def _truth(self, ctx: BuildContext, key):
        return random_smooth_field(
            key, ctx.grid, k_peak=2.0, rms=ctx.physics.amplitude / np.sqrt(2)
        )

    def build(self, ctx: BuildContext) -> Setup:
        truth = self._truth(ctx, ctx.key)
        op = ctx.discretize(Burgers(nu=ctx.physics.nu))
        return Setup(op, ctx.grid, truth[None])

    @classmethod
    def validate(cls, config, physics):
        if config.num_steps is None:
            raise ConfigError(
                "time.dt", "burgers_inverse takes fixed steps (time.dt), not time.cfl"
            )
        n = config.grid.cells[0]
        if physics.sensors > n:
            raise ConfigError("physics.sensors", f"at most grid.cells[0] = {n} sensors")
        if config.num_steps % physics.observation_every:
            raise ConfigError(
                "physics.observation_every",
                f"must divide the number of steps ({config.num_steps})",
            )

    def build_problem(self, ctx: BuildContext) -> BurgersInitialCondition:
        config, physics, grid = ctx.config, ctx.physics, ctx.grid
        self.validate(config, physics)
        truth_key, noise_key = jax.random.split(ctx.key)
        truth = self._truth(ctx, truth_key)
        n = grid.cells[0]
        every = physics.observation_every
        observe = BurgersObservation(
            ctx.discretize(Burgers(nu=physics.nu)),
            ctx.stepper,
            ctx.adjoint,
            config.dt,
            config.num_steps,
            every,
            np.linspace(0, n, physics.sensors, endpoint=False).astype(int),
        )
        clean = observe(truth)
        data = clean + physics.noise * jax.random.normal(
            noise_key, clean.shape, clean.dtype
        )
        return BurgersInitialCondition(
            params=jnp.zeros_like(truth),
            observe=observe,
            spectral=FourierSpectral(grid),
            truth=truth,
            data=data,
            regularization=physics.regularization,
            times=config.dt * every * np.arange(1, data.shape[0] + 1),
            x=np.asarray(grid.coordinates[0]),
        )
