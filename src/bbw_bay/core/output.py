"""xarray Datasets with CF attributes from one table, and atomic netCDF writing."""

from __future__ import annotations

import contextlib
import glob
import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import xarray as xr

from bbw_bay.core.grid import Grid
from bbw_bay.errors import BadInputError
from bbw_bay.version import __version__

#: CF attributes of every variable bbw_bay writes: name -> attributes.
CF_ATTRIBUTES: dict[str, dict[str, str]] = {
    "DIN": {
        "long_name": "dissolved inorganic nitrogen (as N)",
        "units": "mg L-1",
        "standard_name": "mass_concentration_of_inorganic_nitrogen_in_sea_water",
    },
    "PO4": {
        "long_name": "active phosphate (as P)",
        "units": "mg L-1",
        "standard_name": "mass_concentration_of_phosphate_in_sea_water",
    },
    "COD": {
        "long_name": "chemical oxygen demand (alkaline permanganate, GB 3097)",
        "units": "mg L-1",
    },
    "oil": {
        "long_name": "petroleum hydrocarbons (oil)",
        "units": "mg L-1",
        "standard_name": "mass_concentration_of_petroleum_hydrocarbons_in_sea_water",
    },
    "age": {"long_name": "mean water age since release", "units": "days"},
    "depth": {
        "long_name": "still-water depth at cell centres",
        "units": "m",
        "standard_name": "sea_floor_depth_below_mean_sea_level",
        "positive": "down",
    },
    "cell_area": {"long_name": "horizontal cell area", "units": "m2", "standard_name": "cell_area"},
    "wet": {"long_name": "sea mask (1 sea, 0 land)", "units": "1", "flag_values": "0 1"},
    "lon": {
        "long_name": "longitude of cell centre",
        "units": "degrees_east",
        "standard_name": "longitude",
        "axis": "X",
    },
    "lat": {
        "long_name": "latitude of cell centre",
        "units": "degrees_north",
        "standard_name": "latitude",
        "axis": "Y",
    },
    "x": {
        "long_name": "x of cell centre",
        "units": "m",
        "standard_name": "projection_x_coordinate",
        "axis": "X",
    },
    "y": {
        "long_name": "y of cell centre",
        "units": "m",
        "standard_name": "projection_y_coordinate",
        "axis": "Y",
    },
    "time_bnds": {"long_name": "start and end of each output record's averaging interval"},
    "time": {
        "long_name": "time (the middle of the averaging interval for time means)",
        "standard_name": "time",
        "units": "seconds since 2000-01-01 00:00:00",
        "axis": "T",
    },
    "u": {
        "long_name": "depth-averaged eastward velocity at cell centres",
        "units": "m s-1",
        "standard_name": "barotropic_eastward_sea_water_velocity",
    },
    "v": {
        "long_name": "depth-averaged northward velocity at cell centres",
        "units": "m s-1",
        "standard_name": "barotropic_northward_sea_water_velocity",
    },
}


def tracer_attributes(name: str) -> dict[str, str]:
    """CF attributes for a tracer (a generic tracer gets a generic long name)."""
    return dict(CF_ATTRIBUTES.get(name, {"long_name": f"tracer {name}", "units": "mg L-1"}))


def spatial_dims(grid: Grid) -> tuple[str, str]:
    """("lat", "lon") on geographic grids, ("y", "x") on cartesian ones."""
    return ("lat", "lon") if grid.geographic else ("y", "x")


def horizontal_dims(ds: xr.Dataset) -> tuple[str, str, bool]:
    """(Y, X) dimension names and whether the dataset is geographic."""
    if "lat" in ds.dims and "lon" in ds.dims:
        return "lat", "lon", True
    if "y" in ds.dims and "x" in ds.dims:
        return "y", "x", False
    raise ValueError(f"dataset has neither (lat, lon) nor (y, x) dimensions: {dict(ds.sizes)}")


