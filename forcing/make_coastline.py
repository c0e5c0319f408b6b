"""Rebuild ``forcing/coastline_gshhg_beibu.nc``: the GSHHG full-resolution shoreline of the Beibu
Gulf as closed land polygons (vector), for the maps of `bbw_bay.plots`.

Run from the repository root, on a machine with GMT and the full GSHHG::

    apt-get update && apt-get install -y gmt gmt-gshhg-full
    python forcing/make_coastline.py             # writes the file, prints its sha256

then put the printed sha256 on the file's line of ``forcing/CHECKSUMS.sha256``.

Method (numbers are the constants below):

1. ``gmt coast -R104.5/113.5/15.5/23.5 -Df -W -M -A0.1/1/1`` dumps the level-1 (land/ocean)
   shoreline of GSHHG 2.3.7 at full resolution, as pieces cut at GMT's storage bins; features
   smaller than 0.1 km² and every lake (level 2+) are left out.
2. The pieces are joined end to end where their end points coincide (to 1e-7 degrees). Joined
   lines that close are islands; the rest (the mainland) start and end on the region's edge.
3. Open lines are closed along the region's edge: at each end the edge is followed over the
   stretch that is land (decided by ``gmt select -Df`` at the stretch's midpoint) to the next
   line's end. The region is larger than the model domain (105-112.5E, 16-23N), so these edges
   never show on a map.
4. Each polygon is simplified with the Douglas-Peucker algorithm to 0.0003 degrees (about 30 m,
   a tenth of a 1/120-degree cell), keeping its first and last point.
5. The polygons are written as a CF-1.8 geometry container (``geometry_type = "polygon"``,
   ``node_count``, node coordinates ``lon``/``lat`` as float32: 1 m at these longitudes).

Licence: GSHHG is LGPL-3.0-or-later; the file is a derived work under the same licence (see
``forcing/GEODATA.md``).
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import xarray as xr

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "coastline_gshhg_beibu.nc"
REGION = (104.5, 113.5, 15.5, 23.5)  # west, east, south, north [degrees]
MIN_AREA_KM2 = 0.1
TOLERANCE_DEG = 0.0003
GSHHG_FILE = Path("/usr/share/gmt/coast/binned_GSHHS_f.nc")
JOIN_DIGITS = 7


def _gmt(*args: str, stdin: str | None = None) -> str:
    with tempfile.TemporaryDirectory() as scratch:  # GMT leaves gmt.history where it runs
        result = subprocess.run(
            ["gmt", *args], input=stdin, capture_output=True, text=True, check=True, cwd=scratch
        )
    return result.stdout


def _region() -> str:
    return "-R{}/{}/{}/{}".format(*REGION)


def dump_pieces() -> list[np.ndarray]:
    """Level-1 shoreline pieces, (n, 2) lon/lat arrays, as GMT stores them (cut at its bins)."""
    text = _gmt("coast", _region(), "-Df", "-W", "-M", f"-A{MIN_AREA_KM2}/1/1")
    pieces, current = [], []
    for line in text.splitlines():
        if line.startswith(">"):
            if current:
                pieces.append(np.array(current))
            current = []
        elif line.strip():
            current.append([float(v) for v in line.split()[:2]])
    if current:
        pieces.append(np.array(current))
    return pieces


def _key(point: np.ndarray) -> tuple[float, float]:
    return (round(float(point[0]), JOIN_DIGITS), round(float(point[1]), JOIN_DIGITS))


def join_pieces(pieces: list[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(closed rings, open lines) from pieces joined where their end points coincide."""
    pieces = [p for p in pieces if len(p) >= 2]
    ends: dict[tuple[float, float], list[int]] = {}
    for k, p in enumerate(pieces):
        ends.setdefault(_key(p[0]), []).append(k)
        ends.setdefault(_key(p[-1]), []).append(k)
    used = np.zeros(len(pieces), dtype=bool)
    closed, open_ = [], []
    for start in range(len(pieces)):
        if used[start]:
            continue
        used[start] = True
        line = pieces[start]
        for direction in (1, -1):  # grow forward from the end, then backward from the start
            while True:
                tip = _key(line[-1] if direction == 1 else line[0])
                if tip == _key(line[0] if direction == 1 else line[-1]) and len(line) > 2:
                    break  # closed
                nxt = next((k for k in ends.get(tip, []) if not used[k]), None)
                if nxt is None:
                    break
                used[nxt] = True
                piece = pieces[nxt]
                if direction == 1:
                    piece = piece if _key(piece[0]) == tip else piece[::-1]
                    line = np.vstack([line, piece[1:]])
                else:
                    piece = piece if _key(piece[-1]) == tip else piece[::-1]
                    line = np.vstack([piece[:-1], line])
        if _key(line[0]) == _key(line[-1]) and len(line) > 3:
            closed.append(line)
        else:
            open_.append(line)
    return closed, open_


