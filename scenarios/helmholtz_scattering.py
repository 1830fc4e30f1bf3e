"""A plane wave scattered by a penetrable circular cylinder (2D) or sphere
(3D), against the exact Bessel / spherical-Bessel (Mie-type) series."""

from __future__ import annotations

import abc
import itertools
from pathlib import Path

import matplotlib.patches as mpatches
import matplotlib.pyplot as plt
import numpy as np
import pydantic
from matplotlib.colors import LogNorm
from scipy.special import (
    eval_legendre,
    h1vp,
    hankel1,
    jv,
    jvp,
    spherical_jn,
    spherical_yn,
)

from diffsim.jobs import (
    BuildContext,
    ConfigError,
    PhysicsConfig,
    SteadyResult,
    SteadyScenario,
    grid_from,
    register,
)
from diffsim.operators.helmholtz import Helmholtz

from . import helmholtz_common as hc


class Inclusion(PhysicsConfig):
    """`physics.inclusion:` — centre (m), radius (m), sound speed (m/s) and
    density (kg/m^3) of the cylinder (2D) or sphere (3D)."""

    centre: list[float] = pydantic.Field(
        default=[0.0, 0.0], description="centre of the inclusion (m)"
    )
    radius: pydantic.PositiveFloat = pydantic.Field(
        default=2.0e-3, description="radius of the inclusion (m)"
    )
    sound_speed: pydantic.PositiveFloat = pydantic.Field(
        default=1800.0, description="sound speed inside (m/s)"
    )
    density: pydantic.PositiveFloat = pydantic.Field(
        default=1000.0, description="density inside (kg/m^3)"
    )


class Physics(PhysicsConfig):
    """`frequency` (Hz), background `c0` (m/s) and `density` (kg/m^3), the
    incident plane wave's direction (degrees from +x) and amplitude (Pa),
    the inclusion, and the PML."""

    frequency: pydantic.PositiveFloat = pydantic.Field(
        default=1.0e6, description="frequency of the plane wave (Hz)"
    )
    c0: pydantic.PositiveFloat = pydantic.Field(
        default=1500.0, description="background sound speed (m/s)"
    )
    density: pydantic.PositiveFloat = pydantic.Field(
        default=1000.0, description="background density (kg/m^3)"
    )
    incident_angle: float = pydantic.Field(
        default=0.0, description="direction of the plane wave (degrees from x)"
    )
    amplitude: pydantic.PositiveFloat = pydantic.Field(
        default=1.0, description="pressure amplitude of the plane wave (Pa)"
    )
    inclusion: Inclusion = pydantic.Field(
        default_factory=Inclusion, description="the penetrable cylinder"
    )
    pml: hc.PMLConfig = pydantic.Field(
        default_factory=hc.PMLConfig, description="absorbing layer"
    )


class Inclusion3D(Inclusion):
    centre: list[float] = pydantic.Field(
        default=[0.0, 0.0, 0.0], description="centre of the sphere (m)"
    )
    radius: pydantic.PositiveFloat = pydantic.Field(
        default=1.0e-3, description="radius of the sphere (m)"
    )


class Physics3D(PhysicsConfig):
    """As `Physics`, with the incident direction a 3-vector
    (`incident_direction`, normalised) and a spherical inclusion."""

    frequency: pydantic.PositiveFloat = pydantic.Field(
        default=1.0e6, description="frequency of the plane wave (Hz)"
    )
    c0: pydantic.PositiveFloat = pydantic.Field(
        default=1500.0, description="background sound speed (m/s)"
    )
    density: pydantic.PositiveFloat = pydantic.Field(
        default=1000.0, description="background density (kg/m^3)"
    )
    incident_direction: list[float] = pydantic.Field(
        default=[1.0, 0.0, 0.0],
        description="direction of the plane wave (a 3-vector, normalised)",
    )
    amplitude: pydantic.PositiveFloat = pydantic.Field(
        default=1.0, description="pressure amplitude of the plane wave (Pa)"
    )
    inclusion: Inclusion3D = pydantic.Field(
        default_factory=Inclusion3D, description="the penetrable sphere"
    )
    pml: hc.PMLConfig = pydantic.Field(
        default_factory=hc.PMLConfig, description="absorbing layer"
    )


