"""The shipped vector coastline of the Beibu Gulf and the place names drawn on its maps.

``forcing/coastline_gshhg_beibu.nc`` holds the GSHHG 2.3.7 full-resolution land polygons of
104.5-113.5E x 15.5-23.5N (CF-1.8 geometry container; how it was made:
``forcing/make_coastline.py``, licence LGPL-3.0-or-later: ``forcing/GEODATA.md``).
``forcing/coastline_places.toml`` holds label positions of cities, islands and seas.

`load_coastline` reads the polygons (checked against ``forcing/CHECKSUMS.sha256``);
`Coastline.clip` cuts them to a map's extent and `Coastline.shorelines` gives the lines to
draw (the polygons' edges less those that only close a polygon along the region's or the clip's
edge). `load_places` reads the place names.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from bbw_bay.errors import BadInputError
from bbw_bay.gulf.data import forcing_path, read_toml, verify

COASTLINE_FILE = "coastline_gshhg_beibu.nc"
PLACES_FILE = "coastline_places.toml"
PLACE_KINDS = ("city", "island", "land", "sea")


class CoastlineError(BadInputError):
    """A coastline or place-name file is missing, malformed or asked for a bad extent."""


@dataclass(frozen=True, eq=False)
class Coastline:
    """Closed land polygons in lon/lat degrees.

    Attributes
    ----------
    polygons : tuple of (n, 2) arrays of (lon, lat) [degrees], each closed (first node repeated
        last), land inside
    region : (west, east, south, north) [degrees] the polygons cover; polygon edges along it
        close the polygons and are not coast
    """

    polygons: tuple[np.ndarray, ...]
    region: tuple[float, float, float, float]

    @property
    def n_nodes(self) -> int:
        """Number of polygon nodes."""
        return int(sum(len(p) for p in self.polygons))

    def clip(self, extent) -> Coastline:
        """The land inside ``extent`` = (west, east, south, north) [degrees].

        Polygons are cut to the rectangle (Sutherland-Hodgman; exact for filling: a polygon
        that leaves and re-enters gets zero-width edges along the rectangle, which are never
        drawn as coast); polygons wholly outside are dropped. The result's region is the
        intersection of the two rectangles.
        """
        west, east, south, north = _extent(extent)
        region = (
            max(west, self.region[0]),
            min(east, self.region[1]),
            max(south, self.region[2]),
            min(north, self.region[3]),
        )
        if not (region[0] < region[1] and region[2] < region[3]):
            return Coastline((), (west, east, south, north))
        kept = []
        for ring in self.polygons:
            lo, hi = ring.min(axis=0), ring.max(axis=0)
            if hi[0] < region[0] or lo[0] > region[1] or hi[1] < region[2] or lo[1] > region[3]:
                continue
            if (
                lo[0] >= region[0]
                and hi[0] <= region[1]
                and lo[1] >= region[2]
                and hi[1] <= region[3]
            ):
                kept.append(ring)
                continue
            cut = _clip_ring(ring, region)
            if cut is not None:
                kept.append(cut)
        return Coastline(tuple(kept), region)

    def shorelines(self) -> list[np.ndarray]:
        """The coast as polylines ((n, 2) lon/lat): every polygon edge except those that run
        along the region's edge (they close a polygon there; they are not coast)."""
        west, east, south, north = self.region
        lines = []
        for ring in self.polygons:
            x, y = ring[:, 0], ring[:, 1]
            along = np.zeros(len(ring) - 1, dtype=bool)
            for value, coord in ((west, x), (east, x), (south, y), (north, y)):
                on = np.isclose(coord, value, rtol=0.0, atol=1e-9)
                along |= on[:-1] & on[1:]
            if not along.any():
                lines.append(ring)
                continue
            # split the ring at the edges along the region: runs of coast edges become lines
            keep = ~along
            start = int(np.argmax(~keep))  # rotate so the ring starts at a region edge
            order = np.roll(np.arange(len(keep)), -start)
            run: list[int] = []
            for e in order:
                if keep[e]:
                    run.append(int(e))
                elif run:
                    lines.append(_edges_to_line(ring, run))
                    run = []
            if run:
                lines.append(_edges_to_line(ring, run))
        return lines


def _edges_to_line(ring: np.ndarray, edges: list[int]) -> np.ndarray:
    """The polyline through consecutive ring edges (edge e joins node e and node e + 1)."""
    nodes = [edges[0]] + [e + 1 for e in edges]
    return ring[np.array(nodes) % (len(ring) - 1)]


def _extent(extent) -> tuple[float, float, float, float]:
    try:
        west, east, south, north = (float(v) for v in extent)
    except (TypeError, ValueError):
        raise CoastlineError(
            f"extent must be four numbers (west, east, south, north) [degrees]; got {extent!r}"
        ) from None
    if not (west < east and south < north):
        raise CoastlineError(
            f"extent must have west < east and south < north [degrees]; got {extent!r}"
        )
    return west, east, south, north


