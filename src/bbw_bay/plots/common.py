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
#: Installed font families tried for Chinese text, best first. "Noto Sans CJK SC" also comes
#: from the PyPI package ``noto-cjk-sans-otc`` (SIL OFL 1.1), registered when it is installed.
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
    "Noto Sans CJK JP",  # the first face of a Noto CJK collection: all the same hanzi
)
#: Python packages that carry a CJK font file as ``FONT_PATH`` (looked for, never required).
CJK_FONT_PACKAGES = ("noto_cjk_sans_otc",)
#: Characters a CJK font must have: the class names and the common ones of zone and place names.
CJK_PROBE = "".join(CLASS_NAMES_ZH.values()) + "北部湾海峡钦州防城港廉铁山湛江琼海口南岛越广西东"


def _register_packaged_cjk_fonts() -> None:
    """Add the font files of installed `CJK_FONT_PACKAGES` to matplotlib (silently none)."""
    import importlib

    from matplotlib import font_manager

    for name in CJK_FONT_PACKAGES:
        try:
            path = Path(str(importlib.import_module(name).FONT_PATH))
        except (ImportError, AttributeError):
            continue
        known = {Path(f.fname) for f in font_manager.fontManager.ttflist}
        if path.is_file() and path not in known:
            with contextlib.suppress(OSError, RuntimeError, ValueError):
                font_manager.fontManager.addfont(str(path))


# ----------------------------------------------------------------------------- helpers
@functools.lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """Family name of a font with the glyphs of the Chinese class, zone and place names, or None.

    Installed system fonts are tried first, then the font of the PyPI package
    ``noto-cjk-sans-otc`` when it is installed (it is registered with matplotlib here). Without
    any, labels stay English (no tofu boxes).
    """
    from matplotlib import font_manager, ft2font

    _register_packaged_cjk_fonts()
    faces = {f.name: (f.fname, getattr(f, "index", 0)) for f in font_manager.fontManager.ttflist}
    for family in _CJK_FAMILIES:
        if family not in faces:
            continue
        path, index = faces[family]
        try:
            face = ft2font.FT2Font(path, face_index=index) if index else ft2font.FT2Font(path)
        except (OSError, RuntimeError, TypeError):  # unreadable font file
            continue
        if all(face.get_char_index(ord(ch)) for ch in CJK_PROBE):
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
    return da.isel(time=k).transpose(ydim, xdim), time_label(ds, float(time_days(ds)[k]))


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


def view_extent(ds: xr.Dataset, extent=None) -> tuple[float, float, float, float]:
    """(x0, x1, y0, y1) a map shows, in plot coordinates (degrees, or km on cartesian grids):
    the cells' outer edges, cut to ``extent`` [lon/lat degrees or metres] when given."""
    x, y, geographic = map_coords(ds)
    xe, ye = cell_edges(x), cell_edges(y)
    x0, x1, y0, y1 = float(xe[0]), float(xe[-1]), float(ye[0]), float(ye[-1])
    if extent is not None:
        scale = 1.0 if geographic else 1e-3
        e0, e1, f0, f1 = (scale * float(v) for v in extent)
        x0, x1, y0, y1 = max(x0, e0), min(x1, e1), max(y0, f0), min(y1, f1)
    return x0, x1, y0, y1


