"""The figures a person wants first after a run."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402

from .. import save_figure  # noqa: E402


def _label(array: xr.DataArray, what: str | None = None) -> str:
    """`long_name (units)` from a variable's attributes (`fields_dataset`
    sets them): what an axis or colour bar shows, and in which units."""
    name = what or array.attrs.get("long_name", array.name)
    units = array.attrs.get("units")
    if not units:
        return str(name)
    return f"{name} ({'dimensionless' if units == '1' else units})"


def plot_run(
    dataset: xr.Dataset, exact: xr.Dataset | None, out: Path, title: str
) -> list[Path]:
    """Write PNGs for a run into `out` and return their paths.

    1D: `spacetime.png` (every field against x and t) and `final.png` (final
    profiles, the exact solution overlaid when there is one). 2D: four
    snapshots per field, the final error map when an exact solution exists,
    and a numerical Schlieren image when there is a density. 3D: the same on
    the mid-plane z slice.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dataset = _drawable(dataset)
    exact = None if exact is None else _drawable(exact)
    ndim = len([d for d in ("x", "y", "z") if d in dataset.dims])
    if ndim == 1:
        return _plot_1d(dataset, exact, out, title)
    if ndim == 3:
        mid = dataset.sizes["z"] // 2
        dataset = dataset.isel(z=mid)
        exact = None if exact is None else exact.isel(z=mid)
        title = f"{title} (mid-plane z)"
    paths = []
    for name in dataset.data_vars:
        paths += _plot_2d(
            dataset[name], None if exact is None else exact[name], out, title
        )
    if "density" in dataset.data_vars:
        paths.append(_schlieren(dataset["density"], out, title))
    return paths


def _drawable(dataset: xr.Dataset) -> xr.Dataset:
    """`dataset` with each complex field `psi` (nonlinear Schrodinger)
    replaced by what can be drawn: its modulus `psi_modulus` and its real
    part `psi_real`."""
    if not any(np.iscomplexobj(v.values) for v in dataset.data_vars.values()):
        return dataset
    fields = {}
    for name, v in dataset.data_vars.items():
        if not np.iscomplexobj(v.values):
            fields[name] = v
            continue
        long_name = v.attrs.get("long_name", name)
        fields[f"{name}_modulus"] = abs(v).assign_attrs(
            v.attrs, long_name=f"|{long_name}|"
        )
        fields[f"{name}_real"] = v.real.assign_attrs(
            v.attrs, long_name=f"Re {long_name}"
        )
    return xr.Dataset(fields, attrs=dataset.attrs)


def _limits(values):
    """Colour map and limits: diverging and symmetric for signed data,
    sequential for data of one sign (densities, pressures)."""
    lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
    if lo >= 0 or hi <= 0:
        return "viridis", lo, hi if hi > lo else lo + 1.0
    lim = max(-lo, hi)
    return "RdBu_r", -lim, lim


def _plot_1d(dataset, exact, out, title):
    names = list(dataset.data_vars)
    x, t = dataset["x"].values, dataset["t"].values
    fig, axes = plt.subplots(
        1,
        len(names),
        figsize=(5.2 * len(names) + 0.6, 4.4),
        constrained_layout=True,
        squeeze=False,
    )
    for ax, name in zip(axes[0], names):
        cmap, lo, hi = _limits(dataset[name].values)
        mesh = ax.pcolormesh(
            x,
            t,
            dataset[name].values,
            shading="nearest",
            cmap=cmap,
            vmin=lo,
            vmax=hi,
            rasterized=True,
        )
        fig.colorbar(mesh, ax=ax, label=_label(dataset[name]))
        ax.set(
            xlabel=_label(dataset["x"]),
            ylabel=_label(dataset["t"]),
            title=f"{name}(x, t)",
        )
    fig.suptitle(title)
    paths = [_save(fig, out / "spacetime.png")]

    fig, axes = plt.subplots(
        1,
        len(names),
        figsize=(5.2 * len(names), 4),
        constrained_layout=True,
        squeeze=False,
    )
    for ax, name in zip(axes[0], names):
        field = dataset[name].values
        ax.plot(x, field[0], color="0.6", lw=1, label=f"initial, t={t[0]:.3g}")
        if exact is not None:
            ax.plot(x, exact[name].values[-1], "k-", lw=1.2, label="exact")
        ax.plot(
            x,
            field[-1],
            "o" if len(x) <= 400 else "-",
            color="C0",
            ms=2.5,
            lw=1.5,
            label=f"diffsim, t={t[-1]:.3g}",
        )
        ax.set(xlabel=_label(dataset["x"]), ylabel=_label(dataset[name]))
        ax.grid(alpha=0.3)
    axes[0][0].legend(frameon=False, fontsize=8)
    fig.suptitle(f"{title}: final state")
    paths.append(_save(fig, out / "final.png"))
    return paths


