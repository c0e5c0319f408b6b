"""What every bbw_bay picture shares: class colours and labels, the CJK font, the tracer and
time of a Dataset, axes, map frames, land, zooming and nice colour-scale limits.

Every plot function of `bbw_bay.plots` takes ``ax=None`` (a new figure is made when None),
returns the Axes it drew on, imports matplotlib inside the function and never calls ``show()``.
Maps of geographic datasets have lon/lat axes in degrees with aspect 1/cos(mean latitude), so
shapes and directions look as on the globe; cartesian datasets are drawn in kilometres. Land
(``wet == 0``) is a grey fill.
"""

from __future__ import annotations

import contextlib
import functools
import os
from pathlib import Path

import numpy as np
import xarray as xr

from bbw_bay.core.output import horizontal_dims
from bbw_bay.errors import BadInputError
from bbw_bay.quality.standards import CLASSES, PARAMETERS, TRACER_PARAMETERS


class PlotError(BadInputError):
    """A plot was asked for with input it cannot draw (unknown tracer, kind, extent, ...)."""


class PlotFileError(PlotError, FileNotFoundError):
    """A file or folder a plot reads or writes does not exist."""


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


def text_prop(size: float = 9.0) -> dict:
    """Font properties for text that may hold Chinese: the CJK font first when there is one."""
    prop: dict = {"size": size}
    family = cjk_font()
    if family is not None:
        prop["family"] = [family, "DejaVu Sans"]
    return prop


def tracers_in(ds: xr.Dataset) -> list[str]:
    """Names of the tracer variables of a model output (every field that is not static)."""
    ydim, xdim, _ = horizontal_dims(ds)
    return [
        str(v)
        for v in ds.data_vars
        if v not in _STATIC and ydim in ds[v].dims and xdim in ds[v].dims
    ]


def check_tracer(ds: xr.Dataset, tracer: str) -> None:
    present = tracers_in(ds)
    if tracer not in ds or tracer not in present:
        raise PlotError(
            f"tracer {tracer!r} is not in the dataset; tracers present: "
            f"{', '.join(present) or 'none'}"
        )


def map_coords(ds: xr.Dataset) -> tuple[np.ndarray, np.ndarray, bool]:
    """Plot coordinates of the cell centres: degrees, or kilometres on cartesian grids."""
    ydim, xdim, geographic = horizontal_dims(ds)
    x, y = ds[xdim].values.astype(float), ds[ydim].values.astype(float)
    return (x, y, True) if geographic else (x / 1e3, y / 1e3, False)


def wet_mask(ds: xr.Dataset) -> np.ndarray:
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


def units_text(da: xr.DataArray) -> str:
    units = str(da.attrs.get("units", "mg L-1"))
    return {"mg L-1": "mg/L", "mg/l": "mg/L", "m s-1": "m/s", "m2": "m²"}.get(units, units)


def time_days(ds: xr.Dataset) -> np.ndarray:
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


def select_field(ds: xr.Dataset, tracer: str, time) -> tuple[xr.DataArray, str]:
    """(Y, X) field of ``tracer`` at record ``time`` (int) or its time mean ("mean"); a label."""
    ydim, xdim, _ = horizontal_dims(ds)
    da = ds[tracer]
    if "time" not in da.dims:
        return da.transpose(ydim, xdim), "steady state"
    if isinstance(time, str):
        if time != "mean":
            raise PlotError(f"time must be a record index or 'mean'; got {time!r}")
        days = time_days(ds)
        return (da.mean("time").transpose(ydim, xdim), f"mean of days {days[0]:g}–{days[-1]:g}")
    k = int(time)
    if not -da.sizes["time"] <= k < da.sizes["time"]:
        raise PlotError(f"time index {k} is outside the {da.sizes['time']} records")
    return da.isel(time=k).transpose(ydim, xdim), f"day {time_days(ds)[k]:.4g}"


def new_axes(ax, figsize=(7.5, 6.0)):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def map_aspect(ds: xr.Dataset) -> float:
    """Screen height / width of one unit of x against one unit of y (1/cos φ on lon/lat)."""
    _, y, geographic = map_coords(ds)
    return 1.0 / np.cos(np.deg2rad(float(np.mean(y)))) if geographic else 1.0