def _perimeter_position(point: np.ndarray) -> float:
    """Position of a point on the region's edge, counter-clockwise from the SW corner [degrees]."""
    west, east, south, north = REGION
    x, y = float(point[0]), float(point[1])
    width, height = east - west, north - south
    tol = 1e-6
    if abs(y - south) < tol:
        return x - west
    if abs(x - east) < tol:
        return width + (y - south)
    if abs(y - north) < tol:
        return width + height + (east - x)
    if abs(x - west) < tol:
        return 2 * width + height + (north - y)
    raise ValueError(f"point {point} is not on the region's edge")


def _edge_point(s: float) -> np.ndarray:
    west, east, south, north = REGION
    width, height = east - west, north - south
    s %= 2 * (width + height)
    if s <= width:
        return np.array([west + s, south])
    if s <= width + height:
        return np.array([east, south + s - width])
    if s <= 2 * width + height:
        return np.array([east - (s - width - height), north])
    return np.array([west, north - (s - 2 * width - height)])


def _edge_path(s0: float, s1: float) -> np.ndarray:
    """Points along the region's edge counter-clockwise from s0 to s1, corners included."""
    west, east, south, north = REGION
    width, height = east - west, north - south
    total = 2 * (width + height)
    s1 = s1 if s1 > s0 else s1 + total
    corners = [c for c in np.array([width, width + height, 2 * width + height, total])]
    corners += [c + total for c in corners]
    inner = [c for c in corners if s0 < c < s1]
    return np.array([_edge_point(s) for s in [s0, *inner, s1]])


def _on_land(points: np.ndarray) -> np.ndarray:
    text = "\n".join(f"{x:.8f} {y:.8f}" for x, y in points)
    kept = _gmt("select", _region(), "-Df", "-Ns/k", "-fg", stdin=text + "\n")
    land = {tuple(round(float(v), 6) for v in line.split()[:2]) for line in kept.splitlines()}
    return np.array([(round(x, 6), round(y, 6)) in land for x, y in points])


def close_along_edge(lines: list[np.ndarray]) -> list[np.ndarray]:
    """Close lines that end on the region's edge into land polygons, following the edge over
    land from each line's end to the next line's end."""
    if not lines:
        return []
    total = 2 * (REGION[1] - REGION[0] + REGION[3] - REGION[2])
    ends = []  # (position, line index, which end: 0 start, 1 end)
    for k, line in enumerate(lines):
        ends.append((_perimeter_position(line[0]), k, 0))
        ends.append((_perimeter_position(line[-1]), k, 1))
    ends.sort()
    positions = np.array([e[0] for e in ends])
    # the edge stretch from ends[i] counter-clockwise to ends[i+1]: land or sea?
    following = np.append(positions[1:], positions[0] + total)  # the next end, CCW
    mids = [_edge_point(0.5 * (a + b)) for a, b in zip(positions, following, strict=True)]
    land_ccw = _on_land(np.array(mids))
    slot = {(e[1], e[2]): i for i, e in enumerate(ends)}
    done = np.zeros(len(lines), dtype=bool)
    polygons = []
    for first in range(len(lines)):
        if done[first]:
            continue
        parts, k, entry = [], first, 0
        while not done[k]:
            done[k] = True
            line = lines[k] if entry == 0 else lines[k][::-1]
            parts.append(line)
            i = slot[(k, 1 - entry)]  # where this line leaves the interior
            if land_ccw[i]:
                j = (i + 1) % len(ends)
                parts.append(_edge_path(positions[i], positions[j])[1:-1])
            else:
                j = (i - 1) % len(ends)
                parts.append(_edge_path(positions[j], positions[i])[::-1][1:-1])
            _, k, entry = ends[j]
        ring = np.vstack([p for p in parts if len(p)])
        polygons.append(np.vstack([ring, ring[:1]]))
    return polygons


