"""A plane wave scattered by a penetrable circular cylinder, against the
exact Bessel-series solution."""

from __future__ import annotations

from pathlib import Path

import matplotlib.patches as mpatches
import matplotlib.pyplot as plt
import numpy as np
import pydantic
from matplotlib.colors import LogNorm
from scipy.special import h1vp, hankel1, jv, jvp

from diffsim import ConfigError, PhysicsConfig, SteadyResult, SteadyScenario, register
from operators.helmholtz import Helmholtz

from . import helmholtz_common as hc
from ._common import grid_from


class Inclusion(PhysicsConfig):
    """`physics.inclusion:` — centre (m), radius (m), sound speed (m/s) and
    density (kg/m^3) of the cylinder."""

    centre: list[float] = [0.0, 0.0]
    radius: pydantic.PositiveFloat = 2.0e-3
    sound_speed: pydantic.PositiveFloat = 1800.0
    density: pydantic.PositiveFloat = 1000.0


class Physics(PhysicsConfig):
    """`frequency` (Hz), background `c0` (m/s) and `density` (kg/m^3), the
    incident plane wave's direction (degrees from +x) and amplitude (Pa),
    the inclusion, and the PML."""

    frequency: pydantic.PositiveFloat = 1.0e6
    c0: pydantic.PositiveFloat = 1500.0
    density: pydantic.PositiveFloat = 1000.0
    incident_angle: float = 0.0
    amplitude: pydantic.PositiveFloat = 1.0
    inclusion: Inclusion = pydantic.Field(default_factory=Inclusion)
    pml: hc.PMLConfig = pydantic.Field(default_factory=hc.PMLConfig)


def cylinder_series(x, y, k0, k1, rho0, rho1, radius, angle, terms=None):
    """Total pressure of the unit plane wave `exp(i k0 (x cos a + y sin a))`
    scattered by a penetrable cylinder of radius `radius` centred at the
    origin (interior wavenumber `k1`, density `rho1`): continuity of `p` and of
    `(1/rho) dp/dr` at `r = radius`, solved mode by mode (e.g. Morse & Ingard,
    *Theoretical Acoustics*, §8.1)."""
    r, theta = np.hypot(x, y), np.arctan2(y, x)
    terms = terms or int(np.ceil(max(k0, k1) * radius + 4 * (max(k0, k1) * radius) ** (1 / 3) + 12))
    q = (k1 / rho1) / (k0 / rho0)
    k0a, k1a = k0 * radius, k1 * radius
    inside = r < radius
    # Outside: the incident wave in closed form (its own series would need
    # ~k0 r terms) plus the scattered series, whose terms decay for n > k a.
    out = np.where(inside, 0.0, np.exp(1j * k0 * r * np.cos(theta - angle)))
    for n in range(-terms, terms + 1):
        j0, dj0 = jv(n, k0a), jvp(n, k0a)
        j1, dj1 = jv(n, k1a), jvp(n, k1a)
        h, dh = hankel1(n, k0a), h1vp(n, k0a)
        det = j1 * dh - q * dj1 * h
        a_n = 1j**n * (q * dj1 * j0 - j1 * dj0) / det
        b_n = 1j**n * (j0 * dh - dj0 * h) / det
        phase = np.exp(1j * n * (theta - angle))
        out += np.where(inside, b_n * jv(n, k1 * r), a_n * hankel1(n, k0 * np.where(inside, radius, r))) * phase
    return out


def _cell_average(grid, inside_fn, values_in, values_out, sub=8):
    """Average of a piecewise-constant field over each cell (sub x sub
    samples), so that the disc is not staircased."""
    offsets = (np.arange(sub) + 0.5) / sub - 0.5
    X, Y = np.meshgrid(*grid.coordinates, indexing="ij")
    frac = np.zeros(grid.cells)
    for ox in offsets:
        for oy in offsets:
            frac += inside_fn(X + ox * grid.spacing[0], Y + oy * grid.spacing[1])
    frac /= sub * sub
    return frac * values_in + (1 - frac) * values_out, frac