def map_axes(ax, ds: xr.Dataset, *, extent=None) -> None:
    """Axis labels, degree ticks, aspect and limits of a map: the cells' outer edges, or
    ``extent`` = (x0, x1, y0, y1) [lon/lat degrees or metres] where it lies inside them."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    geographic = horizontal_dims(ds)[2]
    x0, x1, y0, y1 = view_extent(ds, extent)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
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


def draw_land(ax, ds: xr.Dataset, *, coast: bool = True) -> None:
    """Grey fill over the model's land cells (wet == 0), and their cell-edge coastline when
    ``coast`` (maps with the vector coastline draw that instead)."""
    from matplotlib.colors import ListedColormap

    x, y, _ = map_coords(ds)
    land = np.ma.masked_where(wet_mask(ds), np.ones((y.size, x.size)))
    ax.pcolormesh(
        x, y, land, cmap=ListedColormap([LAND_COLOUR]), shading="nearest", zorder=2, rasterized=True
    )
    if coast:
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
        ax.add_collection(LineCollection(list(segments), colors="0.3", linewidths=0.6, zorder=4))


def subset(ds: xr.Dataset, extent) -> xr.Dataset:
    """The cells of ``ds`` that overlap extent = (x0, x1, y0, y1) [lon/lat degrees or
    metres], so a map cut to the extent is filled to its edges."""
    if extent is None:
        return ds
    ydim, xdim, _ = horizontal_dims(ds)
    try:
        x0, x1, y0, y1 = (float(v) for v in extent)
    except (TypeError, ValueError):
        raise PlotError(f"extent must be four numbers (x0, x1, y0, y1); got {extent!r}") from None
    if not (x0 < x1 and y0 < y1):
        raise PlotError(f"extent must be (x0, x1, y0, y1) with x0 < x1 and y0 < y1; got {extent!r}")
    xe = cell_edges(ds[xdim].values.astype(float))
    ye = cell_edges(ds[ydim].values.astype(float))
    inside_x = (xe[1:] > x0) & (xe[:-1] < x1)
    inside_y = (ye[1:] > y0) & (ye[:-1] < y1)
    if not inside_x.any() or not inside_y.any():
        raise PlotError(
            f"extent {extent!r} holds no cell of the dataset, which spans "
            f"{xdim} {float(ds[xdim].min()):g}–{float(ds[xdim].max()):g}, {ydim} "
            f"{float(ds[ydim].min()):g}–{float(ds[ydim].max()):g}"
        )
    return ds.isel({xdim: np.nonzero(inside_x)[0], ydim: np.nonzero(inside_y)[0]})


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
#: Percentile of the wet cells shown that sets the top of a "robust" colour scale.
ROBUST_PERCENTILE = 99.5
#: Top of a tracer's standard colour scale, in multiples of its GB 3097 Class IV limit: every
#: class limit is on the bar and "worse than Class IV" has room before the scale saturates.
STANDARD_TOP = 1.2
#: Bottom of a tracer's standard log colour scale, in multiples of its Class I limit.
STANDARD_LOG_BOTTOM = 0.1


def standard_scale(tracer: str, *, log: bool = False) -> tuple[float, float] | None:
    """(vmin, vmax) [mg/L] of a tracer's fixed colour scale from its GB 3097 limits, or None
    for a tracer without an upper-limit standard.

    vmax is `STANDARD_TOP` × the Class IV limit rounded up to a nice number (DIN 0.6, PO4
    0.06, COD 6, oil 0.6 mg/L); vmin is 0, or for a log scale `STANDARD_LOG_BOTTOM` × the
    Class I limit (DIN 0.02, PO4 0.0015, COD 0.2, oil 0.005 mg/L). The same tracer gets the same
    scale on every map, so maps of scenarios, seasons and runs compare by colour.
    """
    limits = parameter_limits(tracer)
    if not limits:
        return None
    vmax = nice_ceiling(STANDARD_TOP * limits[-1][1])
    vmin = STANDARD_LOG_BOTTOM * limits[0][1] if log else 0.0
    return float(vmin), float(vmax)


def time_epoch(ds: xr.Dataset) -> np.datetime64:
    """The date that time 0 of a dataset stands for (from ``units = "... since DATE"``; the
    model counts from 1 January, written as 2000-01-01 when the units name no date)."""
    units = str(ds["time"].encoding.get("units", ds["time"].attrs.get("units", "")))
    if " since " in units:
        with contextlib.suppress(ValueError):
            text = units.split(" since ", 1)[1].strip().split()[0]
            return np.datetime64(text, "D")
    return np.datetime64("2000-01-01", "D")


#: Runs at least this long [days] get a time axis in months; shorter ones one in days.
MONTH_AXIS_DAYS = 60.0
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def month_ticks(days: np.ndarray, epoch: np.datetime64) -> tuple[np.ndarray, list[str]]:
    """(positions [days since ``epoch``], labels) of the first day of each month from the first
    to the last of ``days``; the label is the month's name, with "year N" at each new year
    after the first."""
    first = (epoch + np.timedelta64(int(np.floor(days.min())), "D")).astype("datetime64[M]")
    last = (epoch + np.timedelta64(int(np.ceil(days.max())), "D")).astype("datetime64[M]")
    months = np.arange(first, last + np.timedelta64(1, "M"), dtype="datetime64[M]")
    positions = (months.astype("datetime64[D]") - epoch) / np.timedelta64(1, "D")
    year0 = int(str(epoch)[:4])
    labels = []
    for m in months:
        year, month = int(str(m)[:4]), int(str(m)[5:7])
        label = _MONTHS[month - 1]
        if month == 1 and year > year0:
            label += f"\nyear {year - year0 + 1}"
        labels.append(label)
    return positions.astype(float), labels


def time_axis(ax, ds: xr.Dataset, days: np.ndarray) -> None:
    """Limits, ticks and label of a time axis: months (ticks at the first of each month) for
    runs of `MONTH_AXIS_DAYS` or more, days since the start otherwise."""
    from matplotlib.ticker import FixedLocator, NullLocator

    ax.set_xlim(days[0], days[-1] if days[-1] > days[0] else days[0] + 1)
    if days[-1] - days[0] < MONTH_AXIS_DAYS:
        ax.set_xlabel("Time [days]")
        return
    positions, labels = month_ticks(days, time_epoch(ds))
    inside = (positions >= days[0] - 1e-9) & (positions <= days[-1] + 1e-9)
    step = max(1, int(np.ceil(inside.sum() / 13)))  # at most ~13 labels
    ticks = positions[inside][::step]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.set_xticklabels([lab for lab, k in zip(labels, inside, strict=True) if k][::step])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("Month")


def time_label(ds: xr.Dataset, day: float) -> str:
    """A record's time for a title: "day 12.5", or its date (e.g. "15 Jul") in runs of
    `MONTH_AXIS_DAYS` or more."""
    days = time_days(ds)
    if days[-1] - days[0] < MONTH_AXIS_DAYS:
        return f"day {day:.4g}"
    date = time_epoch(ds) + np.timedelta64(int(round(day)), "D")
    return f"{int(str(date)[8:10])} {_MONTHS[int(str(date)[5:7]) - 1]} (day {day:.4g})"


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
