"""Helmholtz inclusion inversion: recover a sound-speed map from boundary
measurements (frequency-domain full-waveform inversion).

Point sources on a ring around the region of interest fire one at a time;
receivers on a ring record the complex pressure. The data are generated
from a true medium (background `c0` with disc inclusions) plus complex
Gaussian noise. The unknown is the sound speed in every cell of a disc, the
region of interest (ROI), kept within `[c_min, c_max]` by a sigmoid, with a
smoothness penalty (total variation or H1) on the contrast `(c - c0) / c0`.

Each source is one Helmholtz solve (BiCGStab with the Born preconditioner,
`diffsim.linear_solve`); the sources are batched with `vmap`, and the
gradient with respect to the whole map costs one adjoint solve per source
(implicit differentiation). Loss: the squared data misfit relative to the
energy of the scattered data, `sum |d - d_obs|^2 / sum |d_obs - d_0|^2`
(`d_0`: the background medium's data), so the initial loss is about 1 and
the noise sets its floor.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal, final

import equinox as eqx
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import pydantic

from diffsim import linear_solve
from diffsim.jobs import (
    AbstractInverseProblem,
    BuildContext,
    ConfigError,
    KeyedError,
    OptimizationScenario,
    PhysicsConfig,
    grid_from,
    register,
)
from diffsim.operators import Grid
from diffsim.operators.helmholtz import PML, Helmholtz, point_source

from . import helmholtz_common as hc


class Inclusion(PhysicsConfig):
    """A disc of sound speed `sound_speed` (m/s), `centre` and `radius` in m."""

    centre: list[float] = pydantic.Field(
        default=[0.0, 0.0], description="centre of the disc (m)"
    )
    radius: pydantic.PositiveFloat = pydantic.Field(
        default=1.0e-3, description="radius of the disc (m)"
    )
    sound_speed: pydantic.PositiveFloat = pydantic.Field(
        default=1650.0, description="sound speed in the disc (m/s)"
    )


class Regularization(PhysicsConfig):
    """`physics.regularization:` — `kind` `tv` (smoothed total variation)
    or `h1` of the contrast `m = (c - c0) / c0` (see `_Tomography.penalty`),
    with `weight`; `epsilon` (a contrast over the ROI radius) smooths TV at 0."""

    kind: Literal["tv", "h1"] = pydantic.Field(
        default="tv",
        description="penalty: tv (smoothed total variation) or h1 of the contrast",
    )
    weight: pydantic.NonNegativeFloat = pydantic.Field(
        default=1e-3, description="weight of the penalty"
    )
    epsilon: pydantic.PositiveFloat = pydantic.Field(
        default=1e-3, description="smoothing of TV at zero gradient"
    )


class Physics(PhysicsConfig):
    """`frequency` (Hz), background `c0` (m/s) and `density` (kg/m^3); the
    bounds `c_min`, `c_max` of the recovered sound speed; the true
    `inclusions`; `sources` point sources and `receivers` receivers equally
    spaced on rings of radius `source_radius`, `receiver_radius` (m) about
    the origin; the ROI, a disc of radius `roi_radius` about the origin;
    `noise`: standard deviation of the complex noise relative to the RMS of
    the scattered data; the PML."""

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
        default=1350.0, description="lower bound of the recovered sound speed (m/s)"
    )
    c_max: pydantic.PositiveFloat = pydantic.Field(
        default=1800.0, description="upper bound of the recovered sound speed (m/s)"
    )
    inclusions: list[Inclusion] = pydantic.Field(
        default_factory=lambda: [
            Inclusion(centre=[-0.9e-3, 0.6e-3], radius=0.9e-3, sound_speed=1620.0),
            Inclusion(centre=[1.0e-3, -0.7e-3], radius=0.7e-3, sound_speed=1420.0),
        ],
        description="the true inclusions (discs) to recover",
    )
    sources: pydantic.PositiveInt = pydantic.Field(
        default=8, description="point sources on the source ring"
    )
    receivers: pydantic.PositiveInt = pydantic.Field(
        default=32, description="receivers on the receiver ring"
    )
    source_radius: pydantic.PositiveFloat = pydantic.Field(
        default=3.6e-3, description="radius of the source ring (m)"
    )
    receiver_radius: pydantic.PositiveFloat = pydantic.Field(
        default=3.3e-3, description="radius of the receiver ring (m)"
    )
    roi_radius: pydantic.PositiveFloat = pydantic.Field(
        default=2.4e-3,
        description="radius of the region of interest, where the sound speed is "
        "recovered (m)",
    )
    noise: pydantic.NonNegativeFloat = pydantic.Field(
        default=0.01,
        description="complex noise standard deviation, relative to the RMS of the "
        "scattered data",
    )
    regularization: Regularization = pydantic.Field(
        default_factory=Regularization, description="the penalty"
    )
    pml: hc.PMLConfig = pydantic.Field(
        default_factory=lambda: hc.PMLConfig(width=10), description="absorbing layer"
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
        for i, inc in enumerate(self.inclusions):
            if not self.c_min < inc.sound_speed < self.c_max:
                raise KeyedError(
                    f"inclusions.{i}.sound_speed",
                    f"{inc.sound_speed:g} m/s lies outside (c_min, c_max) = "
                    f"({self.c_min:g}, {self.c_max:g})",
                )
        if not self.roi_radius < min(self.source_radius, self.receiver_radius):
            raise KeyedError(
                "roi_radius", "must be smaller than source_radius and receiver_radius"
            )
        return self


def ring(count: int, radius: float, offset: float = 0.0) -> np.ndarray:
    """`(count, 2)` points equally spaced on a circle about the origin."""
    angle = 2 * np.pi * (np.arange(count) + offset) / count
    return radius * np.stack([np.cos(angle), np.sin(angle)], axis=1)


class Tomography(eqx.Module):
    """The assembled problem: grid, background operator, the ROI's cell
    indices, source fields `(sources, *cells)` and receiver weights
    `(receivers, *cells)` (band-limited interpolation at each receiver)."""

    grid: Grid
    pml: PML
    op: Helmholtz
    roi: tuple[np.ndarray, np.ndarray]
    sources: jax.Array
    receivers: jax.Array
    source_points: np.ndarray
    receiver_points: np.ndarray
    solver: Any
    preconditioner: str
    shift: float
    c0: float
    c_min: float
    c_max: float
    roi_radius: float
    regularization: str
    epsilon: float

    def sound_speed(self, params):
        return hc.bounded_sound_speed(
            self.op.sound_speed, self.roi, params, self.c_min, self.c_max
        )

    def params_for(self, c):
        """Unconstrained parameters of a sound-speed map (inside the ROI)."""
        frac = np.clip(
            (np.asarray(c)[self.roi] - self.c_min) / (self.c_max - self.c_min),
            1e-9,
            1 - 1e-9,
        )
        return jnp.asarray(np.log(frac / (1 - frac)), self.op.sound_speed.dtype)

    def data_for_speed(self, c):
        """Complex receiver data `(sources, receivers)` for a sound-speed map."""
        op = Helmholtz(
            self.op.discretization,
            c,
            self.op.omega,
            density=self.op.density,
            pml=self.pml,
        )
        pre = (
            None
            if self.preconditioner == "none"
            else op.preconditioner(self.preconditioner, self.shift)
        )

        def one(source):
            return linear_solve(op, -source, self.solver, preconditioner=pre).value

        fields = jax.vmap(one)(self.sources)
        return jnp.einsum("sxy,rxy->sr", fields, self.receivers), fields

    @eqx.filter_jit
    def compiled_data_for_speed(self, c):
        """`data_for_speed`, compiled once for everything outside the loss."""
        return self.data_for_speed(c)

    def penalty(self, c):
        """The smoothness penalty of the contrast `m = (c - c0) / c0`
        (zero outside the ROI), dimensionless: smoothed total variation
        `int (sqrt(|grad m|^2 + s^2) - s) dA / R` with `s = epsilon / R`,
        or `int |grad m|^2 dA` (H1); `R` is the ROI radius."""
        radius = self.roi_radius
        m = (c - self.c0) / self.c0
        h = self.grid.spacing
        gx = jnp.diff(m, axis=0)[:, :-1] / h[0]
        gy = jnp.diff(m, axis=1)[:-1, :] / h[1]
        area = h[0] * h[1]
        if self.regularization == "tv":
            s = self.epsilon / radius
            return jnp.sum(jnp.sqrt(gx**2 + gy**2 + s**2) - s) * area / radius
        return jnp.sum(gx**2 + gy**2) * area


def true_sound_speed(grid: Grid, physics: Physics) -> np.ndarray:
    """Background `c0` with the inclusions, each disc's edge averaged over
    the cells it cuts (4 x 4 sub-samples per cell)."""
    sub = (np.arange(4) + 0.5) / 4 - 0.5
    x, y = (np.asarray(c) for c in grid.coordinates)
    c = np.full(grid.cells, physics.c0)
    for inc in physics.inclusions:
        frac = np.zeros(grid.cells)
        for sx in sub:
            for sy in sub:
                X = x[:, None] + sx * grid.spacing[0] - inc.centre[0]
                Y = y[None, :] + sy * grid.spacing[1] - inc.centre[1]
                frac += (X**2 + Y**2 <= inc.radius**2) / 16.0
        c = c + frac * (inc.sound_speed - physics.c0)
    return c


def _geometry(config, physics: Physics):
    """Grid, PML and the region of interest, checked."""
    grid = grid_from(config)
    pml = physics.pml.build()
    hc.check_pml(grid, pml)
    (x0, x1), (y0, y1) = pml.interior_bounds(grid)
    half = min(-x0, x1, -y0, y1)
    outer = max(physics.source_radius, physics.receiver_radius)
    if outer >= half:
        raise ConfigError(
            "physics.source_radius",
            f"the source and receiver rings (radius {outer:g} m) must fit inside the "
            f"PML-free region (half-width {half:.4g} m)",
        )
    for i, inc in enumerate(physics.inclusions):
        if len(inc.centre) != 2:
            raise ConfigError(
                f"physics.inclusions.{i}.centre",
                f"expected 2 coordinates, got {len(inc.centre)}",
            )
        if np.hypot(inc.centre[0], inc.centre[1]) + inc.radius > physics.roi_radius:
            raise ConfigError(
                f"physics.inclusions.{i}",
                "the inclusion must lie inside the region of interest (radius "
                f"{physics.roi_radius:g} m)",
            )
    x, y = (np.asarray(c) for c in grid.coordinates)
    inside = x[:, None] ** 2 + y[None, :] ** 2 <= physics.roi_radius**2
    if not inside.any():
        raise ConfigError(
            "physics.roi_radius", "the region of interest covers no cell centre"
        )
    return grid, pml, inside


def _build(config, physics: Physics) -> Tomography:
    grid, pml, inside = _geometry(config, physics)
    omega = 2 * np.pi * physics.frequency
    op = Helmholtz(
        hc.discretization_from(config, grid),
        physics.c0,
        omega,
        density=physics.density,
        pml=pml,
    )
    source_points = ring(physics.sources, physics.source_radius)
    receiver_points = ring(physics.receivers, physics.receiver_radius, offset=0.5)
    sources = jnp.stack([point_source(grid, list(p)) for p in source_points])
    receivers = jnp.stack(
        [point_source(grid, list(p)) * grid.cell_volume for p in receiver_points]
    )
    sc = hc.solver_config(config)
    return Tomography(
        grid=grid,
        pml=pml,
        op=op,
        roi=tuple(np.nonzero(inside)),  # pyright: ignore
        sources=sources,
        receivers=receivers,
        source_points=source_points,
        receiver_points=receiver_points,
        solver=sc.build(),
        preconditioner=sc.preconditioner,
        shift=sc.shift,
        c0=physics.c0,
        c_min=physics.c_min,
        c_max=physics.c_max,
        roi_radius=physics.roi_radius,
        regularization=physics.regularization.kind,
        epsilon=physics.regularization.epsilon,
    )


@final
class InclusionInversion(AbstractInverseProblem):
    """Recover the ROI's sound speed from the receiver data: the loss is the
    squared data misfit relative to the energy of the scattered data plus
    `weight` times the smoothness penalty."""

    params: jax.Array
    tomography: Tomography
    c_true: jax.Array
    data: jax.Array
    energy: jax.Array
    noise: jax.Array
    weight: float
    frequency: float
    noise_level: float
    loss_label: ClassVar[str] = (
        "receiver misfit / data energy + regularization (dimensionless)"
    )

    def misfit(self, params):
        """`sum |d - d_obs|^2 / sum |d_obs - d_0|^2`."""
        tomography = self.tomography
        predicted, _ = tomography.data_for_speed(tomography.sound_speed(params))
        return jnp.sum(jnp.abs(predicted - self.data) ** 2) / self.energy

    def loss(self, params):
        c = self.tomography.sound_speed(params)
        return self.misfit(params) + self.weight * self.tomography.penalty(c)

    def errors(self, params) -> tuple[float, float]:
        """Over the ROI: `||c - c_true|| / ||c_true||` and
        `||c - c_true|| / ||c_true - c0||`."""
        roi = self.tomography.roi
        c = np.asarray(self.tomography.sound_speed(params))[roi]
        ct = np.asarray(self.c_true)[roi]
        contrast = ct - self.tomography.c0
        return float(np.linalg.norm(c - ct) / np.linalg.norm(ct)), float(
            np.linalg.norm(c - ct) / np.linalg.norm(contrast)
        )

    def compiled_misfit(self, params) -> float:
        """`misfit`, reusing the compiled forward solves."""
        tomography = self.tomography
        c = tomography.sound_speed(params)
        predicted, _ = tomography.compiled_data_for_speed(c)
        return float(jnp.sum(jnp.abs(predicted - self.data) ** 2) / self.energy)

    def fields(self, params):
        c = self.tomography.sound_speed(params)
        _, p = self.tomography.compiled_data_for_speed(c)
        return hc.pressure_dataset(
            self.tomography.grid,
            np.asarray(p[0]),
            np.asarray(c),
            attrs={
                "scenario": HelmholtzInclusionInverse.name,
                "source": "first source",
            },
            sound_speed_true=np.asarray(self.c_true),
        )

    def metrics(self, params):
        (r0, k0), (r1, k1) = self.errors(self.params), self.errors(params)
        tomography = self.tomography
        return {
            "sound_speed_relative_error_initial": r0,
            "sound_speed_relative_error_final": r1,
            "contrast_relative_error_initial": k0,
            "contrast_relative_error_final": k1,
            "errors_note": "over the ROI: ||c - c_true|| / ||c_true|| (sound_speed_*) "
            "and ||c - c_true|| / ||c_true - c0|| (contrast_*)",
            "misfit_initial": self.compiled_misfit(self.params),
            "misfit_final": self.compiled_misfit(params),
            "noise_misfit_level": float(
                jnp.sum(jnp.abs(self.noise) ** 2) / self.energy
            ),
            "sources": len(tomography.source_points),
            "receivers": len(tomography.receiver_points),
            "unknowns": int(self.params.size),
            "frequency": self.frequency,
            "wavelength": tomography.c0 / self.frequency,
            "regularization": tomography.regularization,
        }

    def plot(self, params, out, history):
        sound_speed = self.tomography.sound_speed
        return [
            _plot(
                self,
                np.asarray(self.c_true),
                np.asarray(sound_speed(self.params)),
                np.asarray(sound_speed(params)),
                self.errors(self.params)[1],
                self.errors(params)[1],
                history,
                Path(out),
            )
        ]


@register
class HelmholtzInclusionInverse(OptimizationScenario):
    name = "helmholtz_inclusion_inverse"
    description = (
        "recover a sound-speed inclusion map from multi-source "
        "Helmholtz boundary data (vmapped solves, implicit adjoint, "
        "bounds + TV)"
    )
    ndim = 2
    Physics = Physics
    discretizations = hc.DISCRETIZATIONS
    configurable_boundary = False  # a PML bounds the domain
    Solver = hc.SolverConfig
    adjoints = hc.HELMHOLTZ_ADJOINTS
    gradcheck_rtol = hc.GRADCHECK_RTOL
    defaults = {
        "adjoint": "implicit",
        "grid": {
            "cells": [64, 64],
            "lower": [-6.0e-3, -6.0e-3],
            "upper": [6.0e-3, 6.0e-3],
        },
        "discretization": "fourier",
        "optimize": {
            "iterations": 40,
            "checkpoint_every": 10,
            "optimizer": {"name": "lbfgs"},
        },
    }

    @classmethod
    def validate(cls, config, physics):
        if config.adjoint != "implicit":
            raise ConfigError(
                "adjoint",
                "the Helmholtz solves are differentiated implicitly (one adjoint "
                "solve per source): use implicit",
            )
        _geometry(config, physics)
        hc.solver_config(config)

    def build_problem(self, ctx: BuildContext) -> InclusionInversion:
        config, physics = ctx.config, ctx.physics
        if config.adjoint != "implicit":
            raise ConfigError(
                "adjoint",
                "the Helmholtz solves are differentiated implicitly (one adjoint "
                "solve per source): use implicit",
            )
        tomography = _build(config, physics)
        c_true = jnp.asarray(
            true_sound_speed(tomography.grid, physics), tomography.op.sound_speed.dtype
        )
        clean, _ = tomography.compiled_data_for_speed(c_true)
        background, _ = tomography.compiled_data_for_speed(tomography.op.sound_speed)
        scattered = clean - background
        rms = jnp.sqrt(jnp.mean(jnp.abs(scattered) ** 2))
        kr, ki = jax.random.split(ctx.key)
        noise = (
            physics.noise
            * rms
            * (
                jax.random.normal(kr, clean.shape)
                + 1j * jax.random.normal(ki, clean.shape)
            )
            / np.sqrt(2)
        )
        data = clean + noise.astype(clean.dtype)
        return InclusionInversion(
            params=tomography.params_for(tomography.op.sound_speed),
            tomography=tomography,
            c_true=c_true,
            data=data,
            energy=jnp.sum(jnp.abs(data - background) ** 2),
            noise=noise,
            weight=physics.regularization.weight,
            frequency=physics.frequency,
            noise_level=physics.noise,
        )


def _plot(
    problem: InclusionInversion,
    c_true,
    c_initial,
    c_final,
    err0,
    err1,
    history,
    out: Path,
) -> Path:
    tomography = problem.tomography
    grid = tomography.grid
    fig, axes = plt.subplots(
        1,
        4,
        figsize=(18, 4.4),
        constrained_layout=True,
        gridspec_kw={"width_ratios": [1, 1, 1, 1.05]},
    )
    lo, hi = min(c_true.min(), c_final.min()), max(c_true.max(), c_final.max())
    pad = 0.05 * (hi - lo) + 1.0
    theta = np.linspace(0, 2 * np.pi, 200)
    for ax, c, title in (
        (axes[0], c_true, "true sound speed"),
        (axes[1], c_initial, f"initial guess (contrast error {err0:.2f})"),
        (axes[2], c_final, f"recovered (contrast error {err1:.2f})"),
    ):
        hc.field_image(
            ax,
            grid,
            c,
            cmap="coolwarm",
            vmin=lo - pad,
            vmax=hi + pad,
            label="sound speed (m/s)",
        )
        hc.draw_pml(ax, grid, tomography.pml)
        ax.plot(
            tomography.roi_radius * np.cos(theta) * hc.MM,
            tomography.roi_radius * np.sin(theta) * hc.MM,
            "k--",
            lw=0.8,
        )
        ax.plot(*(tomography.source_points.T * hc.MM), "k*", ms=8, label="sources")
        ax.plot(
            *(tomography.receiver_points.T * hc.MM),
            "wv",
            ms=4,
            mec="k",
            mew=0.5,
            label="receivers",
        )
        ax.set_title(title)
    axes[0].legend(loc="lower left", fontsize=7, framealpha=0.7)
    ax = axes[3]
    it = [h["iteration"] for h in history]
    ax.semilogy(it, [h["loss"] for h in history], color="C0", lw=1.8)
    ax.set(
        xlabel="optimizer iteration",
        ylabel="relative misfit + regularization (dimensionless)",
        title="loss",
    )
    ax.grid(alpha=0.3, which="both")
    fig.suptitle(
        f"Helmholtz inclusion inversion at {problem.frequency / 1e6:g} MHz "
        f"(wavelength {tomography.c0 / problem.frequency * hc.MM:.2g} mm): "
        f"{len(tomography.source_points)} sources, "
        f"{len(tomography.receiver_points)} receivers, "
        f"noise {problem.noise_level:g}, "
        f"{tomography.regularization} weight {problem.weight:g}"
    )
    return hc.save(fig, out / "sound_speed_maps.png")
