"""User currents: regular-grid velocities from an ocean model or reanalysis as face transports.

`dataset_transports` reads eastward/northward velocity (2-D, or 3-D and depth-averaged over the
water column), interpolates it bilinearly to the C-grid faces, multiplies by face depth × length
and removes the discrete divergence with a sparse Poisson solve
(`bbw_bay.core.potential.potential_transports`), so the transports are exactly consistent with the
tracer solver: divergence = river discharge in river cells, zero (to round-off) elsewhere.
It returns arrays; `bbw_bay.core.flow.Flow.from_dataset` turns them into a `Flow`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

import numpy as np
import xarray as xr
from scipy import ndimage

from bbw_bay.core.config import MAX_SPEED_M_PER_S
from bbw_bay.core.grid import Grid
from bbw_bay.core.potential import check_outflow_path, potential_transports
from bbw_bay.errors import BadInputError, did_you_mean

logger = logging.getLogger(__name__)

U_NAMES = ("u", "uo", "water_u", "u_eastward", "eastward_sea_water_velocity", "ubar", "U")
V_NAMES = ("v", "vo", "water_v", "v_northward", "northward_sea_water_velocity", "vbar", "V")
DEPTH_NAMES = ("depth", "lev", "z", "deptht", "depthu", "level", "zlev")
TIME_NAMES = ("time", "t", "ocean_time", "valid_time")
LON_NAMES = ("lon", "longitude", "nav_lon", "x")
LAT_NAMES = ("lat", "latitude", "nav_lat", "y")
#: Accepted velocity units and their factor to m/s.
VELOCITY_UNITS = {
    "m/s": 1.0,
    "m s-1": 1.0,
    "m s^-1": 1.0,
    "m s**-1": 1.0,
    "m.s-1": 1.0,
    "ms-1": 1.0,
    "meter second-1": 1.0,
    "meters second-1": 1.0,
    "meter/second": 1.0,
    "meters/second": 1.0,
    "metre/second": 1.0,
    "metres/second": 1.0,
    "m/sec": 1.0,
    "cm/s": 0.01,
    "cm s-1": 0.01,
    "cm s^-1": 0.01,
    "cm s**-1": 0.01,
    "cm.s-1": 0.01,
    "centimeter/second": 0.01,
    "centimeters/second": 0.01,
}
#: Units of a numeric time coordinate that xarray did not decode (no "since <epoch>", or an
#: epoch it cannot read), and their factor to seconds. Times count from the first one, so the
#: epoch is not needed; months and years have no fixed length and are refused.
TIME_UNITS = {
    "s": 1.0,
    "sec": 1.0,
    "secs": 1.0,
    "second": 1.0,
    "seconds": 1.0,
    "min": 60.0,
    "mins": 60.0,
    "minute": 60.0,
    "minutes": 60.0,
    "h": 3600.0,
    "hr": 3600.0,
    "hrs": 3600.0,
    "hour": 3600.0,
    "hours": 3600.0,
    "d": 86_400.0,
    "day": 86_400.0,
    "days": 86_400.0,
}


class CurrentsError(BadInputError):
    """A currents file lacks what is needed, or does not fit the model grid."""


def _open(source) -> tuple[xr.Dataset, str]:
    if isinstance(source, xr.Dataset):
        return source, str(source.encoding.get("source", "<in-memory dataset>"))
    try:
        with xr.open_dataset(source) as ds:
            return ds.load(), os.fspath(source)
    except FileNotFoundError:
        raise CurrentsError(f"currents file {os.fspath(source)!r} not found") from None
    except (OSError, ValueError) as exc:
        reason = str(exc).split("\n")[0]
        if "did not find a match" in reason:
            reason = "not a netCDF file (no installed xarray engine can open it)"
        raise CurrentsError(f"cannot read currents file {os.fspath(source)!r}: {reason}") from None


def _pick(ds: xr.Dataset, name: str | None, candidates, label: str, what: str) -> str:
    if name is not None:
        if name not in ds.variables:
            raise CurrentsError(
                f"{label}: variable {name!r} ({what}) not found; variables are "
                f"{sorted(map(str, ds.variables))}{did_you_mean(name, map(str, ds.variables))}"
            )
        return name
    for cand in candidates:
        if cand in ds.variables:
            return cand
    raise CurrentsError(
        f"{label}: no {what} variable; expected one of {list(candidates)} (or "
        f"pass its name); variables are {sorted(map(str, ds.variables))}"
    )


def _axis(da: xr.DataArray, candidates, label: str, what: str) -> str | None:
    for dim in da.dims:
        if str(dim).lower() in candidates:
            return str(dim)
    return None


def _units_factor(da: xr.DataArray, label: str, name: str) -> float:
    units = da.attrs.get("units")
    if units is None:
        raise CurrentsError(
            f"{label}: variable {name!r} has no 'units' attribute; expected a "
            "velocity unit (m/s, m s-1 or cm/s)"
        )
    key = " ".join(str(units).strip().lower().split())
    if key not in VELOCITY_UNITS:
        raise CurrentsError(
            f"{label}: variable {name!r} has units {units!r}; expected a "
            "velocity unit (m/s, m s-1 or cm/s)"
        )
    return VELOCITY_UNITS[key]


def _depth_average(da: xr.DataArray, depth_dim: str) -> xr.DataArray:
    """Thickness-weighted mean over the valid (non-NaN) layers of each water column."""
    z = np.abs(np.asarray(da[depth_dim].values, dtype=float))
    order = np.argsort(z)
    z = z[order]
    bounds = np.concatenate(
        [
            [0.0],
            0.5 * (z[1:] + z[:-1]),
            [z[-1] + 0.5 * (z[-1] - z[-2]) if z.size > 1 else 2 * z[-1]],
        ]
    )
    dz = xr.DataArray(np.diff(bounds), dims=[depth_dim])
    da = da.isel({depth_dim: order})
    dz = dz.assign_coords({depth_dim: da[depth_dim].values})
    valid = da.notnull()
    total = (da.fillna(0.0) * dz).sum(depth_dim)
    thick = (valid * dz).sum(depth_dim)
    return (total / thick.where(thick > 0)).where(thick > 0)


def _fill_nearest(values: np.ndarray) -> np.ndarray:
    """NaNs replaced by the nearest valid value (per 2-D slice)."""
    bad = np.isnan(values)
    if not bad.any() or bad.all():
        return values
    idx = ndimage.distance_transform_edt(bad, return_distances=False, return_indices=True)
    return values[tuple(idx)]


def _bilinear(values, src_x, src_y, x, y) -> np.ndarray:
    """Bilinear interpolation of (ny_s, nx_s) at points; NaN nodes dropped with renormalised
    weights; NaN where all four nodes are NaN."""
    fx = np.interp(x, src_x, np.arange(src_x.size))
    fy = np.interp(y, src_y, np.arange(src_y.size))
    i = np.clip(np.floor(fx).astype(int), 0, max(src_x.size - 2, 0))
    j = np.clip(np.floor(fy).astype(int), 0, max(src_y.size - 2, 0))
    tx, ty = fx - i, fy - j
    i1 = np.minimum(i + 1, src_x.size - 1)
    j1 = np.minimum(j + 1, src_y.size - 1)
    total = np.zeros(np.shape(x))
    weight = np.zeros(np.shape(x))
    for jj, ii, w in (
        (j, i, (1 - tx) * (1 - ty)),
        (j, i1, tx * (1 - ty)),
        (j1, i, (1 - tx) * ty),
        (j1, i1, tx * ty),
    ):
        val = values[jj, ii]
        ok = np.isfinite(val) & (w > 0)
        total += np.where(ok, val * w, 0.0)
        weight += np.where(ok, w, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(weight > 1e-12, total / np.where(weight > 0, weight, 1.0), np.nan)


def dataset_transports(
    grid: Grid,
    source,
    *,
    u_name: str | None = None,
    v_name: str | None = None,
    depth_average: bool = True,
    time_name: str | None = None,
    river_discharge: np.ndarray | Callable[[float | None], np.ndarray] | None = None,
    fill_nearest: bool = False,
    time_origin=None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Currents from a regular lon/lat or x/y dataset as divergence-consistent face transports.

    Parameters
    ----------
    grid : the model grid
    source : path of a netCDF file or an `xr.Dataset` with eastward and northward velocity on
        1-D coordinates (lon/lat in degrees for geographic grids, x/y in metres otherwise)
    u_name, v_name : velocity variable names; default the first of u/uo/water_u/... and
        v/vo/water_v/...; units m/s, m s-1 or cm/s (converted)
    depth_average : average a depth dimension over the water column: layer thicknesses from the
        depth coordinate (boundaries half-way between levels, top at 0 m), layers that are NaN
        (below the seabed) dropped; if False a depth dimension is an error
    time_name : name of the time dimension; default time/t/ocean_time/valid_time if present.
        Several times give one field per time, times in seconds since ``time_origin``
        (default: the first time); numeric times are read in their ``units`` (seconds,
        minutes, hours or days, with or without "since <epoch>"; seconds without units)
    river_discharge : (ny, nx) discharge into each cell [m³/s] the projected flow must carry,
        or a function of the field's time [s] returning it (monthly river discharges; called
        with None for a file of one field, which carries the annual mean)
    fill_nearest : fill source NaNs (land in the source model) with the nearest valid value
        before interpolating, for model coasts finer than the source's

    Returns
    -------
    times : (nt,) [s], strictly increasing (``[0.0]`` without a time dimension)
    transport_u : (nt, ny, nx+1) x-face transports [m³/s]
    transport_v : (nt, ny+1, nx) y-face transports [m³/s]; the divergence of each field equals
        ``river_discharge`` (0 without) to round-off

    Raises
    ------
    CurrentsError naming the file and variable: missing variables, non-velocity units, speeds
    above `bbw_bay.core.config.MAX_SPEED_M_PER_S`, times in units other than seconds to days,
    a source grid that does not cover the model's wet faces, or NaN at wet faces after
    interpolation.
    """
    ds, label = _open(source)
    names = {}
    for comp, given, cands in (("u", u_name, U_NAMES), ("v", v_name, V_NAMES)):
        names[comp] = _pick(
            ds, given, cands, label, f"{'eastward' if comp == 'u' else 'northward'} velocity"
        )
    fields = {}
    for comp, name in names.items():
        da = ds[name]
        factor = _units_factor(da, label, name)
        depth_dim = _axis(da, DEPTH_NAMES, label, "depth")
        if depth_dim is not None and da.sizes[depth_dim] == 1:
            level = da[depth_dim].values[0] if depth_dim in da.coords else "?"
            logger.info(
                "%s: %r has a single level (%s = %s); taken as the depth average",
                label,
                name,
                depth_dim,
                level,
            )
            da = da.isel({depth_dim: 0}, drop=True)
            depth_dim = None
        if depth_dim is not None:
            if not depth_average:
                raise CurrentsError(
                    f"{label}: variable {name!r} has a depth dimension "
                    f"{depth_dim!r}; pass depth_average=True or a 2-D field"
                )
            da = _depth_average(da, depth_dim)
        _check_numeric(da, label, name)
        fields[comp] = da * factor
        _check_speed(fields[comp], label, name, da.attrs.get("units"))
    xs, ys = (LON_NAMES, LAT_NAMES) if grid.geographic else (("x",), ("y",))
    dims = {}
    for comp, da in fields.items():
        x_dim = next((d for d in da.dims if str(d).lower() in xs), None)
        y_dim = next((d for d in da.dims if str(d).lower() in ys), None)
        if x_dim is None or y_dim is None:
            kind = "lon/lat" if grid.geographic else "x/y [m]"
            raise CurrentsError(
                f"{label}: variable {names[comp]!r} has dims {da.dims}; expected "
                f"horizontal {kind} dimensions named one of {xs} and {ys}"
            )
        dims[comp] = (x_dim, y_dim)
    t_dim = time_name
    if t_dim is None:
        t_dim = next((str(d) for d in fields["u"].dims if str(d).lower() in TIME_NAMES), None)
    elif t_dim not in fields["u"].dims:
        raise CurrentsError(
            f"{label}: time dimension {t_dim!r} not in {names['u']!r} dims {fields['u'].dims}"
        )

    u_x, u_y = _face_points(grid, "u")
    v_x, v_y = _face_points(grid, "v")
    times = _times(fields["u"], t_dim, time_origin, label)
    tu_all, tv_all = [], []
    for k in range(len(times)):
        q = _discharge(river_discharge, times[k] if len(times) > 1 else None, grid)
        if k == 0:
            check_outflow_path(grid, q)  # every river reaches an open boundary
        faces = {}
        for comp, (px, py, mask) in (
            ("u", (u_x, u_y, grid.flux_u)),
            ("v", (v_x, v_y, grid.flux_v)),
        ):
            da = fields[comp]
            if t_dim is not None:
                da = da.isel({t_dim: k})
            x_dim, y_dim = dims[comp]
            extra = [d for d in da.dims if d not in (x_dim, y_dim)]
            if extra:
                raise CurrentsError(
                    f"{label}: variable {names[comp]!r} has unexpected "
                    f"dimensions {extra} (expected time, depth, lat, lon)"
                )
            da = da.transpose(y_dim, x_dim).sortby([y_dim, x_dim])
            src_x = np.asarray(da[x_dim].values, dtype=float)
            src_y = np.asarray(da[y_dim].values, dtype=float)
            _check_cover(src_x, src_y, px[mask], py[mask], label, names[comp])
            values = np.asarray(da.values, dtype=float)
            if fill_nearest:
                values = _fill_nearest(values)
            vel = np.zeros(mask.shape)
            vel[mask] = _bilinear(values, src_x, src_y, px[mask], py[mask])
            if np.isnan(vel).any():
                j, i = np.argwhere(np.isnan(vel))[0]
                raise CurrentsError(
                    f"{label}: variable {names[comp]!r} is NaN after interpolation at "
                    f"{int(np.isnan(vel).sum())} wet model faces (first at "
                    f"{px[j, i]:.4g}, {py[j, i]:.4g}); expected finite values over the whole "
                    "wet domain (set flow.fill_nearest = true in the config, or pass "
                    "fill_nearest=True in Python, to extend the source ocean to the coast)"
                )
            faces[comp] = vel
        tu = faces["u"] * grid.depth_u * grid.length_u
        tv = faces["v"] * grid.depth_v * grid.length_v
        div = (tu[:, 1:] - tu[:, :-1]) + (tv[1:] - tv[:-1])
        pu, pv = potential_transports(grid, q - div)
        tu_all.append(tu + pu)
        tv_all.append(tv + pv)
    logger.info(
        "currents from %s: %d field(s), variables %s/%s", label, len(times), names["u"], names["v"]
    )
    return np.asarray(times, dtype=float), np.stack(tu_all), np.stack(tv_all)


