"""Evaluation zones: GB 3097 functional zones as polygons or masks, read from ``zones.toml``.

A `Zone` is a polygon in a dataset's horizontal coordinates (lon/lat degrees, or x/y metres on
cartesian grids) or a boolean (Y, X) mask, with the GB 3097-1997 class its water must meet.
`load_zones` reads and validates ``forcing/zones.toml`` (or another file of ``[[zone]]``
tables); `zone_masks` turns zones into the (Y, X) masks of their wet cells, exclusions applied.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from bbw_bay.core.output import horizontal_dims
from bbw_bay.errors import BadInputError, did_you_mean
from bbw_bay.gulf.data import forcing_path, read_tables
from bbw_bay.gulf.geodata import points_in_polygon

ZONES_FILE = "zones.toml"
ZONE_KINDS = ("nearshore", "bay", "open")
_REQUIRED_KEYS = ("key", "name", "target_class", "source")
_OPTIONAL_KEYS = (
    "polygon",
    "polygons",
    "name_zh",
    "province",
    "kind",
    "estimate",
    "notes",
    "exclude",
)
#: Percentile reported as ``p95``.


class ZoneError(BadInputError):
    """A zone definition is invalid."""


@dataclass(frozen=True, eq=False)
class Zone:
    """An evaluation zone.

    Attributes
    ----------
    key : identifier (unique within a zone list)
    target_class : GB 3097-1997 class (1..4) the zone's water must meet
    polygon : (n, 2) vertices in the dataset's horizontal coordinates (lon/lat degrees or x/y
        metres), or a sequence of such arrays for a zone of several parts (their union), or
        None when `mask` is given
    mask : (Y, X) bool mask of the cells in the zone, or None when `polygon` is given
    exclude : keys of other zones whose cells are removed from this one
    name, name_zh, province, kind, source, estimate, notes : descriptive text
    geographic : True for a polygon in lon/lat degrees (a zones file), False for one in metres,
        None if not known; a polygon is refused on a dataset of the other kind
    """

    key: str
    target_class: int = 2
    polygon: np.ndarray | Sequence[np.ndarray] | None = None
    mask: np.ndarray | None = None
    exclude: tuple[str, ...] = ()
    name: str = ""
    name_zh: str = ""
    province: str = ""
    kind: str = "nearshore"
    source: str = ""
    estimate: str = ""
    notes: str = field(default="", repr=False)
    geographic: bool | None = None

    def __post_init__(self) -> None:
        if (self.polygon is None) == (self.mask is None):
            raise ZoneError(f"zone {self.key!r}: give exactly one of polygon and mask")
        if self.target_class not in (1, 2, 3, 4) or isinstance(self.target_class, bool):
            raise ZoneError(
                f"zone {self.key!r}: target_class must be 1, 2, 3 or 4 (GB 3097 Class I-IV); "
                f"got {self.target_class!r}"
            )

    @property
    def parts(self) -> tuple[np.ndarray, ...]:
        """The polygon's parts as (n, 2) float arrays (empty for a mask zone)."""
        if self.polygon is None:
            return ()
        first = np.asarray(self.polygon[0], dtype=float)
        if first.ndim == 1:  # a single polygon given as (n, 2)
            return (np.asarray(self.polygon, dtype=float),)
        return tuple(np.asarray(p, dtype=float) for p in self.polygon)

    def cells(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """(ny, nx) bool: cells of a grid with centre coordinates x (nx,), y (ny,) in the zone."""
        if self.mask is not None:
            mask = np.asarray(self.mask, dtype=bool)
            if mask.shape != (y.size, x.size):
                raise ZoneError(
                    f"zone {self.key!r}: mask shape {mask.shape} does not match the "
                    f"dataset's (Y, X) = {(y.size, x.size)}"
                )
            return mask
        xx, yy = np.meshgrid(x, y)
        inside = np.zeros(xx.shape, dtype=bool)
        for part in self.parts:
            inside |= points_in_polygon(xx, yy, part)
        return inside


# ----------------------------------------------------------------------------- reading zones
def _fail(path, index: int, key, message: str) -> ZoneError:
    where = f"{path}: zone[{index}]" + (f" {key!r}" if key else "")
    return ZoneError(f"{where}: {message}")


def _polygon(raw, path, index, key, label="polygon") -> np.ndarray:
    if not isinstance(raw, list) or len(raw) < 3:
        n = len(raw) if isinstance(raw, list) else type(raw).__name__
        raise _fail(path, index, key, f"{label} needs at least 3 [lon, lat] vertices; got {n}")
    for v, vertex in enumerate(raw):
        ok = (
            isinstance(vertex, list)
            and len(vertex) == 2
            and all(isinstance(c, int | float) and not isinstance(c, bool) for c in vertex)
        )
        if not ok or not np.all(np.isfinite(vertex)):
            raise _fail(
                path,
                index,
                key,
                f"{label} vertex {v} must be [lon, lat] with two finite numbers; got {vertex!r}",
            )
        lon, lat = vertex
        if not (-180.0 <= lon <= 360.0 and -90.0 <= lat <= 90.0):
            raise _fail(path, index, key, f"{label} vertex {v} = {vertex} is not a lon/lat pair")
    poly = np.asarray(raw, dtype=float)
    if np.ptp(poly[:, 0]) == 0 or np.ptp(poly[:, 1]) == 0:
        raise _fail(path, index, key, f"{label} has no area (all vertices on one line)")
    return poly


def _outline(entry, path, index, key) -> np.ndarray | tuple[np.ndarray, ...]:
    if ("polygon" in entry) == ("polygons" in entry):
        raise _fail(path, index, key, "give exactly one of 'polygon' and 'polygons'")
    if "polygon" in entry:
        return _polygon(entry["polygon"], path, index, key)
    parts = entry["polygons"]
    if not isinstance(parts, list) or not parts:
        raise _fail(path, index, key, "polygons must be a non-empty list of polygons")
    return tuple(_polygon(p, path, index, key, f"polygons[{i}]") for i, p in enumerate(parts))


def _zone_from_table(entry, path, index: int) -> Zone:
    if not isinstance(entry, dict):
        raise _fail(path, index, None, f"each [[zone]] must be a table; got {entry!r}")
    key = entry.get("key")
    for name in entry:
        if name not in _REQUIRED_KEYS + _OPTIONAL_KEYS:
            hint = did_you_mean(name, _REQUIRED_KEYS + _OPTIONAL_KEYS)
            raise _fail(path, index, key, f"unknown key {name!r}{hint}")
    for name in _REQUIRED_KEYS:
        if name not in entry:
            raise _fail(path, index, key, f"missing required key {name!r}")
    if not isinstance(key, str) or not key:
        raise _fail(path, index, None, f"key must be a non-empty string; got {key!r}")
    target = entry["target_class"]
    if isinstance(target, bool) or target not in (1, 2, 3, 4):
        raise _fail(
            path,
            index,
            key,
            f"unknown target_class {target!r}: must be 1, 2, 3 or 4 (GB 3097 Class I-IV)",
        )
    kind = entry.get("kind", "nearshore")
    if kind not in ZONE_KINDS:
        raise _fail(path, index, key, f"kind must be one of {', '.join(ZONE_KINDS)}; got {kind!r}")
    exclude = entry.get("exclude", [])
    if not isinstance(exclude, list) or not all(isinstance(e, str) for e in exclude):
        raise _fail(path, index, key, f"exclude must be a list of zone keys; got {exclude!r}")
    text: dict[str, Any] = {}
    for name in ("name", "name_zh", "province", "source", "estimate", "notes"):
        value = entry.get(name, "")
        if not isinstance(value, str):
            raise _fail(path, index, key, f"{name} must be a string; got {value!r}")
        text[name] = value.strip()
    if not text["source"]:
        raise _fail(path, index, key, "source must say how the outline and target were obtained")
    return Zone(
        key=key,
        target_class=int(target),
        polygon=_outline(entry, path, index, key),
        exclude=tuple(exclude),
        kind=kind,
        geographic=True,
        **text,
    )


def load_zones(path: str | os.PathLike | None = None) -> list[Zone]:
    """Zones from a TOML file of ``[[zone]]`` tables (None: the shipped ``forcing/zones.toml``).

    Parameters
    ----------
    path : the zones file (polygons in lon/lat degrees)

    Returns
    -------
    list of `Zone`, in the file's order

    Raises
    ------
    ZoneError naming the file, the zone and the key for an invalid entry (fewer than 3
    vertices, non-numeric vertices, unknown target class or key, duplicate keys, exclusions of
    unknown zones).

    Examples
    --------
    >>> bays = [z for z in load_zones() if z.kind == "bay"]  # doctest: +SKIP
    """
    path = Path(path) if path is not None else forcing_path(ZONES_FILE)
    entries = read_tables(path, "zone", what="zones", error=ZoneError)
    zones = [_zone_from_table(entry, path, i) for i, entry in enumerate(entries)]
    keys = [z.key for z in zones]
    for i, zone in enumerate(zones):
        if keys.count(zone.key) > 1:
            raise _fail(path, i, zone.key, "duplicate zone key")
        for other in zone.exclude:
            if other not in keys or other == zone.key:
                raise _fail(path, i, zone.key, f"exclude names unknown zone {other!r}")
    return zones


# ----------------------------------------------------------------------------- zone lists and masks
def as_zones(zones, *, geographic: bool) -> list[Zone]:
    """A list of `Zone` from a list of zones, {key: (Y, X) bool mask}, or None (the shipped
    zones; lon/lat datasets only: ZoneError for a cartesian one)."""
    if zones is None:
        if not geographic:
            raise ZoneError(
                "the dataset is on a cartesian (x/y) grid, but the shipped zones "
                "are lon/lat polygons; give `zones` (masks or polygons in metres)"
            )
        return load_zones()
    if isinstance(zones, Mapping):
        return [
            z if isinstance(z, Zone) else Zone(key=str(k), mask=np.asarray(z, dtype=bool))
            for k, z in zones.items()
        ]
    return list(zones)


def zone_masks(ds: xr.Dataset, zones: Sequence[Zone]) -> dict[str, np.ndarray]:
    """(Y, X) bool mask of each zone's wet cells, exclusions applied."""
    ydim, xdim, geographic = horizontal_dims(ds)
    for z in zones:
        if z.polygon is not None and z.geographic is not None and z.geographic != geographic:
            given = "lon/lat [degrees]" if z.geographic else "x/y [m]"
            found = "cartesian (x/y [m])" if not geographic else "lon/lat"
            raise ZoneError(
                f"zone {z.key!r} is a polygon in {given}, but the dataset is on a {found} "
                "grid; give zones in the grid's coordinates (polygons in metres or masks on a "
                "cartesian grid)"
            )
    x, y = ds[xdim].values, ds[ydim].values
    if "wet" in ds:
        wet = ds["wet"].transpose(ydim, xdim).values != 0
    else:
        wet = np.ones((y.size, x.size), dtype=bool)
    raw = {z.key: z.cells(x, y) for z in zones}
    masks = {}
    for z in zones:
        mask = raw[z.key] & wet
        for other in z.exclude:
            if other not in raw:
                raise ZoneError(f"zone {z.key!r} excludes unknown zone {other!r}")
            mask &= ~raw[other]
        masks[z.key] = mask
    return masks


__all__ = ["ZONES_FILE", "ZONE_KINDS", "Zone", "ZoneError", "as_zones", "load_zones", "zone_masks"]
