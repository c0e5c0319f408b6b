"""What a map of the gulf draws over its data: the vector coastline (GSHHG, shipped), the outlines
of the evaluation zones and place names.

Each ``draw_*`` takes the Axes and the (already zoomed) Dataset the map shows, draws in the map's
plot coordinates (lon/lat degrees, or km on cartesian grids) and returns what it drew. The
``"auto"`` choices of the map functions resolve here: the vector coastline, zones and places are
drawn on geographic maps that lie inside the shipped coastline's region, and not otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr

from bbw_bay.core.output import horizontal_dims
from bbw_bay.plots.common import (
    LAND_COLOUR,
    PlotError,
    cell_edges,
    cjk_font,
    map_coords,
    text_prop,
    wet_mask,
)

log = logging.getLogger(__name__)

#: Colour of the vector coastline and of the zone outlines.
COAST_COLOUR = "0.25"
ZONE_COLOUR = "#3b3b3b"
#: Stacking order of the overlays: above the data (1), the model's land cells (2) and flow
#: lines (3); zone outlines under the land, so their landward parts are hidden; names on top.
ZORDER = {"zones": 3.1, "land": 3.2, "coast": 4.0, "zone_labels": 5.0, "places": 5.2}
#: Zone names are written on lon/lat maps at most this wide [degrees] (wider maps: outlines).
ZONE_LABEL_MAX_SPAN_DEG = 4.0
_MARGIN_DEG = 0.05  # coastline kept this far outside the view, so no clip edge shows


def map_extent(ds: xr.Dataset) -> tuple[float, float, float, float]:
    """(x0, x1, y0, y1) of the cells' outer edges, in plot coordinates."""
    x, y, _ = map_coords(ds)
    xe, ye = cell_edges(x), cell_edges(y)
    return float(xe[0]), float(xe[-1]), float(ye[0]), float(ye[-1])


def _shipped_coastline():
    from bbw_bay.gulf.coastline import CoastlineError, load_coastline

    try:
        return load_coastline()
    except CoastlineError as err:  # a damaged install: maps still draw, with the cell coast
        log.warning("vector coastline unavailable (%s); drawing the model's cell edges", err)
        return None


def covered(ds: xr.Dataset) -> bool:
    """True for a geographic dataset that lies inside the shipped coastline's region."""
    if not horizontal_dims(ds)[2]:
        return False
    coast = _shipped_coastline()
    if coast is None:
        return False
    x0, x1, y0, y1 = map_extent(ds)
    west, east, south, north = coast.region
    return west <= x0 and x1 <= east and south <= y0 and y1 <= north


def resolve(choice, ds: xr.Dataset, what: str) -> bool:
    """Whether an overlay is drawn: ``"auto"`` (when `covered`), True or False."""
    if isinstance(choice, str):
        if choice != "auto":
            raise PlotError(f"{what} must be 'auto', True or False; got {choice!r}")
        return covered(ds)
    return bool(choice)


def draw_coastline(ax, ds: xr.Dataset, *, extent=None):
    """Fill the GSHHG land polygons and draw the shoreline over a geographic map.

    Parameters
    ----------
    ax : Axes of the map
    ds : the Dataset the map shows (its cells' extent, or ``extent``, is the view)
    extent : (x0, x1, y0, y1) [degrees] of the view when it is smaller than the cells

    Returns
    -------
    The `bbw_bay.gulf.coastline.Coastline` drawn (clipped to the view plus a small margin), or
    None when the dataset is not geographic or the coastline is unavailable.
    """
    from matplotlib.collections import LineCollection, PolyCollection

    if not horizontal_dims(ds)[2]:
        return None
    coast = _shipped_coastline()
    if coast is None:
        return None
    x0, x1, y0, y1 = extent if extent is not None else map_extent(ds)
    view = coast.clip((x0 - _MARGIN_DEG, x1 + _MARGIN_DEG, y0 - _MARGIN_DEG, y1 + _MARGIN_DEG))
    if view.polygons:
        ax.add_collection(
            PolyCollection(
                [p[:, :2] for p in view.polygons],
                facecolors=LAND_COLOUR,
                edgecolors="none",
                zorder=ZORDER["land"],
                rasterized=False,
            )
        )
        ax.add_collection(
            LineCollection(
                view.shorelines(), colors=COAST_COLOUR, linewidths=0.5, zorder=ZORDER["coast"]
            )
        )
    return view


