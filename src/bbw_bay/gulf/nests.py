"""Nested high-resolution grids of the Guangxi bays and Zhanjiang Bay (issue 16).

The shipped rasters ``forcing/nest_<name>.nc`` (made by ``forcing/make_nest_data.py``; sources,
licence and every number in ``forcing/NESTS.md``) hold on a 1/480-degree (7.5″) pixel grid the
GSHHG full-resolution sea fraction and a bed elevation above mean sea level that may rise above
the datum on intertidal flats. `nest_fields` coarsens them to a model resolution (a whole
multiple of the pixel: 1/480, 1/240, 1/160, 1/120 … degrees); `beibu_nest` builds the `Grid`,
registered as ``"beibu_nest"`` so that ``bb.Grid.beibu_nest("guangxi", resolution=1 / 240)``
works. `water_statistics` gives a region's water area, intertidal area, depths and tidal prism.

A cell is wet where its mean sea fraction reaches the threshold, except cells crossed by a land
correction (the Donghai Island causeway); each bay in `NAMED_POINTS` that coarsening cut off is
joined to the sea along the shortest path of cells holding some sea; wet cells that no path of
wet cells joins to an open boundary are removed. Every change is logged and kept in
`nest_provenance`.
"""

from __future__ import annotations

import functools
import json
import logging
import weakref
from collections import deque
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr
from scipy import ndimage

from bbw_bay.core.grid import Grid, GridError, register_builder
from bbw_bay.errors import unknown_name
from bbw_bay.gulf.data import sha256, verify
from bbw_bay.units import EARTH_RADIUS

logger = logging.getLogger(__name__)

#: Nest name -> shipped raster (forcing/).
NEST_FILES: dict[str, str] = {
    "guangxi": "nest_guangxi.nc",
    "zhanjiang": "nest_zhanjiang.nc",
}
#: Zones at the nests' scale (read with `bbw_bay.quality.zones.load_zones`).
NEST_ZONES_FILE = "zones_nests.toml"
#: Pixel of the shipped rasters [degrees].
PIXEL_DEG = 1.0 / 480.0
#: Default model resolution [degrees] (about 460 m N-S, 430 m E-W at 21.5N).
DEFAULT_RESOLUTION = 1.0 / 240.0
#: Default sea-fraction threshold of a wet cell (as the gulf grid, `gulf.geodata`).
SEA_FRACTION_THRESHOLD = 0.5
#: Depth floor [m] of wet cells when a nest drives the rigid-lid transport model (the config
#: path, `bbw_bay.gulf.assemble.build_grid`) instead of the shallow-water engine. Estimate: a
#: bed at mean sea level under a 2.5 m range is covered for half the tide by 0.4 m on average
#: over the whole cycle; 1 m keeps the rigid-lid time step reasonable and stays below every
#: published bay depth used in forcing/NESTS.md.
RIGID_LID_MIN_DEPTH_M = 1.0

#: A point of open water inside each named bay [degrees]; coarsening must leave each connected
#: to the open boundary (`beibu_nest` joins it if not). Read off the nest rasters.
NAMED_POINTS: dict[str, dict[str, tuple[float, float]]] = {
    "guangxi": {
        "Maowei Sea": (108.560, 21.830),
        "Qinzhou Bay, inner part": (108.600, 21.705),
        "Qinzhou Bay, outer part": (108.640, 21.630),
        "Fangchenggang West Bay": (108.335, 21.660),
        "Fangchenggang East Bay": (108.420, 21.640),
        "Zhenzhu Bay": (108.200, 21.580),
        "Dafeng estuary": (108.870, 21.660),
        "Lianzhou Bay": (109.080, 21.540),
        "Tieshan Bay": (109.590, 21.600),
        "Tieshan Bay upper reach": (109.545, 21.705),
        "Danjiao Sea": (109.665, 21.575),
    },
    "zhanjiang": {
        "Zhanjiang Bay, inner port": (110.388, 21.283),
        "Zhanjiang Bay, outer bay": (110.480, 21.110),
    },
}

_PROVENANCE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def nest_names() -> tuple[str, ...]:
    """Names of the shipped nests."""
    return tuple(NEST_FILES)


def _check_name(name: str) -> str:
    if name not in NEST_FILES:
        raise GridError(unknown_name("nest", name, NEST_FILES))
    return name


@functools.lru_cache(maxsize=4)
def nest_dataset(name: str) -> xr.Dataset:
    """The shipped raster of nest ``name`` (checked against ``forcing/CHECKSUMS.sha256``).

    Variables on the 1/480-degree pixel grid: ``sea_fraction`` [1], ``bed_elevation`` [m above
    mean sea level, NaN where the pixel holds no sea], ``bathymetry_rule`` (flags), ``barrier``
    (land corrections). Global attributes carry the sources, licence and rules.
    """
    path = verify(NEST_FILES[_check_name(name)])
    with xr.open_dataset(path) as ds:
        out = ds.load()
    out.attrs["file"] = str(path)
    return out