def cylinder_series(x, y, k0, k1, rho0, rho1, radius, angle, terms=None):
    """Total pressure of the unit plane wave `exp(i k0 (x cos a + y sin a))`
    scattered by a penetrable cylinder of radius `radius` centred at the
    origin (interior wavenumber `k1`, density `rho1`): continuity of `p` and of
    `(1/rho) dp/dr` at `r = radius`, solved mode by mode (e.g. Morse & Ingard,
    *Theoretical Acoustics*, §8.1)."""
    r, theta = np.hypot(x, y), np.arctan2(y, x)
    terms = terms or int(
        np.ceil(max(k0, k1) * radius + 4 * (max(k0, k1) * radius) ** (1 / 3) + 12)
    )
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
        out += (
            np.where(
                inside,
                b_n * jv(n, k1 * r),
                a_n * hankel1(n, k0 * np.where(inside, radius, r)),
            )
            * phase
        )
    return out


def sphere_series(x, y, z, k0, k1, rho0, rho1, radius, direction, terms=None):
    """Total pressure of the unit plane wave `exp(i k0 d.x)` scattered by a
    penetrable sphere of radius `radius` centred at the origin (interior
    wavenumber `k1`, density `rho1`): with `cos(theta) = d.x / r`,

        p_inc = sum_n (2n+1) i^n j_n(k0 r) P_n(cos theta),
        p_sc  = sum_n A_n h_n(k0 r) P_n(cos theta)  (r > a),
        p_in  = sum_n B_n j_n(k1 r) P_n(cos theta)  (r < a),

    `h_n = j_n + i y_n` the outgoing spherical Hankel function, `A_n, B_n`
    from continuity of `p` and `(1/rho) dp/dr` at `r = a` (Anderson,
    J. Acoust. Soc. Am. 22, 426 (1950); Morse & Ingard, *Theoretical
    Acoustics*, §8.2)."""
    d = np.asarray(direction, float) / np.linalg.norm(direction)
    r = np.sqrt(x**2 + y**2 + z**2)
    cos_theta = np.where(
        r > 0, (d[0] * x + d[1] * y + d[2] * z) / np.where(r > 0, r, 1.0), 1.0
    )
    ka = max(k0, k1) * radius
    terms = terms or int(np.ceil(ka + 4 * ka ** (1 / 3) + 12))
    q = (k1 / rho1) / (k0 / rho0)
    k0a, k1a = k0 * radius, k1 * radius
    inside = r < radius
    r_out = np.where(inside, radius, r)
    out = np.where(
        inside, 0.0, np.exp(1j * k0 * (d[0] * x + d[1] * y + d[2] * z))
    ).astype(complex)
    for n in range(terms + 1):
        j0, dj0 = spherical_jn(n, k0a), spherical_jn(n, k0a, derivative=True)
        j1, dj1 = spherical_jn(n, k1a), spherical_jn(n, k1a, derivative=True)
        h = j0 + 1j * spherical_yn(n, k0a)
        dh = dj0 + 1j * spherical_yn(n, k0a, derivative=True)
        det = j1 * dh - q * dj1 * h
        c_n = (2 * n + 1) * 1j**n
        a_n = c_n * (q * dj1 * j0 - j1 * dj0) / det
        b_n = c_n * (j0 * dh - dj0 * h) / det
        h_r = spherical_jn(n, k0 * r_out) + 1j * spherical_yn(n, k0 * r_out)
        out += np.where(
            inside, b_n * spherical_jn(n, k1 * r), a_n * h_r
        ) * eval_legendre(n, cos_theta)
    return out


def _cell_average(grid, inside_fn, values_in, values_out, sub=8):
    """Average of a piecewise-constant field over each cell (`sub` samples
    per axis), so that the inclusion is not staircased."""
    offsets = (np.arange(sub) + 0.5) / sub - 0.5
    mesh = np.meshgrid(*grid.coordinates, indexing="ij")
    frac = np.zeros(grid.cells)
    for shift in itertools.product(offsets, repeat=grid.ndim):
        frac += inside_fn(*(m + o * h for m, o, h in zip(mesh, shift, grid.spacing)))
    frac /= sub**grid.ndim
    return frac * values_in + (1 - frac) * values_out, frac


