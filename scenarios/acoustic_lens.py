"""Acoustic lens design: optimise the sound speed inside a lens region so that
a plane wave focuses at a target point.

The forward model is the Helmholtz equation with a PML, solved by
preconditioned BiCGStab (`diffsim.solve_helmholtz`); the gradient of the
focal intensity with respect to the whole sound-speed map costs one adjoint
solve (implicit differentiation of the linear solve). The sound speed in the
lens is kept within `[c_min, c_max]` by a sigmoid of the unconstrained
parameters.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal, final

import equinox as eqx
import jax
import jax.numpy as jnp
import matplotlib.patches as mpatches
import matplotlib.pyplot as plt
import numpy as np
import pydantic

from diffsim import solve_helmholtz
from diffsim.jobs import (
    AbstractInverseProblem,
    BuildContext,
    ConfigError,
    KeyedError,
    OptimizationScenario,
    PhysicsConfig,
    SteadyResult,
    SteadyScenario,
    grid_from,
    register,
)
from diffsim.operators import Grid
from diffsim.operators.helmholtz import PML, Helmholtz, line_source, point_source

from . import helmholtz_common as hc


class Lens(PhysicsConfig):
    """`physics.lens:` — the design region, a rectangle: centre and size (m)."""

    centre: list[float] = pydantic.Field(
        default=[-2.0e-3, 0.0], description="centre of the lens rectangle (m)"
    )
    size: list[pydantic.PositiveFloat] = pydantic.Field(
        default=[3.0e-3, 11.0e-3],
        description="width and height of the lens rectangle (m)",
    )


class Physics(PhysicsConfig):
    """`frequency` (Hz); background `c0` (m/s) and `density` (kg/m^3); the
    bounds `c_min`, `c_max` (m/s) of the lens sound speed; the lens region;
    the `target` point (m); the plane-wave source, a line at `source_x` (m)
    across the PML-free height, its ends tapered over the fraction
    `source_taper`; the initial design (`uniform`: `c0` in the lens); the PML."""

    frequency: pydantic.PositiveFloat = pydantic.Field(
        default=1.0e6, description="source frequency (Hz)"
    )
    c0: pydantic.PositiveFloat = pydantic.Field(
        default=1500.0, description="background sound speed (m/s)"
    )
    density: pydantic.PositiveFloat = pydantic.Field(
        default=1000.0, description="background density (kg/m^3)"
    )
    c_min: pydantic.PositiveFloat = pydantic.Field(
        default=1350.0, description="lower bound of the lens sound speed (m/s)"
    )
    c_max: pydantic.PositiveFloat = pydantic.Field(
        default=1900.0, description="upper bound of the lens sound speed (m/s)"
    )
    lens: Lens = pydantic.Field(default_factory=Lens, description="the design region")
    target: list[float] = pydantic.Field(
        default=[4.0e-3, 0.0], description="focal point to maximise |p|^2 at (m)"
    )
    source_x: float = pydantic.Field(
        default=-6.0e-3, description="x of the plane-wave line source (m)"
    )
    source_taper: float = pydantic.Field(
        default=0.25,
        ge=0.0,
        le=0.5,
        description="fraction of the source line tapered at each end",
    )
    initial: Literal["uniform"] = pydantic.Field(
        default="uniform", description="initial design (uniform: c0 in the lens)"
    )
    pml: hc.PMLConfig = pydantic.Field(
        default_factory=lambda: hc.PMLConfig(width=16), description="absorbing layer"
    )

    @pydantic.model_validator(mode="after")
    def _bounds(self):
        if not self.c_min < self.c0:
            raise KeyedError(
                "c_min",
                f"expected c_min < c0 < c_max, got c_min = {self.c_min:g} >= c0 = "
                f"{self.c0:g} m/s",
            )
        if not self.c0 < self.c_max:
            raise KeyedError(
                "c_max",
                f"expected c_min < c0 < c_max, got c_max = {self.c_max:g} <= c0 = "
                f"{self.c0:g} m/s",
            )
        return self


class LensModel(eqx.Module):
    """The assembled lens problem: the background medium (the lens is
    written into its sound speed), the lens cells, the plane-wave source,
    the focal probe, the solver settings and the geometry the figures draw.
    `params` are the unconstrained sound speeds of the lens cells."""

    grid: Grid
    pml: PML
    op: Helmholtz
    lens_cells: tuple[tuple[int, int], tuple[int, int]]
    source: jax.Array
    probe: jax.Array
    solver: Any
    preconditioner: str
    shift: float
    c0: float
    c_min: float
    c_max: float
    frequency: float
    lens_centre: tuple[float, float]
    lens_size: tuple[float, float]
    target: tuple[float, float]
    source_x: float
    discretization: str

    @property
    def lens_slices(self) -> tuple[slice, slice]:
        return tuple(slice(a, b) for a, b in self.lens_cells)  # pyright: ignore

    def sound_speed(self, params):
        return hc.bounded_sound_speed(
            self.op.sound_speed, self.lens_slices, params, self.c_min, self.c_max
        )

    def operator(self, params) -> Helmholtz:
        """The Helmholtz operator of the design `params`."""
        return Helmholtz(
            self.op.discretization,
            self.sound_speed(params),
            self.op.omega,
            density=self.op.density,
            pml=self.pml,
        )

    def solve(self, params, throw=True):
        return solve_helmholtz(
            self.operator(params),
            self.source,
            self.solver,
            preconditioner=self.preconditioner,
            shift=self.shift,
            throw=throw,
        )

    @eqx.filter_jit
    def compiled_solve(self, params):
        """`solve`, compiled once for everything outside the loss."""
        return self.solve(params)

    def focal_pressure(self, pressure):
        """`p(target)` by band-limited interpolation (a smooth function of the
        field)."""
        return jnp.sum(self.probe * pressure)

    def intensity(self, params):
        return jnp.abs(self.focal_pressure(self.solve(params).value)) ** 2

    def initial_params(self):
        shape = tuple(b - a for a, b in self.lens_cells)
        frac = (self.c0 - self.c_min) / (self.c_max - self.c_min)
        return jnp.full(
            shape, np.log(frac / (1 - frac)), dtype=self.op.sound_speed.dtype
        )


@final
class LensDesign(AbstractInverseProblem):
    """Maximise the focal intensity of the lens: the loss is
    `-log(I / I_initial)`, the focal intensity gain in nepers x 2."""

    params: jax.Array
    lens: LensModel
    intensity0: jax.Array
    loss_label: ClassVar[str] = r"$-\ln(I_{focus} / I_{focus,initial})$ (dimensionless)"

    def loss(self, params):
        return -jnp.log(self.lens.intensity(params) / self.intensity0)

    def fields(self, params):
        sol = self.lens.compiled_solve(params)
        return hc.pressure_dataset(
            self.lens.grid,
            np.asarray(sol.value),
            np.asarray(self.lens.sound_speed(params)),
            attrs={"scenario": AcousticLens.name},
        )

    def metrics(self, params):
        lens = self.lens
        s0, s1 = lens.compiled_solve(self.params), lens.compiled_solve(params)
        i0 = float(jnp.abs(lens.focal_pressure(s0.value)) ** 2)
        i1 = float(jnp.abs(lens.focal_pressure(s1.value)) ** 2)
        speeds = np.asarray(lens.sound_speed(params))[lens.lens_slices]
        return {
            "focal_gain": i1 / i0,
            "focal_intensity_initial": i0,
            "focal_intensity_final": i1,
            "omega": 2 * np.pi * lens.frequency,
            "frequency": lens.frequency,
            "c0": lens.c0,
            "lens_sound_speed_range": [float(speeds.min()), float(speeds.max())],
            "solver_iterations": int(s1.num_steps),
            "relative_residual": float(s1.relative_residual),
            "discretization": lens.discretization,
        }

    def plot(self, params, out, history):
        return _plot_design(self.lens, self.params, params, Path(out))


def _geometry(config, physics):
    """Grid, PML, the PML-free height and the lens cells, checked."""
    grid = grid_from(config)
    pml = physics.pml.build()
    hc.check_pml(grid, pml)
    (x0, x1), (y0, y1) = pml.interior_bounds(grid)

    def inside_interior(point, key):
        if len(point) != 2:
            raise ConfigError(key, f"expected 2 coordinates, got {len(point)}")
        if not (x0 < point[0] < x1 and y0 < point[1] < y1):
            raise ConfigError(
                key,
                f"must lie inside the PML-free region x in ({x0:.4g}, {x1:.4g}), y "
                f"in ({y0:.4g}, {y1:.4g}) m",
            )

    lens = physics.lens
    if len(lens.centre) != 2 or len(lens.size) != 2:
        raise ConfigError("physics.lens", "centre and size need 2 entries each")
    corners = [
        (lens.centre[0] + sx * lens.size[0] / 2, lens.centre[1] + sy * lens.size[1] / 2)
        for sx in (-1, 1)
        for sy in (-1, 1)
    ]
    for corner in corners:
        inside_interior(corner, "physics.lens.size")
    inside_interior(physics.target, "physics.target")
    inside_interior([physics.source_x, 0.5 * (y0 + y1)], "physics.source_x")
    if not physics.source_x < lens.centre[0] - lens.size[0] / 2:
        raise ConfigError(
            "physics.source_x", "the source line must lie to the left of the lens"
        )
    if not physics.target[0] > lens.centre[0] + lens.size[0] / 2:
        raise ConfigError(
            "physics.target", "the target must lie to the right of the lens"
        )

    slices = []
    for axis in range(2):
        c = grid.axis_coordinates(axis)
        lo, hi = (
            lens.centre[axis] - lens.size[axis] / 2,
            lens.centre[axis] + lens.size[axis] / 2,
        )
        idx = np.nonzero((c >= lo) & (c <= hi))[0]
        if idx.size == 0:
            raise ConfigError("physics.lens.size", "the lens covers no cell centre")
        slices.append(slice(int(idx[0]), int(idx[-1]) + 1))
    return grid, pml, (y0, y1), slices


def _build(config, physics) -> LensModel:
    grid, pml, (y0, y1), slices = _geometry(config, physics)
    sc = hc.solver_config(config)

    omega = 2 * np.pi * physics.frequency
    op = Helmholtz(
        hc.discretization_from(config, grid),
        physics.c0,
        omega,
        density=physics.density,
        pml=pml,
    )
    source = line_source(
        grid, 0, physics.source_x, lower=[y0], upper=[y1], taper=physics.source_taper
    )
    probe = point_source(grid, physics.target) * grid.cell_volume
    lens = physics.lens
    return LensModel(
        grid=grid,
        pml=pml,
        op=op,
        lens_cells=tuple((s.start, s.stop) for s in slices),  # pyright: ignore
        source=source,
        probe=probe,
        solver=sc.build(),
        preconditioner=sc.preconditioner,
        shift=sc.shift,
        c0=physics.c0,
        c_min=physics.c_min,
        c_max=physics.c_max,
        frequency=physics.frequency,
        lens_centre=(lens.centre[0], lens.centre[1]),
        lens_size=(lens.size[0], lens.size[1]),
        target=(physics.target[0], physics.target[1]),
        source_x=physics.source_x,
        discretization=hc.discretization_name(config),
    )


def _lens_patch(problem: LensModel, **kw):
    centre, size = problem.lens_centre, problem.lens_size
    return mpatches.Rectangle(
        (
            (centre[0] - size[0] / 2) * hc.MM,
            (centre[1] - size[1] / 2) * hc.MM,
        ),
        size[0] * hc.MM,
        size[1] * hc.MM,
        fill=False,
        **kw,
    )


def _decorate(problem: LensModel):
    ph = problem
    (y0, y1) = problem.pml.interior_bounds(problem.grid)[1]

    def mark(ax):
        ax.add_patch(_lens_patch(problem, ec="w", lw=1.0, ls="-", label="lens"))
        ax.plot(
            [ph.source_x * hc.MM] * 2,
            [y0 * hc.MM, y1 * hc.MM],
            color="c",
            lw=1.6,
            label="source",
        )
        ax.plot(
            ph.target[0] * hc.MM,
            ph.target[1] * hc.MM,
            marker="+",
            color="lime",
            ms=11,
            mew=1.8,
            ls="none",
            label="target",
        )

    return mark


@register
class AcousticLens(SteadyScenario, OptimizationScenario):
    name = "acoustic_lens"
    description = (
        "design the sound speed of a lens (bounded by a sigmoid) to "
        "focus a 1 MHz plane wave at a target; Helmholtz adjoint"
    )
    ndim = 2
    Physics = Physics
    discretizations = hc.DISCRETIZATIONS
    configurable_boundary = False  # a PML bounds the domain
    Solver = hc.SolverConfig
    adjoints = hc.HELMHOLTZ_ADJOINTS
    gradcheck_rtol = hc.GRADCHECK_RTOL
    headline = {"focal_gain": "focal intensity gain (optimized / initial design)"}
    defaults = {
        "adjoint": "implicit",
        "grid": {
            "cells": [128, 128],
            "lower": [-9.6e-3, -9.6e-3],
            "upper": [9.6e-3, 9.6e-3],
        },
        "discretization": "fourier",
        "optimize": {
            "iterations": 60,
            "checkpoint_every": 20,
            "optimizer": {"name": "adam", "learning_rate": 0.3},
        },
    }

    @classmethod
    def validate(cls, config, physics):
        _geometry(config, physics)
        hc.solver_config(config)

    # --- diffsim run: the initial design -----------------------------------
    def solve(self, ctx: BuildContext) -> SteadyResult:
        config, physics = ctx.config, ctx.physics
        solver_config = hc.solver_config(config)
        problem = _build(config, physics)
        params = problem.initial_params()
        c = problem.sound_speed(params)
        op = Helmholtz(
            problem.op.discretization,
            c,
            problem.op.omega,
            density=problem.op.density,
            pml=problem.pml,
        )
        sol, timings = hc.solve(op, problem.source, solver_config)
        pressure = np.asarray(sol.value)
        background, _ = hc.solve(problem.op, problem.source, solver_config)
        intensity = float(np.abs(problem.focal_pressure(sol.value)) ** 2)
        reference = float(np.abs(problem.focal_pressure(background.value)) ** 2)
        summary = {
            **hc.wave_summary(problem.grid, physics.frequency, physics.c0, problem.pml),
            **hc.solver_summary(sol, timings, solver_config),
            "discretization": hc.discretization_name(config),
            "design": physics.initial,
            "focal_intensity": intensity,
            "focal_gain": intensity / reference,
            "focal_gain_reference": "no lens (c0 everywhere)",
        }
        fields = hc.pressure_dataset(
            problem.grid,
            pressure,
            c,
            attrs={"scenario": self.name, "design": physics.initial},
        )

        def plot(out):
            title = (
                f"acoustic lens, initial design ({physics.initial}), f = "
                f"{physics.frequency / 1e6:g} MHz "
                f"({hc.discretization_name(config)})"
            )
            return hc.plot_pressure_and_speed(
                problem.grid,
                pressure,
                c,
                problem.pml,
                out,
                title,
                decorate=_decorate(problem),
            )

        return SteadyResult(fields, summary, plot)

    # --- diffsim optimize ----------------------------------------------------
    def build_problem(self, ctx: BuildContext) -> LensDesign:
        if ctx.config.adjoint != "implicit":
            raise ConfigError(
                "adjoint",
                "the Helmholtz solve is differentiated implicitly (one adjoint "
                "solve): use implicit",
            )
        lens = _build(ctx.config, ctx.physics)
        params0 = lens.initial_params()
        intensity0 = jax.jit(lambda p: lens.intensity(p))(params0)
        return LensDesign(params=params0, lens=lens, intensity0=intensity0)


def _plot_design(problem: LensModel, initial, final, out: Path) -> list[Path]:
    grid, pml, ph = problem.grid, problem.pml, problem
    solve = problem.compiled_solve
    p0, p1 = np.asarray(solve(initial).value), np.asarray(solve(final).value)
    i0 = float(np.abs(problem.focal_pressure(p0)) ** 2)
    i1 = float(np.abs(problem.focal_pressure(p1)) ** 2)
    interior = ~pml.mask(grid)
    scale = float(np.abs(p1[interior]).max())
    mark = _decorate(problem)
    focal = r"$|p(\mathbf{x}_t)|^2$"

    # |p| before and after, one colour scale
    fig, axes = plt.subplots(
        1, 2, figsize=(11.5, 4.9), constrained_layout=True, sharey=True
    )
    for ax, p, what, intensity in (
        (axes[0], p0, "initial design (uniform)", i0),
        (axes[1], p1, "optimized design", i1),
    ):
        image = ax.imshow(
            np.abs(p).T,
            origin="lower",
            extent=hc.extent_mm(grid),
            cmap="magma",
            vmin=0,
            vmax=scale,
            interpolation="nearest",
            aspect="equal",
        )
        hc.draw_pml(ax, grid, pml)
        mark(ax)
        ax.set(xlabel="x (mm)", title=f"{what}: {focal} = {intensity:.3g}")
    axes[0].set_ylabel("y (mm)")
    axes[0].legend(loc="lower left", fontsize=7, framealpha=0.7)
    fig.colorbar(image, ax=axes, label=r"$|p|$ (Pa per unit source)", shrink=0.9)
    fig.suptitle(
        f"acoustic lens at {ph.frequency / 1e6:g} MHz: focal intensity gain "
        f"{i1 / i0:.1f}x ({problem.discretization})"
    )
    paths = [hc.save(fig, out / "pressure_before_after.png")]

    # the optimized sound speed: whole domain and the lens region, one colour scale
    c = np.asarray(problem.sound_speed(final))
    sx, sy = problem.lens_slices
    xs, ys = grid.coordinates[0][sx] * hc.MM, grid.coordinates[1][sy] * hc.MM
    h = np.array(grid.spacing) * hc.MM / 2
    zoom = (xs[0] - h[0], xs[-1] + h[0], ys[0] - h[1], ys[-1] + h[1])
    lens_aspect = (zoom[1] - zoom[0]) / (zoom[3] - zoom[2])
    fig, axes = plt.subplots(
        1,
        2,
        figsize=(5.2 + 4.4 * lens_aspect + 2.2, 4.9),
        constrained_layout=True,
        gridspec_kw={"width_ratios": [1.0, max(lens_aspect, 0.25)]},
    )
    kw = dict(
        origin="lower",
        cmap="viridis",
        vmin=ph.c_min,
        vmax=ph.c_max,
        interpolation="nearest",
        aspect="equal",
    )
    axes[0].imshow(c.T, extent=hc.extent_mm(grid), **kw)
    hc.draw_pml(axes[0], grid, pml)
    mark(axes[0])
    axes[0].set(xlabel="x (mm)", ylabel="y (mm)", title="optimized sound speed")
    image = axes[1].imshow(c[sx, sy].T, extent=zoom, **kw)
    axes[1].set(xlabel="x (mm)", ylabel="y (mm)", title="lens region (zoom)")
    fig.colorbar(
        image,
        ax=axes,
        label=f"sound speed (m/s), bounds [{ph.c_min:g}, {ph.c_max:g}]",
        shrink=0.9,
    )
    fig.suptitle(
        f"acoustic lens: optimized sound speed at {ph.frequency / 1e6:g} MHz (source "
        "line, lens, target +)"
    )
    paths.append(hc.save(fig, out / "sound_speed_optimized.png"))

    # intensity along the line through the target
    fig, ax = plt.subplots(figsize=(7, 4), constrained_layout=True)
    j = int(np.argmin(np.abs(grid.coordinates[1] - ph.target[1])))
    x = grid.coordinates[0] * hc.MM
    ax.plot(x, np.abs(p0[:, j]) ** 2, color="0.45", lw=1.5, label="initial design")
    ax.plot(x, np.abs(p1[:, j]) ** 2, color="C3", lw=1.8, label="optimized design")
    ax.axvline(ph.target[0] * hc.MM, color="g", ls=":", lw=1.2, label="target")
    centre, size = problem.lens_centre, problem.lens_size
    ax.axvspan(
        (centre[0] - size[0] / 2) * hc.MM,
        (centre[0] + size[0] / 2) * hc.MM,
        color="C0",
        alpha=0.12,
        label="lens",
    )
    (x0, x1) = pml.interior_bounds(grid)[0]
    ax.axvspan(grid.lower[0] * hc.MM, x0 * hc.MM, color="0.88")
    ax.axvspan(x1 * hc.MM, grid.upper[0] * hc.MM, color="0.88", label="PML")
    ax.set(
        xlabel="x (mm)",
        ylabel=r"$|p|^2$ (Pa$^2$ per unit source$^2$)",
        xlim=(x[0], x[-1]),
        title=f"intensity along y = {ph.target[1] * hc.MM:g} mm (through the target)",
    )
    ax.legend(frameon=False, fontsize=8)
    ax.grid(alpha=0.3)
    paths.append(hc.save(fig, out / "axis_intensity.png"))
    return paths
