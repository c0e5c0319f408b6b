"""Pictures from bbw_bay Datasets: concentration, GB 3097 class and circulation maps, charts.

Every function takes ``ax=None`` (a new figure is made when None), returns the Axes it drew on,
imports matplotlib inside the function and never calls ``show()``. Maps of geographic datasets
have lon/lat axes in degrees with aspect 1/cos(mean latitude), so shapes and directions look as
on the globe; cartesian datasets are drawn in kilometres. Land (``wet == 0``) is a grey fill.

`plot_file` is what ``bbw-bay plot OUT.nc --kind KIND -o FIG.png`` calls.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import textwrap
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import xarray as xr

from bbw_bay.core.output import horizontal_dims
from bbw_bay.quality.standards import CLASSES, PARAMETERS, TRACER_PARAMETERS

log = logging.getLogger(__name__)

#: Fixed colours of the GB 3097 classes (1..4 = Class I..IV, 5 = worse than Class IV).
CLASS_COLOURS: dict[int, str] = {
    1: "#1f78b4",  # blue
    2: "#33a02c",  # green
    3: "#ffd92f",  # yellow
    4: "#ff7f00",  # orange
    5: "#e31a1c",  # red
}
#: English legend labels of the classes.
CLASS_NAMES_EN: dict[int, str] = {
    1: "Class I",
    2: "Class II",
    3: "Class III",
    4: "Class IV",
    5: "Worse than IV",
}
#: Chinese names (shown only when a font with CJK glyphs is installed).
CLASS_NAMES_ZH: dict[int, str] = {1: "第一类", 2: "第二类", 3: "第三类", 4: "第四类", 5: "劣四类"}
#: Kinds of picture `plot_file` can draw.
PLOT_KINDS = ("concentration", "class", "flow", "timeseries", "scenarios")

LAND_COLOUR = "#cfcac0"
_STATIC = ("depth", "cell_area", "wet", "u", "v")
_CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Sarasa Gothic SC",
    "SimHei",
    "Microsoft YaHei",
    "PingFang SC",
    "Heiti SC",
    "STHeiti",
    "Hiragino Sans GB",
    "AR PL UMing CN",
    "AR PL UKai CN",
    "Droid Sans Fallback",
    "Noto Serif CJK SC",
)


# ----------------------------------------------------------------------------- helpers
@functools.lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """Family name of an installed font with the glyphs of the Chinese class names, or None."""
    from matplotlib import font_manager, ft2font

    probe = "".join(CLASS_NAMES_ZH.values())
    fonts = {f.name: f.fname for f in font_manager.fontManager.ttflist}
    for family in _CJK_FAMILIES:
        path = fonts.get(family)
        if path is None:
            continue
        try:
            face = ft2font.FT2Font(path)
        except (OSError, RuntimeError):  # unreadable font file
            continue
        if all(face.get_char_index(ord(ch)) for ch in probe):
            return family
    return None


def class_labels() -> dict[int, str]:
    """Legend labels of classes 1..5: English, plus Chinese when a CJK font is installed."""
    if cjk_font() is None:
        return dict(CLASS_NAMES_EN)
    return {k: f"{CLASS_NAMES_EN[k]} {CLASS_NAMES_ZH[k]}" for k in CLASSES}


def tracers_in(ds: xr.Dataset) -> list[str]:
    """Names of the tracer variables of a model output (every field that is not static)."""
    ydim, xdim, _ = horizontal_dims(ds)
    return [
        str(v)
        for v in ds.data_vars
        if v not in _STATIC and ydim in ds[v].dims and xdim in ds[v].dims
    ]


def _check_tracer(ds: xr.Dataset, tracer: str) -> None:
    present = tracers_in(ds)
    if tracer not in ds or tracer not in present:
        raise ValueError(
            f"tracer {tracer!r} is not in the dataset; tracers present: "
            f"{', '.join(present) or 'none'}"
        )


def _coords(ds: xr.Dataset) -> tuple[np.ndarray, np.ndarray, bool]:
    """Plot coordinates of the cell centres: degrees, or kilometres on cartesian grids."""
    ydim, xdim, geographic = horizontal_dims(ds)
    x, y = ds[xdim].values.astype(float), ds[ydim].values.astype(float)
    return (x, y, True) if geographic else (x / 1e3, y / 1e3, False)


def _wet(ds: xr.Dataset) -> np.ndarray:
    ydim, xdim, _ = horizontal_dims(ds)
    if "wet" in ds:
        return ds["wet"].transpose(ydim, xdim).values != 0
    tracers = tracers_in(ds)
    if tracers:
        field = ds[tracers[0]]
        if "time" in field.dims:
            field = field.isel(time=0)
        return np.isfinite(field.transpose(ydim, xdim).values)
    return np.ones((ds.sizes[ydim], ds.sizes[xdim]), dtype=bool)


def _units(da: xr.DataArray) -> str:
    units = str(da.attrs.get("units", "mg L-1"))
    return {"mg L-1": "mg/L", "mg/l": "mg/L", "m s-1": "m/s", "m2": "m²"}.get(units, units)


def _time_days(ds: xr.Dataset) -> np.ndarray:
    """Times since the start of the run [days], whether or not xarray decoded them."""
    t = ds["time"].values
    if np.issubdtype(t.dtype, np.timedelta64):
        return t / np.timedelta64(1, "D")
    if np.issubdtype(t.dtype, np.datetime64):
        units = str(ds["time"].encoding.get("units", ds["time"].attrs.get("units", "")))
        ref = t[0]
        if " since " in units:
            with contextlib.suppress(ValueError):
                ref = np.datetime64(units.split(" since ", 1)[1].strip().replace(" ", "T"))
        return (t - ref) / np.timedelta64(1, "D")
    units = str(ds["time"].attrs.get("units", "seconds"))
    scale = {"days": 1.0, "hours": 1 / 24, "minutes": 1 / 1440}.get(units.split()[0], 1 / 86400)
    return t.astype(float) * scale


def _select(ds: xr.Dataset, tracer: str, time) -> tuple[xr.DataArray, str]:
    """(Y, X) field of ``tracer`` at record ``time`` (int) or its time mean ("mean"); a label."""
    ydim, xdim, _ = horizontal_dims(ds)
    da = ds[tracer]
    if "time" not in da.dims:
        return da.transpose(ydim, xdim), "steady state"
    if isinstance(time, str):
        if time != "mean":
            raise ValueError(f"time must be a record index or 'mean'; got {time!r}")
        days = _time_days(ds)
        return (da.mean("time").transpose(ydim, xdim), f"mean of days {days[0]:g}–{days[-1]:g}")
    k = int(time)
    if not -da.sizes["time"] <= k < da.sizes["time"]:
        raise ValueError(f"time index {k} is outside the {da.sizes['time']} records")
    return da.isel(time=k).transpose(ydim, xdim), f"day {_time_days(ds)[k]:.4g}"


def _new_axes(ax, figsize=(7.5, 6.0)):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _map_aspect(ds: xr.Dataset) -> float:
    """Screen height / width of one unit of x against one unit of y (1/cos φ on lon/lat)."""
    _, y, geographic = _coords(ds)
    return 1.0 / np.cos(np.deg2rad(float(np.mean(y)))) if geographic else 1.0


def map_figsize(
    ds: xr.Dataset, *, extra_width: float = 2.0, map_width: float = 5.8
) -> tuple[float, float]:
    """Figure size [inches] whose map panel has the map's own shape (so a colour bar beside it
    is as tall as the map), plus ``extra_width`` for a colour bar or legend."""
    x, y, _ = _coords(ds)
    span_x = float(np.ptp(_edges(x)))
    span_y = float(np.ptp(_edges(y)))
    height = float(np.clip(map_width * span_y * _map_aspect(ds) / span_x, 2.2, 9.0))
    width = map_width if height < 9.0 else 9.0 * span_x / (span_y * _map_aspect(ds))
    return (max(width, 3.0) + extra_width, height + 1.0)


def _map_axes(ax, ds: xr.Dataset) -> None:
    """Axis labels, degree ticks, aspect and limits of a map."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    x, y, geographic = _coords(ds)
    dx = np.diff(x).mean() if x.size > 1 else 1.0
    dy = np.diff(y).mean() if y.size > 1 else 1.0
    ax.set_xlim(x[0] - dx / 2, x[-1] + dx / 2)
    ax.set_ylim(y[0] - dy / 2, y[-1] + dy / 2)
    for axis in (ax.xaxis, ax.yaxis):  # at most ~6 labels: degree labels are wide
        axis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]))
    ax.set_aspect(_map_aspect(ds))
    if geographic:
        ax.xaxis.set_major_formatter(
            FuncFormatter(lambda v, _: f"{abs(v):g}°{'E' if v >= 0 else 'W'}")
        )
        ax.yaxis.set_major_formatter(
            FuncFormatter(lambda v, _: f"{abs(v):g}°{'N' if v >= 0 else 'S'}")
        )
        ax.set_xlabel("Longitude")
        ax.set_ylabel("Latitude")
    else:
        ax.set_xlabel("x [km]")
        ax.set_ylabel("y [km]")
    ax.tick_params(labelsize=9)


