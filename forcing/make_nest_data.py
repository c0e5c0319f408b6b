#!/usr/bin/env python3
"""Regenerate the nested bay rasters ``nest_guangxi.nc`` and ``nest_zhanjiang.nc`` (issue 16).

Each file holds, on a 7.5-arc-second (1/480 degree, about 230 m) pixel-registered grid:

* ``sea_fraction`` -- share of the pixel that is sea in GSHHG 2.3.7 full resolution, from
  ``gmt grdlandmask -I1.875s -r -Df -A0 -N1/0/0/0/0`` (16 sub-pixels per pixel) after the land
  corrections in `LAND_CORRECTIONS` (a derived raster of GSHHG: LGPL-3.0-or-later);
* ``bed_elevation`` -- bed height above mean sea level [m, positive up; beds above the datum are
  intertidal flats the shallow-water engine floods], built by the named rules below;
* ``bathymetry_rule`` -- which rule set each pixel's bed (flag table in the file);
* ``barrier`` -- pixels crossed by a land correction (kept land at every model resolution).

Bathymetry rules, applied in this order (each is labelled in ``bathymetry_rule`` and listed with
its numbers and citations in the file's ``bathymetry_rules`` attribute and forcing/NESTS.md):

1. ``etopo5_offshore``: ETOPO5 (forcing/bathymetry_etopo5_beibu.nc, 5 arc-minutes) bilinear at
   the pixel centre, after every node that is not sea deeper than 2 m (coastal nodes hold land
   heights or a -1 m placeholder) is filled by harmonic (Laplace) interpolation from the others.
2. ``shoreface``: an equilibrium profile from the GSHHG shoreline (taken as the high-water line)
   z(d) = HW - R (d / W)^(2/3), with d the distance to the nearest land sub-pixel, R the mean tidal
   range, HW = R/2 and W the intertidal width (the bed reaches low water, -R/2, at d = W). The
   2/3 power is the equilibrium beach-profile shape of Dean (1991). The bed is the higher of this
   profile and rule 1, so ETOPO5 governs only where it is shallower than the profile offshore.
3. ``bay_floor``: inside a bay (`BAYS`, polygons from forcing/zones_nests.toml) the profile uses
   the bay's own range and intertidal width and is floored at the bay's basin depth.
4. ``channel``: digitised channel axes (`CHANNELS`) deepen the bed to a parabolic cross-section
   of the given axis depth and half-width, never above the rules before.

Usage (needs numpy, scipy, netCDF4 and the ``gmt`` executable with ``gmt-gshhg-full``)::

    apt-get install -y gmt gmt-gshhg-full
    python forcing/make_nest_data.py [--outdir forcing]

then update forcing/CHECKSUMS.sha256 (``sha256sum forcing/nest_*.nc``). The script is
deterministic for a given GMT/GSHHG version; every number it uses is cited (key in brackets,
spelled out in forcing/NESTS.md) or marked ``estimate``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import tempfile
import tomllib
from pathlib import Path

import netCDF4
import numpy as np
from scipy import ndimage

HERE = Path(__file__).resolve().parent
EARTH_RADIUS = 6371008.8  # m, mean Earth radius (IUGG), as bbw_bay.units.EARTH_RADIUS
PIXEL_ARCSEC = 7.5  # output pixel [arc-seconds] = 1/480 degree
SUB = 4  # sub-pixels per pixel side for the sea fraction (1.875 arc-seconds)

#: The nests: box (degrees, whole arc-minutes so that 1/60 to 1/480 degree grids tile it), open
#: edges, and the default tide outside every bay. HW/R as in rule 2.
NESTS: dict[str, dict] = {
    "guangxi": {
        "title": "Guangxi coast from the Beilun estuary to Tieshan Bay and Yingluo/Anpu Bay",
        "lon": (107.95, 109.0 + 59.0 / 60.0),  # 107°57'E .. 109°59'E
        "lat": (21.2, 21.95),  # 21°12'N .. 21°57'N
        "open_boundaries": ("west", "south"),
        "tidal_range_m": 2.55,  # mean range at Longmen [S23]
        "tidal_range_source": "mean range 2.55 m at Longmen, Qinzhou Bay [S23]",
    },
    "zhanjiang": {
        "title": "Zhanjiang Bay with Donghai Island, Nansan Island and the Tongming sea",
        "lon": (110.15, 110.70),  # 110°09'E .. 110°42'E
        "lat": (20.85, 21.0 + 26.0 / 60.0),  # 20°51'N .. 21°26'N
        "open_boundaries": ("south", "east"),
        "tidal_range_m": 2.2,
        "tidal_range_source": (
            "estimate 2.2 m between the Zhanjiang Port station values 2.17 m (mean range, "
            "[ZJ-EIA]) and 2.29 m (mean high 4.33 m - mean low 2.04 m, [ZJ-PORT2]); the 3.12 m "
            "of [ZJ-BAIKE] is not used (no station named)"
        ),
    },
}

#: Default intertidal width on open coasts [m]: Guangxi's 1005 km2 of coastal flats over its
#: 1628.59 km of mainland coastline [GX-NPC] = 617 m (DERIVED).
OPEN_COAST_FLAT_WIDTH_M = 1005.0e6 / 1628.59e3

#: Bays: zone key in forcing/zones_nests.toml -> range R [m], intertidal width W [m], basin
#: depth (floor of the profile) [m below MSL], and the source of each. Cells inside several
#: polygons take the first bay listed here.
BAYS: dict[str, dict] = {
    "maowei_sea": {
        "R": 2.55, "W": 700.0, "floor": 5.0,
        "source": "R: Longmen mean range [S23]; W: PRISM-CONSTRAINED with the two Qinzhou Bay "
        "parts below (the three widths 700/400/500 m put the prism of Qinzhou Bay with the "
        "Maowei Sea at the mean range within 15 % of the published 1.08e9 m3 [S24]); floor: "
        "estimate",
    },
    "qinzhou_bay_inner": {
        "R": 2.55, "W": 400.0, "floor": 8.0,
        "source": "R: [S23]; W: prism-constrained (see maowei_sea); floor: estimate (island "
        "channels of the Longmen narrows)",
    },
    "qinzhou_bay_outer": {
        "R": 2.55, "W": 500.0, "floor": 8.0,
        "source": "R: [S23]; W: prism-constrained (see maowei_sea); floor: estimate (the "
        "钦州海产品增殖区 starts at the -5 m isobath at the bay mouth [GX-EFZ-2011])",
    },
    "fangchenggang_west_bay": {
        "R": 2.55, "W": 600.0, "floor": 6.0,
        "source": "R: Longmen [S23] (nearest cited station); W: the Guangxi mean [GX-NPC]; "
        "floor: estimate",
    },
    "fangchenggang_east_bay": {
        "R": 2.55, "W": 900.0, "floor": 5.0,
        "source": "R: [S23]; W, floor: estimate (East Bay flushes 5-9x slower than West Bay "
        "[S52], i.e. shallower and wider flats)",
    },
    "zhenzhu_bay": {
        "R": 2.55, "W": 1200.0, "floor": 4.0,
        "source": "R: [S23]; W, floor: estimate",
    },
    "dafeng_estuary": {
        "R": 2.55, "W": 500.0, "floor": 4.0,
        "source": "R: [S23]; W, floor: estimate (narrow estuary)",
    },
    "lianzhou_bay": {
        "R": 2.5, "W": 2500.0, "floor": 6.0,
        "source": "R: Nanliu estuary mean range about 2.5 m [S37]; W: estimate (the Nanliu "
        "delta, about 15 km wide with 5 distributaries [S37], fronts the bay with wide flats); "
        "floor: estimate",
    },
    "tieshan_bay": {
        "R": 2.5, "W": 1000.0, "floor": 6.0,
        "source": "R: about 2.5 m as at the Nanliu estuary [S37] (estimate for Tieshan); W, "
        "floor: estimate; the main channel is a separate rule",
    },
    "zhanjiang_bay_inner": {
        "R": 2.2, "W": 500.0, "floor": 6.0,
        "source": "R: see NESTS['zhanjiang']; W, floor: estimate (wide flats at 霞山, 麻斜 and "
        "南三 [ZJ-BAIKE] lie mostly outside the GSHHG water)",
    },
    "zhanjiang_bay_outer": {
        "R": 2.2, "W": 800.0, "floor": 8.0,
        "source": "R: see NESTS['zhanjiang']; W, floor: estimate",
    },
}

#: Channel axes: name -> (nest, axis depth [m below MSL], half-width [m], vertices (lon, lat),
#: source). Vertices were digitised on the nest mask along the deepest-looking line of water
#: (mid-channel of the narrows, the line joining bay head and mouth).
CHANNELS: dict[str, dict] = {
    "Tieshan Bay main channel": {
        "nest": "guangxi", "depth": 20.0, "half_width": 500.0,
        "axis": [(109.600, 21.700), (109.590, 21.650), (109.585, 21.600), (109.598, 21.560),
                 (109.605, 21.520), (109.600, 21.480)],
        "source": "depth: 'the water depth of the bay may reach up to 20 m in the main stream' "
        "[S26]; half-width: estimate",
    },
    "Qinzhou Bay outer channel (钦州港东航道)": {
        "nest": "guangxi", "depth": 12.0, "half_width": 400.0,
        "axis": [(108.615, 21.700), (108.630, 21.660), (108.650, 21.620), (108.660, 21.580),
                 (108.665, 21.540)],
        "source": "dredged channel 34 km long, 500 m wide for 100-150 kt ships entering on the "
        "tide [GX-EFZ-FCG, GX037DIII]; depth 12 m below MSL is an estimate (no depth given)",
    },
    "Longmen narrows channel": {
        "nest": "guangxi", "depth": 10.0, "half_width": 250.0,
        "axis": [(108.560, 21.790), (108.575, 21.765), (108.585, 21.745), (108.600, 21.720),
                 (108.615, 21.700)],
        "source": "estimate: tidal channel scoured by 1.4 m/s (2.8 kn) flood and ebb currents "
        "at Longmen [S23]",
    },
    "Fangchenggang West Bay port channel": {
        "nest": "guangxi", "depth": 10.0, "half_width": 300.0,
        "axis": [(108.345, 21.540), (108.345, 21.580), (108.345, 21.610), (108.335, 21.640)],
        "source": "estimate (port approach of 渔万岛; no depth found)",
    },
    "Fangchenggang East Bay channel (暗埠口江航道)": {
        "nest": "guangxi", "depth": 5.0, "half_width": 250.0,
        "axis": [(108.385, 21.595), (108.410, 21.625), (108.440, 21.650), (108.460, 21.665)],
        "source": "dredged channel of the East Bay [GX-EFZ-FCG, GX042DIII]; depth estimate",
    },
    "Zhanjiang Bay main channel (outer)": {
        "nest": "zhanjiang", "depth": 26.0, "half_width": 500.0,
        "axis": [(110.620, 21.082), (110.580, 21.083), (110.545, 21.083), (110.500, 21.097),
                 (110.470, 21.110), (110.440, 21.125), (110.415, 21.140)],
        "source": "26-44 m of water off NE Donghai Island, navigable for 300 kt ships [ZJ-DH]; "
        "the lower end taken; the axis runs through the 1.9 km wide mouth between 南三岛 and "
        "东海岛 [ZJ-BAIKE]; half-width estimate",
    },
    "Zhanjiang inner harbour channel": {
        "nest": "zhanjiang", "depth": 12.0, "half_width": 300.0,
        "axis": [(110.415, 21.140), (110.415, 21.175), (110.420, 21.200), (110.415, 21.225),
                 (110.405, 21.250), (110.395, 21.270), (110.385, 21.290)],
        "source": "estimate (Zhanjiang Port's inner harbour, 霞山 and 调顺岛 port areas [ZJ-PORT])",
    },
}

#: Land corrections: name -> (nest, width [m], vertices, source). Sub-pixels within width/2
#: of the line become land, and every pixel the line crosses is flagged in ``barrier``.
LAND_CORRECTIONS: dict[str, dict] = {
    "Donghai Island causeway (东海岛堵海大堤)": {
        "nest": "zhanjiang", "width": 250.0,
        "line": [(110.295, 21.035), (110.295, 21.115)],
        "source": "the 6.8 km 堵海大堤 joins Donghai Island to the mainland [ZJ-DH2]; GSHHG still "
        "shows the channel between them open; line placed across the channel west of the bay at "
        "its narrowest, where the channel from Zhanjiang Bay turns south-west (estimate of the "
        "position)",
    },
}

RULE_FLAGS = {"land": 0, "etopo5_offshore": 1, "shoreface": 2, "bay_floor": 3, "channel": 4}


# ----------------------------------------------------------------------------- helpers
def points_in_polygon(lon, lat, polygon) -> np.ndarray:
    """Even-odd point-in-polygon test (as bbw_bay.gulf.geodata.points_in_polygon)."""
    x, y = np.broadcast_arrays(np.asarray(lon, float), np.asarray(lat, float))
    poly = np.asarray(polygon, float)
    inside = np.zeros(x.shape, bool)
    for (xa, ya), (xb, yb) in zip(poly, np.roll(poly, -1, axis=0), strict=True):
        crosses = (ya > y) != (yb > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            xc = xa + (y - ya) * (xb - xa) / (yb - ya)
        inside ^= crosses & (x < xc)
    return inside


def polyline_distance(lon, lat, vertices) -> np.ndarray:
    """Distance [m] from points to a polyline (local equirectangular metres)."""
    v = np.asarray(vertices, float)
    lat0 = np.deg2rad(v[:, 1].mean())
    kx, ky = EARTH_RADIUS * np.cos(lat0) * np.pi / 180, EARTH_RADIUS * np.pi / 180
    px, py = np.asarray(lon) * kx, np.asarray(lat) * ky
    best = np.full(np.broadcast(px, py).shape, np.inf)
    for (xa, ya), (xb, yb) in zip(v[:-1], v[1:], strict=True):
        ax, ay, bx, by = xa * kx, ya * ky, xb * kx, yb * ky
        dx, dy = bx - ax, by - ay
        t = np.clip(((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy), 0.0, 1.0)
        best = np.minimum(best, np.hypot(px - ax - t * dx, py - ay - t * dy))
    return best


def gshhg_subpixels(nest: dict, workdir: str) -> tuple[np.ndarray, str, str]:
    """(ny*SUB, nx*SUB) bool sea mask of GSHHG full resolution, the command and GMT version."""
    (w, e), (s, n) = nest["lon"], nest["lat"]
    out = os.path.join(workdir, "sea.nc")
    step = PIXEL_ARCSEC / SUB
    cmd = ["gmt", "grdlandmask", f"-R{w:.10g}/{e:.10g}/{s:.10g}/{n:.10g}", f"-I{step:g}s", "-r",
           "-Df", "-A0", "-N1/0/0/0/0", f"-G{out}"]
    subprocess.run(cmd, check=True)
    version = subprocess.run(["gmt", "--version"], capture_output=True, text=True).stdout.strip()
    with netCDF4.Dataset(out) as ds:
        sea = np.asarray(ds["z"][:]) > 0.5
    return sea, " ".join(cmd[:-1] + ["-Gsea.nc"]), version


def read_etopo5(path: Path):
    with netCDF4.Dataset(path) as ds:
        return np.asarray(ds["lon"][:]), np.asarray(ds["lat"][:]), np.asarray(ds["elevation"][:])


def etopo5_sea_bilinear(lon, lat, etopo) -> np.ndarray:
    """Bilinear ETOPO5 elevation [m] after every node that is not sea deeper than 2 m (land
    heights and the -1 m coastal placeholder) is filled by harmonic interpolation from the sea
    nodes (Jacobi iterations of the 5-point Laplace equation, started from the nearest sea
    node's value), so the offshore field has no steps where the fill meets the data."""
    elon, elat, z = etopo
    bad = ~(np.isfinite(z) & (z < -2.0))
    _, (jn, in_) = ndimage.distance_transform_edt(bad, return_indices=True)
    zz = z[jn, in_].astype(float)
    for _ in range(2000):
        p = np.pad(zz, 1, mode="edge")
        mean4 = 0.25 * (p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:])
        zz = np.where(bad, mean4, zz)
    fx = (lon - elon[0]) / (elon[1] - elon[0])
    fy = (lat - elat[0]) / (elat[1] - elat[0])
    i = np.clip(np.floor(fx).astype(int), 0, elon.size - 2)
    j = np.clip(np.floor(fy).astype(int), 0, elat.size - 2)
    tx, ty = fx - i, fy - j
    return (1 - ty) * ((1 - tx) * zz[j, i] + tx * zz[j, i + 1]) + ty * (
        (1 - tx) * zz[j + 1, i] + tx * zz[j + 1, i + 1]
    )


