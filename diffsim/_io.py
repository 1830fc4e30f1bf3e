"""Files a job writes: fields.nc, summary.json, config.yaml."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np
import xarray as xr
import yaml

from operators import Grid


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
        ds[name].attrs.update(long_name=f"cell-centre coordinate {name}", units=units.get(name, "1"))
    for name in names:
        ds[name].attrs.update(long_name=FIELD_LONG_NAMES.get(name, name.replace("_", " ")), units=units.get(name, "1"))
    return ds


def batched_fields_dataset(ts, ys, grid: Grid, names, members: dict, attrs=None) -> xr.Dataset:
    """An ensemble's snapshots `ys` `(batch, t, channels, *cells)`: `fields_dataset`
    with a leading `batch` dimension and one coordinate variable per varied key
    (`members`: dotted key -> one value per member; list values get a second
    dimension `<key>_index`)."""
    ys = np.asarray(ys)
    ds = fields_dataset(ts, ys[0], grid, names, attrs)
    dims = ("batch", *ds[names[0]].dims)
    ds = ds.assign({name: (dims, ys[:, :, i], ds[name].attrs) for i, name in enumerate(names)}).assign_coords(batch=np.arange(ys.shape[0]))
    ds["batch"].attrs.update(long_name="ensemble member", units="1")
    for key, values in members.items():
        values = np.asarray(values)
        ds = ds.assign_coords({key: (("batch", *[f"{key}_index"] * (values.ndim - 1)), values)})
        ds[key].attrs.update(long_name=f"{key} of each member", units="1")
    return ds


def write_fields(path: Path, dataset: xr.Dataset) -> None:
    """NetCDF4/HDF5 via h5netcdf, written to a temporary file then renamed, so
    that a reader never sees half a file."""
    _atomic(path, lambda tmp: dataset.to_netcdf(tmp, engine="h5netcdf"))


def write_json(path: Path, data: dict) -> None:
    text = json.dumps(_jsonable(data), indent=2, allow_nan=False) + "\n"
    _atomic(path, lambda tmp: Path(tmp).write_text(text))


def write_yaml(path: Path, data: dict) -> None:
    text = yaml.safe_dump(data, sort_keys=False)
    _atomic(path, lambda tmp: Path(tmp).write_text(text))


def _atomic(path: Path, write) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


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