def _draw_land(ax, ds: xr.Dataset) -> None:
    """Grey fill over the land cells (wet == 0)."""
    from matplotlib.colors import ListedColormap

    x, y, _ = _coords(ds)
    land = np.ma.masked_where(_wet(ds), np.ones((y.size, x.size)))
    ax.pcolormesh(
        x, y, land, cmap=ListedColormap([LAND_COLOUR]), shading="nearest", zorder=2, rasterized=True
    )
    _draw_coast(ax, ds)


def _edges(centres: np.ndarray) -> np.ndarray:
    """Cell edges from centres (midpoints; half a spacing beyond the first and last)."""
    if centres.size == 1:
        return np.array([centres[0] - 0.5, centres[0] + 0.5])
    mid = 0.5 * (centres[1:] + centres[:-1])
    return np.concatenate([[2 * centres[0] - mid[0]], mid, [2 * centres[-1] - mid[-1]]])


def _draw_coast(ax, ds: xr.Dataset) -> None:
    """The coastline: every cell edge between a wet and a land cell, as a thin dark line."""
    from matplotlib.collections import LineCollection

    x, y, _ = _coords(ds)
    xe, ye = _edges(x), _edges(y)
    wet = _wet(ds)
    jj, ii = np.nonzero(wet[:, 1:] != wet[:, :-1])  # x-faces i+1 between columns i and i+1
    vertical = np.stack(
        [np.stack([xe[ii + 1], ye[jj]], -1), np.stack([xe[ii + 1], ye[jj + 1]], -1)], 1
    )
    jj, ii = np.nonzero(wet[1:, :] != wet[:-1, :])
    horizontal = np.stack(
        [np.stack([xe[ii], ye[jj + 1]], -1), np.stack([xe[ii + 1], ye[jj + 1]], -1)], 1
    )
    segments = np.concatenate([vertical, horizontal])
    if segments.size:
        ax.add_collection(LineCollection(segments, colors="0.3", linewidths=0.6, zorder=4))


def _subset(ds: xr.Dataset, extent) -> xr.Dataset:
    """The part of ``ds`` inside extent = (x0, x1, y0, y1) [lon/lat degrees or metres]."""
    if extent is None:
        return ds
    ydim, xdim, _ = horizontal_dims(ds)
    x0, x1, y0, y1 = (float(v) for v in extent)
    if not (x0 < x1 and y0 < y1):
        raise ValueError(
            f"extent must be (x0, x1, y0, y1) with x0 < x1 and y0 < y1; got {extent!r}"
        )
    inside_x = (ds[xdim] >= x0) & (ds[xdim] <= x1)
    inside_y = (ds[ydim] >= y0) & (ds[ydim] <= y1)
    if not inside_x.any() or not inside_y.any():
        raise ValueError(
            f"extent {extent!r} holds no cell centre of the dataset, which spans "
            f"{xdim} {float(ds[xdim].min()):g}–{float(ds[xdim].max()):g}, {ydim} "
            f"{float(ds[ydim].min()):g}–{float(ds[ydim].max()):g}"
        )
    return ds.isel({xdim: np.nonzero(inside_x.values)[0], ydim: np.nonzero(inside_y.values)[0]})


def _nice_ceiling(value: float) -> float:
    """The smallest of 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × 10^k that is >= value."""
    if not np.isfinite(value) or value <= 0:
        return 1.0
    exp = np.floor(np.log10(value))
    for step in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if step * 10**exp >= value * (1 - 1e-9):
            return float(step * 10**exp)
    return float(10 ** (exp + 1))


def _parameter_limits(tracer: str) -> list[tuple[int, float]]:
    """[(class, limit mg/L)] of GB 3097 for a tracer with an upper-limit standard, distinct."""
    key = TRACER_PARAMETERS.get(tracer)
    p = PARAMETERS.get(key) if key else None
    if p is None or p.direction != "upper":
        return []
    out: list[tuple[int, float]] = []
    for k, value in enumerate(p.limits, start=1):
        if not out or value > out[-1][1]:
            out.append((k, float(value)))
    return out


_ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV"}
#: Longest arrow of a flow map, in multiples of the quiver key (the 90th-percentile speed).
ARROW_CAP = 2.0
#: Percentile of the wet cells shown that sets the default top of a concentration colour scale.
ROBUST_PERCENTILE = 99.5


# ----------------------------------------------------------------------------- maps
def concentration_map(
    ds: xr.Dataset,
    tracer: str,
    *,
    time=-1,
    ax=None,
    vmax: float | None = None,
    vmin: float | None = None,
    log: bool = False,
    cmap: str = "viridis",
    title: str | None = None,
    limits: bool = True,
    extent=None,
):
    """Map of a tracer concentration over the coastline, with a colour bar in its units.

    Parameters
    ----------
    ds : model output (tracer in mg/L, NaN on land; ``wet``; dims (time,) Y, X)
    tracer : name of the tracer variable, e.g. "DIN"
    time : record index (default the last) or "mean" for the time mean; ignored for steady states
    ax : Axes to draw on (None: a new figure)
    vmax, vmin : colour-scale limits [mg/L]; default: the 99.5th percentile of the wet cells
        shown rounded up to a nice number (so a plume's nearshore gradient is resolved and only
        the outfall cells themselves saturate), and 0 (or the 1st percentile when the field
        varies little; for ``log``, the 1st percentile of the positive values)
    log : logarithmic colour scale
    cmap : matplotlib colour map name
    title : title (default: tracer, long name and time)
    limits : mark the GB 3097 class limits of the tracer on the colour bar
    extent : (x0, x1, y0, y1) to zoom on, in lon/lat degrees or metres

    Returns
    -------
    matplotlib Axes
    """
    from matplotlib.colors import LogNorm, Normalize
    from matplotlib.ticker import LogLocator, StrMethodFormatter

    _check_tracer(ds, tracer)
    ds = _subset(ds, extent)
    field, when = _select(ds, tracer, time)
    ax = _new_axes(ax, figsize=map_figsize(ds))
    x, y, _ = _coords(ds)
    data = np.ma.masked_invalid(field.values.astype(float))
    values = data.compressed()
    if values.size == 0:
        raise ValueError(f"tracer {tracer!r} has no finite value at {when}")
    if vmax is None:
        vmax = _nice_ceiling(float(np.percentile(values, ROBUST_PERCENTILE)))
    if log:
        positive = values[values > 0]
        floor = float(np.percentile(positive, 1)) if positive.size else vmax / 1e3
        vmin = vmin if vmin is not None else min(max(floor, vmax / 1e3), vmax / 10)
        norm = LogNorm(vmin=vmin, vmax=vmax)
    else:
        if vmin is None:
            low = float(np.percentile(values, 1))
            vmin = 0.0 if low < 0.5 * vmax else low
        norm = Normalize(vmin=vmin, vmax=vmax)
    mesh = ax.pcolormesh(
        x, y, data, cmap=cmap, norm=norm, shading="nearest", zorder=1, rasterized=True
    )
    _draw_land(ax, ds)
    _map_axes(ax, ds)
    over, under = values.max() > vmax, values.min() < vmin
    extend = {(True, True): "both", (True, False): "max", (False, True): "min"}.get(
        (bool(over), bool(under)), "neither"
    )
    cbar = ax.figure.colorbar(mesh, ax=ax, extend=extend, shrink=0.85, pad=0.02)
    marks = [(k, v) for k, v in _parameter_limits(tracer) if vmin < v < vmax * (1 - 1e-9)]
    marks = marks if limits else []
    cbar.set_label(
        f"{tracer} [{_units(field)}]" + ("\ndashed: GB 3097 class limits" if marks else ""),
        fontsize=10,
    )
    cbar.ax.tick_params(labelsize=9)
    if log:  # plain decimals (0.05, 0.1, 0.2) read better than 5×10⁻² for most readers
        cbar.ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        cbar.ax.yaxis.set_major_formatter(StrMethodFormatter("{x:g}"))
        cbar.ax.yaxis.set_minor_formatter(StrMethodFormatter(""))
    for klass, value in marks:
        cbar.ax.axhline(value, color="white", lw=1.6)
        cbar.ax.axhline(value, color="black", lw=0.8, ls="--")
        cbar.ax.text(
            -0.15,
            value,
            _ROMAN[klass],
            transform=cbar.ax.get_yaxis_transform(),
            ha="right",
            va="center",
            fontsize=8,
        )
    long_name = field.attrs.get("long_name", "")
    ax.set_title(
        title if title is not None else f"{tracer}{f' – {long_name}' if long_name else ''}, {when}",
        fontsize=11,
    )
    return ax


def contribution_map(
    maps: xr.Dataset, source: str, *, tracer: str | None = None, ax=None, log: bool = True, **kwargs
):
    """Map of one source's steady excess concentration [mg/L] at today's load.

    ``maps`` is `control.response.contribution_maps` output (dims source, Y, X); other keyword
    arguments go to `concentration_map` (log colour scale by default: plumes span decades; the
    colour scale tops at the plume's peak unless ``vmax`` is given).
    Returns the Axes.
    """
    if "source" not in maps.dims or source not in maps["source"].values:
        known = list(maps["source"].values) if "source" in maps.dims else []
        raise ValueError(f"no contribution map for source {source!r} (maps: {known})")
    tracer = tracer or tracers_in(maps)[0]
    field = maps.sel(source=source)
    title = kwargs.pop("title", f"{tracer} excess from {source} at today's load (steady, upwind)")
    peak = float(np.nanmax(field[tracer].values))
    if peak > 0:  # the plume's peak, not a robust percentile: the river mouth is the point
        kwargs.setdefault("vmax", _nice_ceiling(peak))
    kwargs.setdefault("limits", False)  # GB 3097 limits apply to the total, not one source
    return concentration_map(field, tracer, ax=ax, log=log, title=title, **kwargs)