def _zone_list(zones, ds: xr.Dataset):
    from bbw_bay.quality.zones import as_zones

    geographic = horizontal_dims(ds)[2]
    if zones is True:
        if not geographic:
            raise PlotError(
                "zones=True draws the shipped lon/lat zones; this dataset is cartesian: "
                "give the zones (masks or polygons in metres)"
            )
        return as_zones(None, geographic=geographic)
    if isinstance(zones, Mapping | Sequence) and not isinstance(zones, str):
        return as_zones(zones, geographic=geographic)
    raise PlotError(f"zones must be 'auto', True, False or a list of zones; got {zones!r}")


def _mask_outline(mask: np.ndarray, wet: np.ndarray, xe: np.ndarray, ye: np.ndarray):
    """Cell edges between a zone's cells and wet cells outside it (its seaward outline)."""
    inside = np.pad(mask, 1)
    water = np.pad(wet, 1)
    segments = []
    # x-faces: between column i-1 and i of the padded arrays
    diff = inside[:, 1:] != inside[:, :-1]
    both_wet = water[:, 1:] & water[:, :-1]
    jj, ii = np.nonzero(diff & both_wet)
    for j, i in zip(jj - 1, ii, strict=True):
        segments.append(((xe[i], ye[j]), (xe[i], ye[j + 1])))
    diff = inside[1:, :] != inside[:-1, :]
    both_wet = water[1:, :] & water[:-1, :]
    jj, ii = np.nonzero(diff & both_wet)
    for j, i in zip(jj, ii - 1, strict=True):
        segments.append(((xe[i], ye[j]), (xe[i + 1], ye[j])))
    return segments


def zone_label(zone) -> str:
    """A zone's map label: its name up to any parenthesis, and its Chinese name with a CJK
    font."""
    name = (zone.name or zone.key).split(" (")[0]
    if zone.name_zh and cjk_font() is not None:
        name += f"\n{zone.name_zh.split('（')[0]}"
    return name


def draw_zones(ax, ds: xr.Dataset, zones, *, labels="auto", min_cells: int = 12, extent=None):
    """Outline the evaluation zones' cells (dashed) and name the larger ones.

    Parameters
    ----------
    ax : Axes of the map
    ds : the Dataset the map shows
    zones : True (the shipped ``forcing/zones.toml``, lon/lat datasets only), a list of
        `bbw_bay.quality.zones.Zone`, or {key: (Y, X) bool mask}
    labels : name each zone with at least ``min_cells`` cells in view at its central cell
        (not within 8 % of the view's width of its sides); "auto": on maps at most
        `ZONE_LABEL_MAX_SPAN_DEG` wide (all cartesian maps)
    min_cells : smallest zone (in cells shown) that gets a label
    extent : (x0, x1, y0, y1) of the view in plot coordinates (default the cells' extent)

    Returns
    -------
    {zone key: number of outline segments drawn}
    """
    from matplotlib.collections import LineCollection
    from matplotlib.patheffects import withStroke

    from bbw_bay.quality.zones import zone_masks

    zone_list = _zone_list(zones, ds)
    masks = zone_masks(ds, zone_list)
    x, y, _ = map_coords(ds)
    xe, ye = cell_edges(x), cell_edges(y)
    wet = wet_mask(ds)
    x0, x1, y0, y1 = extent if extent is not None else map_extent(ds)
    if labels == "auto":
        labels = not horizontal_dims(ds)[2] or x1 - x0 <= ZONE_LABEL_MAX_SPAN_DEG
    drawn = {}
    segments = []
    for zone in zone_list:
        mask = masks[zone.key]
        outline = _mask_outline(mask, wet, xe, ye)
        drawn[zone.key] = len(outline)
        segments += outline
        if labels and mask.sum() >= min_cells:
            jj, ii = np.nonzero(mask)
            k = int(np.argmin(np.hypot(ii - ii.mean(), jj - jj.mean())))
            margin = 0.08 * (x1 - x0)
            if not (x0 + margin <= x[ii[k]] <= x1 - margin and y0 <= y[jj[k]] <= y1):
                continue
            ax.text(
                x[ii[k]],
                y[jj[k]],
                zone_label(zone),
                ha="center",
                va="center",
                color="0.1",
                zorder=ZORDER["zone_labels"],
                clip_on=True,
                path_effects=[withStroke(linewidth=2.2, foreground="white", alpha=0.85)],
                **_font(6.5),
            )
    if segments:
        ax.add_collection(
            LineCollection(
                segments,
                colors=ZONE_COLOUR,
                linewidths=0.7,
                linestyles=(0, (3, 2)),
                zorder=ZORDER["zones"],
            )
        )
    return drawn


