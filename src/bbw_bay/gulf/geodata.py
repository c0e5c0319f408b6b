"""The real geographic grid of the Beibu Gulf (Gulf of Tonkin) from ETOPO5 depth and GSHHG coast.

`grid_from_bathymetry` builds a regular lon/lat C-grid: the coastline comes from the GSHHG
full-resolution sea fraction (1 arc-minute, block-averaged to the model cells), the depth from
ETOPO5 (5 arc-minute, bilinear at cell centres), with a minimum depth for coastal cells, a cap
on the effective mixing depth, hand-opened bay mouths and a deepened Qiongzhou Strait trough
(every correction is listed in `CORRECTIONS` and in `grid_provenance`). `beibu_grid` is the
embedded default built from the files shipped in ``forcing/``. `GULF_PROPER` and
`gulf_proper_mask` delimit the gulf proper; `points_in_polygon` is a numpy even-odd test.

Sources: see ``forcing/GEODATA.md``. Published values quoted below use the keys of the project's
domain notes: [S19] Wikipedia 琼州海峡, [S20] 中国地理百科 琼州海峡, [S22] 琼州海峡多深.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import weakref
from collections import deque
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr
from scipy import ndimage

from bbw_bay.core.grid import Grid, GridError, register_builder
from bbw_bay.gulf.data import sha256, verify

logger = logging.getLogger(__name__)

#: Shipped forcing files (see forcing/GEODATA.md).
BATHYMETRY_FILE = "bathymetry_etopo5_beibu.nc"
LANDMASK_FILE = "landmask_gshhg_beibu.nc"

#: Default minimum depth of a wet cell [m]. Estimate: about the mean tidal range on the Guangxi
#: coast (2-2.5 m), so a cell wet at mean sea level keeps water over a tide in a model without
#: wetting and drying; ETOPO5 (9 km nodes) cannot resolve depths in the bays anyway and holds a
#: placeholder -1 m at ~230 coastal sea nodes and land heights next to the coast.
MIN_DEPTH_M = 3.0
#: Default cap on the depth [m] over which a tracer is mixed (the deep South China Sea corner of
#: the domain reaches 2700 m). Estimate: about twice the deepest monthly mean mixed layer of the
#: northern South China Sea (80 m in Dec/Jan, 25 m in May at the SEATS station; Tai, Wong and
#: Pan 2017, Terr. Atmos. Ocean. Sci. 28(6), 1019-1032, doi:10.3319/TAO.2017.01.09.01). Deeper than
#: any water of the gulf proper (about 100 m) and the Qiongzhou Strait trough (114-120 m
#: [S19][S20]), so it changes only the open South China Sea.
MAX_MIXING_DEPTH_M = 150.0

#: Qiongzhou Strait trough correction. ETOPO5 (9 km) shows the strait 20-50 m deep; published:
#: mean depth 44 m [S19][S20], central trough 80-100 m with its axis deeper than 80 m and shallow
#: tidal deltas at both ends [S20][S22], maximum depth 114 m [S19] / 120 m [S20].
STRAIT_LON = (109.9, 110.6)  # west and east end of the corrected band [degrees E]
STRAIT_LAT = (19.9, 20.4)  # latitude window searched for the strait's wet run [degrees N]
STRAIT_AXIS_DEPTH_M = 100.0  # trough axis depth [m], mid "80-100 m" trough and below max 114 m
STRAIT_HALF_WIDTH = 0.35  # trough half-width as a fraction of the local strait width (estimate)
STRAIT_TAPER_DEG = 0.15  # along-strait taper to the tidal deltas at both ends [degrees lon]

#: Bay mouths that close when the coast is coarsened; each line is opened explicitly by making
#: wet every model cell on it that holds some GSHHG sea (only cells not already wet change).
#: Positions were read from the 1-arc-minute GSHHG mask (forcing/landmask_gshhg_beibu.nc).
CHANNEL_CORRECTIONS: dict[str, tuple[tuple[float, float], ...]] = {
    "Tieshan Bay upper reach (Tieshangang channel)": ((109.583, 21.60), (109.583, 21.74)),
    "Zhanjiang Bay inner harbour": ((110.417, 21.15), (110.417, 21.36)),
}

#: Named bays that must be wet and connected to the open sea: name -> (lon, lat) [degrees].
NAMED_BAYS: dict[str, tuple[float, float]] = {
    "Maowei Sea": (108.55, 21.80),
    "Qinzhou Bay": (108.60, 21.65),
    "Lianzhou Bay": (109.10, 21.55),
    "Tieshan Bay": (109.60, 21.55),
    "Zhanjiang Bay": (110.45, 21.12),
    "Fangchenggang Bay": (108.35, 21.60),
}

#: The gulf proper (lon, lat vertices, degrees): west of the Qiongzhou Strait at 109.9E and north
#: of the mouth line from Yinggehai, Hainan (108.70E 18.50N; the often quoted 108.68E 18.45N lies
#: 5 km offshore in GSHHG) to Con Co Island (107.34E 17.16N, a GSHHG islet at 107.33E 17.16N).
#: The closing vertices run over land (Vietnam west of 105.6E, Hainan's interior, Guangxi north
#: of 21.9N), so only the mouth line and the 109.9E meridian cut through water.
GULF_PROPER: np.ndarray = np.array(
    [
        (105.0, 17.16),  # on land in Vietnam, due west of Con Co
        (107.34, 17.16),  # Con Co Island (Cồn Cỏ)
        (108.70, 18.50),  # Yinggehai, SW Hainan (the cape where GSHHG's coast turns)
        (109.30, 19.10),  # Hainan interior
        (109.90, 19.60),  # Hainan interior, south of the strait's west end
        (109.90, 23.00),  # Leizhou Peninsula / Guangxi inland
        (105.0, 23.00),  # inland
    ]
)

#: Static provenance of the geographic data and method (strings, for netCDF attributes).
GULF_PROVENANCE: dict[str, str] = {
    "gulf_bathymetry_source": (
        "ETOPO5 5-arc-minute relief (NOAA NGDC 1988, Data Announcement 88-MGG-02), Debian "
        "ferret-datasets 7.6.0-5; public domain"
    ),
    "gulf_coastline_source": (
        "GSHHG 2.3.7 full resolution (Wessel and Smith 1996, JGR 101, 8741-8743), derived from "
        "Debian package gmt-gshhg-full 2.3.7, rasterised with GMT 6.4.0 grdlandmask; "
        "LGPL-3.0-or-later"
    ),
    "gulf_method": (
        "wet = block-mean GSHHG sea fraction >= threshold; depth = -ETOPO5 elevation, bilinear at "
        "cell centres, clipped to [min depth, max mixing depth] on wet cells; listed bay mouths "
        "opened; Qiongzhou Strait trough deepened; wet cells not 4-connected to an open "
        "boundary removed"
    ),
    "gulf_documentation": "forcing/GEODATA.md",
}

_PROVENANCE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


# ----------------------------------------------------------------------------- geometry helpers
def points_in_polygon(lon, lat, polygon) -> np.ndarray:
    """True for points inside a polygon (even-odd rule, ray cast towards +lon).

    Parameters
    ----------
    lon, lat : array_like, broadcastable, point coordinates [degrees or any planar unit]
    polygon : (n, 2) vertices (lon, lat); closed implicitly (last vertex joins the first)

    Returns
    -------
    bool array of the broadcast shape of `lon` and `lat`. Points exactly on an edge may fall on
    either side.
    """
    x, y = np.broadcast_arrays(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    poly = np.asarray(polygon, dtype=float)
    if poly.ndim != 2 or poly.shape[1] != 2 or poly.shape[0] < 3:
        raise ValueError(f"polygon must be (n >= 3, 2) vertices; got shape {poly.shape}")
    inside = np.zeros(x.shape, dtype=bool)
    x0, y0 = poly[:, 0], poly[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    for xa, ya, xb, yb in zip(x0, y0, x1, y1, strict=True):
        crosses = (ya > y) != (yb > y)  # edge straddles the horizontal line through the point
        if not crosses.any():
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            x_cross = xa + (y - ya) * (xb - xa) / (yb - ya)
        inside ^= crosses & (x < x_cross)
    return inside


def gulf_section(lon: float, lat: float) -> str:
    """Name of the `GULF_PROPER` edge section a face centre (lon, lat) [degrees] lies on.

    "qiongzhou_strait" (the 109.9E line between Hainan and Leizhou, north to 20.4N),
    "leizhou_coast" (the 109.9E line further north: coastal water of the Leizhou Peninsula that
    falls east of it) or "gulf_mouth" (the Yinggehai - Con Co line).
    """
    if lon >= 109.8:
        return "qiongzhou_strait" if lat <= 20.4 else "leizhou_coast"
    return "gulf_mouth"


def gulf_proper_mask(grid: Grid) -> np.ndarray:
    """(ny, nx) bool: wet cells of a lon/lat grid whose centres lie in `GULF_PROPER`."""
    if not grid.geographic:
        raise GridError("gulf_proper_mask needs a lon/lat grid")
    lon, lat = np.meshgrid(grid.x_centre, grid.y_centre)
    return points_in_polygon(lon, lat, GULF_PROPER) & grid.wet


# ----------------------------------------------------------------------------- input handling
def _dataset(obj) -> tuple[xr.Dataset, str]:
    """A loaded dataset and a label (file path or '<in-memory dataset>')."""
    if isinstance(obj, xr.Dataset):
        return obj, str(obj.encoding.get("source", "<in-memory dataset>"))
    with xr.open_dataset(obj) as ds:
        return ds.load(), os.fspath(obj)


def _check_regular(axis: np.ndarray, name: str) -> float:
    step = np.diff(axis)
    if axis.size < 2 or np.ptp(step) > 1e-6 * abs(step.mean()) or step.mean() <= 0:
        raise GridError(f"{name} must be a regular increasing axis")
    return float(step.mean())


def _block_mean(fraction: xr.DataArray, lon_edge: np.ndarray, lat_edge: np.ndarray) -> np.ndarray:
    """(ny, nx) mean of a pixel-registered field over model cells that tile whole pixels."""
    lon = fraction["lon"].values
    lat = fraction["lat"].values
    dlon, dlat = _check_regular(lon, "landmask lon"), _check_regular(lat, "landmask lat")
    west, south = lon[0] - 0.5 * dlon, lat[0] - 0.5 * dlat
    res_x, res_y = lon_edge[1] - lon_edge[0], lat_edge[1] - lat_edge[0]
    fx, fy = res_x / dlon, res_y / dlat
    i0, j0 = (lon_edge[0] - west) / dlon, (lat_edge[0] - south) / dlat
    values = [fx, fy, i0, j0]
    if any(abs(v - round(v)) > 1e-6 for v in values) or round(fx) < 1 or round(fy) < 1:
        raise GridError(
            f"model cells ({res_x:.6g}° × {res_y:.6g}°, from {lon_edge[0]:g}E {lat_edge[0]:g}N) "
            f"must tile whole land-mask pixels ({dlon * 60:.3g}′ starting {west:g}E {south:g}N); "
            "use a resolution of 1/60, 1/30, 1/20, 1/15, ... degrees on whole arc-minute ranges"
        )
    fx, fy, i0, j0 = (round(v) for v in values)
    nx, ny = lon_edge.size - 1, lat_edge.size - 1
    if i0 < 0 or j0 < 0 or i0 + nx * fx > lon.size or j0 + ny * fy > lat.size:
        raise GridError(
            f"domain {lon_edge[0]:g}–{lon_edge[-1]:g}E {lat_edge[0]:g}–{lat_edge[-1]:g}N exceeds "
            f"the land mask, which covers {west:g}–{west + lon.size * dlon:g}E "
            f"{south:g}–{south + lat.size * dlat:g}N"
        )
    block = np.asarray(fraction.values, dtype=float)[j0 : j0 + ny * fy, i0 : i0 + nx * fx]
    return block.reshape(ny, fy, nx, fx).mean(axis=(1, 3))


def _bilinear(field: xr.DataArray, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Bilinear interpolation of a gridline-registered field at points (lon, lat) [degrees]."""
    lon_n, lat_n = field["lon"].values, field["lat"].values
    dlon, dlat = _check_regular(lon_n, "bathymetry lon"), _check_regular(lat_n, "bathymetry lat")
    if (
        lon.min() < lon_n[0]
        or lon.max() > lon_n[-1]
        or lat.min() < lat_n[0]
        or lat.max() > lat_n[-1]
    ):
        raise GridError(
            f"domain exceeds the bathymetry, which covers {lon_n[0]:g}–{lon_n[-1]:g}E "
            f"{lat_n[0]:g}–{lat_n[-1]:g}N"
        )
    z = np.asarray(field.values, dtype=float)
    fx = (lon - lon_n[0]) / dlon
    fy = (lat - lat_n[0]) / dlat
    i = np.clip(np.floor(fx).astype(int), 0, lon_n.size - 2)
    j = np.clip(np.floor(fy).astype(int), 0, lat_n.size - 2)
    tx, ty = fx - i, fy - j
    return (1 - ty) * ((1 - tx) * z[j, i] + tx * z[j, i + 1]) + ty * (
        (1 - tx) * z[j + 1, i] + tx * z[j + 1, i + 1]
    )