def _plot_2d(field, ref, out, title):
    name = field.name
    x, y, t = field["x"].values, field["y"].values, field["t"].values
    picks = sorted(set(np.linspace(0, len(t) - 1, 4).round().astype(int)))
    cmap, lo, hi = _limits(field.values)
    fig, axes = plt.subplots(
        1,
        len(picks),
        figsize=(3.4 * len(picks) + 0.8, 3.6),
        constrained_layout=True,
        squeeze=False,
        sharey=True,
    )  # one y label (on the first panel) serves the row
    for ax, i in zip(axes[0], picks):
        mesh = ax.pcolormesh(
            x,
            y,
            field.values[i].T,
            shading="nearest",
            cmap=cmap,
            vmin=lo,
            vmax=hi,
            rasterized=True,
        )
        ax.set(aspect="equal", title=f"t = {t[i]:.3g}", xlabel=_label(field["x"]))
    axes[0][0].set_ylabel(_label(field["y"]))
    fig.colorbar(mesh, ax=axes[0].tolist(), label=_label(field), shrink=0.9)
    fig.suptitle(f"{title}: {name}")
    paths = [_save(fig, out / f"{name}_snapshots.png")]
    if ref is not None:
        err = field.values[-1] - ref.values[-1]
        fig, ax = plt.subplots(figsize=(5, 4.2), constrained_layout=True)
        elim = float(np.max(np.abs(err))) or 1e-300
        mesh = ax.pcolormesh(
            x,
            y,
            err.T,
            shading="nearest",
            cmap="RdBu_r",
            vmin=-elim,
            vmax=elim,
            rasterized=True,
        )
        fig.colorbar(mesh, ax=ax, label=_label(field, f"{name} - exact"))
        ax.set(
            aspect="equal",
            xlabel=_label(field["x"]),
            ylabel=_label(field["y"]),
            title=f"{name} error at t = {t[-1]:.3g}",
        )
        paths.append(_save(fig, out / f"{name}_error.png"))
    return paths


def _schlieren(density, out, title):
    """Numerical Schlieren image of the final density (Quirk 1994):
    `exp(-k |grad rho| / max |grad rho|)`, dark where gradients are steep."""
    x, y = density["x"].values, density["y"].values
    rho = density.values[-1]
    gx, gy = np.gradient(rho, x, y)
    g = np.hypot(gx, gy)
    image = np.exp(-15.0 * g / (g.max() or 1.0))
    fig, ax = plt.subplots(
        figsize=(6.4 * min(2.5, (x[-1] - x[0]) / (y[-1] - y[0])) ** 0.5, 5),
        constrained_layout=True,
    )
    mesh = ax.pcolormesh(
        x, y, image.T, shading="nearest", cmap="gray", vmin=0, vmax=1, rasterized=True
    )
    fig.colorbar(mesh, ax=ax, label="Schlieren intensity (dimensionless)", shrink=0.5)
    ax.set(
        aspect="equal",
        xlabel=_label(density["x"]),
        ylabel=_label(density["y"]),
        title=f"{title}: numerical Schlieren exp(-15 |grad rho| / max |grad rho|), "
        f"t = {density['t'].values[-1]:.3g}",
    )
    return _save(fig, out / "schlieren.png")


