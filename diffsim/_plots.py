"""The figures a person wants first after a run."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402

_CMAPS = {"vorticity": "RdBu_r"}


def plot_run(dataset: xr.Dataset, exact: xr.Dataset | None, out: Path, title: str) -> list[Path]:
    """Write PNGs for a run into `out` and return their paths.

    1D: a space-time diagram per field and the final profile (with the exact
    solution overlaid when there is one). 2D: four snapshots per field, and
    the final error map when an exact solution exists.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ndim = len([d for d in ("x", "y", "z") if d in dataset.dims])
    paths = []
    for name in dataset.data_vars:
        field = dataset[name]
        ref = exact[name] if exact is not None else None
        if ndim == 1:
            paths += _plot_1d(field, ref, out, title)
        elif ndim == 2:
            paths += _plot_2d(field, ref, out, title)
        else:
            paths += _plot_2d(field.isel(z=field.sizes["z"] // 2), None if ref is None else ref.isel(z=ref.sizes["z"] // 2), out, title + " (mid-plane z)")
    return paths


def _plot_1d(field, ref, out, title):
    name = field.name
    x, t = field["x"].values, field["t"].values
    fig, ax = plt.subplots(figsize=(7, 4.5), constrained_layout=True)
    lim = float(np.nanmax(np.abs(field.values))) or 1.0
    mesh = ax.pcolormesh(x, t, field.values, shading="nearest", cmap="RdBu_r", vmin=-lim, vmax=lim, rasterized=True)
    fig.colorbar(mesh, ax=ax, label=name)
    ax.set(xlabel="x", ylabel="t", title=f"{title}: {name}(x, t)")
    paths = [_save(fig, out / f"{name}_spacetime.png")]

    fig, ax = plt.subplots(figsize=(7, 4), constrained_layout=True)
    ax.plot(x, field.values[0], color="0.6", lw=1, label=f"initial, t={t[0]:.3g}")
    ax.plot(x, field.values[-1], color="C0", lw=2, label=f"diffsim, t={t[-1]:.3g}")
    if ref is not None:
        ax.plot(x, ref.values[-1], "k--", lw=1.2, label="exact")
    ax.set(xlabel="x", ylabel=name, title=f"{title}: final {name}")
    ax.legend(frameon=False)
    ax.grid(alpha=0.3)
    paths.append(_save(fig, out / f"{name}_final.png"))
    return paths


def _plot_2d(field, ref, out, title):
    name = field.name
    x, y, t = field["x"].values, field["y"].values, field["t"].values
    picks = sorted(set(np.linspace(0, len(t) - 1, 4).round().astype(int)))
    lim = float(np.nanmax(np.abs(field.values))) or 1.0
    fig, axes = plt.subplots(1, len(picks), figsize=(3.4 * len(picks) + 0.8, 3.6), constrained_layout=True, squeeze=False)
    for ax, i in zip(axes[0], picks):
        mesh = ax.pcolormesh(x, y, field.values[i].T, shading="nearest", cmap=_CMAPS.get(name, "RdBu_r"), vmin=-lim, vmax=lim, rasterized=True)
        ax.set(aspect="equal", title=f"t = {t[i]:.3g}", xlabel="x")
    axes[0][0].set_ylabel("y")
    fig.colorbar(mesh, ax=axes[0].tolist(), label=name, shrink=0.9)
    fig.suptitle(f"{title}: {name}")
    paths = [_save(fig, out / f"{name}_snapshots.png")]
    if ref is not None:
        err = field.values[-1] - ref.values[-1]
        fig, ax = plt.subplots(figsize=(5, 4.2), constrained_layout=True)
        elim = float(np.max(np.abs(err))) or 1e-300
        mesh = ax.pcolormesh(x, y, err.T, shading="nearest", cmap="RdBu_r", vmin=-elim, vmax=elim, rasterized=True)
        fig.colorbar(mesh, ax=ax, label=f"{name} - exact")
        ax.set(aspect="equal", xlabel="x", ylabel="y", title=f"error at t = {t[-1]:.3g}")
        paths.append(_save(fig, out / f"{name}_error.png"))
    return paths


def _save(fig, path):
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def plot_loss(history: list[dict], path: Path, title: str) -> Path:
    """Loss against iteration on a log axis (linear if the loss changes sign)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    it = np.array([h["iteration"] for h in history])
    loss = np.array([h["loss"] for h in history])
    fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
    ax.plot(it, loss, color="C0", lw=1.8)
    if len(loss) and np.all(loss > 0):
        ax.set_yscale("log")
    ax.set(xlabel="iteration", ylabel="loss", title=f"{title}: loss")
    ax.grid(alpha=0.3, which="both")
    if len(loss):
        ax.annotate(f"{loss[0]:.3g} → {loss[-1]:.3g}", xy=(0.98, 0.95), xycoords="axes fraction", ha="right", va="top")
    return _save(fig, path)