def _connected_to_open(wet: np.ndarray, open_boundaries: Sequence[str]) -> np.ndarray:
    """Wet cells 4-connected (through cell faces) to a wet cell on an open edge."""
    labels, _ = ndimage.label(wet)  # default structure = 4-connectivity in 2-D
    edge = {
        "south": labels[0, :],
        "north": labels[-1, :],
        "west": labels[:, 0],
        "east": labels[:, -1],
    }
    keep = np.unique(np.concatenate([edge[e] for e in open_boundaries] or [np.array([0])]))
    keep = keep[keep > 0]
    return np.isin(labels, keep)


# ----------------------------------------------------------------------------- corrections
def _open_channels(wet, sea_fraction, lon_c, lat_c, res) -> list[str]:
    """Make wet the cells on each `CHANNEL_CORRECTIONS` line that hold some sea; log changes."""
    done = []
    for name, points in CHANNEL_CORRECTIONS.items():
        pts = np.asarray(points, dtype=float)
        n = int(np.ceil(np.abs(np.diff(pts, axis=0)).sum() / (0.25 * res))) + 2
        seg = np.linspace(0.0, 1.0, n)
        changed = []
        for (xa, ya), (xb, yb) in zip(pts[:-1], pts[1:], strict=True):
            for x, y in zip(xa + seg * (xb - xa), ya + seg * (yb - ya), strict=True):
                i = int(np.searchsorted(lon_c + 0.5 * res, x))
                j = int(np.searchsorted(lat_c + 0.5 * res, y))
                if (
                    0 <= i < lon_c.size
                    and 0 <= j < lat_c.size
                    and not wet[j, i]
                    and sea_fraction[j, i] > 0
                ):
                    wet[j, i] = True
                    changed.append((round(float(lon_c[i]), 4), round(float(lat_c[j]), 4)))
        if changed:
            logger.info("opened %s: %d cells made wet at %s", name, len(changed), changed)
            done.append(f"opened {name}: cells {changed} made wet")
    return done