def _factor(resolution: float) -> int:
    ratio = float(resolution) / PIXEL_DEG
    factor = int(round(ratio))
    if factor < 1 or abs(ratio - factor) > 1e-6 * ratio:
        raise GridError(
            f"nest resolution must be a whole multiple of the 1/480-degree raster pixel "
            f"(1/480, 1/240, 1/160, 1/120, ... degrees); got {resolution!r} "
            f"({ratio:.4g} pixels)"
        )
    return factor


def _blocks(a: np.ndarray, f: int) -> np.ndarray:
    ny, nx = a.shape[0] // f, a.shape[1] // f
    return a[: ny * f, : nx * f].reshape(ny, f, nx, f)


def _connected(wet: np.ndarray, open_boundaries: Sequence[str]) -> np.ndarray:
    """Wet cells 4-connected (through faces) to a wet cell on an open edge."""
    labels, _ = ndimage.label(wet)
    edges = {"south": labels[0, :], "north": labels[-1, :], "west": labels[:, 0],
             "east": labels[:, -1]}  # fmt: skip
    keep = np.unique(np.concatenate([edges[e] for e in open_boundaries] or [np.array([0])]))
    return np.isin(labels, keep[keep > 0])


def _join(wet, passable, j0, i0, open_boundaries) -> list[tuple[int, int]]:
    """Make wet the shortest 4-connected path of passable cells from (j0, i0) to the connected
    sea (breadth-first); return the cells changed, [] if already connected or no path."""
    connected = _connected(wet, open_boundaries)
    if connected[j0, i0] or not passable[j0, i0]:
        return []
    ny, nx = wet.shape
    parent: dict[tuple[int, int], tuple[int, int] | None] = {(j0, i0): None}
    queue = deque([(j0, i0)])
    while queue:
        j, i = queue.popleft()
        if connected[j, i]:
            cells: list[tuple[int, int]] = []
            node = parent[(j, i)]
            while node is not None:
                if not wet[node]:
                    wet[node] = True
                    cells.append(node)
                node = parent[node]
            return cells
        for jn, in_ in ((j + 1, i), (j - 1, i), (j, i + 1), (j, i - 1)):
            if 0 <= jn < ny and 0 <= in_ < nx and (jn, in_) not in parent and passable[jn, in_]:
                parent[(jn, in_)] = (j, i)
                queue.append((jn, in_))
    return []