def _discharge(river_discharge, time: float | None, grid: Grid) -> np.ndarray:
    """(ny, nx) river discharge [m³/s] for the field at ``time`` [s] (None: a steady field)."""
    if river_discharge is None:
        return np.zeros(grid.shape)
    q = river_discharge(time) if callable(river_discharge) else river_discharge
    q = np.asarray(q, dtype=float)
    if q.shape != grid.shape:
        raise CurrentsError(
            f"river_discharge has shape {q.shape}; expected the grid's (ny, nx) = {grid.shape}"
        )
    return q


def _check_numeric(da: xr.DataArray, label: str, name: str) -> None:
    """Velocity values and every coordinate of its dimensions must be numbers."""
    if not np.issubdtype(da.dtype, np.number):
        raise CurrentsError(
            f"{label}: variable {name!r} holds {da.dtype} values; expected numbers (a velocity)"
        )
    for dim in da.dims:
        if dim in da.coords:
            values = da[dim].values
            if not (
                np.issubdtype(values.dtype, np.number) or np.issubdtype(values.dtype, np.datetime64)
            ):
                raise CurrentsError(
                    f"{label}: coordinate {dim!r} of {name!r} holds {values.dtype} values; "
                    "expected numbers (positions, depths) or dates (times)"
                )
            if np.issubdtype(values.dtype, np.number) and not np.all(np.isfinite(values)):
                raise CurrentsError(
                    f"{label}: coordinate {dim!r} of {name!r} has NaN or infinite values; "
                    "expected finite positions, depths and times"
                )