def _connect_bays(wet, sea_fraction, lon_c, lat_c, open_boundaries) -> list[str]:
    """Join each `NAMED_BAYS` cell to the open sea if coarsening cut it off; log changes.

    The shortest 4-connected path through cells that hold some GSHHG sea (sea fraction > 0)
    from the bay's cell to the connected sea is made wet (breadth-first search).
    """
    done = []
    ny, nx = wet.shape
    for name, (lon, lat) in NAMED_BAYS.items():
        connected = _connected_to_open(wet, open_boundaries)
        j0, i0 = int(np.argmin(np.abs(lat_c - lat))), int(np.argmin(np.abs(lon_c - lon)))
        if connected[j0, i0] or sea_fraction[j0, i0] <= 0:
            continue
        parent: dict[tuple[int, int], tuple[int, int] | None] = {(j0, i0): None}
        queue = deque([(j0, i0)])
        end: tuple[int, int] | None = None
        while queue:
            j, i = queue.popleft()
            if connected[j, i]:
                end = (j, i)
                break
            for jn, in_ in ((j + 1, i), (j - 1, i), (j, i + 1), (j, i - 1)):
                if (
                    0 <= jn < ny
                    and 0 <= in_ < nx
                    and (jn, in_) not in parent
                    and sea_fraction[jn, in_] > 0
                ):
                    parent[(jn, in_)] = (j, i)
                    queue.append((jn, in_))
        if end is None:
            logger.warning("%s at (%gE, %gN) has no sea path to the open boundary", name, lon, lat)
            continue
        cells: list[tuple[float, float]] = []
        node = parent[end]
        while node is not None:
            if not wet[node]:
                wet[node] = True
                cells.append((round(float(lon_c[node[1]]), 4), round(float(lat_c[node[0]]), 4)))
            node = parent[node]
        logger.info("connected %s: %d cells made wet at %s", name, len(cells), cells)
        done.append(f"connected {name}: cells {cells} made wet")
    return done


