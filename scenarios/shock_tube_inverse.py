"""Shock-tube inversion: estimate the ratio of specific heats and the initial
left/right states of a Riemann problem from pressure traces `p(x_s, t)` at a
few sensors.

The forward model is the 1D finite-volume Euler solver (`scheme:`, default
WENO5-Z + HLLC in characteristic variables) with SSP-RK3 at the fixed step
`time.dt`, zero-gradient (outflow) ends, differentiated in reverse mode
through the bounded time loop with checkpointing (`adjoint: checkpoint`).
The seven unknowns stay physical through the parameter transform
`rho = e^a`, `p = e^b`, `gamma = 1 + e^g` (velocities are unconstrained).
The data are the model's own traces at the true parameters plus Gaussian
noise (an "inverse crime": the noise, not model error, sets the loss floor).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, final

import equinox as eqx
import jax
import jax.numpy as jnp
import matplotlib
from jax.flatten_util import ravel_pytree

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pydantic  # noqa: E402
import xarray as xr  # noqa: E402

import diffsim as ds  # noqa: E402
import diffsim.jobs  # noqa: F401  (ds.jobs)
from diffsim.jobs import (  # noqa: E402
    EXPLICIT_STEPPERS,
    AbstractInverseProblem,
    BuildContext,
    ConfigError,
    OptimizationScenario,
    PhysicsConfig,
    grid_from,
    register,
)
from diffsim.operators import Grid  # noqa: E402
from diffsim.operators.finite_volume import Euler, Outflow  # noqa: E402
from diffsim.steppers import AbstractStepper  # noqa: E402

from ._euler import EULER_DEFAULTS, EulerScheme, make_euler  # noqa: E402

_State = tuple[pydantic.PositiveFloat, float, pydantic.PositiveFloat]


class ShockTubeState(PhysicsConfig):
    """A parameter set: `gamma` and the `left` / `right` states `(rho, u, p)`."""

    gamma: float = pydantic.Field(1.4, gt=1.0, description="ratio of specific heats")
    left: _State = pydantic.Field(
        (1.0, 0.0, 1.0), description="left state: density, velocity, pressure"
    )
    right: _State = pydantic.Field(
        (0.125, 0.0, 0.1), description="right state: density, velocity, pressure"
    )


class Physics(PhysicsConfig):
    """`gamma`, `left`, `right`: the true parameters that generate the data
    (Sod's problem by default); `initial_guess`: where the optimizer starts;
    `interface`: the initial discontinuity; `sensors`: positions of the
    pressure sensors, sampled at t = 0 and at `time.snapshots` equally spaced
    times (linear interpolation between cell centres); `noise`: standard
    deviation of the Gaussian noise added to the traces."""

    gamma: float = pydantic.Field(
        1.4, gt=1.0, description="true ratio of specific heats"
    )
    left: _State = pydantic.Field(
        (1.0, 0.0, 1.0), description="true left state: density, velocity, pressure"
    )
    right: _State = pydantic.Field(
        (0.125, 0.0, 0.1), description="true right state: density, velocity, pressure"
    )
    initial_guess: ShockTubeState = pydantic.Field(
        default_factory=lambda: ShockTubeState(
            gamma=1.6, left=(0.7, 0.1, 0.7), right=(0.2, -0.1, 0.15)
        ),
        description="the optimizer's starting state",
    )
    interface: float = pydantic.Field(
        0.5, description="position of the initial discontinuity"
    )
    sensors: list[float] = pydantic.Field(
        [0.2, 0.3, 0.4, 0.6, 0.75, 0.9],
        min_length=1,
        description="pressure sensor positions",
    )
    noise: pydantic.NonNegativeFloat = pydantic.Field(
        1e-3, description="observation noise standard deviation"
    )

    def truth(self) -> ShockTubeState:
        return ShockTubeState(gamma=self.gamma, left=self.left, right=self.right)


class ShockTubeParameters(eqx.Module):
    """Unconstrained coordinates of a shock-tube parameter set: `gamma = 1 +
    exp(log_gamma_minus_1)`, densities and pressures `exp(log_density)`,
    `exp(log_pressure)` and the velocities as they are; index 0 is the left
    state, 1 the right one."""

    log_gamma_minus_1: jax.Array
    log_density: jax.Array
    velocity: jax.Array
    log_pressure: jax.Array

    @classmethod
    def from_physical(cls, state: ShockTubeState, dtype=None) -> "ShockTubeParameters":
        dtype = dtype or jnp.result_type(float)
        (rl, ul, pl), (rr, ur, pr) = state.left, state.right
        return cls(
            jnp.asarray(np.log(state.gamma - 1.0), dtype),
            jnp.asarray(np.log([rl, rr]), dtype),
            jnp.asarray([ul, ur], dtype),
            jnp.asarray(np.log([pl, pr]), dtype),
        )

    @property
    def gamma(self):
        return 1.0 + jnp.exp(self.log_gamma_minus_1)

    def primitive_states(self):
        """`(2, 3)`: rows left/right, columns `(rho, u, p)`."""
        return jnp.stack(
            [jnp.exp(self.log_density), self.velocity, jnp.exp(self.log_pressure)],
            axis=1,
        )

    def as_dict(self) -> dict:
        w = np.asarray(self.primitive_states())
        return {
            "gamma": float(self.gamma),
            "left": [float(v) for v in w[0]],
            "right": [float(v) for v in w[1]],
        }


_NAMES = ("gamma", "rho_left", "u_left", "p_left", "rho_right", "u_right", "p_right")


def _flat(d: dict) -> np.ndarray:
    return np.array([d["gamma"], *d["left"], *d["right"]])


def parameter_errors(estimate: dict, truth: dict) -> dict:
    """Per-parameter errors: relative for `gamma`, densities and pressures;
    velocities relative to the left sound speed of the truth (they may be 0)."""
    est, tru = _flat(estimate), _flat(truth)
    c_left = np.sqrt(truth["gamma"] * truth["left"][2] / truth["left"][0])
    scale = np.where([n.startswith("u_") for n in _NAMES], c_left, np.abs(tru))
    return {n: float(abs(e - t) / s) for n, e, t, s in zip(_NAMES, est, tru, scale)}


def interpolation_matrix(grid: Grid, positions) -> np.ndarray:
    """`(sensors, cells)`: linear interpolation between cell centres (clamped
    at the ends)."""
    x = np.asarray(grid.coordinates[0])
    rows = np.zeros((len(positions), x.size))
    for i, s in enumerate(positions):
        j = int(np.clip(np.searchsorted(x, s) - 1, 0, x.size - 2))
        w = float(np.clip((s - x[j]) / (x[j + 1] - x[j]), 0.0, 1.0))
        rows[i, j], rows[i, j + 1] = 1.0 - w, w
    return rows


class ShockTubeModel(eqx.Module):
    """The forward model: the finite-volume Euler solution of a shock tube
    whose `gamma` and left/right states are the parameters, and its
    pressure at the sensors."""

    operator: Euler
    stepper: AbstractStepper
    adjoint: ds.AbstractAdjoint
    dt: float
    num_steps: int
    every: int
    left_fraction: jax.Array
    sensors: jax.Array
    dtype: np.dtype

    def initial_fields(self, op, params: ShockTubeParameters):
        """Primitive fields whose conservative cell averages mix the two
        states in the cell that the interface cuts."""
        w = params.primitive_states()
        cells = self.left_fraction.shape[0]
        ul, ur = (
            op.encode(jnp.broadcast_to(w[i][:, None], (3, cells))) for i in (0, 1)
        )
        f = self.left_fraction[None]
        return op.decode(f * ul + (1.0 - f) * ur)

    def simulate(self, params: ShockTubeParameters):
        op = eqx.tree_at(
            lambda o: o.eos.gamma, self.operator, params.gamma.astype(self.dtype)
        )
        return ds.solve(
            op,
            self.stepper,
            self.initial_fields(op, params),
            dt=self.dt,
            num_steps=self.num_steps,
            saveat=ds.SaveAt(every=self.every, t0=True),
            adjoint=self.adjoint,
        )

    def traces(self, params):
        """Pressure at the sensors, `(times, sensors)`, from t = 0."""
        return self.simulate(params).ys[:, -1, :] @ self.sensors.T

    @eqx.filter_jit
    def compiled_simulate(self, params):
        """`simulate`, compiled once for everything outside the loss."""
        return self.simulate(params)

    def traces_of(self, params) -> np.ndarray:
        """`traces` in NumPy, from the compiled forward run."""
        ys = np.asarray(self.compiled_simulate(params).ys)
        return ys[:, -1, :] @ np.asarray(self.sensors).T

    @eqx.filter_jit
    def trace_jacobian(self, params):
        """`(times, sensors, 7)`: the traces' Jacobian with respect to the
        flattened unconstrained parameters (forward mode)."""
        flat, unravel = ravel_pytree(params)
        return jax.jacfwd(lambda f: self.traces(unravel(f)))(flat)


@final
class ShockTubeFit(AbstractInverseProblem):
    """Fit `gamma` and the left/right states to noisy pressure traces: the
    loss is the mean squared trace misfit relative to the mean squared
    data."""

    params: ShockTubeParameters
    model: ShockTubeModel
    truth: ShockTubeParameters
    data: jax.Array
    scale: jax.Array
    noise: float
    sensor_positions: tuple[float, ...]
    times: np.ndarray
    x: np.ndarray
    loss_label: ClassVar[str] = (
        "mean squared pressure-trace misfit / mean squared data (dimensionless)"
    )

    def loss(self, params):
        return jnp.mean((self.model.traces(params) - self.data) ** 2) / self.scale

    def standard_deviations(self, params: ShockTubeParameters) -> dict:
        """Linearised 1-sigma uncertainty of each physical parameter from
        the noise: `cov = noise^2 (J^T J)^-1`, `J` the Jacobian of the
        traces with respect to the physical parameters (forward mode)."""
        flat = ravel_pytree(params)[0]
        jac = np.asarray(self.model.trace_jacobian(params)).reshape(-1, flat.size)
        d = params.as_dict()
        dphys = np.array(
            [
                d["gamma"] - 1.0,
                d["left"][0],
                d["right"][0],
                1.0,
                1.0,
                d["left"][2],
                d["right"][2],
            ]
        )
        # unconstrained (gamma, rho L R, u L R, p L R) -> _NAMES order
        order = [0, 1, 3, 5, 2, 4, 6]
        jac = (jac / dphys[None, :])[:, order]
        cov = self.noise**2 * np.linalg.pinv(jac.T @ jac)
        return {n: float(np.sqrt(max(c, 0.0))) for n, c in zip(_NAMES, np.diag(cov))}

    def fields(self, params):
        sol = self.model.compiled_simulate(params)
        ys = np.asarray(sol.ys)
        sensors = np.asarray(self.model.sensors)
        return xr.Dataset(
            {
                "density": (("t", "x"), ys[:, 0]),
                "velocity_x": (("t", "x"), ys[:, 1]),
                "pressure": (("t", "x"), ys[:, 2]),
                "observations": (("t", "sensor"), np.asarray(self.data)),
                "predictions": (("t", "sensor"), ys[:, -1, :] @ sensors.T),
            },
            coords={
                "t": np.asarray(sol.ts),
                "x": self.x,
                "sensor_x": (("sensor",), np.asarray(self.sensor_positions)),
            },
            attrs={
                "scenario": ShockTubeInverse.name,
                **{f"param_{k}": str(v) for k, v in params.as_dict().items()},
            },
        )

    def metrics(self, params):
        truth = self.truth.as_dict()
        initial, final = self.params.as_dict(), params.as_dict()
        e0, e1 = parameter_errors(initial, truth), parameter_errors(final, truth)
        return {
            "parameters_true": truth,
            "parameters_initial": initial,
            "parameters_recovered": final,
            "parameter_errors_initial": e0,
            "parameter_errors_final": e1,
            "max_parameter_error_initial": max(e0.values()),
            "max_parameter_error_final": max(e1.values()),
            "parameter_errors_note": "relative for gamma, rho, p; velocity errors "
            "relative to the true left sound speed",
            "parameter_std_final": self.standard_deviations(params),
            "parameter_std_note": "linearised 1-sigma uncertainty from the noise "
            "level at the recovered parameters: noise^2 (J^T J)^-1",
            "loss_noise_floor": float(self.noise**2 / self.scale),
            "sensors": list(self.sensor_positions),
            "observations": int(self.data.size),
        }

    def plot(self, params, out, history):
        return [
            _plot(
                Path(out),
                self.times,
                np.asarray(self.data),
                self.model.traces_of(self.params),
                self.model.traces_of(params),
                self.sensor_positions,
                self.noise,
                history,
                self.truth.as_dict(),
                self.params.as_dict(),
                params.as_dict(),
                self.standard_deviations(params),
            )
        ]


@register
class ShockTubeInverse(OptimizationScenario):
    name = "shock_tube_inverse"
    description = (
        "estimate gamma and the left/right states of a shock tube from "
        "noisy pressure traces at a few sensors (FV Euler, "
        "checkpointed reverse mode)"
    )
    ndim = 1
    steppers = EXPLICIT_STEPPERS
    Physics = Physics
    Scheme = EulerScheme
    adjoints = {
        k: OptimizationScenario.adjoints[k] for k in ("checkpoint", "direct")
    }  # the default first
    defaults = {
        **EULER_DEFAULTS,
        "scheme": {
            "reconstruction": "muscl",
            "limiter": "van_leer",
            "riemann": "hllc",
            "variables": "primitive",
        },
        "grid": {"cells": [128], "lower": [0.0], "upper": [1.0]},
        "time": {"t_end": 0.3, "dt": 2.0e-3, "snapshots": 50},
        "optimize": {
            "iterations": 80,
            "checkpoint_every": 20,
            "gradient": "reverse",
            "optimizer": {"name": "lbfgs"},
        },
    }

    @classmethod
    def validate(cls, config, physics):
        grid = grid_from(config)
        lo, hi = grid.lower[0], grid.upper[0]
        if config.time is None or config.time.dt is None:
            raise ConfigError(
                "time.dt",
                "the shock-tube inversion steps with a fixed time.dt (set time.cfl "
                "to null)",
            )
        if not lo < physics.interface < hi:
            raise ConfigError(
                "physics.interface", f"must lie inside the domain ({lo}, {hi})"
            )
        for i, s in enumerate(physics.sensors):
            if not lo <= s <= hi:
                raise ConfigError(
                    f"physics.sensors.{i}",
                    f"sensor at {s} lies outside the domain [{lo}, {hi}]",
                )
        # The step must be stable for the truth and for the initial guess (an
        # optimizer that wanders far off would be caught by the NaN check).
        dt = config.dt
        for which, state in (
            ("physics", physics.truth()),
            ("physics.initial_guess", physics.initial_guess),
        ):
            speed = _max_signal_speed(state)
            if speed * dt / grid.spacing[0] > 0.8:
                raise ConfigError(
                    "time.dt",
                    f"{dt:g} gives CFL {speed * dt / grid.spacing[0]:.2f} > 0.8 for "
                    f"the states of {which} "
                    f"(fastest signal ~{speed:.3g}); use time.dt <= "
                    f"{0.5 * grid.spacing[0] / speed:.3g}",
                )

    def build_problem(self, ctx: BuildContext) -> ShockTubeFit:
        config, physics, grid = ctx.config, ctx.physics, ctx.grid
        self.validate(config, physics)
        lo, hi = grid.lower[0], grid.upper[0]
        every = config.num_steps // config.time.snapshots
        truth = physics.truth()
        dtype = ctx.dtype
        edges = np.linspace(lo, hi, grid.cells[0] + 1)
        left_fraction = np.clip((physics.interface - edges[:-1]) / np.diff(edges), 0, 1)
        model = ShockTubeModel(
            make_euler(grid, config.scheme, truth.gamma, Outflow()),
            ctx.stepper,
            ctx.adjoint,
            config.dt,
            config.num_steps,
            every,
            jnp.asarray(left_fraction, dtype),
            jnp.asarray(interpolation_matrix(grid, physics.sensors), dtype),
            dtype,
        )
        true_params = ShockTubeParameters.from_physical(truth, dtype)
        clean = model.traces_of(true_params)
        data = jnp.asarray(
            clean
            + physics.noise * np.asarray(jax.random.normal(ctx.key, clean.shape, dtype))
        )
        return ShockTubeFit(
            params=ShockTubeParameters.from_physical(physics.initial_guess, dtype),
            model=model,
            truth=true_params,
            data=data,
            scale=jnp.mean(data**2),
            noise=physics.noise,
            sensor_positions=tuple(physics.sensors),
            times=np.arange(data.shape[0]) * config.dt * every,
            x=np.asarray(grid.coordinates[0]),
        )


def _max_signal_speed(state: ShockTubeState) -> float:
    """A generous bound on `|u| + c` over the Riemann solution: the largest of
    the two states' values, doubled to cover the shocked and accelerated gas."""
    return 2.0 * max(
        abs(u) + np.sqrt(state.gamma * p / rho)
        for rho, u, p in (state.left, state.right)
    )


def _plot(
    out, times, data, initial, final, sensors, noise, history, truth, guess, fitted, std
) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    fig = plt.figure(figsize=(15, 5.2), constrained_layout=True)
    grid = fig.add_gridspec(1, 3, width_ratios=[2.0, 1, 1.45])
    ax = fig.add_subplot(grid[0])
    for i, s in enumerate(sensors):
        color = f"C{i % 10}"
        ax.plot(times, data[:, i], ".", color=color, ms=3, alpha=0.6)
        ax.plot(times, final[:, i], "-", color=color, lw=1.6, label=f"x = {s:g}")
        ax.plot(times, initial[:, i], ":", color=color, lw=1.1)
    ax.plot([], [], "k.", ms=4, label="data (truth + noise)")
    ax.plot([], [], "k-", lw=1.6, label="fitted model")
    ax.plot([], [], "k:", lw=1.1, label="initial guess")
    ax.set(
        xlabel="t (dimensionless)",
        ylabel="pressure at sensor (dimensionless)",
        title="pressure traces at the sensors",
    )
    ax.legend(
        fontsize=8,
        ncol=5,
        frameon=False,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.11),
    )
    ax.grid(alpha=0.3)

    ax = fig.add_subplot(grid[1])
    it = [h["iteration"] for h in history]
    ax.semilogy(it, [h["loss"] for h in history], color="C0", lw=1.8, label="loss")
    floor = noise**2 / float(np.mean(data**2))
    if floor > 0:
        ax.axhline(
            floor,
            color="0.4",
            ls="--",
            lw=1,
            label="noise floor (noise^2 / mean data^2)",
        )
    ax.set(
        xlabel="optimizer iteration",
        ylabel="relative misfit (dimensionless)",
        title="loss: pressure-trace misfit / mean data^2",
    )
    ax.legend(frameon=False, fontsize=8)
    ax.grid(alpha=0.3, which="both")

    ax = fig.add_subplot(grid[2])
    ax.axis("off")
    rows = [["", "true", "initial", "recovered ± 1σ"]]
    for name, t, g, f in zip(_NAMES, _flat(truth), _flat(guess), _flat(fitted)):
        rows.append([name, f"{t:.4g}", f"{g:.4g}", f"{f:.4g} ± {std[name]:.2g}"])
    table = ax.table(
        cellText=rows, loc="center", cellLoc="center", colWidths=[0.24, 0.18, 0.18, 0.4]
    )
    table.auto_set_font_size(False)
    table.set_fontsize(9)
    table.scale(1.0, 1.5)
    ax.set_title("parameters (σ: linearised noise uncertainty)", fontsize=10)
    fig.suptitle(
        f"shock-tube inversion: {len(sensors)} pressure sensors, {len(times)} "
        f"samples each, noise {noise:g}"
    )
    path = out / "traces.png"
    ds.save_figure(fig, path, dpi=130)
    plt.close(fig)
    return path
