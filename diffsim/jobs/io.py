"""Files a job writes: fields.nc, summary.json, config.yaml, params.eqx,
figures; every one through `atomic_write` (see `_files.py`)."""

from __future__ import annotations

import contextlib
import functools
import io
import json
import math
import os
from pathlib import Path

import equinox as eqx
import numpy as np
import xarray as xr
import yaml

from diffsim.operators import Grid

from .. import atomic_write
from ..internal import FolderLock, is_main, remove_stale_temporaries
from .errors import OptionError

# long_name of the fields the operators name (`operator.field_names`); any
# other field is described by its name with spaces.
FIELD_LONG_NAMES = {
    "u": "solution u",
    "density": "density",
    "velocity_x": "velocity, x component",
    "velocity_y": "velocity, y component",
    "velocity_z": "velocity, z component",
    "pressure": "pressure",
    "vorticity": "vorticity",
}


def fields_dataset(ts, ys, grid: Grid, names, attrs=None, units=None) -> xr.Dataset:
    """Snapshots `ys` `(t, channels, *cells)` as a Dataset with one variable per
    physical field and coordinates `t`, `x`, `y`, `z` (cell centres).

    Every variable and coordinate has `long_name` and `units` attributes
    (CF conventions). `units` maps a field name (or `t`, `x`, ...) to its
    units; unnamed ones are `"1"`: the time-dependent operators are written
    in nondimensional variables."""
    ys = np.asarray(ys)
    units = dict(units or {})
    dims = ("t", *grid.axis_names)
    coords = {"t": np.asarray(ts)}
    coords.update({name: c for name, c in zip(grid.axis_names, grid.coordinates)})
    data = {name: (dims, ys[:, i]) for i, name in enumerate(names)}
    ds = xr.Dataset(data, coords=coords, attrs=dict(attrs or {}))
    ds["t"].attrs.update(long_name="time", units=units.get("t", "1"))
    for name in grid.axis_names:
        ds[name].attrs.update(
            long_name=f"cell-centre coordinate {name}", units=units.get(name, "1")
        )
    for name in names:
        ds[name].attrs.update(
            long_name=FIELD_LONG_NAMES.get(name, name.replace("_", " ")),
            units=units.get(name, "1"),
        )
    return ds


def batched_fields_dataset(
    ts, ys, grid: Grid, names, members: dict, attrs=None
) -> xr.Dataset:
    """An ensemble's snapshots `ys` `(batch, t, channels, *cells)`: `fields_dataset`
    with a leading `batch` dimension and one coordinate variable per varied key
    (`members`: dotted key -> one value per member; list values get a second
    dimension `<key>_index`)."""
    ys = np.asarray(ys)
    ds = fields_dataset(ts, ys[0], grid, names, attrs)
    dims = ("batch", *ds[names[0]].dims)
    ds = ds.assign(
        {name: (dims, ys[:, :, i], ds[name].attrs) for i, name in enumerate(names)}
    ).assign_coords(batch=np.arange(ys.shape[0]))
    ds["batch"].attrs.update(long_name="ensemble member", units="1")
    for key, values in members.items():
        values = np.asarray(values)
        ds = ds.assign_coords(
            {key: (("batch", *[f"{key}_index"] * (values.ndim - 1)), values)}
        )
        ds[key].attrs.update(long_name=f"{key} of each member", units="1")
    return ds


def write_fields(path: Path, dataset: xr.Dataset) -> None:
    """NetCDF4/HDF5 via h5netcdf, serialised in memory and written with
    `atomic_write`: a reader never sees half a file, and a full disk is an
    ordinary `WriteError` naming the file (HDF5 never writes to the disk
    itself, so it cannot be left inside a half-written file)."""
    atomic_write(path, dataset.to_netcdf(engine="h5netcdf"))


def write_json(path: Path, data: dict) -> None:
    text = json.dumps(_jsonable(data), indent=2, allow_nan=False) + "\n"
    atomic_write(path, text)


def write_yaml(path: Path, data: dict) -> None:
    atomic_write(path, yaml.safe_dump(data, sort_keys=False))


def write_pytree(path: Path, tree) -> None:
    """`equinox.tree_serialise_leaves` of `tree`, written with `atomic_write`."""
    buffer = io.BytesIO()
    eqx.tree_serialise_leaves(buffer, tree)
    atomic_write(path, buffer.getbuffer())


def one_job_per_folder(job):
    """Decorator for a job `job(config, physics, scenario, out, ...)`: it runs
    holding `out/.lock` (the main process; a second job on `out` is refused
    with `FolderInUse`, exit 4 on the command line), after removing the
    temporary files that killed writes left in `out`."""

    @functools.wraps(job)
    def locked(config, physics, scenario, out, *args, **kwargs):
        with FolderLock(out, "--out") if is_main() else contextlib.nullcontext():
            if is_main():
                remove_stale_temporaries(out, ("checkpoints", "plots"))
            return job(config, physics, scenario, out, *args, **kwargs)

    return locked


def check_out_dir(text: str | Path, option: str = "--out") -> Path:
    """The output folder named by `--out`, checked before anything runs: a
    `OptionError` naming `option` for an empty path, an existing file, a
    path under a file, or a folder this process may not write into."""
    if not str(text).strip():
        raise OptionError(option, "is empty; give an output folder, e.g. --out runs/x")
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise OptionError(option, f"{path} is an existing file, not a folder")
    existing = path
    while not existing.exists():
        if existing.is_symlink():
            raise OptionError(option, f"{path}: {existing} is a broken symbolic link")
        existing = existing.parent
    if not existing.is_dir():
        raise OptionError(
            option, f"{path} lies under {existing}, which is a file, not a folder"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        what = "the folder" if existing == path else f"its parent {existing}"
        raise OptionError(option, f"{path}: {what} is not writable")
    return path


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.generic, np.ndarray)) or hasattr(x, "__array__"):
        arr = np.asarray(x)
        return _jsonable(arr.tolist()) if arr.ndim else _jsonable(arr.item())
    if isinstance(x, float) and not math.isfinite(x):
        return None if math.isnan(x) else str(x)
    return x