def class_map(
    ds: xr.Dataset,
    *,
    tracer: str | None = None,
    time=-1,
    ax=None,
    title: str | None = None,
    legend_loc: str = "outside",
    extent=None,
):
    """GB 3097-1997 class map with a fixed five-class colour legend.

    Parameters
    ----------
    ds : model output (tracers in mg/L, ``wet``, ``cell_area``)
    tracer : one tracer (single-factor class), or None for the worst class over every tracer
        with a GB 3097 standard
    time : record index (default the last) or "mean" (the evaluated field of
        `bbw_bay.quality.evaluate`); ignored for steady states
    ax : Axes to draw on (None: a new figure)
    title : title (default: what is classified and when)
    legend_loc : "outside" (right of the map) or a matplotlib legend location inside it
    extent : (x0, x1, y0, y1) to zoom on, in lon/lat degrees or metres; shares then refer to
        the sea area shown

    Returns
    -------
    matplotlib Axes. The legend always lists Class I, II, III, IV and worse than IV (劣四类 with
    a CJK font) in blue, green, yellow, orange and red, each with its share of the sea area.
    """
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.patches import Patch

    from bbw_bay.quality.evaluate import class_map as evaluate_class_map

    if tracer is not None:
        _check_tracer(ds, tracer)
        if tracer not in TRACER_PARAMETERS:
            raise ValueError(
                f"tracer {tracer!r} has no GB 3097 standard; tracers with one: "
                f"{', '.join(t for t in tracers_in(ds) if t in TRACER_PARAMETERS)}"
            )
    ds = _subset(ds, extent)
    ydim, xdim, _ = horizontal_dims(ds)
    names = [tracer] if tracer else [t for t in tracers_in(ds) if t in TRACER_PARAMETERS]
    if not names:
        raise ValueError(
            f"no tracer with a GB 3097 standard in the dataset (tracers present: "
            f"{', '.join(tracers_in(ds)) or 'none'})"
        )
    fields, when = {}, "steady state"
    for name in names:
        fields[name], when = _select(ds, name, time)
    sub = xr.Dataset(fields)
    for static in ("wet", "cell_area"):
        if static in ds:
            sub[static] = ds[static]
    klass = evaluate_class_map(sub, tracer).transpose(ydim, xdim).values
    ax = _new_axes(ax, figsize=map_figsize(ds, extra_width=3.0))
    x, y, _ = _coords(ds)
    cmap = ListedColormap([CLASS_COLOURS[k] for k in CLASSES])
    norm = BoundaryNorm(np.arange(0.5, len(CLASSES) + 1.0), cmap.N)
    ax.pcolormesh(
        x,
        y,
        np.ma.masked_equal(klass, 0),
        cmap=cmap,
        norm=norm,
        shading="nearest",
        zorder=1,
        rasterized=True,
    )
    _draw_land(ax, ds)
    _map_axes(ax, ds)
    area = (
        ds["cell_area"].transpose(ydim, xdim).values if "cell_area" in ds else np.ones(klass.shape)
    )
    total = area[klass > 0].sum()
    labels = class_labels()
    handles = []
    for k in CLASSES:
        share = area[klass == k].sum() / total if total > 0 else 0.0
        handles.append(
            Patch(
                facecolor=CLASS_COLOURS[k],
                edgecolor="0.3",
                linewidth=0.5,
                label=f"{labels[k]}  {_share_text(share)}",
            )
        )
    handles.append(Patch(facecolor=LAND_COLOUR, edgecolor="0.3", linewidth=0.5, label="land"))
    prop = {"size": 9}
    if cjk_font() is not None:
        prop["family"] = [cjk_font(), "DejaVu Sans"]
    where = (
        dict(loc="center left", bbox_to_anchor=(1.02, 0.5))
        if legend_loc == "outside"
        else dict(loc=legend_loc)
    )
    ax.legend(
        handles=handles,
        title="GB 3097 class, % of sea area",
        prop=prop,
        title_fontsize=9,
        frameon=True,
        **where,
    )
    what = f"{tracer} single-factor class" if tracer else "Water quality class (worst factor)"
    ax.set_title(title if title is not None else f"{what}, {when}", fontsize=11)
    return ax


def _share_text(share: float) -> str:
    """An area share as a percentage that never shows a small nonzero share as 0 %."""
    pct = 100.0 * share
    if pct == 0 or pct >= 100:
        return f"{pct:.0f} %"
    if pct < 0.1:
        return "<0.1 %"
    if pct > 99.9 and share < 1:
        return ">99.9 %"
    return f"{pct:.1f} %" if pct < 10 or pct > 90 else f"{pct:.0f} %"


def _flow_centre_velocities(flow, time: float):
    """Centre velocities [m/s] of a Flow: mean face transport / (h Δ), NaN on land."""
    g = flow.grid
    tu, tv = flow.at(time)
    wet = g.wet
    h = np.where(wet, g.depth, 1.0)
    width_y = 0.5 * (g.length_u[:, 1:] + g.length_u[:, :-1])
    width_x = 0.5 * (g.length_v[1:] + g.length_v[:-1])
    u = 0.5 * (tu[:, 1:] + tu[:, :-1]) / (h * width_y)
    v = 0.5 * (tv[1:] + tv[:-1]) / (h * width_x)
    return np.where(wet, u, np.nan), np.where(wet, v, np.nan)


def _flow_dataset(flow, time: float) -> xr.Dataset:
    """A Dataset with u, v [m/s], depth and wet at cell centres from a `bbw_bay.core.flow.Flow`."""
    g = flow.grid
    ydim, xdim = ("lat", "lon") if g.geographic else ("y", "x")
    u, v = _flow_centre_velocities(flow, time)
    dims = (ydim, xdim)
    return xr.Dataset(
        {
            "u": (dims, u),
            "v": (dims, v),
            "depth": (dims, np.where(g.wet, g.depth, np.nan)),
            "wet": (dims, g.wet.astype(np.int8)),
        },
        coords={ydim: g.y_centre, xdim: g.x_centre},
    )