def plot_ensemble(
    dataset: xr.Dataset, exact, out: Path, title: str, max_members: int = 12
) -> list[Path]:
    """`ensemble_final.png` for a dataset with a leading `batch` dimension.

    1D: every member's final profile overlaid, one panel per field (the exact
    solutions, `exact` `(batch, t, channels, x)`, dashed in the same colour).
    2D and 3D (mid-plane z): a grid of final fields, one column per member and
    one row per field. At most `max_members` members (8 in 2D/3D), each
    labelled by its varied values (the coordinates along `batch`).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    names, size, t = (
        list(dataset.data_vars),
        dataset.sizes["batch"],
        dataset["t"].values,
    )
    keys = [
        c for c in dataset.coords if c != "batch" and dataset[c].dims[:1] == ("batch",)
    ]

    def shown(v) -> str:
        if np.ndim(v):
            return np.array2string(np.asarray(v), precision=4)
        return f"{v:.4g}" if isinstance(v, float) else f"{v}"

    def label(i):
        values = [dataset[k].values[i] for k in keys]
        return (
            ", ".join(f"{k}={shown(v)}" for k, v in zip(keys, values)) or f"member {i}"
        )

    if "y" not in dataset.dims:
        x, count = dataset["x"].values, min(size, max_members)
        colors = plt.cm.viridis(np.linspace(0.0, 0.9, count))
        fig, axes = plt.subplots(
            1,
            len(names),
            figsize=(max(6.5, 5.2 * len(names)), 4.4),
            constrained_layout=True,
            squeeze=False,
        )
        for channel, (ax, name) in enumerate(zip(axes[0], names)):
            for i, color in zip(range(count), colors):
                ax.plot(
                    x, dataset[name].values[i, -1], color=color, lw=1.3, label=label(i)
                )
                if exact is not None:
                    ax.plot(x, exact[i, -1, channel], "--", color=color, lw=0.8)
            ax.set(xlabel=_label(dataset["x"]), ylabel=_label(dataset[name]))
            ax.grid(alpha=0.3)
        axes[0][0].legend(frameon=False, fontsize=7)
        more = (
            f" (first {count} of {size} members)"
            if count < size
            else f" ({size} members)"
        )
        fig.suptitle(
            f"{title}: final state at t = {t[-1]:.3g}{more}"
            + (", exact dashed" if exact is not None else ""),
            fontsize=10,
        )
        return [_save(fig, out / "ensemble_final.png")]

    if "z" in dataset.dims:
        dataset, title = (
            dataset.isel(z=dataset.sizes["z"] // 2),
            f"{title} (mid-plane z)",
        )
    x, y, count = dataset["x"].values, dataset["y"].values, min(size, 8)
    fig, axes = plt.subplots(
        len(names),
        count,
        figsize=(3.0 * count + 1.0, 2.9 * len(names)),
        constrained_layout=True,
        squeeze=False,
        sharex=True,
        sharey=True,
    )  # x labels on the bottom row and y labels on the first column serve all
    for row, name in enumerate(names):
        values = dataset[name].values[:count, -1]
        cmap, lo, hi = _limits(values)
        for i in range(count):
            ax = axes[row][i]
            mesh = ax.pcolormesh(
                x,
                y,
                values[i].T,
                shading="nearest",
                cmap=cmap,
                vmin=lo,
                vmax=hi,
                rasterized=True,
            )
            ax.set(aspect="equal", xticks=[], yticks=[])
            if row == 0:
                ax.set_title(label(i), fontsize=7)
            if row == len(names) - 1:
                ax.set_xlabel(_label(dataset["x"]), fontsize=8)
            if i == 0:
                ax.set_ylabel(_label(dataset["y"]), fontsize=8)
        fig.colorbar(
            mesh, ax=axes[row].tolist(), label=_label(dataset[name]), shrink=0.9
        )
    fig.suptitle(
        f"{title}: final fields at t = {t[-1]:.3g}, one column per member ({count} of "
        f"{size})"
    )
    return [_save(fig, out / "ensemble_final.png")]


def _save(fig, path):
    try:
        save_figure(fig, path, dpi=130)  # complete or absent, even on a full disk
    finally:
        plt.close(fig)
    return path


def plot_loss(history: list[dict], path: Path, title: str, label: str = "loss") -> Path:
    """Loss against iteration on a log axis (linear if the loss changes sign);
    `label` says what the loss is, with units (the y axis)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    it = np.array([h["iteration"] for h in history])
    loss = np.array([h["loss"] for h in history])
    fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
    ax.plot(it, loss, color="C0", lw=1.8)
    if len(loss) and np.all(loss > 0):
        ax.set_yscale("log")
    ax.set(xlabel="optimizer iteration", ylabel=label, title=f"{title}: loss")
    ax.grid(alpha=0.3, which="both")
    if len(loss):
        ax.annotate(
            f"{loss[0]:.3g} → {loss[-1]:.3g}",
            xy=(0.98, 0.95),
            xycoords="axes fraction",
            ha="right",
            va="top",
        )
    return _save(fig, path)


