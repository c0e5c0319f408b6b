"""Validation figures: a log-log scatter of model against observed values and a map of ratios.

Both take the comparisons of `bbw_bay.quality.validation.validate` (rows not compared are left
out), take ``ax=None`` (a new figure when None), return the Axes and import matplotlib inside.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from bbw_bay.plots.common import draw_land, map_axes, map_figsize, new_axes

#: Kinds drawn by default: positive quantities whose ratio means something.
RATIO_KINDS = ("concentration", "flushing", "tide_amplitude", "tidal_range", "share")
#: Colour-scale limit of the ratio map: a factor of 4 either way.
RATIO_LIMIT = 4.0
_MARKERS = "osD^vP*Xh<>"
#: The ratio map zooms to the points with this margin [degrees] and at least this span.
ZOOM_MARGIN_DEG = 0.5
MIN_SPAN_DEG = 2.0


def _pairs(comparisons, kinds: Sequence[str]):
    return [
        c
        for c in comparisons
        if c.compared and c.observation.kind in kinds and c.observed > 0 and c.model > 0
    ]


def _markers(rows) -> dict[str, str]:
    variables = sorted({c.observation.variable for c in rows})
    return {v: _MARKERS[k % len(_MARKERS)] for k, v in enumerate(variables)}


def scatter(comparisons, *, ax=None, kinds: Sequence[str] = RATIO_KINDS, title: str | None = None):
    """Log-log scatter of model against observed values, one marker per variable, with the 1:1
    line and factor-2 lines. Each variable keeps its own unit (the axes are ratios in effect).

    Parameters
    ----------
    comparisons : `bbw_bay.quality.skill.Comparison` rows
    ax : Axes to draw on (None: a new figure)
    kinds : observation kinds drawn (phases are never drawn: they have no ratio)
    title : axes title (default a summary)

    Returns
    -------
    matplotlib Axes
    """
    ax = new_axes(ax, figsize=(6.0, 5.5))
    rows = _pairs(comparisons, kinds)
    markers = _markers(rows)
    for variable, marker in markers.items():
        pick = [c for c in rows if c.observation.variable == variable]
        unit = pick[0].observation.unit
        ax.scatter(
            [c.observed for c in pick],
            [c.model for c in pick],
            marker=marker,
            s=30,
            alpha=0.8,
            label=f"{variable} [{unit}] ({len(pick)})",
            zorder=3,
        )
    values = [v for c in rows for v in (c.observed, c.model)]
    lo, hi = (min(values) / 2.0, max(values) * 2.0) if values else (0.01, 100.0)
    line = np.array([lo, hi])
    ax.plot(line, line, color="k", lw=1.0, label="1:1")
    for factor in (0.5, 2.0):
        ax.plot(line, line * factor, color="0.5", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    ax.set_xlabel("observed")
    ax.set_ylabel("model")
    ax.set_title(title or f"model against observations ({len(rows)} rows; dashed: x2, /2)")
    if rows:
        ax.legend(fontsize=7, loc="upper left")
    ax.grid(True, which="major", lw=0.4, alpha=0.5)
    return ax


def ratio_map(
    comparisons,
    ds: xr.Dataset,
    *,
    ax=None,
    kinds: Sequence[str] = ("concentration",),
    title: str | None = None,
):
    """Map of model / observed at each observation's point (log colour scale, clipped at a
    factor of `RATIO_LIMIT`), land from ``ds`` (its ``wet`` and lon/lat coordinates), zoomed to
    the points (`ZOOM_MARGIN_DEG` around them, at least `MIN_SPAN_DEG` across).

    Parameters
    ----------
    comparisons : `bbw_bay.quality.skill.Comparison` rows
    ds : a dataset on the model grid (``wet``, coordinates)
    ax : Axes to draw on (None: a new figure)
    kinds : observation kinds drawn (default concentrations)
    title : axes title

    Returns
    -------
    matplotlib Axes
    """
    from matplotlib.colors import LogNorm

    ax = new_axes(ax, figsize=map_figsize(ds))
    map_axes(ax, ds)
    draw_land(ax, ds)
    rows = _pairs(comparisons, kinds)
    norm = LogNorm(1.0 / RATIO_LIMIT, RATIO_LIMIT)
    points = None
    for variable, marker in _markers(rows).items():
        pick = [c for c in rows if c.observation.variable == variable]
        points = ax.scatter(
            [c.observation.lon for c in pick],
            [c.observation.lat for c in pick],
            c=np.clip([c.ratio for c in pick], 1.0 / RATIO_LIMIT, RATIO_LIMIT),
            cmap="RdBu_r",
            norm=norm,
            marker=marker,
            s=45,
            edgecolors="k",
            linewidths=0.5,
            label=variable,
            zorder=4,
        )
    if points is not None:
        from matplotlib.lines import Line2D

        handles = [
            Line2D([], [], ls="", marker=m, mfc="white", mec="k", label=v)
            for v, m in _markers(rows).items()
        ]
        ax.legend(handles=handles, fontsize=7, loc="lower left")
        lon = [c.observation.lon for c in rows]
        lat = [c.observation.lat for c in rows]
        x0, x1 = ax.get_xlim()
        y0, y1 = ax.get_ylim()
        pad = max(ZOOM_MARGIN_DEG, 0.5 * (MIN_SPAN_DEG - (max(lon) - min(lon))))
        ax.set_xlim(max(x0, min(lon) - pad), min(x1, max(lon) + pad))
        pad = max(ZOOM_MARGIN_DEG, 0.5 * (MIN_SPAN_DEG - (max(lat) - min(lat))))
        ax.set_ylim(max(y0, min(lat) - pad), min(y1, max(lat) + pad))
        bar = ax.figure.colorbar(points, ax=ax, shrink=0.8)
        ticks = [0.25, 0.5, 1.0, 2.0, 4.0]
        bar.set_ticks(ticks)
        bar.set_ticklabels([f"{t:g}" for t in ticks])
        bar.ax.minorticks_off()
        bar.set_label("model / observed")
    ax.set_title(title or f"model / observed ({len(rows)} rows)")
    return ax


def validation_figure(comparisons, ds: xr.Dataset):
    """A figure with `scatter` (left) and `ratio_map` (right); returns the Figure."""
    import matplotlib.pyplot as plt

    width, height = map_figsize(ds)
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(width + 6.0, max(height, 5.5)), layout="constrained"
    )
    scatter(comparisons, ax=left)
    ratio_map(comparisons, ds, ax=right)
    return fig


__all__ = ["RATIO_KINDS", "RATIO_LIMIT", "ratio_map", "scatter", "validation_figure"]
