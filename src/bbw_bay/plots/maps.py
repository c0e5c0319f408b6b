"""Maps: tracer concentration (with GB 3097 class limits on the colour bar), a source's
contribution, the GB 3097 class map and the depth-averaged circulation.

See `bbw_bay.plots.common` for what every plot function shares (``ax=None`` in, Axes out).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from bbw_bay.core.flow import centre_velocities
from bbw_bay.core.output import horizontal_dims
from bbw_bay.plots.common import (
    CLASS_COLOURS,
    LAND_COLOUR,
    ROBUST_PERCENTILE,
    ROMAN,
    PlotError,
    check_tracer,
    class_labels,
    map_axes,
    map_coords,
    map_figsize,
    new_axes,
    nice_ceiling,
    parameter_limits,
    select_field,
    standard_scale,
    subset,
    text_prop,
    tracers_in,
    units_text,
    view_extent,
    wet_mask,
)
from bbw_bay.plots.overlays import decorate
from bbw_bay.quality.standards import CLASSES, TRACER_PARAMETERS

#: Longest arrow of a flow map, in multiples of the quiver key (the 90th-percentile speed).
ARROW_CAP = 2.0


#: Colour-scale choices of `concentration_map`.
SCALES = ("auto", "standard", "robust")


def colour_limits(
    values: np.ndarray,
    tracer: str,
    *,
    vmin: float | None = None,
    vmax: float | None = None,
    log: bool = False,
    scale: str = "auto",
) -> tuple[float, float]:
    """(vmin, vmax) of a concentration colour scale [the tracer's units].

    ``scale = "standard"``: the fixed scale of the tracer's GB 3097 limits
    (`bbw_bay.plots.common.standard_scale`), the same on every map; ``"robust"``: from the
    values shown (vmax the 99.5th percentile rounded up to a nice number; vmin 0, or the 1st
    percentile when the field varies little; for ``log`` the 1st percentile of the positive
    values); ``"auto"``: standard for a tracer with a GB 3097 standard, robust otherwise.
    Given ``vmin``/``vmax`` win over either.
    """
    if scale not in SCALES:
        raise PlotError(f"unknown colour scale {scale!r}; valid scales: {', '.join(SCALES)}")
    fixed = standard_scale(tracer, log=log) if scale != "robust" else None
    if scale == "standard" and fixed is None:
        raise PlotError(
            f"tracer {tracer!r} has no GB 3097 standard, so no standard colour scale; "
            "give vmin/vmax or scale='robust'"
        )
    if fixed is not None:
        vmin = fixed[0] if vmin is None else vmin
        vmax = fixed[1] if vmax is None else vmax
    if vmax is None:
        vmax = nice_ceiling(float(np.percentile(values, ROBUST_PERCENTILE)))
    if vmin is None:
        if log:
            positive = values[values > 0]
            floor = float(np.percentile(positive, 1)) if positive.size else vmax / 1e3
            vmin = min(max(floor, vmax / 1e3), vmax / 10)
        else:
            low = float(np.percentile(values, 1))
            vmin = 0.0 if low < 0.5 * vmax else low
    vmin, vmax = float(vmin), float(vmax)
    if not (np.isfinite(vmin) and np.isfinite(vmax) and vmin < vmax) or (log and vmin <= 0):
        raise PlotError(
            f"colour scale needs finite vmin < vmax{' and vmin > 0 (log)' if log else ''}; "
            f"got vmin={vmin:g}, vmax={vmax:g}"
        )
    return vmin, vmax


def concentration_map(
    ds: xr.Dataset,
    tracer: str,
    *,
    time=-1,
    ax=None,
    vmax: float | None = None,
    vmin: float | None = None,
    scale: str = "auto",
    log: bool = False,
    cmap: str = "viridis",
    title: str | None = None,
    limits: bool = True,
    extent=None,
    coast="auto",
    zones="auto",
    places="auto",
):
    """Map of a tracer concentration over the coastline, with a colour bar in its units.

    Parameters
    ----------
    ds : model output (tracer in mg/L, NaN on land; ``wet``; dims (time,) Y, X)
    tracer : name of the tracer variable, e.g. "DIN"
    time : record index (default the last) or "mean" for the time mean; ignored for steady states
    ax : Axes to draw on (None: a new figure)
    vmax, vmin : colour-scale limits [mg/L]; default from ``scale``
    scale : "auto" (default), "standard" or "robust" (see `colour_limits`): a tracer with a
        GB 3097 standard gets the same fixed scale on every map (DIN 0-0.6 mg/L, PO4 0-0.06,
        COD 0-6, oil 0-0.6), so maps compare by colour
    log : logarithmic colour scale
    cmap : matplotlib colour map name
    title : title (default: tracer, long name and time)
    limits : mark the GB 3097 class limits of the tracer on the colour bar
    extent : (x0, x1, y0, y1) to show, in lon/lat degrees or metres: the axes show exactly
        this (within the grid) and only its cells set a robust scale
    coast : "auto" (the shipped GSHHG vector coastline on lon/lat maps inside it, else the
        model's cell edges), True or False
    zones : "auto" (the shipped zones' outlines and names on such maps), True, False or a list
        of `bbw_bay.quality.zones.Zone`
    places : "auto" (city, island and sea names on such maps), True, False or a list of
        `bbw_bay.gulf.coastline.Place`

    Returns
    -------
    matplotlib Axes
    """
    from matplotlib.colors import LogNorm, Normalize
    from matplotlib.ticker import LogLocator, StrMethodFormatter

    check_tracer(ds, tracer)
    ds = subset(ds, extent)
    field, when = select_field(ds, tracer, time)
    ax = new_axes(ax, figsize=map_figsize(ds))
    x, y, _ = map_coords(ds)
    data = np.ma.masked_invalid(field.values.astype(float))
    values = data.compressed()
    if values.size == 0:
        raise PlotError(f"tracer {tracer!r} has no finite value at {when}")
    vmin, vmax = colour_limits(values, tracer, vmin=vmin, vmax=vmax, log=log, scale=scale)
    norm = LogNorm(vmin=vmin, vmax=vmax) if log else Normalize(vmin=vmin, vmax=vmax)
    mesh = ax.pcolormesh(
        x, y, data, cmap=cmap, norm=norm, shading="nearest", zorder=1, rasterized=True
    )
    decorate(ax, ds, coast=coast, zones=zones, places=places, extent=view_extent(ds, extent))
    map_axes(ax, ds, extent=extent)
    over, under = values.max() > vmax, values.min() < vmin
    extend = {(True, True): "both", (True, False): "max", (False, True): "min"}.get(
        (bool(over), bool(under)), "neither"
    )
    cbar = ax.figure.colorbar(mesh, ax=ax, extend=extend, shrink=0.85, pad=0.02)
    marks = [(k, v) for k, v in parameter_limits(tracer) if vmin < v < vmax * (1 - 1e-9)]
    marks = marks if limits else []
    cbar.set_label(
        f"{tracer} [{units_text(field)}]" + ("\ndashed: GB 3097 class limits" if marks else ""),
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
            ROMAN[klass],
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
        raise PlotError(f"no contribution map for source {source!r} (maps: {known})")
    tracer = tracer or tracers_in(maps)[0]
    field = maps.sel(source=source)
    title = kwargs.pop("title", f"{tracer} excess from {source} at today's load (steady, upwind)")
    peak = float(np.nanmax(field[tracer].values))
    if peak > 0:  # the plume's peak, not a robust percentile: the river mouth is the point
        kwargs.setdefault("vmax", nice_ceiling(peak))
    kwargs.setdefault("limits", False)  # GB 3097 limits apply to the total, not one source
    kwargs.setdefault("scale", "robust")  # an excess, not a concentration to classify
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
    coast="auto",
    zones="auto",
    places="auto",
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
    extent : (x0, x1, y0, y1) to show, in lon/lat degrees or metres; shares then refer to
        the sea area of the cells shown
    coast, zones, places : the overlays, as in `concentration_map`

    Returns
    -------
    matplotlib Axes. The legend always lists Class I, II, III, IV and worse than IV (劣四类 with
    a CJK font) in blue, green, yellow, orange and red, each with its share of the sea area.
    """
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.patches import Patch

    from bbw_bay.quality.evaluate import class_map as evaluate_class_map

    if tracer is not None:
        check_tracer(ds, tracer)
        if tracer not in TRACER_PARAMETERS:
            raise PlotError(
                f"tracer {tracer!r} has no GB 3097 standard; tracers with one: "
                f"{', '.join(t for t in tracers_in(ds) if t in TRACER_PARAMETERS)}"
            )
    ds = subset(ds, extent)
    ydim, xdim, _ = horizontal_dims(ds)
    names = [tracer] if tracer else [t for t in tracers_in(ds) if t in TRACER_PARAMETERS]
    if not names:
        raise PlotError(
            f"no tracer with a GB 3097 standard in the dataset (tracers present: "
            f"{', '.join(tracers_in(ds)) or 'none'})"
        )
    fields, when = {}, "steady state"
    for name in names:
        fields[name], when = select_field(ds, name, time)
    sub = xr.Dataset(fields)
    for static in ("wet", "cell_area"):
        if static in ds:
            sub[static] = ds[static]
    klass = evaluate_class_map(sub, tracer).transpose(ydim, xdim).values
    ax = new_axes(ax, figsize=map_figsize(ds, extra_width=3.0))
    x, y, _ = map_coords(ds)
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
    decorate(ax, ds, coast=coast, zones=zones, places=places, extent=view_extent(ds, extent))
    map_axes(ax, ds, extent=extent)
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
    prop = text_prop(9)
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


def _flow_dataset(flow, time: float) -> xr.Dataset:
    """A Dataset with u, v [m/s], depth and wet at cell centres from a `bbw_bay.core.flow.Flow`."""
    g = flow.grid
    ydim, xdim = ("lat", "lon") if g.geographic else ("y", "x")
    u, v = centre_velocities(flow, time)
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


#: CF standard names of depth-averaged (or surface) velocity, eastward and northward.
VELOCITY_STANDARD_NAMES = (
    ("barotropic_eastward_sea_water_velocity", "barotropic_northward_sea_water_velocity"),
    ("eastward_sea_water_velocity", "northward_sea_water_velocity"),
    ("surface_eastward_sea_water_velocity", "surface_northward_sea_water_velocity"),
)


def velocity_variables(ds: xr.Dataset) -> tuple[str, str]:
    """Names of the eastward and northward velocity [m/s] at cell centres: ``u`` and ``v``, or
    the variables with a CF velocity `VELOCITY_STANDARD_NAMES` pair; PlotError if neither."""
    ydim, xdim, _ = horizontal_dims(ds)
    on_grid = [n for n in ds.data_vars if ydim in ds[n].dims and xdim in ds[n].dims]
    if "u" in on_grid and "v" in on_grid:
        return "u", "v"
    by_name = {str(ds[n].attrs.get("standard_name", "")): str(n) for n in on_grid}
    for east, north in VELOCITY_STANDARD_NAMES:
        if east in by_name and north in by_name:
            return by_name[east], by_name[north]
    raise PlotError(
        "dataset has no u and v velocity at cell centres (variables u, v or CF standard names "
        f"{VELOCITY_STANDARD_NAMES[0][0]}/..._northward_...); variables present: "
        f"{', '.join(map(str, ds.data_vars))}"
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
    coast="auto",
    zones=False,
    places="auto",
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
    extent : (x0, x1, y0, y1) to show, in lon/lat degrees or metres
    coast, zones, places : the overlays, as in `concentration_map` (zones off by default)

    Returns
    -------
    matplotlib Axes
    """
    from matplotlib.colors import ListedColormap, Normalize
    from matplotlib.patches import Rectangle

    if kind not in ("streamlines", "arrows"):
        raise PlotError(f"unknown flow_map kind {kind!r}; valid kinds: streamlines, arrows")
    if isinstance(flow_or_ds, xr.Dataset):
        ds = flow_or_ds
        names = velocity_variables(ds)
    else:
        ds = _flow_dataset(flow_or_ds, float(time))
        names = ("u", "v")
    ds = subset(ds, extent)
    ydim, xdim, geographic = horizontal_dims(ds)
    fields = []
    for name in names:
        da = ds[name]
        if "time" in da.dims:
            da = da.isel(time=int(time))
        fields.append(da.transpose(ydim, xdim).values.astype(float))
    u, v = fields
    wet = wet_mask(ds) & np.isfinite(u) & np.isfinite(v)
    u, v = np.where(wet, u, np.nan), np.where(wet, v, np.nan)
    ax = new_axes(ax, figsize=map_figsize(ds))
    x, y, _ = map_coords(ds)
    if depth and "depth" in ds:
        h = np.ma.masked_invalid(np.where(wet, ds["depth"].transpose(ydim, xdim).values, np.nan))
        hmax = nice_ceiling(float(np.percentile(h.compressed(), 99))) if h.count() else 1.0
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
        key = nice_ceiling(float(np.nanpercentile(speed, 90))) if smax > 0 else 1.0
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
    decorate(ax, ds, coast=coast, zones=zones, places=places, extent=view_extent(ds, extent))
    map_axes(ax, ds, extent=extent)
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