@register
class HelmholtzScattering(SteadyScenario):
    name = "helmholtz_scattering"
    description = "plane wave on a penetrable circular cylinder at 1 MHz in water against the exact Bessel series; scattered-field Helmholtz with PML"
    ndim = 2
    Physics = Physics
    Solver = hc.SolverConfig
    defaults = {
        "grid": {"cells": [192, 192], "lower": [-9.6e-3, -9.6e-3], "upper": [9.6e-3, 9.6e-3]},
        "discretization": "fourier",
    }

    def solve(self, config, physics, key):
        grid = grid_from(config)
        pml = physics.pml.build()
        hc.check_pml(grid, pml)
        inc = physics.inclusion
        if len(inc.centre) != 2:
            raise ConfigError("physics.inclusion.centre", f"expected 2 coordinates, got {len(inc.centre)}")
        (x0, x1), (y0, y1) = pml.interior_bounds(grid)
        cx, cy = inc.centre
        if not (x0 <= cx - inc.radius and cx + inc.radius <= x1 and y0 <= cy - inc.radius and cy + inc.radius <= y1):
            raise ConfigError("physics.inclusion.radius", "the inclusion must lie inside the PML-free region")

        omega = 2 * np.pi * physics.frequency
        k0, k1 = omega / physics.c0, omega / inc.sound_speed
        angle = np.deg2rad(physics.incident_angle)

        def inside(x, y):
            return ((x - cx) ** 2 + (y - cy) ** 2 < inc.radius**2).astype(float)

        slowness2, frac = _cell_average(grid, inside, 1 / inc.sound_speed**2, 1 / physics.c0**2)
        sound_speed = 1 / np.sqrt(slowness2)
        inv_density, _ = _cell_average(grid, inside, 1 / inc.density, 1 / physics.density)
        density = physics.density if inc.density == physics.density else 1 / inv_density

        disc = hc.discretization_from(config, grid)
        op = Helmholtz(disc, sound_speed, omega, density=density, pml=pml)
        background = Helmholtz(disc, physics.c0, omega, density=physics.density, pml=pml)
        X, Y = np.meshgrid(*grid.coordinates, indexing="ij")
        incident = physics.amplitude * np.exp(1j * k0 * (X * np.cos(angle) + Y * np.sin(angle)))
        # Scattered-field formulation: H p_s = -(H - H0) p_inc, a source
        # supported on the inclusion; the total field is p_inc + p_s.
        incident_j = np.asarray(incident)
        source = op(incident_j) - background(incident_j)
        solver_config = hc.solver_config(config)
        sol, timings = hc.solve(op, source, solver_config)
        scattered = np.asarray(sol.value)
        pressure = incident + scattered

        exact = physics.amplitude * np.exp(1j * k0 * (cx * np.cos(angle) + cy * np.sin(angle))) * cylinder_series(
            X - cx, Y - cy, k0, k1, physics.density, inc.density, inc.radius, angle
        )
        measured = ~pml.mask(grid)
        errors = hc.relative_errors(pressure, exact, measured)
        summary = {
            **hc.wave_summary(grid, physics.frequency, physics.c0, pml),
            **hc.solver_summary(sol, timings, solver_config),
            "discretization": hc.discretization_name(config),
            "ka": k0 * inc.radius,
            "errors": errors,
            "error_region": "total field outside the PML (inclusion included)",
        }
        fields = hc.pressure_dataset(
            grid, pressure, sound_speed, attrs={"scenario": self.name, "frequency_hz": physics.frequency},
            scattered_real=scattered.real, scattered_imag=scattered.imag, exact_real=exact.real, exact_imag=exact.imag,
        )

        def plot(out: Path):
            def mark(ax):
                ax.add_patch(mpatches.Circle((cx * hc.MM, cy * hc.MM), inc.radius * hc.MM, fill=False, ec="w", lw=0.9, ls="-"))
                (xa, xb), (ya, yb) = pml.interior_bounds(grid)
                start = np.array([xa + 0.08 * (xb - xa), ya + 0.9 * (yb - ya)]) * hc.MM
                d = 0.12 * (xb - xa) * hc.MM * np.array([np.cos(angle), np.sin(angle)])
                ax.annotate("", xy=start + d, xytext=start, arrowprops=dict(arrowstyle="->", color="c", lw=1.5))
                ax.text(*(start + d * 1.1), "k", color="c", fontsize=8)

            title = (f"plane wave on a cylinder (c = {inc.sound_speed:g} m/s, r = {inc.radius * hc.MM:g} mm, ka = {k0 * inc.radius:.1f}), "
                     f"f = {physics.frequency / 1e6:g} MHz ({hc.discretization_name(config)})")
            paths = hc.plot_pressure_and_speed(grid, pressure, sound_speed, pml, out, title, decorate=mark, unit="Pa")
            fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.8), constrained_layout=True)
            scale = float(np.abs(exact[measured]).max())
            hc.field_image(a, grid, np.where(measured, np.abs(exact), np.nan), cmap="magma", vmin=0, vmax=scale, label="|p_exact| (Pa)")
            a.set_title("exact Bessel series, |p|")
            err = np.where(measured, np.abs(pressure - exact) / scale, np.nan)
            lo = max(float(np.nanpercentile(err, 1)), 1e-12)
            hc.field_image(b, grid, np.maximum(err, lo), cmap="viridis", norm=LogNorm(vmin=lo, vmax=float(np.nanmax(err))),
                           label="|p - p_exact| / max|p_exact|")
            b.set_title(f"error (L2 relative {errors['l2_relative']:.2e})")
            for ax in (a, b):
                hc.draw_pml(ax, grid, pml)
                mark(ax)
            fig.suptitle(title)
            paths.append(hc.save(fig, Path(out) / "comparison.png"))
            return paths

        return SteadyResult(fields, summary, plot)
