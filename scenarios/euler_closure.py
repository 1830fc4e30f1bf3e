"""Neural flux closure: train a `NeuralFlux` correction so that a coarse
finite-volume Euler solver tracks a fine-grid reference averaged onto its
cells, over randomized shock tubes, by reverse mode through whole rollouts.

Setup (once, jitted and vmapped over the batch): random Riemann problems
`(rho, u, p)_L | (rho, u, p)_R` (density and pressure log-uniform, velocity
uniform), a common time step from the largest wave speed of their exact
solutions (Toro 2009, ch. 4) and the coarse CFL number, and fine-grid
references (`fine_factor` times the coarse cells, the same scheme, the same
CFL number) whose conservative cell averages over each coarse cell are the
targets at `time.snapshots` equally spaced times. The loss is the mean
squared misfit of the coarse rollouts in per-state nondimensional primitive
variables (`rho / rho_0`, `u / c_0`, `p / p_0`, with the state's mean
density, pressure and sound speed); `error_plain` / `error_trained` are the
held-out density errors of the plain and of the corrected coarse solver.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import ClassVar, Literal, final

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
    grid_from,
    register,
)
from diffsim.operators import Grid
from diffsim.operators.finite_volume import (
    Euler,
    NeuralFlux,
    Outflow,
    solve_riemann,
)
from diffsim.steppers import AbstractStepper

from ._euler import EULER_DEFAULTS, EulerScheme, make_euler


class Physics(PhysicsConfig):
    gamma: float = pydantic.Field(1.4, gt=1.0, description="ratio of specific heats")
    fine_factor: int = pydantic.Field(
        16, ge=2, description="fine cells per coarse cell"
    )
    train_states: pydantic.PositiveInt = pydantic.Field(
        24, description="random Riemann problems to train on"
    )
    test_states: pydantic.PositiveInt = pydantic.Field(
        16, description="held-out Riemann problems"
    )
    density: tuple[pydantic.PositiveFloat, pydantic.PositiveFloat] = pydantic.Field(
        (0.125, 1.0), description="[low, high] of the log-uniform densities"
    )
    pressure: tuple[pydantic.PositiveFloat, pydantic.PositiveFloat] = pydantic.Field(
        (0.1, 1.0), description="[low, high] of the log-uniform pressures"
    )
    velocity: tuple[float, float] = pydantic.Field(
        (-0.5, 0.5), description="[low, high] of the uniform velocities"
    )
    interface: float = pydantic.Field(
        0.5, description="position of the initial discontinuity"
    )
    radius: pydantic.PositiveInt = pydantic.Field(
        2, description="cells on each side of a face the network sees"
    )
    width: pydantic.PositiveInt = pydantic.Field(
        16, description="hidden units per layer of the network"
    )
    depth: pydantic.PositiveInt = pydantic.Field(
        2, description="hidden layers of the network"
    )
    symmetric: bool = pydantic.Field(
        True, description="make the correction mirror-symmetric"
    )
    form: Literal["flux", "jump"] = pydantic.Field(
        "flux",
        description="network output: a flux correction (flux) or jump coefficients "
        "(jump)",
    )

    @pydantic.field_validator("density", "pressure", "velocity")
    @classmethod
    def _ordered(cls, v):
        if not v[0] <= v[1]:
            raise ValueError(f"expected [low, high] with low <= high, got {list(v)}")
        return v


def random_states(key, n: int, physics: Physics) -> np.ndarray:
    """`n` Riemann problems, shape `(n, 2, 3)`: (left, right) x (rho, u, p)."""
    kr, ku, kp = jax.random.split(key, 3)

    def log_uniform(k, bounds):
        lo, hi = np.log(bounds[0]), np.log(bounds[1])
        return np.exp(np.asarray(jax.random.uniform(k, (n, 2), minval=lo, maxval=hi)))

    rho, p = log_uniform(kr, physics.density), log_uniform(kp, physics.pressure)
    u = np.asarray(
        jax.random.uniform(
            ku, (n, 2), minval=physics.velocity[0], maxval=physics.velocity[1]
        )
    )
    return np.stack([rho, u, p], axis=-1).astype(np.float64)


def max_wave_speed(states: np.ndarray, gamma: float) -> float:
    """The largest `|u| + c` of the exact solutions of the Riemann problems."""
    xi = np.linspace(-50.0, 50.0, 20001)
    best = 0.0
    for left, right in states:
        rho, u, p = solve_riemann(left, right, gamma).sample(xi)
        best = max(best, float(np.max(np.abs(u) + np.sqrt(gamma * p / rho))))
    return best


def initial_fields(states, grid: Grid, interface: float):
    """Primitive fields `(n, 3, cells)` of the Riemann problems `states`."""
    left = grid.coordinates[0] < interface
    return jnp.asarray(
        np.where(left[None, None, :], states[:, 0, :, None], states[:, 1, :, None])
    )


class ClosureModel(eqx.Module):
    """The coarse and fine finite-volume Euler solvers and the `NeuralFlux`
    correction of the coarse one (`template`, whose network the optimizer
    trains), stepped `steps` times by `dt` (the fine one `factor` times as
    often), saved at `snapshots` equally spaced times."""

    coarse: Euler
    fine: Euler
    template: NeuralFlux
    stepper: AbstractStepper
    adjoint: ds.AbstractAdjoint
    snapshots: int
    steps: int
    dt: float
    factor: int

    def rollout(self, op, y0, num_steps, dt):
        """`(snapshots, 3, cells)`: `op` from `y0`, saved every
        `num_steps // snapshots` steps."""
        return ds.solve(
            op,
            self.stepper,
            y0,
            dt=dt,
            num_steps=num_steps,
            saveat=ds.SaveAt(every=num_steps // self.snapshots),
            adjoint=self.adjoint,
        ).ys

    @eqx.filter_jit
    def reference(self, y0_fine):
        """Fine rollouts averaged (conservatively) onto the coarse cells, as
        primitive fields `(batch, snapshots, 3, cells)`."""
        fine, factor = self.fine, self.factor
        ys = jax.vmap(
            lambda y: self.rollout(fine, y, self.steps * factor, self.dt / factor)
        )(y0_fine)
        u = jax.vmap(jax.vmap(fine.encode))(ys)
        u = u.reshape(*u.shape[:-1], -1, factor).mean(-1)
        return jax.vmap(jax.vmap(self.coarse.decode))(u)

    def operator(self, network):
        """The corrected coarse solver with `network`; None: the plain one."""
        if network is None:
            return self.coarse
        return eqx.tree_at(lambda m: m.network, self.template, network)

    def predict(self, network, y0):
        """Coarse rollouts `(batch, snapshots, 3, cells)` from `y0`."""
        op = self.operator(network)
        return jax.vmap(lambda y: self.rollout(op, y, self.steps, self.dt))(y0)


@final
class ClosureTraining(AbstractInverseProblem):
    """Train the closure's network: the loss is the mean squared misfit of
    the coarse rollouts of the `train` states in per-state nondimensional
    primitive variables; `test` states are held out for the metrics."""

    params: eqx.nn.MLP
    model: ClosureModel
    y0: dict[str, jax.Array]
    targets: dict[str, jax.Array]
    test_states: np.ndarray
    gamma: float
    times: np.ndarray
    x: np.ndarray
    length: float
    loss_label: ClassVar[str] = (
        "mean squared error vs. the 1024-cell reference, per-field scaled "
        "(dimensionless)"
    )

    def scales(self, ys):
        """Per-state `(rho_0, c_0, p_0)`, shape `(batch, 3, 1, 1)` for
        `(saves, cells)`."""
        rho0 = jnp.mean(ys[:, :, 0], axis=(1, 2))
        p0 = jnp.mean(ys[:, :, 2], axis=(1, 2))
        c0 = jnp.sqrt(self.gamma * p0 / rho0)
        return jnp.stack([rho0, c0, p0], axis=1)[:, None, :, None]

    def misfit(self, ys, which: str):
        """Mean squared scaled misfit of rollouts `ys` of the `which` states."""
        ref = self.targets[which]
        return jnp.mean(((ys - ref) / self.scales(ref)) ** 2)

    def loss(self, params):
        return self.misfit(self.model.predict(params, self.y0["train"]), "train")

    @eqx.filter_jit
    def predict_test(self, network):
        """Coarse rollouts of the held-out states (`network` None: plain)."""
        return self.model.predict(network, self.y0["test"])

    def density_error(self, ys) -> float:
        """Mean over states and saved times of `sum |rho - rho_ref| dx /
        mean(rho_ref)` against the held-out references."""
        ref = self.targets["test"][:, :, 0]
        l1 = jnp.mean(jnp.abs(ys[:, :, 0] - ref), axis=-1) * self.length
        return float(jnp.mean(l1 / jnp.mean(ref, axis=-1)))

    def metrics(self, params):
        plain, trained = self.predict_test(None), self.predict_test(params)
        return {
            "error_plain": self.density_error(plain),
            "error_trained": self.density_error(trained),
            "error_ratio": self.density_error(trained) / self.density_error(plain),
            "test_loss_plain": float(self.misfit(plain, "test")),
            "test_loss_trained": float(self.misfit(trained, "test")),
            "fine_cells": self.x.size * self.model.factor,
            "coarse_steps": self.model.steps,
            "dt": self.model.dt,
        }

    def fields(self, params):
        trained = self.predict_test(params)
        plain = self.predict_test(None)
        dims = ("state", "t", "x")
        return xr.Dataset(
            {
                "density_reference": (dims, np.asarray(self.targets["test"][:, :, 0])),
                "density_plain": (dims, np.asarray(plain[:, :, 0])),
                "density_trained": (dims, np.asarray(trained[:, :, 0])),
                "test_states": (("state", "side", "var"), self.test_states),
            },
            coords={
                "t": self.times,
                "x": self.x,
                "side": ["left", "right"],
                "var": ["density", "velocity", "pressure"],
            },
        )

    def plot(self, params, out, history):
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        x, times, test, factor = self.x, self.times, self.test_states, self.model.factor
        trained, plain, ref = (
            np.asarray(self.predict_test(params)),
            np.asarray(self.predict_test(None)),
            np.asarray(self.targets["test"]),
        )
        e_plain, e_trained = self.density_error(plain), self.density_error(trained)
        shown = min(4, ref.shape[0])
        fig, axes = plt.subplots(
            1, shown + 1, figsize=(4 * (shown + 1), 3.6), constrained_layout=True
        )
        for j, ax in enumerate(axes[:shown]):
            ax.plot(x, ref[j, -1, 0], "k-", lw=2.2, label=f"{factor}x finer, averaged")
            ax.plot(x, plain[j, -1, 0], "C1.-", lw=1, ms=3, label="plain coarse")
            ax.plot(x, trained[j, -1, 0], "C0.-", lw=1, ms=3, label="NeuralFlux coarse")
            (rl, ul, pl), (rr, ur, pr) = test[j]
            ax.set_title(
                f"held-out test {j}: (rho, u, p) L=({rl:.2f},{ul:.2f},{pl:.2f}) "
                f"R=({rr:.2f},{ur:.2f},{pr:.2f})",
                fontsize=8,
            )
            ax.set(
                xlabel="x (dimensionless)",
                ylabel=f"density at t={times[-1]:.3g} (dimensionless)",
            )
        axes[0].legend(frameon=False, fontsize=8)
        it = [h["iteration"] for h in history]
        axes[-1].semilogy(it, [h["loss"] for h in history], "C0-")
        axes[-1].set(
            xlabel="optimizer iteration",
            ylabel="training loss (dimensionless)",
            title=f"held-out density error {e_plain:.3g} -> {e_trained:.3g}",
        )
        axes[-1].title.set_fontsize(9)
        fig.suptitle(
            f"learned flux closure on {x.size} coarse cells: final density of "
            f"held-out Riemann problems vs. the {factor}x finer reference"
        )
        path = out / "closure.png"
        ds.save_figure(fig, path, dpi=120)
        plt.close(fig)
        return [path]


@register
class EulerClosure(OptimizationScenario):
    name = "euler_closure"
    description = (
        "neural flux closure: a 64-cell Euler solver trained to track "
        "16x finer shock tubes (NeuralFlux)"
    )
    ndim = 1
    steppers = EXPLICIT_STEPPERS
    Physics = Physics
    Scheme = EulerScheme
    defaults = {
        **EULER_DEFAULTS,
        "precision": "float32",
        "scheme": {
            "reconstruction": "first_order",
            "riemann": "hllc",
            "variables": "primitive",
        },
        "adjoint": "direct",
        "grid": {"cells": [64], "lower": [0.0], "upper": [1.0]},
        "time": {"t_end": 0.15, "cfl": 0.4, "snapshots": 5},
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
        if config.time is None or config.time.cfl is None:
            raise ConfigError(
                "time.cfl",
                "the closure scenario takes a CFL number (time.cfl), not time.dt",
            )
        grid = grid_from(config)
        if not grid.lower[0] < physics.interface < grid.upper[0]:
            raise ConfigError(
                "physics.interface",
                f"must lie inside the domain ({grid.lower[0]}, {grid.upper[0]})",
            )

    def build_problem(self, ctx: BuildContext) -> ClosureTraining:
        config, physics, grid = ctx.config, ctx.physics, ctx.grid
        self.validate(config, physics)
        n, factor = grid.cells[0], physics.fine_factor
        fine_grid = Grid([n * factor], grid.lower, grid.upper)
        coarse = make_euler(grid, config.scheme, physics.gamma, Outflow())
        fine = make_euler(fine_grid, config.scheme, physics.gamma, Outflow())
        snapshots = config.time.snapshots

        k_train, k_test, k_net = jax.random.split(ctx.key, 3)
        train = random_states(k_train, physics.train_states, physics)
        test = random_states(k_test, physics.test_states, physics)
        speed = max_wave_speed(np.concatenate([train, test]), physics.gamma)
        dt_max = config.time.cfl * grid.spacing[0] / speed
        steps = snapshots * math.ceil(config.time.t_end / dt_max / snapshots)
        dt = config.time.t_end / steps
        template = NeuralFlux(
            coarse,
            key=k_net,
            radius=physics.radius,
            width=physics.width,
            depth=physics.depth,
            symmetric=physics.symmetric,
            form=physics.form,
        )
        model = ClosureModel(
            coarse,
            fine,
            template,
            ctx.stepper,
            ctx.adjoint,
            snapshots,
            steps,
            dt,
            factor,
        )
        states = {"train": train, "test": test}
        y0 = {s: initial_fields(v, grid, physics.interface) for s, v in states.items()}
        targets = {
            s: model.reference(initial_fields(v, fine_grid, physics.interface))
            for s, v in states.items()
        }
        for s, ys in targets.items():
            if not bool(jnp.all(jnp.isfinite(ys))):
                raise ds.RunError(
                    f"euler_closure: the fine-grid reference of the {s} states is "
                    "not finite; lower time.cfl"
                )
        return ClosureTraining(
            params=template.network,
            model=model,
            y0=y0,
            targets=targets,
            test_states=test,
            gamma=physics.gamma,
            times=dt * (steps // snapshots) * np.arange(1, snapshots + 1),
            x=np.asarray(grid.coordinates[0]),
            length=grid.upper[0] - grid.lower[0],
        )