def douglas_peucker(points: np.ndarray, tolerance: float) -> np.ndarray:
    """The points of a line kept by the Douglas-Peucker algorithm (first and last kept)."""
    keep = np.zeros(len(points), dtype=bool)
    keep[[0, -1]] = True
    stack = [(0, len(points) - 1)]
    while stack:
        a, b = stack.pop()
        if b <= a + 1:
            continue
        seg = points[b] - points[a]
        rel = points[a + 1 : b] - points[a]
        norm = np.hypot(*seg)
        if norm == 0:
            dist = np.hypot(rel[:, 0], rel[:, 1])
        else:
            dist = np.abs(seg[0] * rel[:, 1] - seg[1] * rel[:, 0]) / norm
        k = int(np.argmax(dist))
        if dist[k] > tolerance:
            m = a + 1 + k
            keep[m] = True
            stack += [(a, m), (m, b)]
    return points[keep]


def simplify_ring(ring: np.ndarray, tolerance: float) -> np.ndarray:
    """A closed ring simplified in two halves (so its far point survives), still closed."""
    far = int(np.argmax(np.hypot(*(ring - ring[0]).T)))
    first = douglas_peucker(ring[: far + 1], tolerance)
    second = douglas_peucker(ring[far:], tolerance)
    return np.vstack([first, second[1:]])


def dataset(polygons: list[np.ndarray]) -> xr.Dataset:
    nodes = np.vstack(polygons).astype(np.float32)
    counts = np.array([len(p) for p in polygons], dtype=np.int32)
    gmt_version = _gmt("--version").strip()
    ds = xr.Dataset(
        {
            "coastline": (
                (),
                np.int32(0),
                {
                    "geometry_type": "polygon",
                    "node_count": "node_count",
                    "node_coordinates": "lon lat",
                    "long_name": "land polygons (GSHHG level 1, full resolution)",
                },
            ),
            "node_count": (
                ("polygon",),
                counts,
                {"long_name": "number of nodes of each land polygon (first node repeated last)"},
            ),
            "lon": (
                ("node",),
                nodes[:, 0],
                {"units": "degrees_east", "standard_name": "longitude", "axis": "X"},
            ),
            "lat": (
                ("node",),
                nodes[:, 1],
                {"units": "degrees_north", "standard_name": "latitude", "axis": "Y"},
            ),
        },
        attrs={
            "Conventions": "CF-1.8",
            "title": "Beibu Gulf coastline: GSHHG 2.3.7 full-resolution land polygons",
            "source": (
                "GSHHG 2.3.7 full resolution (Wessel and Smith 1996), Debian package "
                f"gmt-gshhg-full 2.3.7-6, dumped with GMT {gmt_version} coast -Df -W -M "
                f"-A{MIN_AREA_KM2}/1/1"
            ),
            "license": "LGPL-3.0-or-later (derived from GSHHG; see forcing/GEODATA.md)",
            "history": (
                "forcing/make_coastline.py: pieces joined, mainland closed along the region "
                f"{REGION} over land, Douglas-Peucker simplified to {TOLERANCE_DEG} degrees"
            ),
            "region_lon_lat": np.array(REGION, dtype=np.float64),
            "simplify_tolerance_deg": TOLERANCE_DEG,
            "min_area_km2": MIN_AREA_KM2,
            "gshhg_source_sha256": _sha256(GSHHG_FILE) if GSHHG_FILE.is_file() else "",
        },
    )
    for name in ("lon", "lat", "node_count"):
        ds[name].encoding["_FillValue"] = None
    return ds


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    closed, open_ = join_pieces(dump_pieces())
    polygons = closed + close_along_edge(open_)
    simplified = [simplify_ring(p, TOLERANCE_DEG) for p in polygons]
    simplified = [p for p in simplified if len(p) >= 4]
    ds = dataset(simplified)
    ds.to_netcdf(args.output, encoding={v: {"zlib": True, "complevel": 9} for v in ("lon", "lat")})
    print(
        f"{len(closed)} islands, {len(open_)} edge lines closed into "
        f"{len(polygons) - len(closed)} polygon(s); {sum(len(p) for p in polygons)} nodes "
        f"simplified to {ds.sizes['node']}; {args.output} {args.output.stat().st_size} bytes, "
        f"sha256 {_sha256(args.output)}"
    )


if __name__ == "__main__":
    main()
