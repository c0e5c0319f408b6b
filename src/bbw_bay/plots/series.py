"""Time series of a tracer at named stations (the nearest wet cell of each)."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import xarray as xr

from bbw_bay.core.grid import nearest_wet_cell as grid_nearest_wet_cell
from bbw_bay.core.output import horizontal_dims
from bbw_bay.plots.common import (
    ROMAN,
    PlotError,
    check_tracer,
    new_axes,
    parameter_limits,
    time_axis,
    time_days,
    tracers_in,
    units_text,
    wet_mask,
)

log = logging.getLogger(__name__)


def nearest_wet_cell(ds: xr.Dataset, x: float, y: float) -> tuple[int, int, float]:
    """(j, i, distance [m]) of the dataset's wet cell whose centre is nearest to (x, y)
    (lon/lat degrees or metres); `bbw_bay.core.grid.nearest_wet_cell` on its coordinates."""
    ydim, xdim, geographic = horizontal_dims(ds)
    return grid_nearest_wet_cell(
        ds[xdim].values.astype(float),
        ds[ydim].values.astype(float),
        wet_mask(ds),
        x,
        y,
        geographic=geographic,
    )


def _parse_stations(stations) -> dict[str, tuple[float, float]]:
    """{name: (x, y)} from a mapping or from strings "NAME=X,Y" (as given on a command line)."""
    items: list = []
    if isinstance(stations, Mapping):
        items = list(stations.items())
    else:
        for text in stations:
            name, sep, where = str(text).partition("=")
            parts = where.split(",")
            if not sep or len(parts) != 2:
                raise PlotError(f"station {text!r} must read NAME=X,Y (lon,lat or metres)")
            items.append((name.strip(), parts))
    out = {}
    for name, xy in items:
        try:
            x, y = (float(c) for c in xy)
        except (TypeError, ValueError):
            raise PlotError(
                f"station {name!r}: position must be two numbers (x, y); got {xy!r}"
            ) from None
        out[str(name)] = (x, y)
    if not out:
        raise PlotError("give at least one station as {name: (x, y)}")
    return out


def timeseries(
    ds: xr.Dataset, tracer: str, stations, *, ax=None, limits: bool = True, title: str | None = None
):
    """Concentration against time at named stations (nearest wet cell of each): a time axis in
    months for runs of 60 days or more (`bbw_bay.plots.common.time_axis`), in days otherwise.

    Parameters
    ----------
    ds : model output with a ``time`` dimension
    tracer : tracer variable name
    stations : {name: (x, y)} with lon/lat degrees (geographic) or metres (cartesian), or
        strings "NAME=X,Y"
    ax : Axes to draw on (None: a new figure)
    limits : draw the GB 3097 class limits that fall within the plotted range
    title : title (default: the tracer)

    Returns
    -------
    matplotlib Axes
    """
    check_tracer(ds, tracer)
    if "time" not in ds[tracer].dims:
        raise PlotError(
            f"tracer {tracer!r} has no time dimension (a steady state); "
            "a time series needs a run's output"
        )
    ydim, xdim, geographic = horizontal_dims(ds)
    days = time_days(ds)
    da = ds[tracer].transpose("time", ydim, xdim)
    ax = new_axes(ax, figsize=(8.0, 4.5))
    xs, ys = ds[xdim].values, ds[ydim].values
    top = 0.0
    for name, (x, y) in _parse_stations(stations).items():
        j, i, dist = nearest_wet_cell(ds, x, y)
        if dist > 5e3:
            log.warning(
                "station %r at (%g, %g) is %.1f km from the nearest wet cell",
                name,
                x,
                y,
                dist / 1e3,
            )
        series = da.values[:, j, i].astype(float)
        where = (
            f"{xs[i]:.2f}°E {ys[j]:.2f}°N"
            if geographic
            else f"{xs[i] / 1e3:.1f}, {ys[j] / 1e3:.1f} km"
        )
        ax.plot(
            days,
            series,
            marker="o" if days.size <= 30 else None,
            ms=3,
            lw=1.6,
            label=f"{name} ({where})",
        )
        top = max(top, float(np.nanmax(series)) if np.isfinite(series).any() else 0.0)
    ax.set_ylim(bottom=0.0, top=top * 1.08 if top > 0 else 1.0)
    ymax = ax.get_ylim()[1]
    if limits:
        for klass, value in parameter_limits(tracer):
            if value < ymax:
                ax.axhline(value, color="0.35", lw=0.9, ls="--", zorder=0)
                ax.text(
                    1.005,
                    value,
                    f"Class {ROMAN[klass]} limit",
                    va="center",
                    fontsize=8,
                    color="0.35",
                    transform=ax.get_yaxis_transform(),
                )
    time_axis(ax, ds, days)
    ax.set_ylabel(f"{tracer} [{units_text(ds[tracer])}]")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    ax.set_title(title if title is not None else f"{tracer} at stations", fontsize=11)
    return ax


def default_stations(ds: xr.Dataset, *, limit: int = 6) -> dict[str, tuple[float, float]]:
    """Stations for a time series when none are given.

    Geographic datasets: the wet cell nearest the centre of each shipped bay zone
    (``forcing/zones.toml``, kind "bay"). Cartesian ones: the cell of the highest time-mean
    concentration of the first tracer and points at 1/4, 1/2 and 3/4 of the domain's width on
    its middle row.
    """
    ydim, xdim, geographic = horizontal_dims(ds)
    xs, ys = ds[xdim].values.astype(float), ds[ydim].values.astype(float)
    wet = wet_mask(ds)
    stations: dict[str, tuple[float, float]] = {}
    if geographic:
        from bbw_bay.quality.zones import load_zones, zone_masks

        zones = [z for z in load_zones() if z.kind == "bay"]
        for zone in zones:
            mask = zone_masks(ds, [zone])[zone.key]
            if not mask.any():
                continue
            jj, ii = np.nonzero(mask)
            d = np.hypot(xs[ii] - xs[ii].mean(), ys[jj] - ys[jj].mean())
            k = int(np.argmin(d))
            stations[zone.name.split(" (")[0]] = (float(xs[ii[k]]), float(ys[jj[k]]))
            if len(stations) >= limit:
                break
        if stations:
            return stations
    tracers = tracers_in(ds)
    if tracers:
        first = ds[tracers[0]]
        mean = (first.mean("time") if "time" in first.dims else first).transpose(ydim, xdim).values
        if np.isfinite(mean).any():
            jp, ip = np.unravel_index(int(np.nanargmax(mean)), mean.shape)
            stations["peak"] = (float(xs[ip]), float(ys[jp]))
    jmid = ys.size // 2
    for frac in (0.25, 0.5, 0.75):
        i = int(frac * (xs.size - 1))
        if wet[jmid, i]:
            stations[f"{int(100 * frac)} % across"] = (float(xs[i]), float(ys[jmid]))
    return stations