def flow_map(
    flow_or_ds,
    *,
    ax=None,
    kind: str = "streamlines",
    depth: bool = True,
    density: float | None = None,
    time=0,
    title: str | None = None,
    extent=None,
):
    """Depth-averaged circulation over the bathymetry.

    Parameters
    ----------
    flow_or_ds : a `bbw_bay.core.flow.Flow` (face transports, converted to centre velocities
        u = (U_w + U_e) / 2 / (h Δy), v likewise) or a Dataset with ``u``, ``v`` [m/s] at cell
        centres (dims (time,) Y, X) and ``depth`` [m]
    ax : Axes to draw on (None: a new figure)
    kind : "streamlines" (line width proportional to speed) or "arrows" (with a scale key)
    depth : shade the depth in blues with a colour bar
    density : streamline density (default 1.6), or arrows across the map (default 28, and at
        most one per 0.22 inch of map width)
    time : for a Flow, time [s]; for a Dataset with a time dimension, the record index
    title : title (default: "Depth-averaged current" and the maximum speed)
    extent : (x0, x1, y0, y1) to zoom on, in lon/lat degrees or metres

    Returns
    -------
    matplotlib Axes
    """
    from matplotlib.colors import ListedColormap, Normalize
    from matplotlib.patches import Rectangle

    if kind not in ("streamlines", "arrows"):
        raise ValueError(f"unknown flow_map kind {kind!r}; valid kinds: streamlines, arrows")
    if isinstance(flow_or_ds, xr.Dataset):
        ds = flow_or_ds
        missing = [n for n in ("u", "v") if n not in ds]
        if missing:
            raise ValueError(
                f"dataset has no {' and '.join(missing)} velocity at cell centres; "
                f"variables present: {', '.join(map(str, ds.data_vars))}"
            )
    else:
        ds = _flow_dataset(flow_or_ds, float(time))
    ds = _subset(ds, extent)
    ydim, xdim, geographic = horizontal_dims(ds)
    fields = []
    for name in ("u", "v"):
        da = ds[name]
        if "time" in da.dims:
            da = da.isel(time=int(time))
        fields.append(da.transpose(ydim, xdim).values.astype(float))
    u, v = fields
    wet = _wet(ds) & np.isfinite(u) & np.isfinite(v)
    u, v = np.where(wet, u, np.nan), np.where(wet, v, np.nan)
    ax = _new_axes(ax, figsize=map_figsize(ds))
    x, y, _ = _coords(ds)
    if depth and "depth" in ds:
        h = np.ma.masked_invalid(np.where(wet, ds["depth"].transpose(ydim, xdim).values, np.nan))
        hmax = _nice_ceiling(float(np.percentile(h.compressed(), 99))) if h.count() else 1.0
        blues = ListedColormap(
            __import__("matplotlib").colormaps["Blues"](np.linspace(0.18, 0.8, 256))
        )
        mesh = ax.pcolormesh(
            x,
            y,
            h,
            cmap=blues,
            norm=Normalize(0.0, hmax),
            shading="nearest",
            zorder=0,
            rasterized=True,
        )
        cbar = ax.figure.colorbar(
            mesh, ax=ax, shrink=0.85, pad=0.02, extend="max" if h.max() > hmax else "neither"
        )
        cbar.set_label("Depth [m]", fontsize=10)
        cbar.ax.tick_params(labelsize=9)
        cbar.ax.invert_yaxis()
    speed = np.hypot(u, v)
    smax = float(np.nanmax(speed)) if np.isfinite(speed).any() else 0.0
    # the screen direction of (u, v) on a map of aspect 1/cos φ0 is that of (u / cos φ, v) in
    # degrees: the eastward displacement per degree of longitude shrinks with cos φ
    stretch = 1.0 / np.cos(np.deg2rad(y))[:, None] if geographic else 1.0
    if kind == "streamlines":
        p90 = float(np.nanpercentile(speed, 90)) if smax > 0 else 1.0
        width = 0.4 + 2.2 * np.clip(np.nan_to_num(speed) / (p90 or 1.0), 0, 1)
        ax.streamplot(
            x,
            y,
            np.ma.masked_invalid(u * stretch),
            np.ma.masked_invalid(v),
            density=density or 1.6,
            color="#1b1b1b",
            linewidth=width,
            arrowsize=0.8,
            zorder=3,
        )
        note = f"line width ∝ speed (full at {100 * p90:.2g} cm/s and above)"
    else:
        box = ax.get_window_extent()
        # at most one arrow per 0.22 inch of map width, so arrows stay longer than their heads
        n = int(min(density or 28, max(4, box.width / ax.figure.dpi / 0.22)))
        sx, sy = max(1, x.size // n), max(1, y.size // n)
        jj, ii = np.meshgrid(
            np.arange(sy // 2, y.size, sy), np.arange(sx // 2, x.size, sx), indexing="ij"
        )
        uu, vv = u[jj, ii], v[jj, ii]
        keep = np.isfinite(uu) & np.isfinite(vv)
        key = _nice_ceiling(float(np.nanpercentile(speed, 90))) if smax > 0 else 1.0
        # arrows longer than ARROW_CAP keys would cross islands: shorten them, draw them red
        cap = ARROW_CAP * key
        sp = np.hypot(uu, vv)
        fast = keep & (sp > cap)
        shrink = np.where(fast, cap / np.where(sp > 0, sp, 1.0), 1.0)
        # the key arrow is as long as 0.9 arrow spacings, so neighbouring arrows rarely overlap
        spacing_in = box.width / ax.figure.dpi / max(1, x.size // sx)
        style = dict(
            angles="uv",
            scale_units="inches",
            scale=key / (0.9 * spacing_in),
            width=0.0028,
            headwidth=3.5,
            headlength=4.0,
            headaxislength=3.5,
            zorder=3,
        )
        q = ax.quiver(
            x[ii][keep & ~fast],
            y[jj][keep & ~fast],
            uu[keep & ~fast],
            vv[keep & ~fast],
            color="#1b1b1b",
            **style,
        )
        if fast.any():
            ax.quiver(
                x[ii][fast],
                y[jj][fast],
                (uu * shrink)[fast],
                (vv * shrink)[fast],
                color="#b2182b",
                **style,
            )
        label = f"{100 * key:g} cm/s" if key < 1 else f"{key:g} m/s"
        ax.add_patch(
            Rectangle(
                (0.8, 0.0),
                0.2,
                0.075,
                transform=ax.transAxes,
                zorder=5,
                facecolor="white",
                alpha=0.8,
                edgecolor="none",
            )
        )
        qk = ax.quiverkey(
            q, 0.83, 0.035, key, label, labelpos="E", coordinates="axes", fontproperties={"size": 8}
        )
        qk.set_zorder(6)
        note = "arrows: depth-averaged velocity"
        if fast.any():
            note += f"\nred: faster than {100 * cap:.3g} cm/s, shortened"
    _draw_land(ax, ds)
    _map_axes(ax, ds)
    ax.text(
        0.01,
        0.01,
        note,
        transform=ax.transAxes,
        fontsize=8,
        color="0.2",
        zorder=5,
        bbox=dict(facecolor="white", alpha=0.7, edgecolor="none", pad=1.5),
    )
    ax.set_title(
        title if title is not None else f"Depth-averaged current (max {100 * smax:.3g} cm/s)",
        fontsize=11,
    )
    return ax


# ----------------------------------------------------------------------------- time series
def nearest_wet_cell(ds: xr.Dataset, x: float, y: float) -> tuple[int, int, float]:
    """(j, i, distance [m]) of the wet cell whose centre is nearest to (x, y) (lon/lat or m)."""
    ydim, xdim, geographic = horizontal_dims(ds)
    xs, ys = ds[xdim].values.astype(float), ds[ydim].values.astype(float)
    jj, ii = np.nonzero(_wet(ds))
    if geographic:
        from bbw_bay.units import EARTH_RADIUS

        lam0, phi0 = np.deg2rad(x), np.deg2rad(y)
        lam, phi = np.deg2rad(xs[ii]), np.deg2rad(ys[jj])
        a = (
            np.sin((phi - phi0) / 2) ** 2
            + np.cos(phi0) * np.cos(phi) * np.sin((lam - lam0) / 2) ** 2
        )
        d = 2 * EARTH_RADIUS * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))
    else:
        d = np.hypot(xs[ii] - x, ys[jj] - y)
    k = int(np.argmin(d))
    return int(jj[k]), int(ii[k]), float(d[k])


def _parse_stations(stations) -> dict[str, tuple[float, float]]:
    """{name: (x, y)} from a mapping or from strings "NAME=X,Y" (as given on a command line)."""
    if isinstance(stations, Mapping):
        items = stations.items()
    else:
        items = []
        for text in stations:
            name, sep, where = str(text).partition("=")
            parts = where.split(",")
            if not sep or len(parts) != 2:
                raise ValueError(f"station {text!r} must read NAME=X,Y (lon,lat or metres)")
            items.append((name.strip(), parts))
    out = {}
    for name, xy in items:
        try:
            x, y = (float(c) for c in xy)
        except (TypeError, ValueError):
            raise ValueError(
                f"station {name!r}: position must be two numbers (x, y); got {xy!r}"
            ) from None
        out[str(name)] = (x, y)
    if not out:
        raise ValueError("give at least one station as {name: (x, y)}")
    return out


def timeseries(
    ds: xr.Dataset, tracer: str, stations, *, ax=None, limits: bool = True, title: str | None = None
):
    """Concentration against time [days] at named stations (nearest wet cell of each).

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
    _check_tracer(ds, tracer)
    if "time" not in ds[tracer].dims:
        raise ValueError(
            f"tracer {tracer!r} has no time dimension (a steady state); "
            "a time series needs a run's output"
        )
    ydim, xdim, geographic = horizontal_dims(ds)
    days = _time_days(ds)
    da = ds[tracer].transpose("time", ydim, xdim)
    ax = _new_axes(ax, figsize=(8.0, 4.5))
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
        for klass, value in _parameter_limits(tracer):
            if value < ymax:
                ax.axhline(value, color="0.35", lw=0.9, ls="--", zorder=0)
                ax.text(
                    1.005,
                    value,
                    f"Class {_ROMAN[klass]} limit",
                    va="center",
                    fontsize=8,
                    color="0.35",
                    transform=ax.get_yaxis_transform(),
                )
    ax.set_xlabel("Time [days]")
    ax.set_ylabel(f"{tracer} [{_units(ds[tracer])}]")
    ax.set_xlim(days[0], days[-1] if days[-1] > days[0] else days[0] + 1)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    ax.set_title(title if title is not None else f"{tracer} at stations", fontsize=11)
    return ax


# ----------------------------------------------------------------------------- bar charts
def _table(data, row_dim: str, col_dim: str, what: str):
    """(row labels, column labels, (nrow, ncol) values) from a 2-D DataArray or dict of dicts."""
    if isinstance(data, xr.DataArray):
        if data.ndim == 1 and data.dims[0] == row_dim:
            data = data.expand_dims({col_dim: ["value"]}, axis=1)
        if set(data.dims) != {row_dim, col_dim}:
            raise ValueError(
                f"{what} must have dims ({row_dim}, {col_dim}); got {data.dims} "
                f"(select the others first, e.g. .sel(tracer='DIN'))"
            )
        data = data.transpose(row_dim, col_dim)
        return (
            [str(r) for r in data[row_dim].values],
            [str(c) for c in data[col_dim].values],
            data.values.astype(float),
        )
    if not isinstance(data, Mapping) or not data:
        raise ValueError(
            f"{what} must be a DataArray ({row_dim}, {col_dim}) or a non-empty "
            f"dict {{{row_dim}: {{{col_dim}: value}}}}"
        )
    rows = [str(r) for r in data]
    cols: list[str] = []
    for inner in data.values():
        if not isinstance(inner, Mapping):
            raise ValueError(
                f"{what}: each {row_dim} must map {col_dim} names to values; got {inner!r}"
            )
        cols += [str(c) for c in inner if str(c) not in cols]
    values = np.array(
        [
            [float({str(k): v for k, v in data[r].items()}.get(c, np.nan)) for c in cols]
            for r in data
        ],
        dtype=float,
    )
    return rows, cols, values


def scenario_figsize(n_scenarios: int, n_zones: int) -> tuple[float, float]:
    """Figure size [inches] of `scenario_bars`: room for every bar and its label."""
    group_in = max(1.1, 0.32 * n_scenarios)  # inches per zone
    return (max(6.0, group_in * n_zones + 2.5), 4.8)


def scenario_bars(
    table,
    *,
    metric: str = "overall_good_share",
    ax=None,
    percent: bool | None = None,
    ylabel: str | None = None,
    title: str | None = None,
):
    """Grouped bars comparing scenarios zone by zone.

    Parameters
    ----------
    table : ``{scenario: {zone: value}}``, an xr.DataArray with dims (scenario, zone) or
        (scenario,), or an xr.Dataset holding ``metric`` with those dims (e.g. `evaluate`
        results concatenated along ``scenario``)
    metric : variable to take from a Dataset; also names the y axis
    ax : Axes to draw on (None: a new figure)
    percent : show values × 100 in %; default when the metric is a share
    ylabel, title : override the labels

    Returns
    -------
    matplotlib Axes, one colour per scenario, zones along the x axis.
    """
    zone_names = {}
    if isinstance(table, xr.Dataset):
        if metric not in table:
            raise ValueError(
                f"metric {metric!r} is not in the table; variables: "
                f"{', '.join(map(str, table.data_vars))}"
            )
        if "zone_name" in table.coords and "zone" in table.dims:
            zone_names = dict(
                zip(
                    map(str, table["zone"].values), map(str, table["zone_name"].values), strict=True
                )
            )
        table = table[metric]
    if isinstance(table, xr.DataArray):
        for extra in ("zone_name", "zone_name_zh"):
            if extra in table.coords and "zone" in table.dims:
                zone_names = zone_names or dict(
                    zip(map(str, table["zone"].values), map(str, table[extra].values), strict=True)
                )
    scenarios, zones, values = _table(table, "scenario", "zone", "scenario table")
    if percent is None:
        percent = "share" in metric or "fraction" in metric
    scale = 100.0 if percent else 1.0
    ax = _new_axes(ax, figsize=scenario_figsize(len(scenarios), len(zones)))
    n = len(scenarios)
    width = 0.8 / n
    colours = __import__("matplotlib").colormaps["tab10"].colors
    xpos = np.arange(len(zones))
    for k, scenario in enumerate(scenarios):
        heights = scale * values[k]
        bars = ax.bar(
            xpos + (k - (n - 1) / 2) * width,
            np.nan_to_num(heights),
            width * 0.95,
            label=scenario,
            color=colours[k % len(colours)],
            zorder=2,
        )
        if n * len(zones) <= 48:  # label every bar, so a zero is seen as 0 and not as missing
            ax.bar_label(
                bars,
                labels=[
                    "n/a" if not np.isfinite(h) else (f"{h:.0f}" if percent else f"{h:.3g}")
                    for h in heights
                ],
                fontsize=6 if n * len(zones) > 24 else 7,
                padding=1,
            )
    ax.set_xticks(xpos)
    labels = [textwrap.fill(zone_names.get(z, z).split(" (")[0], 16) for z in zones]
    ax.set_xticklabels(labels, fontsize=8)
    pretty = metric.replace("overall_", "").replace("_", " ")
    if "good_share" in metric:
        pretty = "Class I + II area share"
    ax.set_ylabel(ylabel or (f"{pretty} [%]" if percent else pretty), fontsize=10)
    if percent:
        ax.set_ylim(0, 108)
    ax.grid(True, axis="y", alpha=0.3, zorder=0)
    ax.legend(
        title="scenario", fontsize=8, title_fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0)
    )
    ax.set_title(title if title is not None else f"{pretty} by zone and scenario", fontsize=11)
    return ax


def apportionment_bars(
    contributions, *, ax=None, top: int = 10, title: str | None = None, units: str = "mg/L"
):
    """Each source's share of the concentration at each zone, as stacked horizontal bars.

    Parameters
    ----------
    contributions : xr.DataArray with dims (zone, source), or ``{zone: {source: value}}``;
        values are contributions (e.g. mg/L of DIN at the zone from each source), >= 0
    ax : Axes to draw on (None: a new figure)
    top : the ``top`` sources with the largest total contribution get their own colour; the
        rest are summed as "other sources"
    title : title
    units : units of the contributions, shown in the bar-end totals

    Returns
    -------
    matplotlib Axes; bars are normalised to 100 % per zone and each ends with the zone total.
    """
    zones, sources, values = _table(contributions, "zone", "source", "contributions")
    values = np.nan_to_num(values)
    if np.any(values < 0):
        raise ValueError("contributions must be >= 0")
    order = np.argsort(-values.sum(axis=0), kind="stable")
    keep = order[:top]
    parts = [values[:, k] for k in keep]
    names = [sources[k] for k in keep]
    if order.size > top:
        parts.append(values[:, order[top:]].sum(axis=1))
        names.append(f"other sources ({order.size - top})")
    totals = values.sum(axis=1)
    shares = np.array(parts) / np.where(totals > 0, totals, 1.0)  # (nsource, nzone)
    ax = _new_axes(ax, figsize=(9.0, max(3.0, 0.45 * len(zones) + 1.8)))
    colours = list(__import__("matplotlib").colormaps["tab10"].colors)
    ypos = np.arange(len(zones))[::-1]
    left = np.zeros(len(zones))
    for k, (name, share) in enumerate(zip(names, shares, strict=True)):
        colour = "0.7" if name.startswith("other sources") else colours[k % len(colours)]
        ax.barh(
            ypos,
            100 * share,
            left=100 * left,
            color=colour,
            label=name,
            edgecolor="white",
            linewidth=0.5,
            height=0.7,
        )
        for yy, ll, ss in zip(ypos, left, share, strict=True):
            if ss >= 0.08:
                ax.text(
                    100 * (ll + ss / 2),
                    yy,
                    f"{100 * ss:.0f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if colour != "0.7" else "black",
                )
        left += share
    for yy, total in zip(ypos, totals, strict=True):
        ax.text(101, yy, f"{total:.3g} {units}", va="center", fontsize=7, color="0.3")
    ax.set_yticks(ypos)
    ax.set_yticklabels(zones, fontsize=8)
    ax.set_xlim(0, 118)
    ax.set_xticks(np.arange(0, 101, 20))
    ax.set_xlabel("Share of the zone's source contribution [%]")
    ax.legend(
        fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), title="source", title_fontsize=8
    )
    ax.set_title(title if title is not None else "Source apportionment by zone", fontsize=11)
    return ax


def capacity_bars(current, allowable, *, ax=None, title: str | None = None, units: str = "t/yr"):
    """Current against allowable loads per source, with the required cut annotated.

    Parameters
    ----------
    current, allowable : ``{source: load}`` or xr.DataArray with dim ``source`` [t/yr]
    ax : Axes to draw on (None: a new figure)
    title : title
    units : load units for the axis label

    Returns
    -------
    matplotlib Axes: for each source a grey bar (current) and a green one (allowable), with
    "cut N %" where the allowable load is below the current one and "OK" otherwise.
    """

    def as_dict(obj, what):
        if isinstance(obj, xr.DataArray):
            if obj.dims != ("source",):
                raise ValueError(f"{what} must have the single dim 'source'; got {obj.dims}")
            return {str(s): float(v) for s, v in zip(obj["source"].values, obj.values, strict=True)}
        if not isinstance(obj, Mapping) or not obj:
            raise ValueError(f"{what} must be a non-empty {{source: load}} mapping")
        return {str(k): float(v) for k, v in obj.items()}

    cur, allow = as_dict(current, "current"), as_dict(allowable, "allowable")
    missing = sorted(set(cur) ^ set(allow))
    if missing:
        raise ValueError(
            f"current and allowable loads must name the same sources; "
            f"unmatched: {', '.join(missing)}"
        )
    names = sorted(cur, key=lambda s: -cur[s])
    c = np.array([cur[s] for s in names])
    a = np.array([allow[s] for s in names])
    ax = _new_axes(ax, figsize=(8.5, max(3.0, 0.5 * len(names) + 1.5)))
    ypos = np.arange(len(names))[::-1]
    h = 0.38
    ax.barh(ypos + h / 2, c, h, color="0.6", label="current load", zorder=2)
    ax.barh(ypos - h / 2, a, h, color="#33a02c", label="allowable load", zorder=2)
    biggest = float(max(c.max(), a.max(), 0.0)) or 1.0
    for yy, cc, aa in zip(ypos, c, a, strict=True):
        if aa < cc:
            cut = 100.0 * (cc - aa) / cc
            text, colour = f"cut {cut:.0f} % ({_load_text(cc - aa)} {units})", "#b2182b"
        else:
            text, colour = "OK", "#1a7837"
        ax.text(
            max(cc, aa) + 0.015 * biggest,
            yy,
            text,
            va="center",
            fontsize=8,
            color=colour,
            fontweight="bold",
        )
    ax.set_xlim(0, biggest * 1.45)
    ax.set_yticks(ypos)
    ax.set_yticklabels(names, fontsize=8)
    ax.set_xlabel(f"Load [{units}]")
    if biggest >= 1000:
        from matplotlib.ticker import StrMethodFormatter

        ax.xaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    ax.grid(True, axis="x", alpha=0.3, zorder=0)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title if title is not None else "Allowable against current loads", fontsize=11)
    return ax


def _load_text(value: float) -> str:
    """A load to three significant figures without exponent: 11,800 rather than 1.18e+04."""
    rounded = float(f"{value:.3g}")
    return f"{rounded:,.0f}" if abs(rounded) >= 100 else f"{rounded:g}"


# ----------------------------------------------------------------------------- files
def save_figure(fig, path: str | os.PathLike, *, dpi: int = 150) -> Path:
    """Save ``fig`` atomically (temporary file in the same folder, then rename); returns the path.

    The format follows the file suffix (png, pdf, svg, ...).
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise OSError(f"output folder {folder} does not exist")
    fmt = path.suffix.lstrip(".").lower() or "png"
    from bbw_bay.core.output import atomic_write

    atomic_write(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight"))
    return path


def default_stations(ds: xr.Dataset, *, limit: int = 6) -> dict[str, tuple[float, float]]:
    """Stations for a time series when none are given.

    Geographic datasets: the wet cell nearest the centre of each shipped bay zone
    (``forcing/zones.toml``, kind "bay"). Cartesian ones: the cell of the highest time-mean
    concentration of the first tracer and points at 1/4, 1/2 and 3/4 of the domain's width on
    its middle row.
    """
    ydim, xdim, geographic = horizontal_dims(ds)
    xs, ys = ds[xdim].values.astype(float), ds[ydim].values.astype(float)
    wet = _wet(ds)
    stations: dict[str, tuple[float, float]] = {}
    if geographic:
        from bbw_bay.quality.evaluate import load_zones, zone_masks

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
        mean = ds[tracers[0]]
        mean = (mean.mean("time") if "time" in mean.dims else mean).transpose(ydim, xdim).values
        if np.isfinite(mean).any():
            j, i = np.unravel_index(int(np.nanargmax(mean)), mean.shape)
            stations["peak"] = (float(xs[i]), float(ys[j]))
    jmid = ys.size // 2
    for frac in (0.25, 0.5, 0.75):
        i = int(frac * (xs.size - 1))
        if wet[jmid, i]:
            stations[f"{int(100 * frac)} % across"] = (float(xs[i]), float(ys[jmid]))
    return stations


def plot_file(
    path: str | os.PathLike,
    kind: str,
    *,
    tracer: str | None = None,
    output: str | os.PathLike | None = None,
    **kw,
) -> Path:
    """Draw one kind of picture from a bbw_bay netCDF file and save it as an image.

    Parameters
    ----------
    path : netCDF written by ``bbw-bay run`` or ``bbw-bay steady`` (or a scenario table)
    kind : "concentration", "class", "flow", "timeseries" or "scenarios"
    tracer : tracer variable (default: the first tracer in the file; for "class", every tracer
        with a GB 3097 standard)
    output : image path (default ``<file stem>_<kind>.png`` next to the netCDF)
    **kw : passed on to the plotting function (e.g. ``time``, ``vmax``, ``log``, ``stations``,
        ``metric``)

    Returns
    -------
    Path of the image written.
    """
    from matplotlib.figure import Figure

    if kind not in PLOT_KINDS:
        raise ValueError(f"unknown plot kind {kind!r}; valid kinds: {', '.join(PLOT_KINDS)}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such netCDF file: {path}")
    output = Path(output) if output is not None else path.with_name(f"{path.stem}_{kind}.png")
    with xr.open_dataset(path, decode_times=False) as ds:
        ds = ds.load()
    if kind == "scenarios":
        table = _scenario_table(ds, tracer=tracer, metric=kw.get("metric"))
        figure = Figure(
            figsize=scenario_figsize(table.sizes.get("scenario", 1), table.sizes.get("zone", 1)),
            layout="constrained",
        )
        scenario_bars(table, ax=figure.add_subplot(), **kw)
        return save_figure(figure, output)
    present = tracers_in(ds)
    if tracer is not None:
        _check_tracer(ds, tracer)
    if kind == "flow":
        figure = Figure(figsize=(8.0, 6.5), layout="constrained")
        flow_map(ds, ax=figure.add_subplot(), **kw)
        return save_figure(figure, output)
    if not present:
        raise ValueError(
            f"{path} holds no tracer field (variables: {', '.join(map(str, ds.data_vars))})"
        )
    figure = Figure(
        figsize=(8.0, 6.5) if kind != "timeseries" else (9.0, 4.8), layout="constrained"
    )
    ax = figure.add_subplot()
    if kind == "concentration":
        concentration_map(ds, tracer or present[0], ax=ax, **kw)
    elif kind == "class":
        class_map(ds, tracer=tracer, ax=ax, **kw)
    else:
        stations = kw.pop("stations", None) or default_stations(ds)
        timeseries(ds, tracer or present[0], stations, ax=ax, **kw)
    return save_figure(figure, output)


def _scenario_table(ds: xr.Dataset, *, tracer: str | None, metric: str | None):
    """The (scenario, zone) table of a scenarios file: the metric variable, or, for tracer
    fields with a ``scenario`` dimension, `bbw_bay.quality.evaluate.evaluate` of each scenario."""
    if "scenario" not in ds.dims:
        raise ValueError(
            "a scenarios plot needs a file with a 'scenario' dimension "
            f"(dims here: {', '.join(map(str, ds.dims))})"
        )
    metric = metric or "overall_good_share"
    if metric in ds:
        table = ds[metric]
        if "tracer" in table.dims:
            table = table.sel(tracer=tracer) if tracer else table.isel(tracer=0)
        return table
    from bbw_bay.quality.evaluate import evaluate

    results = [
        evaluate(ds.sel(scenario=s), tracers=[tracer] if tracer else None)
        for s in ds["scenario"].values
    ]
    table = xr.concat(results, dim="scenario").assign_coords(scenario=ds["scenario"].values)
    if metric not in table:
        raise ValueError(
            f"metric {metric!r} is not a result of evaluate; choose one of "
            f"{', '.join(map(str, table.data_vars))}"
        )
    return table[metric].isel(tracer=0) if "tracer" in table[metric].dims else table[metric]