def _font(size: float, **extra) -> dict:
    prop = text_prop(size)
    out = {"fontsize": prop["size"], **extra}
    if "family" in prop:
        out["fontfamily"] = prop["family"]
    return out


def place_label(place) -> str:
    """A place's map label: the English name, and the Chinese name with a CJK font."""
    if place.name_zh and cjk_font() is not None:
        return f"{place.name} {place.name_zh}"
    return place.name


def draw_places(ax, ds: xr.Dataset, places=True, *, extent=None) -> list[str]:
    """Write the names of cities, islands, land regions and seas that lie in the view.

    Parameters
    ----------
    ax : Axes of the map
    ds : the (geographic) Dataset the map shows
    places : True (``forcing/coastline_places.toml``) or a list of
        `bbw_bay.gulf.coastline.Place`
    extent : (x0, x1, y0, y1) [degrees] of the view when it is smaller than the cells

    Returns
    -------
    Names of the places written.
    """
    from matplotlib.patheffects import withStroke

    from bbw_bay.gulf.coastline import load_places

    if not horizontal_dims(ds)[2]:
        return []
    chosen = load_places() if places is True else list(places)
    x0, x1, y0, y1 = extent if extent is not None else map_extent(ds)
    halo = [withStroke(linewidth=2.4, foreground="white", alpha=0.8)]
    written = []
    for place in chosen:
        if not (x0 <= place.lon <= x1 and y0 <= place.lat <= y1):
            continue
        style = {
            "city": dict(color="0.1", ha="left", va="bottom"),
            "island": dict(color="0.2", ha="center", va="center", fontstyle="italic"),
            "land": dict(color="0.3", ha="center", va="center"),
            "sea": dict(color="#1f4e79", ha="center", va="center", fontstyle="italic"),
        }[place.kind]
        dx = 0.0
        if place.kind == "city":
            ax.plot(place.lon, place.lat, "o", ms=2.5, color="0.1", zorder=ZORDER["places"])
            right = place.lon > x1 - 0.2 * (x1 - x0)  # near the right side: name to the left
            style["ha"] = "right" if right else "left"
            dx = -0.02 if right else 0.02
        size = {"city": 7.0, "island": 7.0, "land": 8.0, "sea": 8.5}[place.kind]
        ax.text(
            place.lon + dx,
            place.lat + (0.02 if place.kind == "city" else 0.0),
            place_label(place),
            zorder=ZORDER["places"],
            clip_on=True,
            path_effects=halo,
            **_font(size, **style),
        )
        written.append(place.name)
    return written


def decorate(ax, ds: xr.Dataset, *, coast="auto", zones="auto", places="auto", extent=None):
    """The map's land and overlays: the model's land cells, then the vector coastline (or the
    cells' edges), zone outlines and place names as chosen ("auto": on `covered` maps).

    ``coast``: "auto", True or False; ``zones``: "auto", True, False/None or zones (see
    `draw_zones`); ``places``: "auto", True, False/None or places (see `draw_places`).
    Returns {"coast": vector coastline drawn, "zones": {key: segments}, "places": [names]}.
    """
    from bbw_bay.plots.common import draw_land

    vector = resolve(coast, ds, "coast") and draw_coastline(ax, ds, extent=extent) is not None
    draw_land(ax, ds, coast=not vector)
    if isinstance(zones, str):
        zones = resolve(zones, ds, "zones")
    if isinstance(places, str):
        places = resolve(places, ds, "places")
    return {
        "coast": vector,
        "zones": draw_zones(ax, ds, zones, extent=extent) if zones not in (None, False) else {},
        "places": draw_places(ax, ds, places, extent=extent) if places not in (None, False) else [],
    }