def grid_dataset(grid: Grid) -> xr.Dataset:
    """Coordinates and static fields (depth, cell_area, wet) of a grid."""
    ydim, xdim = spatial_dims(grid)
    ds = xr.Dataset(coords={ydim: (ydim, grid.y_centre), xdim: (xdim, grid.x_centre)})
    ds["depth"] = ((ydim, xdim), np.where(grid.wet, grid.depth, np.nan))
    ds["cell_area"] = ((ydim, xdim), grid.area.copy())
    ds["wet"] = ((ydim, xdim), grid.wet.astype(np.int8))
    for name in ("depth", "cell_area", "wet", ydim, xdim):
        ds[name].attrs.update(CF_ATTRIBUTES[name])
    ds.attrs.update(
        {
            "Conventions": "CF-1.8",
            "title": "bbw_bay Beibu Gulf pollutant-load simulation",
            "institution": "bbw_bay",
            "source": f"bbw_bay {__version__}",
            "bbw_bay_version": __version__,
            "geographic": int(grid.geographic),
            "open_boundaries": ",".join(grid.open_boundaries),
            "history": f"{datetime.now(UTC).isoformat(timespec='seconds')} created by bbw_bay "
            f"{__version__}",
        }
    )
    return ds


def concentration_dataset(
    grid: Grid, tracers: tuple[str, ...], fields: np.ndarray, times: np.ndarray | None = None
) -> xr.Dataset:
    """Dataset of tracer fields [mg/L]: (nt, ntr, ny, nx) with times [s], or (ntr, ny, nx)."""
    ds = grid_dataset(grid)
    ydim, xdim = spatial_dims(grid)
    land = ~grid.wet
    dims: tuple[str, ...]
    if times is None:
        dims = (ydim, xdim)
    else:
        dims = ("time", ydim, xdim)
        ds = ds.assign_coords(time=("time", np.asarray(times, dtype=float)))
        ds["time"].attrs.update(CF_ATTRIBUTES["time"])
    for k, name in enumerate(tracers):
        data = np.array(fields[:, k] if times is not None else fields[k], dtype=float)
        data[..., land] = np.nan
        ds[name] = (dims, data)
        ds[name].attrs.update(tracer_attributes(name))
    return ds


def records_dataset(
    grid: Grid, tracers: tuple[str, ...], records, *, output: str, ambient: bool
) -> xr.Dataset:
    """The output records of a run as a CF Dataset (time, Y, X) of concentrations [mg/L].

    ``records``: (t0 [s], t1 [s], (ntr,) mean background [mg/L], (ntr, ny, nx) model state);
    ``ambient``: the state is the excess over the background, which is added back. ``output``
    "mean": each record is the mean over [t0, t1], stamped at its midpoint with ``time_bnds``
    and ``cell_methods = "time: mean"``; "snapshot": the state at t1 (``"time: point"``).
    """
    fields = []
    for _, _, background, state in records:
        fields.append(
            np.where(grid.wet, state + background[:, None, None], 0.0) if ambient else state
        )
    t0 = np.array([r[0] for r in records])
    t1 = np.array([r[1] for r in records])
    times = t1 if output == "snapshot" else 0.5 * (t0 + t1)
    ds = concentration_dataset(grid, tracers, np.stack(fields), times)
    if output == "mean":
        ds = ds.assign_coords(time_bnds=(("time", "nv"), np.stack([t0, t1], axis=1)))
        ds["time_bnds"].attrs.update(CF_ATTRIBUTES["time_bnds"])
        ds["time"].attrs["bounds"] = "time_bnds"
    for name in tracers:
        ds[name].attrs["cell_methods"] = "time: point" if output == "snapshot" else "time: mean"
    return ds


def records_are_time_means(ds: xr.Dataset) -> bool:
    """True when a dataset's time records are means over intervals (CF ``cell_methods`` "time:
    mean" on its tracers, with ``time_bnds``), as `bbw_bay.core.simulation.Simulation` writes
    by default; False for snapshots, steady states and files of older versions."""
    if "time" not in ds.dims:
        return False
    methods = [
        str(ds[name].attrs.get("cell_methods", ""))
        for name in ds.data_vars
        if "time" in ds[name].dims
    ]
    return bool(methods) and all("time: mean" in m for m in methods) and "time_bnds" in ds


