"""Pieces shared by the Helmholtz scenarios: config sections, the solve,
fields, and the figures (physical units, PML drawn)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

import equinox as eqx
import jax
import lineax as lx
import matplotlib

matplotlib.use("Agg")
import matplotlib.patches as mpatches  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pydantic  # noqa: E402
import xarray as xr  # noqa: E402

from diffsim import (
    GMRES,
    HELMHOLTZ_SOLVER,
    BiCGStab,
    RunError,
    save_figure,
    solve_helmholtz,
)  # noqa: E402
from diffsim.jobs import ConfigError, PhysicsConfig
from diffsim.operators import FiniteDifference, FourierSpectral, Grid  # noqa: E402
from diffsim.operators.helmholtz import (
    DEFAULT_PRECONDITIONER,
    DEFAULT_SHIFT,
    PML,
    Helmholtz,
)  # noqa: E402

MM = 1e3  # metres -> millimetres in figures


class PMLConfig(PhysicsConfig):
    """`physics.pml:` — absorbing layer: cells per side, `sigma / omega` at
    the outer edge, polynomial order of the profile."""

    width: pydantic.NonNegativeInt = pydantic.Field(
        default=20, description="PML cells on each side"
    )
    strength: pydantic.NonNegativeFloat = pydantic.Field(
        default=2.0, description="damping sigma / omega at the outer edge"
    )
    order: pydantic.NonNegativeFloat = pydantic.Field(
        default=2.0, description="polynomial order of the damping profile"
    )

    def build(self) -> PML:
        return PML(self.width, self.strength, self.order)


class SolverConfig(PhysicsConfig):
    """`solver:` — the Krylov method, its tolerance on the relative residual
    `||b - A x|| / ||b||`, the iteration cap, the GMRES restart length and the
    preconditioner (`born`: convergent-Born-series preconditioner,
    `shifted_laplacian`, or `none`) with its shift.

    The defaults are the library's (`diffsim.HELMHOLTZ_SOLVER`,
    `operators.helmholtz.DEFAULT_PRECONDITIONER` and `DEFAULT_SHIFT`), so
    that a config and `diffsim.solve_helmholtz(op, source)` solve alike.
    BiCGStab is the default: with the Born preconditioner it needs about as
    many operator applications as GMRES and no orthogonalisation, and was
    measured 1.7-2.6x faster (256^2 disc benchmark, one CPU thread)."""

    method: Literal["gmres", "bicgstab"] = pydantic.Field(
        default="bicgstab" if isinstance(HELMHOLTZ_SOLVER, BiCGStab) else "gmres",
        description="Krylov method: gmres or bicgstab",
    )
    rtol: pydantic.PositiveFloat = pydantic.Field(
        default=float(HELMHOLTZ_SOLVER.rtol),
        description="tolerance on the relative residual ||b - A x|| / ||b||",
    )
    atol: pydantic.NonNegativeFloat = pydantic.Field(
        default=float(HELMHOLTZ_SOLVER.atol), description="absolute residual tolerance"
    )
    max_steps: pydantic.PositiveInt = pydantic.Field(
        default=HELMHOLTZ_SOLVER.max_steps, description="iteration cap"
    )
    restart: pydantic.PositiveInt = pydantic.Field(
        default=GMRES().restart, description="GMRES restart length"
    )
    preconditioner: Literal["born", "shifted_laplacian", "none"] = pydantic.Field(
        default=DEFAULT_PRECONDITIONER, description="born, shifted_laplacian or none"
    )
    shift: pydantic.PositiveFloat = pydantic.Field(
        default=DEFAULT_SHIFT,
        description="shift of the preconditioner (complex damping fraction)",
    )

    def build(self):
        if self.method == "gmres":
            return GMRES(
                rtol=self.rtol,
                atol=self.atol,
                max_steps=self.max_steps,
                restart=self.restart,
            )
        return BiCGStab(rtol=self.rtol, atol=self.atol, max_steps=self.max_steps)


#: The Helmholtz scenarios' only adjoint, whatever the config says otherwise
#: (`OptimizationScenario.adjoints`): the solves are differentiated implicitly.
HELMHOLTZ_ADJOINTS = {
    "implicit": "implicit differentiation of each Helmholtz linear solve (lineax; "
    "one adjoint Krylov solve with the transposed operator)"
}

#: `solver.rtol` for `diffsim gradcheck`: relative residual 1e-12 costs about
#: twice the iterations of 1e-6 (BiCGStab with the Born preconditioner) and
#: puts the solves' error far below what central differences resolve.
GRADCHECK_RTOL = 1e-12

# Below this, float32 cannot evaluate the residual of a Helmholtz operator
# at ~10-15 points per wavelength: round-off in the operator itself is
# ~ eps * (k_max / k)^2 ~ 1e-5.
FLOAT32_MIN_RTOL = 2e-5
# and float64 cannot evaluate it below about 1e-16 (its unit round-off).
FLOAT64_MIN_RTOL = 1e-15


def solver_config(config) -> SolverConfig:
    """The validated `solver:` section, checked against the precision."""
    sc = SolverConfig.model_validate(config.solver)
    if config.precision == "float32" and sc.rtol < FLOAT32_MIN_RTOL:
        raise ConfigError(
            "solver.rtol",
            f"{sc.rtol:g} is below what float32 can reach for this operator (about "
            "1e-5: round-off of the "
            "operator itself); use precision=float64 or solver.rtol >= "
            f"{FLOAT32_MIN_RTOL:g}",
        )
    if sc.rtol < FLOAT64_MIN_RTOL:
        raise ConfigError(
            "solver.rtol",
            f"{sc.rtol:g} is below what float64 can reach (round-off of the residual "
            f"itself); use solver.rtol >= {FLOAT64_MIN_RTOL:g}",
        )
    return sc


#: The `discretization:` values of every Helmholtz scenario (Fourier first:
#: the default).
DISCRETIZATIONS = ("fourier", "finite_difference")


def discretization_from(config, grid: Grid):
    """`discretization: fourier` (default) or `finite_difference` with
    `fd_order` (default 4)."""
    if config.discretization in (None, "fourier"):
        return FourierSpectral(grid)
    return FiniteDifference(grid, config.fd_order or 4)


def discretization_name(config) -> str:
    if config.discretization in (None, "fourier"):
        return "fourier"
    return f"finite_difference (order {config.fd_order or 4})"


def check_pml(grid: Grid, pml: PML) -> None:
    try:
        pml.widths(grid)
    except ValueError as e:
        raise ConfigError("physics.pml.width", str(e)) from None


def solve(op: Helmholtz, source, solver_config: SolverConfig):
    """Solve `H p = -source` (`diffsim.solve_helmholtz`). Returns the
    solution and timings (the first call compiles; `compile_s` is the
    lowering + compilation time). A solve that misses its tolerance is a
    `RunError` naming the residual reached."""
    solver = solver_config.build()

    def run(op, source):
        return solve_helmholtz(
            op,
            source,
            solver,
            preconditioner=solver_config.preconditioner,
            shift=solver_config.shift,
            throw=False,
        )

    t0 = time.perf_counter()
    compiled = eqx.filter_jit(run).lower(op, source).compile()
    t1 = time.perf_counter()
    sol = compiled(op, source)
    jax.block_until_ready(sol.value)
    t2 = time.perf_counter()
    if not bool(sol.converged):
        why = (
            "the residual stagnated"
            if sol.result == lx.RESULTS.stagnation
            else "solver.max_steps reached"
        )
        raise RunError(
            f"solver: {solver_config.method} stopped after {int(sol.num_steps)} "
            f"iterations ({why}) at relative "
            f"residual {float(sol.relative_residual):.3e} > solver.rtol = "
            f"{solver_config.rtol:g}; "
            "raise solver.max_steps, or use the born preconditioner"
        )
    return sol, {"compile_s": t1 - t0, "solve_s": t2 - t1}


def solver_summary(sol, timings: dict, solver_config: SolverConfig) -> dict:
    return {
        "iterations": int(sol.num_steps),
        "relative_residual": float(sol.relative_residual),
        "solver": {
            "method": solver_config.method,
            "rtol": solver_config.rtol,
            "preconditioner": solver_config.preconditioner,
        },
        **timings,
    }


def wave_summary(grid: Grid, frequency: float, c0: float, pml: PML) -> dict:
    wavelength = c0 / frequency
    return {
        "omega": 2 * np.pi * frequency,
        "frequency": frequency,
        "c0": c0,
        "wavelength": wavelength,
        "points_per_wavelength": wavelength / max(grid.spacing),
        "pml_width_cells": list(pml.widths(grid)),
    }


_EXTRA_ATTRS = {
    "exact_real": {"long_name": "Re p, exact solution", "units": "Pa"},
    "exact_imag": {"long_name": "Im p, exact solution", "units": "Pa"},
    "scattered_real": {"long_name": "Re p, scattered field", "units": "Pa"},
    "scattered_imag": {"long_name": "Im p, scattered field", "units": "Pa"},
    "sound_speed_true": {"long_name": "sound speed, ground truth", "units": "m/s"},
}


def pressure_dataset(
    grid: Grid, pressure, sound_speed, attrs=None, **extra
) -> xr.Dataset:
    """`pressure_real`, `pressure_imag` (Pa per unit source) and `sound_speed`
    (m/s) on coordinates `x`, `y` (`z`) in metres, plus any `extra` fields."""
    dims = grid.axis_names
    pressure = np.asarray(pressure)
    data = {
        "pressure_real": (
            dims,
            np.real(pressure),
            {"long_name": "Re p", "units": "Pa"},
        ),
        "pressure_imag": (
            dims,
            np.imag(pressure),
            {"long_name": "Im p", "units": "Pa"},
        ),
        "sound_speed": (
            dims,
            np.broadcast_to(np.asarray(sound_speed), grid.cells),
            {"long_name": "sound speed", "units": "m/s"},
        ),
    }
    for name, value in extra.items():
        data[name] = (
            dims,
            np.asarray(value),
            _EXTRA_ATTRS.get(name, {"long_name": name.replace("_", " "), "units": "1"}),
        )
    coords = {
        name: (name, c, {"long_name": f"cell-centre coordinate {name}", "units": "m"})
        for name, c in zip(dims, grid.coordinates)
    }
    return xr.Dataset(data, coords=coords, attrs=dict(attrs or {}))


# --- figures -----------------------------------------------------------------


def mid_plane(grid: Grid, field):
    """2D fields as they are; 3D fields cut at the middle `z` plane."""
    field = np.asarray(field)
    return field[..., grid.cells[2] // 2] if field.ndim == 3 else field


def extent_mm(grid: Grid):
    return (
        grid.lower[0] * MM,
        grid.upper[0] * MM,
        grid.lower[1] * MM,
        grid.upper[1] * MM,
    )


def draw_pml(ax, grid: Grid, pml: PML) -> None:
    """Shade the absorbing layer (hatched) and outline its inner face."""
    (x0, x1), (y0, y1) = (
        tuple(v * MM for v in b) for b in pml.interior_bounds(grid)[:2]
    )
    X0, X1, Y0, Y1 = extent_mm(grid)
    bands = [
        (X0, Y0, x0 - X0, Y1 - Y0),
        (x1, Y0, X1 - x1, Y1 - Y0),
        (x0, Y0, x1 - x0, y0 - Y0),
        (x0, y1, x1 - x0, Y1 - y1),
    ]
    for bx, by, w, h in bands:
        if w > 0 and h > 0:
            ax.add_patch(
                mpatches.Rectangle(
                    (bx, by),
                    w,
                    h,
                    facecolor=(1, 1, 1, 0.3),
                    edgecolor=(0.4, 0.4, 0.4, 0.5),
                    hatch="///",
                    linewidth=0,
                )
            )
    if (x0, x1, y0, y1) != (X0, X1, Y0, Y1):
        ax.add_patch(
            mpatches.Rectangle(
                (x0, y0), x1 - x0, y1 - y0, fill=False, ls="--", lw=0.8, ec="0.25"
            )
        )
        ax.text(
            X0 + 0.015 * (X1 - X0),
            Y1 - 0.015 * (Y1 - Y0),
            "PML",
            va="top",
            ha="left",
            fontsize=7,
            color="0.1",
        )


def field_image(
    ax, grid: Grid, values, *, cmap, label, vmin=None, vmax=None, fig=None, norm=None
):
    image = ax.imshow(
        mid_plane(grid, values).T,
        origin="lower",
        extent=extent_mm(grid),
        cmap=cmap,
        vmin=vmin,
        vmax=vmax,
        norm=norm,
        interpolation="nearest",
        aspect="equal",
    )
    ax.set(xlabel="x (mm)", ylabel="y (mm)")
    (fig or ax.figure).colorbar(image, ax=ax, label=label, shrink=0.85)
    return image


def save(fig, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, path, dpi=150)
    plt.close(fig)
    return path


def plot_pressure_and_speed(
    grid: Grid,
    pressure,
    sound_speed,
    pml: PML,
    out: Path,
    title: str,
    decorate=None,
    unit="Pa per unit source",
) -> list[Path]:
    """|p| and Re p side by side, and the sound speed, with the PML shaded.
    `decorate(ax)` adds scenario-specific marks (sources, outlines)."""
    out = Path(out)
    p = mid_plane(grid, pressure)
    interior = ~mid_plane(grid, pml.mask(grid))
    scale = (
        float(np.percentile(np.abs(p[interior]), 99.5))
        if interior.any()
        else float(np.abs(p).max())
    )
    cut = "" if grid.ndim == 2 else " (mid-plane z)"
    fig, axes = plt.subplots(1, 2, figsize=(11.5, 4.8), constrained_layout=True)
    field_image(
        axes[0],
        grid,
        np.abs(p),
        cmap="magma",
        vmin=0,
        vmax=scale,
        label=f"|p| ({unit})",
    )
    field_image(
        axes[1],
        grid,
        np.real(p),
        cmap="RdBu_r",
        vmin=-scale,
        vmax=scale,
        label=f"Re p ({unit})",
    )
    axes[0].set_title(f"pressure amplitude |p|{cut}")
    axes[1].set_title(f"Re p{cut}")
    for ax in axes:
        draw_pml(ax, grid, pml)
        if decorate is not None:
            decorate(ax)
    fig.suptitle(title)
    paths = [save(fig, out / "pressure.png")]

    fig, ax = plt.subplots(figsize=(6.2, 4.8), constrained_layout=True)
    c = np.broadcast_to(np.asarray(sound_speed), grid.cells)
    lo, hi = float(c.min()), float(c.max())
    if hi - lo < 1e-9 * hi:
        lo, hi = lo - 1.0, hi + 1.0
    field_image(
        ax, grid, c, cmap="viridis", vmin=lo, vmax=hi, label="sound speed (m/s)"
    )
    draw_pml(ax, grid, pml)
    if decorate is not None:
        decorate(ax)
    ax.set_title(f"sound speed{cut}")
    paths.append(save(fig, out / "sound_speed.png"))
    return paths


def relative_errors(pressure, exact, measured) -> dict:
    """Relative L2 and max errors of a complex field over the cells `measured`."""
    diff = (pressure - exact)[measured]
    return {
        "l2_relative": float(np.linalg.norm(diff) / np.linalg.norm(exact[measured])),
        "max_relative": float(np.max(np.abs(diff)) / np.max(np.abs(exact[measured]))),
    }


def bounded_sound_speed(background, where, params, c_min, c_max):
    """`background` with the cells `where` set to `c_min + (c_max - c_min)
    sigmoid(params)`: the bounds transform of the design and inversion
    scenarios (any real `params` gives a sound speed inside the bounds)."""
    inside = c_min + (c_max - c_min) * jax.nn.sigmoid(params)
    return background.at[where].set(inside.astype(background.dtype))