def load_bay_polygons(zones_file: Path) -> dict[str, np.ndarray]:
    with open(zones_file, "rb") as fh:
        zones = tomllib.load(fh)["zone"]
    return {z["key"]: np.asarray(z["polygon"], float) for z in zones if "polygon" in z}


# ----------------------------------------------------------------------------- one nest
def build_nest(name: str, etopo, polygons, workdir: str) -> dict:
    """Every field of one nest file as arrays plus the text of its provenance."""
    nest = NESTS[name]
    sea_sub, gmt_cmd, gmt_version = gshhg_subpixels(nest, workdir)
    nys, nxs = sea_sub.shape
    ny, nx = nys // SUB, nxs // SUB
    step = PIXEL_ARCSEC / 3600.0
    lon = nest["lon"][0] + (np.arange(nx) + 0.5) * step
    lat = nest["lat"][0] + (np.arange(ny) + 0.5) * step
    sub = step / SUB
    lon_s = nest["lon"][0] + (np.arange(nxs) + 0.5) * sub
    lat_s = nest["lat"][0] + (np.arange(nys) + 0.5) * sub

    # land corrections on the sub-pixels, flagged on the pixels
    barrier = np.zeros((ny, nx), bool)
    corrections = []
    for label, corr in LAND_CORRECTIONS.items():
        if corr["nest"] != name:
            continue
        line = np.asarray(corr["line"], float)
        win_x = (lon_s > line[:, 0].min() - 0.01) & (lon_s < line[:, 0].max() + 0.01)
        win_y = (lat_s > line[:, 1].min() - 0.01) & (lat_s < line[:, 1].max() + 0.01)
        lo, la = np.meshgrid(lon_s[win_x], lat_s[win_y])
        hit = polyline_distance(lo, la, line) <= 0.5 * corr["width"]
        block = sea_sub[np.ix_(win_y, win_x)]
        n_sea = int((block & hit).sum())
        block[hit] = False
        sea_sub[np.ix_(win_y, win_x)] = block
        jj, ii = np.nonzero(win_y)[0], np.nonzero(win_x)[0]
        hit_full = np.zeros((nys, nxs), bool)
        hit_full[np.ix_(jj, ii)] = hit
        barrier |= hit_full.reshape(ny, SUB, nx, SUB).any(axis=(1, 3))
        corrections.append(f"{label}: {n_sea} GSHHG sea sub-pixels set to land ({corr['source']})")

    frac16 = sea_sub.reshape(ny, SUB, nx, SUB).sum(axis=(1, 3)).astype(np.uint8)
    sea = frac16 > 0
    # distance from each sea sub-pixel to the nearest land sub-pixel [m], mean per pixel
    dy_m = EARTH_RADIUS * np.deg2rad(sub)
    dx_m = dy_m * np.cos(np.deg2rad(lat_s.mean()))
    dist_sub = ndimage.distance_transform_edt(sea_sub, sampling=(dy_m, dx_m))
    with np.errstate(invalid="ignore"):
        dist = (dist_sub * sea_sub).reshape(ny, SUB, nx, SUB).sum(axis=(1, 3)) / np.maximum(
            frac16, 1
        )

    lon2, lat2 = np.meshgrid(lon, lat)
    rule = np.zeros((ny, nx), np.int8)
    # rules 1 + 2 with the nest's default tide and the open-coast intertidal width
    r_default = nest["tidal_range_m"]
    z_shore = r_default / 2 - r_default * (dist / OPEN_COAST_FLAT_WIDTH_M) ** (2.0 / 3.0)
    z_e5 = etopo5_sea_bilinear(lon2, lat2, etopo)
    use_e5 = z_e5 > z_shore
    bed = np.where(use_e5, z_e5, z_shore)
    rule[sea] = RULE_FLAGS["shoreface"]
    rule[sea & use_e5] = RULE_FLAGS["etopo5_offshore"]
    # rule 3: bays
    claimed = np.zeros((ny, nx), bool)
    bay_text = []
    for key, bay in BAYS.items():
        if key not in polygons:
            raise SystemExit(f"zones_nests.toml has no zone {key!r} (needed by BAYS)")
        inside = points_in_polygon(lon2, lat2, polygons[key]) & sea & ~claimed
        if not inside.any():
            continue
        claimed |= inside
        r, w, floor = bay["R"], bay["W"], bay["floor"]
        z_bay = np.maximum(r / 2 - r * (dist / w) ** (2.0 / 3.0), -floor)
        bed[inside] = z_bay[inside]
        rule[inside] = RULE_FLAGS["bay_floor"]
        bay_text.append(f"{key}: R={r} m, W={w:g} m, floor={floor:g} m ({bay['source']})")
    # rule 4: channels
    chan_text = []
    for label, ch in CHANNELS.items():
        if ch["nest"] != name:
            continue
        d = polyline_distance(lon2, lat2, ch["axis"])
        profile = -ch["depth"] * np.clip(1.0 - (d / ch["half_width"]) ** 2, 0.0, 1.0)
        deeper = sea & (d < ch["half_width"]) & (profile < bed)
        bed[deeper] = profile[deeper]
        rule[deeper] = RULE_FLAGS["channel"]
        chan_text.append(
            f"{label}: axis depth {ch['depth']:g} m, half-width {ch['half_width']:g} m, "
            f"{int(deeper.sum())} pixels deepened ({ch['source']})"
        )
    bed = np.where(sea, bed, np.nan)
    return dict(
        lon=lon, lat=lat, frac16=frac16, bed=bed, rule=rule, barrier=barrier,
        gmt_cmd=gmt_cmd, gmt_version=gmt_version, corrections=corrections,
        bays=bay_text, channels=chan_text,
    )