class _Scattering(SteadyScenario):
    """A plane wave on a penetrable inclusion, solved in the scattered-field
    formulation and compared with the exact series (2D: `cylinder_series`,
    3D: `sphere_series`)."""

    discretizations = hc.DISCRETIZATIONS
    configurable_boundary = False  # a PML bounds the domain

    @staticmethod
    @abc.abstractmethod
    def _direction(physics) -> np.ndarray:
        """The unit incident direction of the validated `physics`."""

    @abc.abstractmethod
    def _series(self, x, k0, k1, rho0, rho1, radius, direction):
        """The exact total field at the coordinates `x` (the inclusion at 0)."""

    Solver = hc.SolverConfig

    @classmethod
    def validate(cls, config, physics):
        cls._geometry(config, physics)
        hc.solver_config(config)

    @classmethod
    def _geometry(cls, config, physics):
        """Grid, PML, inclusion centre and incident direction, checked."""
        grid = grid_from(config)
        ndim = grid.ndim
        pml = physics.pml.build()
        hc.check_pml(grid, pml)
        inc = physics.inclusion
        if len(inc.centre) != ndim:
            raise ConfigError(
                "physics.inclusion.centre",
                f"expected {ndim} coordinates, got {len(inc.centre)}",
            )
        centre = np.asarray(inc.centre, float)
        if any(
            not (lo <= c - inc.radius and c + inc.radius <= hi)
            for c, (lo, hi) in zip(centre, pml.interior_bounds(grid))
        ):
            raise ConfigError(
                "physics.inclusion.radius",
                "the inclusion must lie inside the PML-free region",
            )
        return grid, pml, centre, cls._direction(physics)

    def solve(self, ctx: BuildContext) -> SteadyResult:
        config, physics = ctx.config, ctx.physics
        grid, pml, centre, direction = self._geometry(config, physics)
        ndim = grid.ndim
        inc = physics.inclusion

        omega = 2 * np.pi * physics.frequency
        k0, k1 = omega / physics.c0, omega / inc.sound_speed

        def inside(*x):
            return (
                sum((xi - ci) ** 2 for xi, ci in zip(x, centre)) < inc.radius**2
            ).astype(float)

        sub = 8 if ndim == 2 else 4
        slowness2, _ = _cell_average(
            grid, inside, 1 / inc.sound_speed**2, 1 / physics.c0**2, sub
        )
        sound_speed = 1 / np.sqrt(slowness2)
        if inc.density == physics.density:
            density = physics.density
        else:
            inv_density, _ = _cell_average(
                grid, inside, 1 / inc.density, 1 / physics.density, sub
            )
            density = 1 / inv_density

        disc = hc.discretization_from(config, grid)
        op = Helmholtz(disc, sound_speed, omega, density=density, pml=pml)
        background = Helmholtz(
            disc, physics.c0, omega, density=physics.density, pml=pml
        )
        mesh = np.meshgrid(*grid.coordinates, indexing="ij")
        incident = physics.amplitude * np.exp(
            1j * k0 * sum(d * m for d, m in zip(direction, mesh))
        )
        # Scattered-field formulation: H p_s = -(H - H0) p_inc, a source
        # supported on the inclusion; the total field is p_inc + p_s.
        source = op(incident) - background(incident)
        solver_config = hc.solver_config(config)
        sol, timings = hc.solve(op, source, solver_config)
        scattered = np.asarray(sol.value)
        pressure = incident + scattered

        phase = physics.amplitude * np.exp(1j * k0 * float(np.dot(direction, centre)))
        relative = [m - c for m, c in zip(mesh, centre)]
        exact = phase * self._series(
            relative, k0, k1, physics.density, inc.density, inc.radius, direction
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
            grid,
            pressure,
            sound_speed,
            attrs={"scenario": self.name, "frequency_hz": physics.frequency},
            scattered_real=np.real(scattered),
            scattered_imag=np.imag(scattered),
            exact_real=exact.real,
            exact_imag=exact.imag,
        )
        shape = "cylinder" if ndim == 2 else "sphere"
        title = (
            f"plane wave on a {shape} (c = {inc.sound_speed:g} m/s, r = "
            f"{inc.radius * hc.MM:g} mm, ka = {k0 * inc.radius:.1f}), "
            f"f = {physics.frequency / 1e6:g} MHz ({hc.discretization_name(config)})"
        )

        def plot(out: Path):
            def mark(ax):
                # the inclusion's outline in the plotted plane (3D: the mid-plane z)
                if ndim == 2:
                    r_cut = inc.radius
                else:
                    z_plot = grid.coordinates[2][grid.cells[2] // 2]
                    r_cut = np.sqrt(max(inc.radius**2 - (z_plot - centre[2]) ** 2, 0.0))
                if r_cut > 0:
                    ax.add_patch(
                        mpatches.Circle(
                            (centre[0] * hc.MM, centre[1] * hc.MM),
                            r_cut * hc.MM,
                            fill=False,
                            ec="w",
                            lw=0.9,
                        )
                    )
                (xa, xb), (ya, yb) = pml.interior_bounds(grid)[:2]
                start = np.array([xa + 0.08 * (xb - xa), ya + 0.9 * (yb - ya)]) * hc.MM
                in_plane = np.asarray(direction[:2])
                if np.linalg.norm(in_plane) > 1e-9:
                    d = 0.12 * (xb - xa) * hc.MM * in_plane / np.linalg.norm(in_plane)
                    ax.annotate(
                        "",
                        xy=start + d,
                        xytext=start,
                        arrowprops=dict(arrowstyle="->", color="c", lw=1.5),
                    )
                    ax.text(*(start + d * 1.1), "k", color="c", fontsize=8)

            paths = hc.plot_pressure_and_speed(
                grid, pressure, sound_speed, pml, out, title, decorate=mark, unit="Pa"
            )
            fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.8), constrained_layout=True)
            scale = float(np.abs(exact[measured]).max())
            cut = "" if ndim == 2 else " (mid-plane z)"
            hc.field_image(
                a,
                grid,
                np.where(measured, np.abs(exact), np.nan),
                cmap="magma",
                vmin=0,
                vmax=scale,
                label="|p_exact| (Pa)",
            )
            a.set_title(
                f"exact {'Bessel' if ndim == 2 else 'spherical-Bessel (Mie)'} "
                f"series, |p|{cut}"
            )
            err = np.where(measured, np.abs(pressure - exact) / scale, np.nan)
            shown = hc.mid_plane(grid, err)
            lo = max(float(np.nanpercentile(shown, 1)), 1e-12)
            hc.field_image(
                b,
                grid,
                np.maximum(err, lo),
                cmap="viridis",
                norm=LogNorm(vmin=lo, vmax=float(np.nanmax(shown))),
                label="|p - p_exact| / max|p_exact| (dimensionless)",
            )
            b.set_title(f"error{cut} (L2 relative {errors['l2_relative']:.2e})")
            for ax in (a, b):
                hc.draw_pml(ax, grid, pml)
                mark(ax)
            fig.suptitle(title)
            paths.append(hc.save(fig, Path(out) / "comparison.png"))
            return paths

        return SteadyResult(fields, summary, plot)