def first_record_is_initial(ds: xr.Dataset) -> bool:
    """True when a run's first record is its initial state (a snapshot at the start).

    A time mean over such records counts the initial state as one record: `evaluate` should
    refuse it or drop the record (``ds.isel(time=slice(1, None))``). Snapshot files carry
    ``run_start_s``; files without it (written before records were time means) always began
    with the initial state. Steady states (no time) and time-mean files: False.
    """
    if "time" not in ds.dims or records_are_time_means(ds):
        return False
    start = ds.attrs.get("run_start_s")
    if start is None:
        return True
    first = ds["time"].values[0]
    if np.issubdtype(np.asarray(first).dtype, np.datetime64):  # decoded: back to seconds
        units = str(ds["time"].encoding.get("units", CF_ATTRIBUTES["time"]["units"]))
        origin = np.datetime64(units.split(" since ", 1)[1].strip().replace(" ", "T"))
        first = (first - origin) / np.timedelta64(1, "s")
    return bool(abs(float(first) - float(start)) <= 1e-6 * max(1.0, abs(float(start))))


def add_provenance(
    ds: xr.Dataset,
    *,
    config_text: str = "",
    settings: dict | None = None,
    budget: dict | None = None,
    inputs: dict | None = None,
) -> xr.Dataset:
    """Store the resolved config, settings, mass budget and input checksums as global attributes."""
    ds.attrs["config"] = config_text
    if settings is not None:
        ds.attrs["settings"] = json.dumps(settings, default=_jsonable, sort_keys=True)
    if budget is not None:
        ds.attrs["mass_budget"] = json.dumps(budget, sort_keys=True)
    if inputs is not None:
        ds.attrs["input_checksums"] = json.dumps(inputs, sort_keys=True)
    return ds


def _jsonable(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


class OutputError(BadInputError, OSError):
    """An output file cannot be written."""


#: Suffix of `atomic_write`'s temporary files (named ``.NAME.<random>.tmp`` beside NAME).
TEMPORARY_SUFFIX = ".tmp"


def atomic_write(path: str | os.PathLike, write) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it onto ``path``.

    A crash mid-write leaves the old file (or none), never a truncated one; the temporary file is
    removed on failure and the result gets the usual mode (umask applied), not mkstemp's 0600.
    The data reach the disk (fsync) before the rename, so a power cut cannot leave the new name
    on an empty file. A process killed mid-write (SIGKILL) leaves its temporary behind; see
    `remove_stale_temporaries`.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX, dir=folder)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_folder(folder)
    return path


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (no-op where folders cannot be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Delete temporaries that `atomic_write` left beside ``path`` when a process was killed.

    Call only when no other process writes ``path``; returns the files removed.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    removed = []
    for stale in folder.glob(f".{glob.escape(path.name)}.*{TEMPORARY_SUFFIX}"):
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()
            removed.append(stale)
    return removed


def check_writable(path: str | os.PathLike, *, overwrite: bool) -> Path:
    """The output folder of ``path``; OutputError if it is missing, read-only, or ``path``
    exists and ``overwrite`` is False."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path} is a folder; expected an output file name")
    if path.exists() and not overwrite:
        raise OutputError(f"{path} exists; add --overwrite (overwrite=True) to replace it")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        reason = "is a file, not a folder" if folder.exists() else "does not exist"
        raise OutputError(f"output folder {folder} {reason}")
    if not os.access(folder, os.W_OK):
        raise OutputError(f"output folder {folder} is not writable")
    return folder


def read_netcdf(path: str | os.PathLike, **kwargs) -> xr.Dataset:
    """A netCDF file loaded into memory (file closed); OutputError if missing or not netCDF."""
    path = Path(path)
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "not found"
        raise OutputError(f"{path}: {what}; expected a netCDF file written by bbw-bay")
    try:
        with xr.open_dataset(path, **kwargs) as ds:
            return ds.load()
    except (OSError, ValueError) as err:
        reason = str(err).split("\n")[0]
        if "did not find a match" in reason:
            reason = "no installed xarray engine can open it"
        raise OutputError(f"{path}: not a readable netCDF file ({reason})") from None


def write_netcdf(ds: xr.Dataset, path: str | os.PathLike, *, overwrite: bool = True) -> Path:
    """Write ``ds`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    check_writable(path, overwrite=overwrite)
    encoding = {
        name: {"zlib": True, "complevel": 4} for name in ds.data_vars if ds[name].dtype.kind == "f"
    }
    atomic_write(path, lambda tmp: ds.to_netcdf(tmp, engine="netcdf4", encoding=encoding))
    return path