def _check_speed(da: xr.DataArray, label: str, name: str, units) -> None:
    """No velocity beyond MAX_SPEED_M_PER_S (after the unit conversion)."""
    values = np.abs(np.asarray(da.values, dtype=float))
    finite = np.isfinite(values)
    if np.isinf(values).any():
        raise CurrentsError(f"{label}: variable {name!r} has infinite values; expected finite")
    if finite.any() and values[finite].max() > MAX_SPEED_M_PER_S:
        index = np.unravel_index(int(np.argmax(np.where(finite, values, -1.0))), values.shape)
        at = ", ".join(f"{d}={k}" for d, k in zip(da.dims, index, strict=True))
        raise CurrentsError(
            f"{label}: variable {name!r} reaches {values[index]:.4g} m/s (at {at}; units "
            f"{units!r}), above the {MAX_SPEED_M_PER_S:g} m/s of any ocean current; expected "
            "a velocity in m/s, m s-1 or cm/s, with a units attribute that says which"
            + (
                "; a fill value on land needs a _FillValue attribute"
                if values[index] > 1e10
                else ""
            )
        )


def _face_points(grid: Grid, kind: str) -> tuple[np.ndarray, np.ndarray]:
    if kind == "u":
        return np.meshgrid(grid.x_edge, grid.y_centre)
    return np.meshgrid(grid.x_centre, grid.y_edge)