def map_figsize(
    ds: xr.Dataset, *, extra_width: float = 2.0, map_width: float = 5.8
) -> tuple[float, float]:
    """Figure size [inches] whose map panel has the map's own shape (so a colour bar beside it
    is as tall as the map), plus ``extra_width`` for a colour bar or legend."""
    x, y, _ = map_coords(ds)
    span_x = float(np.ptp(cell_edges(x)))
    span_y = float(np.ptp(cell_edges(y)))
    height = float(np.clip(map_width * span_y * map_aspect(ds) / span_x, 2.2, 9.0))
    width = map_width if height < 9.0 else 9.0 * span_x / (span_y * map_aspect(ds))
    return (max(width, 3.0) + extra_width, height + 1.0)


def map_axes(ax, ds: xr.Dataset) -> None:
    """Axis labels, degree ticks, aspect and limits of a map."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    x, y, geographic = map_coords(ds)
    dx = np.diff(x).mean() if x.size > 1 else 1.0
    dy = np.diff(y).mean() if y.size > 1 else 1.0
    ax.set_xlim(x[0] - dx / 2, x[-1] + dx / 2)
    ax.set_ylim(y[0] - dy / 2, y[-1] + dy / 2)
    for axis in (ax.xaxis, ax.yaxis):  # at most ~6 labels: degree labels are wide
        axis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]))
    ax.set_aspect(map_aspect(ds))
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


def draw_land(ax, ds: xr.Dataset) -> None:
    """Grey fill over the land cells (wet == 0)."""
    from matplotlib.colors import ListedColormap

    x, y, _ = map_coords(ds)
    land = np.ma.masked_where(wet_mask(ds), np.ones((y.size, x.size)))
    ax.pcolormesh(
        x, y, land, cmap=ListedColormap([LAND_COLOUR]), shading="nearest", zorder=2, rasterized=True
    )
    draw_raster_coast(ax, ds)


def cell_edges(centres: np.ndarray) -> np.ndarray:
    """Cell edges from centres (midpoints; half a spacing beyond the first and last)."""
    if centres.size == 1:
        return np.array([centres[0] - 0.5, centres[0] + 0.5])
    mid = 0.5 * (centres[1:] + centres[:-1])
    return np.concatenate([[2 * centres[0] - mid[0]], mid, [2 * centres[-1] - mid[-1]]])


def draw_raster_coast(ax, ds: xr.Dataset) -> None:
    """The coastline: every cell edge between a wet and a land cell, as a thin dark line."""
    from matplotlib.collections import LineCollection

    x, y, _ = map_coords(ds)
    xe, ye = cell_edges(x), cell_edges(y)
    wet = wet_mask(ds)
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


def subset(ds: xr.Dataset, extent) -> xr.Dataset:
    """The part of ``ds`` inside extent = (x0, x1, y0, y1) [lon/lat degrees or metres]."""
    if extent is None:
        return ds
    ydim, xdim, _ = horizontal_dims(ds)
    x0, x1, y0, y1 = (float(v) for v in extent)
    if not (x0 < x1 and y0 < y1):
        raise PlotError(f"extent must be (x0, x1, y0, y1) with x0 < x1 and y0 < y1; got {extent!r}")
    inside_x = (ds[xdim] >= x0) & (ds[xdim] <= x1)
    inside_y = (ds[ydim] >= y0) & (ds[ydim] <= y1)
    if not inside_x.any() or not inside_y.any():
        raise PlotError(
            f"extent {extent!r} holds no cell centre of the dataset, which spans "
            f"{xdim} {float(ds[xdim].min()):g}–{float(ds[xdim].max()):g}, {ydim} "
            f"{float(ds[ydim].min()):g}–{float(ds[ydim].max()):g}"
        )
    return ds.isel({xdim: np.nonzero(inside_x.values)[0], ydim: np.nonzero(inside_y.values)[0]})


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × 10^k that is >= value."""
    if not np.isfinite(value) or value <= 0:
        return 1.0
    exp = np.floor(np.log10(value))
    for step in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if step * 10**exp >= value * (1 - 1e-9):
            return float(step * 10**exp)
    return float(10 ** (exp + 1))


def parameter_limits(tracer: str) -> list[tuple[int, float]]:
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


ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV"}
#: Percentile of the wet cells shown that sets the default top of a concentration colour scale.
ROBUST_PERCENTILE = 99.5


def save_figure(fig, path: str | os.PathLike, *, dpi: int = 150) -> Path:
    """Save ``fig`` atomically (temporary file in the same folder, then rename); returns the path.

    The format follows the file suffix (png, pdf, svg, ...).
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise PlotFileError(f"output folder {folder} does not exist")
    fmt = path.suffix.lstrip(".").lower() or "png"
    from bbw_bay.core.output import atomic_write

    atomic_write(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight"))
    return path
