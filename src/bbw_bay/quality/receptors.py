"""Receptors: the control points (监控点) and zone means at which concentrations are constrained.

A `Receptor` is a linear functional of the steady concentration field on the wet-cell vector:
a control point's cell (`point_receptors`), or the area-weighted mean over a zone's wet cells
(`zone_receptors`). Control points are read from ``forcing/control_points.toml`` (or another
file of ``[[point]]`` tables, `load_control_points`), every number with its citation.
`receptors_for` gives the receptors of files (or the shipped ones) on a grid, as the
``--points``/``--zones``/``--receptors`` options of ``bbw-bay capacity`` and ``apportion`` do.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bbw_bay.core.grid import Grid
from bbw_bay.core.output import grid_dataset
from bbw_bay.errors import BadInputError, did_you_mean
from bbw_bay.gulf.data import forcing_path, read_tables
from bbw_bay.quality.selectors import select_items
from bbw_bay.quality.zones import Zone, load_zones, zone_masks

log = logging.getLogger(__name__)

CONTROL_POINTS_FILE = "control_points.toml"
RECEPTOR_KINDS = ("point", "zone")
_POINT_REQUIRED = ("key", "name", "target_class", "zone", "province", "citations")
_POINT_OPTIONAL = ("name_zh", "notes", "lon", "lat", "x_m", "y_m")
_POINT_CITED = ("position", "target_class")
#: Largest distance [m] a control point on land may move to the nearest wet cell.
MAX_POINT_SNAP_DISTANCE = 5_000.0


class ReceptorError(BadInputError):
    """Bad control-point file, control point, receptor or receptor selector."""


# ----------------------------------------------------------------------------- control points
@dataclass(frozen=True)
class ControlPoint:
    """A water-quality control point (监控点): a position with a GB 3097 target class.

    Attributes
    ----------
    key : identifier
    x, y : position [lon/lat degrees on geographic grids, metres on cartesian ones; the file
        gives lon and lat, or x_m and y_m]
    target_class : GB 3097-1997 class (1..4) the water there must meet
    zone : key of the evaluation zone (forcing/zones.toml) the point lies in ("" if none)
    province, name, name_zh, notes : descriptive text
    citations : {"position": ..., "target_class": ...} source or "estimate: method" of each number
    geographic : True if x, y are lon/lat (the file gave lon and lat), False if metres (x_m and
        y_m), None if not known; a point is refused on a grid of the other kind
    """

    key: str
    x: float
    y: float
    target_class: int = 2
    zone: str = ""
    province: str = ""
    name: str = ""
    name_zh: str = ""
    notes: str = ""
    citations: Mapping[str, str] | None = None
    geographic: bool | None = None


def _point_error(path, index: int, key, message: str) -> ReceptorError:
    where = f"{path}: point[{index}]" + (f" {key!r}" if key else "")
    return ReceptorError(f"{where}: {message}")


def _control_point(entry, path, index: int) -> ControlPoint:
    if not isinstance(entry, dict):
        raise _point_error(path, index, None, f"each [[point]] must be a table; got {entry!r}")
    key = entry.get("key")
    allowed = _POINT_REQUIRED + _POINT_OPTIONAL
    for name in entry:
        if name not in allowed:
            hint = did_you_mean(name, allowed)
            raise _point_error(path, index, key, f"unknown key {name!r}{hint}")
    for name in _POINT_REQUIRED:
        if name not in entry:
            raise _point_error(path, index, key, f"missing required key {name!r}")
    if not isinstance(key, str) or not key:
        raise _point_error(path, index, None, f"key must be a non-empty string; got {key!r}")
    x, y = _point_position(entry, path, index, key)
    target = entry["target_class"]
    if isinstance(target, bool) or target not in (1, 2, 3, 4):
        raise _point_error(
            path,
            index,
            key,
            f"target_class must be 1, 2, 3 or 4 (GB 3097 Class I-IV); got {target!r}",
        )
    citations = entry["citations"]
    if not isinstance(citations, dict):
        raise _point_error(
            path, index, key, "citations must be a table {position = ..., target_class = ...}"
        )
    for name in _POINT_CITED:
        text = citations.get(name)
        if not isinstance(text, str) or not text.strip():
            raise _point_error(
                path,
                index,
                key,
                f'citations.{name} is missing: give the source or "estimate: <method>"',
            )
        if text.strip().lower().rstrip(".:; ") == "estimate":
            raise _point_error(
                path,
                index,
                key,
                f"citations.{name} says 'estimate' without the "
                'method; expected "estimate: <how it was estimated>"',
            )
    extra = sorted(set(citations) - set(_POINT_CITED))
    if extra:
        raise _point_error(
            path,
            index,
            key,
            f"citations for {extra}; only {list(_POINT_CITED)} are numbers of a control point",
        )
    text = {}
    for name in ("name", "name_zh", "zone", "province", "notes"):
        value = entry.get(name, "")
        if not isinstance(value, str):
            raise _point_error(path, index, key, f"{name} must be a string; got {value!r}")
        text[name] = value.strip()
    return ControlPoint(
        key=key,
        x=x,
        y=y,
        target_class=int(target),
        citations=dict(citations),
        geographic="lon" in entry,
        **text,
    )


def _point_position(entry, path, index: int, key) -> tuple[float, float]:
    """(lon, lat) [degrees] or (x_m, y_m) [m] of a control point table."""
    geographic = "lon" in entry or "lat" in entry
    if geographic == ("x_m" in entry or "y_m" in entry):
        raise _point_error(
            path,
            index,
            key,
            "give the position as lon and lat [degrees] or as "
            "x_m and y_m [m] (cartesian grids), not both or neither",
        )
    ranges = (
        (("lon", (-180.0, 360.0)), ("lat", (-90.0, 90.0)))
        if geographic
        else (("x_m", (-1e8, 1e8)), ("y_m", (-1e8, 1e8)))
    )
    values = []
    for name, (lo, hi) in ranges:
        value = entry.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
            unit = "degrees" if geographic else "m"
            raise _point_error(
                path,
                index,
                key,
                f"{name} must be a number in [{lo:g}, {hi:g}] {unit}; got {value!r}",
            )
        values.append(float(value))
    return values[0], values[1]


def load_control_points(path: str | os.PathLike | None = None) -> list[ControlPoint]:
    """Control points from a TOML file of ``[[point]]`` tables (None: forcing/control_points.toml).

    Raises `ReceptorError` naming the file, the point and the key for an invalid entry.
    """
    path = Path(path) if path is not None else forcing_path(CONTROL_POINTS_FILE)
    entries = read_tables(path, "point", what="control-points", error=ReceptorError)
    points = [_control_point(entry, path, i) for i, entry in enumerate(entries)]
    keys = [p.key for p in points]
    for i, p in enumerate(points):
        if keys.count(p.key) > 1:
            raise _point_error(path, i, p.key, "duplicate point key")
    return points


# ----------------------------------------------------------------------------- receptors
@dataclass(frozen=True, eq=False)
class Receptor:
    """A linear functional of the concentration field: a point's cell or a zone's area mean.

    Attributes
    ----------
    key : identifier (control-point key, or ``zone:<zone key>``)
    kind : "point" or "zone"
    weights : (n_wet,) weights on the wet-cell vector (sum 1) [1]
    target_class : GB 3097 class (1..4) the receptor must meet
    name, province : descriptive text
    cells : (k, 2) int (j, i) of the cells with non-zero weight
    """

    key: str
    kind: str
    weights: np.ndarray
    target_class: int = 2
    name: str = ""
    province: str = ""
    cells: np.ndarray | None = None


def point_receptors(
    grid: Grid,
    points: Sequence[ControlPoint],
    *,
    max_snap_distance: float = MAX_POINT_SNAP_DISTANCE,
) -> list[Receptor]:
    """One receptor per control point: the point's wet cell (a point on land moves to the
    nearest wet cell within ``max_snap_distance`` [m], with a warning)."""
    index = _wet_index(grid)
    receptors = []
    for p in points:
        if p.geographic is not None and p.geographic != grid.geographic:
            given = "lon and lat [degrees]" if p.geographic else "x_m and y_m [m]"
            found = "lon/lat" if grid.geographic else "cartesian (x/y [m])"
            raise ReceptorError(
                f"control point {p.key!r} at ({p.x:g}, {p.y:g}) is given as {given}, but the "
                f"grid is {found}; give control points in the grid's coordinates"
            )
        try:
            j, i = grid.locate(p.x, p.y)
        except ValueError as err:
            raise ReceptorError(f"control point {p.key!r}: {err}") from None
        if not grid.wet[j, i]:
            j, i, dist = grid.nearest_wet(p.x, p.y)
            if dist > max_snap_distance:
                raise ReceptorError(
                    f"control point {p.key!r} at ({p.x:g}, {p.y:g}) is on land; the nearest wet "
                    f"cell is {dist / 1000:.1f} km away (> {max_snap_distance / 1000:g} km)"
                )
            log.warning(
                "control point %r at (%g, %g) is on land; using the nearest wet cell %.1f km away",
                p.key,
                p.x,
                p.y,
                dist / 1000,
            )
        weights = np.zeros(grid.n_wet)
        weights[index[j, i]] = 1.0
        receptors.append(
            Receptor(
                p.key,
                "point",
                weights,
                p.target_class,
                p.name or p.key,
                p.province,
                np.array([[j, i]]),
            )
        )
    return receptors


def zone_receptors(grid: Grid, zones: Sequence[Zone]) -> list[Receptor]:
    """One receptor per zone (`bbw_bay.quality.zones.Zone`): the area-weighted mean over its wet
    cells. A zone without wet cells on this grid is skipped with a warning."""
    masks = zone_masks(grid_dataset(grid), zones)
    receptors = []
    for zone in zones:
        mask = masks[zone.key] & grid.wet
        if not mask.any():
            log.warning("zone %r has no wet cells on this grid; skipped", zone.key)
            continue
        area = np.where(mask, grid.area, 0.0)[grid.wet]
        receptors.append(
            Receptor(
                f"zone:{zone.key}",
                "zone",
                area / area.sum(),
                zone.target_class,
                zone.name or zone.key,
                zone.province,
                np.argwhere(mask),
            )
        )
    return receptors


def default_receptors(grid: Grid) -> list[Receptor]:
    """The shipped control points and zones (geographic grids only)."""
    if not grid.geographic:
        raise ReceptorError(
            "the shipped control points and zones are lon/lat; give receptors "
            "(point_receptors / zone_receptors) for a cartesian grid"
        )
    return point_receptors(grid, load_control_points()) + zone_receptors(grid, load_zones())


def select_receptors(receptors: Sequence[Receptor], selector: str | None) -> list[Receptor]:
    """Receptors matching a selector (`bbw_bay.quality.selectors`; fields kind, province,
    target_class; bare words are receptor keys: a control point's key, ``zone:<zone key>``)."""
    if not selector or selector.strip() == "all":
        return list(receptors)

    def fields(r: Receptor) -> dict[str, str]:
        return {
            "name": r.key,
            "kind": r.kind,
            "province": r.province,
            "target_class": str(r.target_class),
        }

    chosen = select_items(
        [fields(r) for r in receptors], selector, what="receptor", error=ReceptorError
    )
    return [receptors[k] for k in chosen]


def receptors_for(
    grid: Grid,
    *,
    points: str | os.PathLike | None = None,
    zones: str | os.PathLike | None = None,
    selector: str | None = None,
) -> list[Receptor]:
    """The receptors of a control-points file and a zones file on ``grid``, selected.

    Parameters
    ----------
    grid : the model grid
    points : control-points TOML (None: ``forcing/control_points.toml`` on lon/lat grids, no
        points on cartesian ones)
    zones : zones TOML for zone-mean receptors (None: ``forcing/zones.toml`` on lon/lat grids,
        none on cartesian ones; ``"none"``: no zone receptors)
    selector : keys (``"maowei_centre,zone:maowei_sea"``) or fields (``"province=Guangxi"``,
        ``"kind=zone"``) of the receptors to keep (None: all); see `select_receptors`

    Returns
    -------
    list of `Receptor`: the points first, then the zones

    Raises
    ------
    ReceptorError when there is no receptor (a cartesian grid without a points file) or the
    selector matches none.

    Examples
    --------
    >>> receptors = receptors_for(grid, selector="province=Guangxi")  # doctest: +SKIP
    """
    shipped = grid.geographic
    chosen_points = (
        load_control_points(points)
        if points is not None
        else (load_control_points() if shipped else [])
    )
    chosen_zones: list[Zone] = []
    if zones is None or str(zones) != "none":
        chosen_zones = load_zones(zones) if zones is not None else (load_zones() if shipped else [])
    receptors = point_receptors(grid, chosen_points) + zone_receptors(grid, chosen_zones)
    if not receptors:
        raise ReceptorError(
            "no receptors: give a control-points file (points with x_m, y_m) for a cartesian grid"
        )
    return select_receptors(receptors, selector)


def _wet_index(grid: Grid) -> np.ndarray:
    """(ny, nx) position of each wet cell in the wet-cell vector (−1 on land)."""
    index = np.full(grid.shape, -1, dtype=np.int64)
    index[grid.wet] = np.arange(grid.n_wet)
    return index


__all__ = [
    "CONTROL_POINTS_FILE",
    "MAX_POINT_SNAP_DISTANCE",
    "RECEPTOR_KINDS",
    "ControlPoint",
    "Receptor",
    "ReceptorError",
    "default_receptors",
    "load_control_points",
    "point_receptors",
    "receptors_for",
    "select_receptors",
    "zone_receptors",
]