def plot_horizon(result: dict, path: Path, title: str) -> Path:
    """`diffsim gradcheck --horizon`'s figure from its `horizon.json` dict:
    the gradient norm with respect to the initial fields and the backward
    pass's gain against the horizon (log scale, with the fitted exponential
    growth), and below it the AD-vs-finite-difference relative error, with
    the thresholds and the horizon where gradients explode marked."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = result["horizons"]

    def column(key):
        return np.array([np.nan if r[key] is None else float(r[key]) for r in rows])

    t, norm, gain, err = (
        column("t"),
        column("grad_norm"),
        column("gain"),
        column("relative_error"),
    )
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(6.4, 6.2), sharex=True, constrained_layout=True
    )
    top.semilogy(
        t,
        norm,
        "o-",
        color="C0",
        lw=1.6,
        ms=4,
        label="|dL/dy0|, gradient norm (loss per unit field)",
    )
    top.semilogy(
        t,
        gain,
        "s--",
        color="C1",
        lw=1.2,
        ms=3.5,
        label="gain |dL/dy0| / |dL/dy(T)| (dimensionless)",
    )
    rate = result.get("growth_rate")
    ok = np.isfinite(gain) & (gain > 0)
    if rate is not None and np.isfinite(rate) and ok.sum() >= 2:
        intercept = np.mean(np.log(gain[ok]) - rate * t[ok])
        top.semilogy(
            t,
            np.exp(intercept + rate * t),
            ":",
            color="C1",
            lw=1,
            label=f"fit exp({rate:.3g} T)",
        )
    top.axhline(
        result["gain_limit"],
        color="0.5",
        lw=0.8,
        ls="-.",
        label=f"gain limit {result['gain_limit']:g}",
    )
    top.set(
        ylabel="gradient norm (loss per unit field), gain (1)",
        title="gradient norm and backward gain",
    )
    bottom.semilogy(
        t,
        np.maximum(err, 1e-17),
        "o-",
        color="C3",
        lw=1.6,
        ms=4,
        label=f"AD vs central FD (eps {result['eps']:g})",
    )
    bottom.axhline(
        result["fd_tol"],
        color="0.5",
        lw=0.8,
        ls="-.",
        label=f"tolerance {result['fd_tol']:g}",
    )
    bottom.set(
        xlabel="horizon T (simulation time units, as time.t_end)",
        ylabel="relative error (dimensionless)",
        title="AD vs central finite differences along one random direction",
    )
    fig.suptitle(f"{title}: gradient of the final mean square against horizon")
    if result.get("explosion"):
        for ax in (top, bottom):
            ax.axvline(result["explosion"]["t"], color="k", lw=1, ls="--")
        bottom.annotate(
            f"explodes at T = {result['explosion']['t']:.4g}",
            xy=(result["explosion"]["t"], 0.05),
            xycoords=("data", "axes fraction"),
            xytext=(4, 0),
            textcoords="offset points",
            fontsize=8,
        )
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
        ax.legend(frameon=False, fontsize=7, loc="best")
    return _save(fig, path)