def _strait_trough(depth, wet, lon_c, lat_c, *, cap: float) -> str:
    """Deepen the Qiongzhou Strait's wet cells to a trough profile; return a description."""
    west, east = STRAIT_LON
    cols = np.nonzero((lon_c >= west) & (lon_c <= east))[0]
    rows = np.nonzero((lat_c >= STRAIT_LAT[0]) & (lat_c <= STRAIT_LAT[1]))[0]
    before = float(depth[np.ix_(rows, cols)][wet[np.ix_(rows, cols)]].max(initial=0.0))
    for i in cols:
        along = min(1.0, (lon_c[i] - west) / STRAIT_TAPER_DEG, (east - lon_c[i]) / STRAIT_TAPER_DEG)
        column = wet[rows, i]
        if not column.any():
            continue
        # the longest run of wet cells in the window is the strait's cross-section
        runs = np.split(np.arange(rows.size), np.nonzero(np.diff(column.astype(int)))[0] + 1)
        run = max((r for r in runs if column[r[0]]), key=len)
        s = (np.arange(run.size) + 0.5) / run.size  # fractional position across the strait
        shape = np.clip(1.0 - ((s - 0.5) / STRAIT_HALF_WIDTH) ** 2, 0.0, 1.0)
        trough = STRAIT_AXIS_DEPTH_M * max(along, 0.0) * shape
        j = rows[run]
        depth[j, i] = np.minimum(np.maximum(depth[j, i], trough), cap)
    after = float(depth[np.ix_(rows, cols)][wet[np.ix_(rows, cols)]].max(initial=0.0))
    text = (
        f"Qiongzhou Strait trough: wet cells {west}-{east}E, {STRAIT_LAT[0]}-{STRAIT_LAT[1]}N "
        f"deepened to max(ETOPO5, {STRAIT_AXIS_DEPTH_M:g} m x along-strait taper "
        f"({STRAIT_TAPER_DEG}° at each end) x parabolic cross-strait profile (half-width "
        f"{STRAIT_HALF_WIDTH} of the local width)); max depth {before:.1f} m -> {after:.1f} m; "
        "published: trough 80-100 m, max 114-120 m, mean 44 m [S19][S20][S22]"
    )
    logger.info("%s", text)
    return text


