"""A point source in a homogeneous medium: the Helmholtz solve against the
free-space Green's function, in 2D and 3D."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pydantic
from scipy.special import hankel1

from diffsim.jobs import (
    BuildContext,
    ConfigError,
    PhysicsConfig,
    SteadyResult,
    SteadyScenario,
    grid_from,
    register,
)
from diffsim.operators.helmholtz import Helmholtz, point_source

from . import helmholtz_common as hc


class Physics(PhysicsConfig):
    """`frequency` (Hz), background sound speed `c0` (m/s) and density
    (kg/m^3), the source position (m), the radius (cells) around the source
    left out of the error norms, and the PML."""

    frequency: pydantic.PositiveFloat = pydantic.Field(
        default=1.0e6, description="source frequency (Hz)"
    )
    c0: pydantic.PositiveFloat = pydantic.Field(
        default=1500.0, description="sound speed (m/s)"
    )
    density: pydantic.PositiveFloat = pydantic.Field(
        default=1000.0, description="density (kg/m^3)"
    )
    source_position: list[float] | None = pydantic.Field(
        default=None, description="source point (m); null: the origin"
    )
    exclude_radius: pydantic.NonNegativeFloat = pydantic.Field(
        default=10.0, description="cells around the source left out of the error"
    )
    pml: hc.PMLConfig = pydantic.Field(
        default_factory=hc.PMLConfig, description="absorbing layer"
    )


def greens_function(r, k, ndim: int):
    """Outgoing free-space Green's function of `Lap + k^2` (`-delta` source):
    `(i/4) H0^(1)(k r)` in 2D, `e^{ikr} / (4 pi r)` in 3D (`r > 0`)."""
    r = np.asarray(r, dtype=float)
    if ndim == 2:
        return 0.25j * hankel1(0, k * r)
    return np.exp(1j * k * r) / (4 * np.pi * r)


def _geometry(config, physics):
    """Grid, PML and source position, checked."""
    grid = grid_from(config)
    pml = physics.pml.build()
    hc.check_pml(grid, pml)
    position = physics.source_position or [0.0] * grid.ndim
    if len(position) != grid.ndim:
        raise ConfigError(
            "physics.source_position",
            f"expected {grid.ndim} coordinates, got {len(position)}",
        )
    inner = pml.interior_bounds(grid)
    if any(not lo <= p <= hi for p, (lo, hi) in zip(position, inner)):
        raise ConfigError(
            "physics.source_position", f"must lie inside the PML-free region {inner}"
        )
    return grid, pml, position


class _PointSource(SteadyScenario):
    Physics = Physics
    discretizations = hc.DISCRETIZATIONS
    configurable_boundary = False  # a PML bounds the domain
    Solver = hc.SolverConfig

    @classmethod
    def validate(cls, config, physics):
        _geometry(config, physics)
        hc.solver_config(config)

    def solve(self, ctx: BuildContext) -> SteadyResult:
        config, physics = ctx.config, ctx.physics
        grid, pml, position = _geometry(config, physics)
        omega = 2 * np.pi * physics.frequency
        k = omega / physics.c0
        solver_config = hc.solver_config(config)
        op = Helmholtz(
            hc.discretization_from(config, grid),
            physics.c0,
            omega,
            density=physics.density,
            pml=pml,
        )
        source = point_source(grid, position)
        sol, timings = hc.solve(op, source, solver_config)
        pressure = np.asarray(sol.value)

        r = np.sqrt(
            sum(
                (m - p) ** 2
                for m, p in zip(np.meshgrid(*grid.coordinates, indexing="ij"), position)
            )
        )
        h = max(grid.spacing)
        exact = physics.density * greens_function(np.where(r > 0, r, h), k, grid.ndim)
        measured = (~pml.mask(grid)) & (r > physics.exclude_radius * h)
        errors = hc.relative_errors(pressure, exact, measured)
        summary = {
            **hc.wave_summary(grid, physics.frequency, physics.c0, pml),
            **hc.solver_summary(sol, timings, solver_config),
            "discretization": hc.discretization_name(config),
            "errors": errors,
            "error_region": "outside the PML and more than "
            f"{physics.exclude_radius:g} cells from the source",
        }
        fields = hc.pressure_dataset(
            grid,
            pressure,
            physics.c0,
            attrs={"scenario": self.name, "frequency_hz": physics.frequency},
            exact_real=exact.real,
            exact_imag=exact.imag,
        )

        def plot(out: Path):
            def mark(ax):
                ax.plot(
                    position[0] * hc.MM,
                    position[1] * hc.MM,
                    "c*",
                    ms=9,
                    mec="k",
                    mew=0.5,
                    label="source",
                )

            title = (
                f"point source, f = {physics.frequency / 1e6:g} MHz, c0 = "
                f"{physics.c0:g} m/s ({hc.discretization_name(config)})"
            )
            paths = hc.plot_pressure_and_speed(
                grid, pressure, physics.c0, pml, out, title, decorate=mark
            )
            paths.append(
                _plot_comparison(
                    grid, pressure, exact, position, pml, measured, errors, out, title
                )
            )
            return paths

        return SteadyResult(fields, summary, plot)


def _plot_comparison(
    grid, pressure, exact, position, pml, measured, errors, out, title
):
    """Re p along the line through the source (parallel to x) against the
    exact solution, and the error map."""
    x = grid.coordinates[0]
    idx = tuple(
        int(np.argmin(np.abs(grid.coordinates[a] - position[a])))
        for a in range(grid.ndim)
    )
    line = (slice(None), *idx[1:])
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.6), constrained_layout=True)
    a.plot(x * hc.MM, exact[line].real, "k-", lw=2.2, label="exact, Re p")
    a.plot(x * hc.MM, pressure[line].real, "C1--", lw=1.4, label="diffsim, Re p")
    a.plot(x * hc.MM, np.abs(exact[line]), "k:", lw=1.2, label="exact, |p|")
    a.plot(
        x * hc.MM,
        np.abs(pressure[line]),
        "C0-",
        lw=1.0,
        alpha=0.8,
        label="diffsim, |p|",
    )
    lim = 1.3 * float(np.abs(exact[line][measured[line]]).max())
    a.set(
        xlabel="x (mm)",
        ylabel="p (Pa per unit source)",
        ylim=(-1.9 * lim, lim),
        title="cut through the source along x",
    )
    (x0, x1) = pml.interior_bounds(grid)[0]
    for edge in (x0, x1):
        a.axvline(edge * hc.MM, color="0.5", ls="--", lw=0.8)
    a.axvspan(grid.lower[0] * hc.MM, x0 * hc.MM, color="0.85", zorder=0)
    a.axvspan(x1 * hc.MM, grid.upper[0] * hc.MM, color="0.85", zorder=0, label="PML")
    a.legend(frameon=False, fontsize=8, ncol=3, loc="lower center")
    a.grid(alpha=0.3)
    err = np.abs(pressure - exact) / np.max(np.abs(exact[measured]))
    err = np.where(measured, err, np.nan)
    from matplotlib.colors import LogNorm

    finite = err[np.isfinite(err)]
    lo = max(float(np.percentile(finite, 1)), 1e-12)
    hc.field_image(
        b,
        grid,
        np.maximum(err, lo),
        cmap="viridis",
        norm=LogNorm(vmin=lo, vmax=float(np.nanmax(err))),
        label="|p - p_exact| / max|p_exact| (dimensionless)",
    )
    hc.draw_pml(b, grid, pml)
    b.set_title(
        f"error (L2 relative {errors['l2_relative']:.2e}; source neighbourhood and "
        "PML masked)"
    )
    fig.suptitle(title)
    return hc.save(fig, Path(out) / "comparison.png")


@register
class HelmholtzPointSource(_PointSource):
    name = "helmholtz_point_source"
    description = (
        "2D point source in water at 1 MHz against the exact (i/4) "
        "H0(kr); Helmholtz with PML, preconditioned GMRES"
    )
    ndim = 2
    defaults = {
        "grid": {
            "cells": [192, 192],
            "lower": [-9.6e-3, -9.6e-3],
            "upper": [9.6e-3, 9.6e-3],
        },
        "discretization": "fourier",
    }


@register
class HelmholtzPointSource3D(_PointSource):
    name = "helmholtz_point_source_3d"
    description = (
        "3D point source in water at 1 MHz against the exact "
        "e^{ikr}/(4 pi r); Helmholtz with PML"
    )
    ndim = 3
    defaults = {
        "grid": {"cells": [64, 64, 64], "lower": [-3.2e-3] * 3, "upper": [3.2e-3] * 3},
        "discretization": "fourier",
        "physics": {"pml": {"width": 14}},
    }