# ----------------------------------------------------------------------------- output
GSHHG_LICENSE = (
    "sea_fraction and barrier are a derived raster of GSHHG (Wessel and Smith 1996), distributed "
    "under the GNU Lesser General Public License version 3 or later (LGPL-3.0-or-later), "
    "copyright the GMT team; original data from the Debian package gmt-gshhg-full 2.3.7. "
    "bed_elevation combines ETOPO5 (NOAA NGDC 1988, public domain) with rules and published "
    "numbers cited in forcing/NESTS.md; this compilation is distributed with bbw_bay (MIT)."
)


def write_nest(path: Path, name: str, f: dict) -> None:
    nest = NESTS[name]
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    with netCDF4.Dataset(path, "w", format="NETCDF4") as ds:
        ds.Conventions = "CF-1.8"
        ds.title = f"bbw_bay nested bay grid '{name}': {nest['title']}"
        ds.nest_name = name
        ds.source = (
            f"GSHHG 2.3.7 full resolution (Debian gmt-gshhg-full) rasterised with GMT "
            f"{f['gmt_version']} grdlandmask; ETOPO5 from forcing/bathymetry_etopo5_beibu.nc; "
            "bathymetry rules of forcing/make_nest_data.py"
        )
        ds.references = (
            "Wessel, P., and W. H. F. Smith (1996), A global self-consistent, hierarchical, "
            "high-resolution shoreline database, J. Geophys. Res., 101, 8741-8743. Dean, R. G. "
            "(1991), Equilibrium beach profiles: characteristics and applications, J. Coastal "
            "Res., 7(1), 53-84. Further sources in forcing/NESTS.md."
        )
        ds.license = GSHHG_LICENSE
        ds.history = (
            f"{now}: forcing/make_nest_data.py: {f['gmt_cmd']}; sea_fraction = {SUB}x{SUB} block "
            "mean; land corrections, then bathymetry rules etopo5_offshore, shoreface, bay_floor, "
            "channel"
        )
        ds.open_boundaries = " ".join(nest["open_boundaries"])
        ds.pixel_size_deg = PIXEL_ARCSEC / 3600.0
        ds.tidal_range_m = nest["tidal_range_m"]
        ds.tidal_range_source = nest["tidal_range_source"]
        ds.land_corrections = "; ".join(f["corrections"]) or "none"
        ds.bathymetry_rules = json.dumps(
            {
                "etopo5_offshore": (
                    "ETOPO5 bilinear; nodes not deeper than 2 m filled by Laplace interpolation"
                ),
                "shoreface": (
                    f"z = R/2 - R (d/W)^(2/3) with R = {nest['tidal_range_m']} m, "
                    f"W = {OPEN_COAST_FLAT_WIDTH_M:.0f} m [GX-NPC]; Dean (1991) shape"
                ),
                "bay_floor": f["bays"],
                "channel": f["channels"],
            },
            ensure_ascii=False,
        )
        ds.documentation = "forcing/NESTS.md"
        ds.geospatial_lon_min, ds.geospatial_lon_max = nest["lon"]
        ds.geospatial_lat_min, ds.geospatial_lat_max = nest["lat"]
        ds.grid_registration = "pixel (values are for cells centred on the lat/lon given)"
        ds.createDimension("lat", f["lat"].size)
        ds.createDimension("lon", f["lon"].size)
        for axis, values, std, units in (
            ("lat", f["lat"], "latitude", "degrees_north"),
            ("lon", f["lon"], "longitude", "degrees_east"),
        ):
            v = ds.createVariable(axis, "f8", (axis,))
            v[:] = values
            v.standard_name, v.long_name, v.units = std, std, units
            v.axis = "Y" if axis == "lat" else "X"
        v = ds.createVariable("sea_fraction", "u1", ("lat", "lon"), zlib=True, complevel=9)
        v.set_auto_scale(False)
        v[:] = f["frac16"]
        v.scale_factor = np.float32(1.0 / SUB**2)
        v.add_offset = np.float32(0.0)
        v.units = "1"
        v.standard_name = "sea_area_fraction"
        v.long_name = f"share of the pixel that is GSHHG level-0 sea ({SUB * SUB} sub-pixels)"
        v = ds.createVariable(
            "bed_elevation", "i2", ("lat", "lon"), zlib=True, complevel=9,
            fill_value=np.int16(-32768),
        )
        v.set_auto_scale(False)
        packed = np.where(np.isfinite(f["bed"]), np.round(np.nan_to_num(f["bed"]) * 100.0), -32768)
        v[:] = packed.astype(np.int16)
        v.scale_factor = np.float32(0.01)
        v.add_offset = np.float32(0.0)
        v.units = "m"
        v.standard_name = "height_above_mean_sea_level"
        v.long_name = (
            "bed elevation above mean sea level (positive up; above 0 = intertidal flat); "
            "missing where the pixel holds no sea"
        )
        v = ds.createVariable("bathymetry_rule", "i1", ("lat", "lon"), zlib=True, complevel=9)
        v[:] = f["rule"]
        v.flag_values = np.array(list(RULE_FLAGS.values()), dtype=np.int8)
        v.flag_meanings = " ".join(RULE_FLAGS)
        v.long_name = "bathymetry rule that set bed_elevation (see bathymetry_rules)"
        v = ds.createVariable("barrier", "i1", ("lat", "lon"), zlib=True, complevel=9)
        v[:] = f["barrier"].astype(np.int8)
        v.flag_values = np.array([0, 1], dtype=np.int8)
        v.flag_meanings = "none land_correction"
        v.long_name = "pixel crossed by a land correction (kept land at every model resolution)"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--outdir", default=str(HERE))
    p.add_argument("--etopo5", default=str(HERE / "bathymetry_etopo5_beibu.nc"))
    p.add_argument("--zones", default=str(HERE / "zones_nests.toml"))
    p.add_argument("--nest", action="append", choices=sorted(NESTS), help="default: all")
    a = p.parse_args(argv)
    etopo = read_etopo5(Path(a.etopo5))
    polygons = load_bay_polygons(Path(a.zones))
    for name in a.nest or sorted(NESTS):
        with tempfile.TemporaryDirectory() as td:
            fields = build_nest(name, etopo, polygons, td)
        out = Path(a.outdir) / f"nest_{name}.nc"
        write_nest(out, name, fields)
        print(f"{out}: {fields['frac16'].shape}, {int((fields['frac16'] > 0).sum())} sea pixels")


if __name__ == "__main__":
    main()