# ----------------------------------------------------------------------------- builders
def grid_from_bathymetry(
    bathymetry,
    landmask,
    *,
    lon_range: tuple[float, float] = (105.0, 112.5),
    lat_range: tuple[float, float] = (16.0, 23.0),
    resolution: float = 1.0 / 30.0,
    sea_fraction_threshold: float = 0.5,
    min_depth_m: float = MIN_DEPTH_M,
    max_mixing_depth_m: float = MAX_MIXING_DEPTH_M,
    strait_correction: bool = True,
    channel_corrections: bool = True,
    open_boundaries: Sequence[str] = ("south", "east"),
) -> Grid:
    """A lon/lat C-grid of the gulf from a bathymetry and a land-mask dataset.

    Parameters
    ----------
    bathymetry : path or xr.Dataset with ``elevation`` (lat, lon) [m, positive up], gridline
        registered and regular (ETOPO5 5′)
    landmask : path or xr.Dataset with ``sea_fraction`` (lat, lon) [0-1], pixel registered and
        regular (GSHHG 1′)
    lon_range, lat_range : domain edges [degrees]; must tile whole land-mask pixels
    resolution : cell size [degrees], a whole multiple of the land-mask pixel (1/60, 1/30, 1/15...)
    sea_fraction_threshold : a cell is wet where its mean sea fraction is at least this [0-1]
    min_depth_m : smallest depth of a wet cell [m]
    max_mixing_depth_m : depth cap (effective mixing depth) [m]
    strait_correction : deepen the Qiongzhou Strait trough (see `STRAIT_AXIS_DEPTH_M`)
    channel_corrections : open the bay mouths in `CHANNEL_CORRECTIONS`
    open_boundaries : domain edges open to the sea; wet cells not connected to them are removed

    Returns
    -------
    Grid (geographic). Its provenance is available from `grid_provenance(grid)`.
    """
    if not 0.0 < sea_fraction_threshold <= 1.0:
        raise GridError(f"sea_fraction_threshold must be in (0, 1]; got {sea_fraction_threshold}")
    if not 0.0 < min_depth_m < max_mixing_depth_m:
        raise GridError(
            f"need 0 < min_depth_m < max_mixing_depth_m; got {min_depth_m}, {max_mixing_depth_m}"
        )
    bathy, bathy_label = _dataset(bathymetry)
    mask, mask_label = _dataset(landmask)
    for ds, label, name in ((bathy, bathy_label, "elevation"), (mask, mask_label, "sea_fraction")):
        if name not in ds:
            found = sorted(map(str, ds.data_vars))
            raise GridError(f"{label}: no variable {name!r}; found {found}")
    if resolution <= 0 or lon_range[1] <= lon_range[0] or lat_range[1] <= lat_range[0]:
        raise GridError(
            f"need resolution > 0 and increasing ranges; got {resolution}, {lon_range}, {lat_range}"
        )
    # a whole number of cells; where the range is not a multiple of the resolution (7.5° at
    # 1/15°), the east and north edges move out to the next whole cell
    nx = int(np.ceil((lon_range[1] - lon_range[0]) / resolution - 1e-6))
    ny = int(np.ceil((lat_range[1] - lat_range[0]) / resolution - 1e-6))
    lon_edge = lon_range[0] + resolution * np.arange(nx + 1)
    lat_edge = lat_range[0] + resolution * np.arange(ny + 1)
    lon_c = 0.5 * (lon_edge[:-1] + lon_edge[1:])
    lat_c = 0.5 * (lat_edge[:-1] + lat_edge[1:])

    sea_fraction = _block_mean(mask["sea_fraction"], lon_edge, lat_edge)
    wet = sea_fraction >= sea_fraction_threshold
    lon2, lat2 = np.meshgrid(lon_c, lat_c)
    depth = -_bilinear(bathy["elevation"], lon2, lat2)
    corrections = []
    if channel_corrections:
        corrections += _open_channels(wet, sea_fraction, lon_c, lat_c, resolution)
        corrections += _connect_bays(wet, sea_fraction, lon_c, lat_c, open_boundaries)
    shallow = wet & (depth < min_depth_m)
    deep = wet & (depth > max_mixing_depth_m)
    depth = np.where(wet, np.clip(depth, min_depth_m, max_mixing_depth_m), 0.0)
    corrections.append(
        f"minimum depth {min_depth_m:g} m set at {int(shallow.sum())} wet cells "
        "(ETOPO5 land, placeholder -1 m or shallower)"
    )
    corrections.append(
        f"depth capped at {max_mixing_depth_m:g} m (effective mixing depth) at "
        f"{int(deep.sum())} wet cells"
    )
    connected = _connected_to_open(wet, open_boundaries)
    removed = int((wet & ~connected).sum())
    wet &= connected
    depth[~wet] = 0.0
    corrections.append(
        f"removed {removed} wet cells not connected to the open boundaries {tuple(open_boundaries)}"
    )
    if strait_correction:
        corrections.append(_strait_trough(depth, wet, lon_c, lat_c, cap=max_mixing_depth_m))
    grid = Grid.geographic_grid(
        lon_edge, lat_edge, depth=depth, wet=wet, open_boundaries=open_boundaries
    )
    params = dict(
        lon_range=list(lon_range),
        lat_range=list(lat_range),
        resolution=resolution,
        sea_fraction_threshold=sea_fraction_threshold,
        min_depth_m=min_depth_m,
        max_mixing_depth_m=max_mixing_depth_m,
        strait_correction=strait_correction,
        channel_corrections=channel_corrections,
        open_boundaries=list(open_boundaries),
    )
    _PROVENANCE[grid] = {
        **GULF_PROVENANCE,
        "gulf_bathymetry_file": Path(bathy_label).name,
        "gulf_bathymetry_sha256": _file_digest(bathy_label),
        "gulf_landmask_file": Path(mask_label).name,
        "gulf_landmask_sha256": _file_digest(mask_label),
        "gulf_parameters": json.dumps(params),
        "gulf_corrections": "; ".join(corrections),
    }
    logger.info("built %s", grid.describe())
    return grid