def nest_fields(
    name: str,
    *,
    resolution: float = DEFAULT_RESOLUTION,
    sea_fraction_threshold: float = SEA_FRACTION_THRESHOLD,
    open_boundaries: Sequence[str] | None = None,
) -> xr.Dataset:
    """The nest raster coarsened to ``resolution`` with the wet mask of `beibu_nest`.

    Parameters
    ----------
    name : "guangxi" or "zhanjiang"
    resolution : cell size [degrees], a whole multiple of 1/480
    sea_fraction_threshold : a cell is wet where its mean sea fraction is at least this [0-1]
    open_boundaries : edges open to the sea; None takes the file's (``open_boundaries``)

    Returns
    -------
    xr.Dataset on (lat, lon) cell centres with ``lon_edge``/``lat_edge`` coordinates:
    ``sea_fraction`` [1], ``bed_elevation`` [m above MSL; sea-fraction-weighted mean of the
    pixels, NaN on cells holding no sea], ``wet`` (bool), ``barrier`` (bool), and attributes
    ``corrections`` (JSON list of the changes made) and the raster's provenance.
    """
    if not 0.0 < sea_fraction_threshold <= 1.0:
        raise GridError(f"sea_fraction_threshold must be in (0, 1]; got {sea_fraction_threshold}")
    src = nest_dataset(name)
    f = _factor(resolution)
    opened = tuple(open_boundaries or src.attrs["open_boundaries"].split())
    frac_px = np.asarray(src["sea_fraction"].values, dtype=float)
    bed_px = np.asarray(src["bed_elevation"].values, dtype=float)
    frac = _blocks(frac_px, f).mean(axis=(1, 3))
    weight = _blocks(np.where(np.isfinite(bed_px), frac_px, 0.0), f).sum(axis=(1, 3))
    total = _blocks(np.where(np.isfinite(bed_px), bed_px * frac_px, 0.0), f).sum(axis=(1, 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        bed = np.where(weight > 0, total / weight, np.nan)
    barrier = _blocks(np.asarray(src["barrier"].values) != 0, f).any(axis=(1, 3))
    wet = (frac >= sea_fraction_threshold) & ~barrier & np.isfinite(bed)
    passable = (frac > 0) & ~barrier & np.isfinite(bed)
    ny, nx = frac.shape
    lon0 = float(src["lon"].values[0]) - 0.5 * PIXEL_DEG
    lat0 = float(src["lat"].values[0]) - 0.5 * PIXEL_DEG
    lon_edge = lon0 + resolution * np.arange(nx + 1)
    lat_edge = lat0 + resolution * np.arange(ny + 1)
    lon_c = 0.5 * (lon_edge[:-1] + lon_edge[1:])
    lat_c = 0.5 * (lat_edge[:-1] + lat_edge[1:])
    corrections = []
    for bay, (x, y) in NAMED_POINTS.get(name, {}).items():
        # the cell containing the point, as `Grid.locate` finds it
        j = int(np.clip(np.searchsorted(lat_edge, y, side="right") - 1, 0, ny - 1))
        i = int(np.clip(np.searchsorted(lon_edge, x, side="right") - 1, 0, nx - 1))
        if not passable[j, i]:
            logger.warning("%s at (%gE, %gN) holds no sea at %g degree", bay, x, y, resolution)
        changed = _join(wet, passable, j, i, opened)
        if changed:
            where = [(round(float(lon_c[b]), 4), round(float(lat_c[a]), 4)) for a, b in changed]
            logger.info("joined %s to the sea: %d cells made wet at %s", bay, len(changed), where)
            corrections.append(f"joined {bay}: {len(changed)} cells made wet at {where}")
    connected = _connected(wet, opened)
    removed = int((wet & ~connected).sum())
    wet &= connected
    corrections.append(f"removed {removed} wet cells not connected to the open edges {opened}")
    ds = xr.Dataset(
        {
            "sea_fraction": (("lat", "lon"), frac),
            "bed_elevation": (("lat", "lon"), bed),
            "wet": (("lat", "lon"), wet),
            "barrier": (("lat", "lon"), barrier),
        },
        coords={"lat": lat_c, "lon": lon_c, "lat_edge": lat_edge, "lon_edge": lon_edge},
        attrs={
            **{k: v for k, v in src.attrs.items() if isinstance(v, str)},
            "nest_name": name,
            "resolution_deg": float(resolution),
            "sea_fraction_threshold": float(sea_fraction_threshold),
            "open_boundaries": " ".join(opened),
            "tidal_range_m": float(src.attrs["tidal_range_m"]),
            "corrections": json.dumps(corrections, ensure_ascii=False),
        },
    )
    ds["bed_elevation"].attrs.update(units="m", long_name="bed elevation above mean sea level")
    return ds


def beibu_nest(
    name: str = "guangxi",
    *,
    resolution: float = DEFAULT_RESOLUTION,
    sea_fraction_threshold: float = SEA_FRACTION_THRESHOLD,
    min_depth_m: float | None = None,
    open_boundaries: Sequence[str] | None = None,
) -> Grid:
    """The lon/lat C-grid of a nested bay grid.

    Parameters
    ----------
    name : "guangxi" (Beilun estuary to Tieshan Bay) or "zhanjiang" (Zhanjiang Bay)
    resolution : cell size [degrees], a whole multiple of 1/480 (default 1/240, about 460 m)
    sea_fraction_threshold : a cell is wet where its mean GSHHG sea fraction reaches this [0-1]
    min_depth_m : None keeps the bed as it is: depth = -bed elevation [m], negative on
        intertidal flats above mean sea level (floodable cells for the shallow-water engine);
        a number clips the depth of wet cells from below to it [m] (a rigid-lid stand-in)
    open_boundaries : open edges; None takes the nest's own (Guangxi west and south,
        Zhanjiang south and east)

    Returns
    -------
    Grid (geographic), cached per arguments; provenance from `nest_provenance(grid)`.

    Examples
    --------
    >>> import bbw_bay as bb
    >>> bb.Grid.beibu_nest("zhanjiang", resolution=1 / 120).geographic
    True
    """
    key = (
        _check_name(name),
        float(resolution),
        float(sea_fraction_threshold),
        None if min_depth_m is None else float(min_depth_m),
        None if open_boundaries is None else tuple(open_boundaries),
    )
    return _nest_cached(*key)


@functools.lru_cache(maxsize=16)
def _nest_cached(name, resolution, threshold, min_depth_m, open_boundaries) -> Grid:
    fields = nest_fields(
        name,
        resolution=resolution,
        sea_fraction_threshold=threshold,
        open_boundaries=open_boundaries,
    )
    wet = fields["wet"].values
    depth = -fields["bed_elevation"].values
    if min_depth_m is not None:
        if not min_depth_m > 0:
            raise GridError(f"min_depth_m must be > 0 or None; got {min_depth_m}")
        depth = np.maximum(depth, min_depth_m)
    depth = np.where(wet, depth, 0.0)
    grid = Grid.geographic_grid(
        fields["lon_edge"].values,
        fields["lat_edge"].values,
        depth=depth,
        wet=wet,
        open_boundaries=fields.attrs["open_boundaries"].split(),
    )
    path = Path(fields.attrs.get("file", NEST_FILES[name]))
    _PROVENANCE[grid] = {
        "nest_name": name,
        "nest_file": path.name,
        "nest_sha256": sha256(path) if path.is_file() else "unknown",
        "nest_parameters": json.dumps(
            dict(
                resolution=resolution,
                sea_fraction_threshold=threshold,
                min_depth_m=min_depth_m,
                open_boundaries=fields.attrs["open_boundaries"].split(),
            )
        ),
        "nest_corrections": fields.attrs["corrections"],
        "nest_land_corrections": fields.attrs.get("land_corrections", ""),
        "nest_bathymetry_rules": fields.attrs.get("bathymetry_rules", ""),
        "nest_license": fields.attrs.get("license", ""),
        "nest_documentation": "forcing/NESTS.md",
    }
    logger.info("built nest %s: %s", name, grid.describe())
    return grid


def nest_provenance(grid: Grid) -> dict[str, str]:
    """What a grid from `beibu_nest` was built from: file, sha256, parameters, corrections."""
    try:
        return dict(_PROVENANCE[grid])
    except KeyError:
        raise GridError("this grid was not built by bbw_bay.gulf.nests.beibu_nest") from None


def water_statistics(
    fields: xr.Dataset, mask: np.ndarray, *, tidal_range_m: float, wet_only: bool = False
) -> dict[str, float]:
    """Water area, intertidal area, depths and tidal prism of the cells in ``mask``.

    Parameters
    ----------
    fields : a `nest_fields` dataset (any resolution)
    mask : (lat, lon) bool, the region's cells
    tidal_range_m : mean tidal range R [m]; high water at +R/2, low water at -R/2 about MSL
    wet_only : count only the grid's wet cells at their full area (the model's water) instead
        of every cell at its GSHHG sea fraction (the coastline's water)

    Returns
    -------
    dict: ``area_km2`` (water at high water), ``intertidal_km2`` (bed between low and high
    water), ``mean_depth_msl_m`` (volume below MSL / area below MSL), ``max_depth_m``,
    ``prism_m3`` = Σ area × clip(HW − bed, 0, R), the volume between low and high water.
    """
    lat_edge = np.deg2rad(fields["lat_edge"].values)
    dlon = np.deg2rad(float(np.diff(fields["lon_edge"].values).mean()))
    cell = EARTH_RADIUS**2 * dlon * (np.sin(lat_edge[1:]) - np.sin(lat_edge[:-1]))[:, None]
    cell = np.broadcast_to(cell, mask.shape)
    bed = fields["bed_elevation"].values
    sel = np.asarray(mask, bool) & np.isfinite(bed)
    if wet_only:
        sel &= fields["wet"].values
        area = np.where(sel, cell, 0.0)
    else:
        area = np.where(sel, cell * fields["sea_fraction"].values, 0.0)
    hw, lw = 0.5 * tidal_range_m, -0.5 * tidal_range_m
    bed0 = np.where(sel, bed, 0.0)
    below = sel & (bed0 < 0)
    prism = float((area * np.clip(hw - bed0, 0.0, tidal_range_m)).sum())
    area_below = float(area[below].sum())
    return {
        "area_km2": float(area.sum()) / 1e6,
        "intertidal_km2": float(area[sel & (bed0 > lw)].sum()) / 1e6,
        "mean_depth_msl_m": float((area * np.maximum(-bed0, 0.0)).sum()) / area_below
        if area_below
        else 0.0,
        "max_depth_m": float(np.max(-bed0[sel], initial=0.0)),
        "prism_m3": prism,
    }


# `Grid.beibu_nest` calls this (the core does not import the gulf)
register_builder("beibu_nest", beibu_nest)

__all__ = [
    "DEFAULT_RESOLUTION",
    "RIGID_LID_MIN_DEPTH_M",
    "NAMED_POINTS",
    "NEST_FILES",
    "NEST_ZONES_FILE",
    "PIXEL_DEG",
    "beibu_nest",
    "nest_dataset",
    "nest_fields",
    "nest_names",
    "nest_provenance",
    "water_statistics",
]