def _check_cover(src_x, src_y, px, py, label, name) -> None:
    if px.size == 0:
        return
    tol_x = 1e-9 * max(1.0, np.abs(src_x).max())
    tol_y = 1e-9 * max(1.0, np.abs(src_y).max())
    if (
        px.min() < src_x[0] - tol_x
        or px.max() > src_x[-1] + tol_x
        or py.min() < src_y[0] - tol_y
        or py.max() > src_y[-1] + tol_y
    ):
        raise CurrentsError(
            f"{label}: variable {name!r} covers x {src_x[0]:g}–{src_x[-1]:g}, y "
            f"{src_y[0]:g}–{src_y[-1]:g}; the model's wet faces need x {px.min():g}–{px.max():g},"
            f" y {py.min():g}–{py.max():g}"
        )


def _times(da: xr.DataArray, t_dim, origin, label) -> list[float]:
    if t_dim is None:
        return [0.0]
    values = da[t_dim].values
    if np.issubdtype(values.dtype, np.datetime64):
        start = values[0] if origin is None else np.datetime64(origin)
        seconds = (values - start) / np.timedelta64(1, "s")
    else:
        seconds = np.asarray(values, dtype=float) * _time_factor(da[t_dim], t_dim, label)
        if origin is not None:
            seconds = seconds - float(origin)
        elif seconds.size:
            seconds = seconds - seconds[0]
    seconds = [float(s) for s in seconds]
    if not seconds:
        raise CurrentsError(f"{label}: time dimension {t_dim!r} is empty; expected one or more")
    if not all(np.isfinite(seconds)):
        raise CurrentsError(f"{label}: times along {t_dim!r} must be finite (NaN or NaT found)")
    if any(b <= a for a, b in zip(seconds[:-1], seconds[1:], strict=True)):
        raise CurrentsError(f"{label}: times along {t_dim!r} must increase strictly")
    return seconds


def _time_factor(time: xr.DataArray, t_dim: str, label: str) -> float:
    """Seconds per unit of a numeric (undecoded) time coordinate: its ``units`` up to "since"."""
    units = time.attrs.get("units", time.encoding.get("units"))
    if units is None:
        logger.info("%s: time %r has no units; taken as seconds", label, t_dim)
        return 1.0
    unit = str(units).strip().lower().split(" since ")[0].strip()
    if unit not in TIME_UNITS:
        raise CurrentsError(
            f"{label}: time {t_dim!r} has units {units!r}; expected seconds, minutes, hours or "
            "days (optionally 'since <date>'); months and years have no fixed length"
        )
    return TIME_UNITS[unit]


__all__ = ["CurrentsError", "TIME_UNITS", "VELOCITY_UNITS", "dataset_transports"]