def _file_digest(label: str) -> str:
    return sha256(label) if Path(label).is_file() else "unknown (in-memory dataset)"


def grid_provenance(grid: Grid | None = None) -> dict[str, str]:
    """What a grid from this module was built from: files, sha256, parameters, corrections.

    Parameters
    ----------
    grid : a grid returned by `grid_from_bathymetry` or `beibu_grid`; None for the default
        `beibu_grid()`

    Returns
    -------
    dict of strings (keys ``gulf_*``), suitable as netCDF global attributes.
    """
    grid = beibu_grid() if grid is None else grid
    try:
        return dict(_PROVENANCE[grid])
    except KeyError:
        raise GridError(
            "this grid was not built by bbw_bay.gulf.geodata; no provenance recorded"
        ) from None


def _hashable(value):
    if isinstance(value, list | tuple):
        return tuple(_hashable(v) for v in value)
    return value


def beibu_grid(resolution: float = 1.0 / 30.0, **kwargs) -> Grid:
    """The embedded Beibu Gulf grid from the shipped forcing files, cached per arguments.

    Default domain 105.0–112.5E × 16.0–23.0N, open to the south and east; `resolution` in
    degrees (1/60, 1/30, 1/15, ...); other keywords as for `grid_from_bathymetry`. The files are
    checked against ``forcing/CHECKSUMS.sha256``.
    """
    key = tuple(sorted((k, _hashable(v)) for k, v in kwargs.items()))
    return _beibu_cached(float(resolution), key)


@functools.lru_cache(maxsize=16)
def _beibu_cached(resolution: float, key: tuple) -> Grid:
    return grid_from_bathymetry(
        verify(BATHYMETRY_FILE), verify(LANDMASK_FILE), resolution=resolution, **dict(key)
    )


# `Grid.beibu` and `Grid.from_bathymetry` call these (the core does not import the gulf)
register_builder("beibu", beibu_grid)
register_builder("bathymetry", grid_from_bathymetry)


__all__ = [
    "BATHYMETRY_FILE",
    "CHANNEL_CORRECTIONS",
    "GULF_PROPER",
    "GULF_PROVENANCE",
    "LANDMASK_FILE",
    "gulf_section",
    "MAX_MIXING_DEPTH_M",
    "MIN_DEPTH_M",
    "NAMED_BAYS",
    "beibu_grid",
    "grid_from_bathymetry",
    "grid_provenance",
    "gulf_proper_mask",
    "points_in_polygon",
]