@register
class HelmholtzScattering(_Scattering):
    name = "helmholtz_scattering"
    description = (
        "plane wave on a penetrable circular cylinder at 1 MHz in "
        "water against the exact Bessel series; scattered-field "
        "Helmholtz with PML"
    )
    ndim = 2
    Physics = Physics
    defaults = {
        "grid": {
            "cells": [192, 192],
            "lower": [-9.6e-3, -9.6e-3],
            "upper": [9.6e-3, 9.6e-3],
        },
        "discretization": "fourier",
    }

    @staticmethod
    def _direction(physics):
        angle = np.deg2rad(physics.incident_angle)
        return np.array([np.cos(angle), np.sin(angle)])

    def _series(self, x, k0, k1, rho0, rho1, radius, direction):
        return cylinder_series(
            x[0],
            x[1],
            k0,
            k1,
            rho0,
            rho1,
            radius,
            np.arctan2(direction[1], direction[0]),
        )


@register
class HelmholtzScattering3D(_Scattering):
    name = "helmholtz_scattering_3d"
    description = (
        "plane wave on a penetrable sphere at 1 MHz in water against "
        "the exact spherical-Bessel (Mie) series; scattered-field "
        "Helmholtz with PML"
    )
    ndim = 3
    Physics = Physics3D
    defaults = {
        "grid": {"cells": [64, 64, 64], "lower": [-3.2e-3] * 3, "upper": [3.2e-3] * 3},
        "discretization": "fourier",
        "physics": {"pml": {"width": 12}},
    }

    @staticmethod
    def _direction(physics):
        d = np.asarray(physics.incident_direction, float)
        if d.shape != (3,) or not np.linalg.norm(d) > 0:
            raise ConfigError(
                "physics.incident_direction",
                f"expected a non-zero 3-vector, got {physics.incident_direction}",
            )
        return d / np.linalg.norm(d)

    def _series(self, x, k0, k1, rho0, rho1, radius, direction):
        return sphere_series(x[0], x[1], x[2], k0, k1, rho0, rho1, radius, direction)