def _clip_ring(ring: np.ndarray, region) -> np.ndarray | None:
    """Sutherland-Hodgman: the part of a closed ring inside the rectangle, closed, or None."""
    west, east, south, north = region
    points = ring[:-1]
    for axis, value, keep_above in (
        (0, west, True),
        (0, east, False),
        (1, south, True),
        (1, north, False),
    ):
        if len(points) == 0:
            return None
        nxt = np.roll(points, -1, axis=0)
        c, n = points[:, axis], nxt[:, axis]
        inside_c = c >= value if keep_above else c <= value
        inside_n = n >= value if keep_above else n <= value
        crossing = inside_c != inside_n
        with np.errstate(invalid="ignore", divide="ignore"):
            t = np.where(crossing, (value - c) / np.where(crossing, n - c, 1.0), 0.0)
        cut = points + t[:, None] * (nxt - points)
        cut[crossing, axis] = value  # exactly on the clip line
        counts = crossing.astype(int) + inside_n.astype(int)
        out = np.empty((int(counts.sum()), 2))
        offsets = np.cumsum(counts) - counts
        first = np.where(crossing[:, None], cut, nxt)
        has = counts > 0
        out[offsets[has]] = first[has]
        two = counts == 2  # outside -> inside: the crossing, then the next node
        out[offsets[two] + 1] = nxt[two]
        points = out
    if len(points) < 3:
        return None
    return np.vstack([points, points[:1]])


@functools.lru_cache(maxsize=4)
def _read(path: str) -> Coastline:
    try:
        with xr.open_dataset(path) as ds:
            lon = ds["lon"].values.astype(float)
            lat = ds["lat"].values.astype(float)
            counts = ds["node_count"].values.astype(int)
            region = tuple(float(v) for v in np.atleast_1d(ds.attrs["region_lon_lat"]))
    except (OSError, KeyError, ValueError) as err:
        raise CoastlineError(
            f"{path}: not a bbw_bay coastline file (expected variables lon, lat, node_count and "
            f"the attribute region_lon_lat): {err}"
        ) from None
    if counts.sum() != lon.size or lon.size != lat.size or len(region) != 4:
        raise CoastlineError(
            f"{path}: node_count adds up to {counts.sum()} nodes but lon/lat hold "
            f"{lon.size}/{lat.size}; region_lon_lat has {len(region)} values (expected 4)"
        )
    nodes = np.stack([lon, lat], axis=1)
    stops = np.cumsum(counts)
    polygons = tuple(nodes[a:b] for a, b in zip(stops - counts, stops, strict=True))
    return Coastline(polygons, (region[0], region[1], region[2], region[3]))


def load_coastline(path: str | os.PathLike | None = None, *, extent=None) -> Coastline:
    """The vector coastline: the shipped GSHHG polygons (checksum checked) or another file of
    the same layout; clipped to ``extent`` = (west, east, south, north) [degrees] if given."""
    where = str(Path(path)) if path is not None else str(verify(COASTLINE_FILE))
    coast = _read(where)
    return coast.clip(extent) if extent is not None else coast


@dataclass(frozen=True)
class Place:
    """A label on the maps: name (English), name_zh, position [degrees], kind (city, island,
    land, sea) and where the position comes from."""

    name: str
    lon: float
    lat: float
    kind: str = "city"
    name_zh: str = ""
    source: str = ""


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def load_places(path: str | os.PathLike | None = None) -> list[Place]:
    """Place names from a TOML file of ``[[place]]`` tables (None: the shipped
    ``forcing/coastline_places.toml``); CoastlineError naming the file, entry and key."""
    path = Path(path) if path is not None else forcing_path(PLACES_FILE)
    data, _ = read_toml(path, error=CoastlineError, missing="place-name file not found")
    entries = data.get("place")
    if not isinstance(entries, list) or not entries:
        raise CoastlineError(f"{path}: expected one or more [[place]] tables")
    places = []
    for k, entry in enumerate(entries):
        where = f"{path}: place[{k}]"
        if not isinstance(entry, dict):
            raise CoastlineError(f"{where}: expected a table; got {entry!r}")
        unknown = sorted(set(entry) - {"name", "name_zh", "lon", "lat", "kind", "source"})
        if unknown:
            raise CoastlineError(f"{where}: unknown key(s) {', '.join(unknown)}")
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            raise CoastlineError(f"{where}: name must be a non-empty string; got {name!r}")
        lon, lat = entry.get("lon"), entry.get("lat")
        if not (_is_number(lon) and _is_number(lat)) or not (
            -180.0 <= float(lon) <= 360.0 and -90.0 <= float(lat) <= 90.0  # type: ignore[arg-type]
        ):
            raise CoastlineError(
                f"{where} {name!r}: lon, lat must be degrees; got {lon!r}, {lat!r}"
            )
        kind = entry.get("kind", "city")
        if kind not in PLACE_KINDS:
            raise CoastlineError(
                f"{where} {name!r}: kind must be one of {', '.join(PLACE_KINDS)}; got {kind!r}"
            )
        places.append(
            Place(
                name=name.strip(),
                lon=float(lon),  # type: ignore[arg-type]
                lat=float(lat),  # type: ignore[arg-type]
                kind=kind,
                name_zh=str(entry.get("name_zh", "")),
                source=str(entry.get("source", "")),
            )
        )
    return places


__all__ = [
    "COASTLINE_FILE",
    "PLACES_FILE",
    "Coastline",
    "CoastlineError",
    "Place",
    "load_coastline",
    "load_places",
]
