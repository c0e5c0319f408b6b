"""Tests of the real Beibu Gulf grid (gulf.geodata): coastline topology, bays, published area and
depth, the Qiongzhou Strait correction, spherical metrics and the shipped forcing files.

Published values (keys of the project's domain notes, shared/research/domain.md §10):
[S11] Wikipedia "Gulf of Tonkin": area about 126,250 km²; [S12] 北部湾 encyclopedic text and
[S13] 北部湾 book excerpt: area about 12.7-13 ×10⁴ km², mean depth 42 m [S12]; [S15] Li Jinming,
Routledge chapter: mean depth 38 m; [S19] Wikipedia 琼州海峡: mean depth 44 m, max 114 m;
[S20] 中国地理百科 琼州海峡: mean 44 m, max 120 m, central trough 80-100 m; [S22] 琼州海峡多深.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from scipy import ndimage

from bbw_bay.core.grid import Grid
from bbw_bay.gulf import geodata as gulf
from bbw_bay.gulf.data import forcing_dir, read_manifest, sha256
from bbw_bay.units import EARTH_RADIUS

#: the project's shared data folder next to the checkout (tests may read it; the package may not)
SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"

EIGHT = np.ones((3, 3), dtype=bool)  # land connects through corners when water needs faces


@pytest.fixture(scope="module")
def grid() -> Grid:
    return gulf.beibu_grid()


@pytest.fixture(scope="module")
def grid_fine() -> Grid:
    return gulf.beibu_grid(resolution=1 / 60)


def _open_connected(grid: Grid) -> np.ndarray:
    """Wet cells 4-connected to a wet cell that has an open-boundary face (independent check)."""
    labels, _ = ndimage.label(grid.wet)
    edge = np.zeros(grid.shape, dtype=bool)
    edge[:, 0] |= grid.open_u[:, 0]
    edge[:, -1] |= grid.open_u[:, -1]
    edge[0, :] |= grid.open_v[0, :]
    edge[-1, :] |= grid.open_v[-1, :]
    keep = np.unique(labels[edge & grid.wet])
    return np.isin(labels, keep[keep > 0])


# --------------------------------------------------------------------------- coastline topology
@pytest.mark.parametrize("fixture", ["grid", "grid_fine"])
def test_hainan_is_an_island(fixture, request):
    """Hainan: the land component (8-connected, the complement of face-connected water) around
    109.8E 19.2N touches no domain edge, and is about the size of the island (33,920 km²,
    Wikipedia "Hainan Island")."""
    g = request.getfixturevalue(fixture)
    labels, _ = ndimage.label(~g.wet, structure=EIGHT)
    j, i = g.locate(109.8, 19.2)
    hainan = labels == labels[j, i]
    assert not g.wet[j, i]
    assert not (hainan[0].any() or hainan[-1].any() or hainan[:, 0].any() or hainan[:, -1].any())
    # 5 %: the coast is coarsened to 2-4 km cells (half a cell of 1,500 km of coastline is
    # ~2,000 km², but errors of both signs cancel) and joined islets count as Hainan
    area_km2 = g.area[hainan].sum() / 1e6
    assert abs(area_km2 - 33_920) < 0.05 * 33_920, area_km2


def test_qiongzhou_strait_is_a_connected_wet_channel(grid):
    """Water connects 109.9E to 110.6E between Hainan and the Leizhou Peninsula, inside
    19.9-20.4N (a face-connected path, so water can flow through the strait)."""
    lon, lat = grid.x_centre, grid.y_centre
    cols = np.nonzero((lon >= 109.9) & (lon <= 110.6))[0]
    rows = np.nonzero((lat >= 19.9) & (lat <= 20.4))[0]
    box = grid.wet[np.ix_(rows, cols)]
    labels, _ = ndimage.label(box)
    through = set(labels[:, 0][labels[:, 0] > 0]) & set(labels[:, -1][labels[:, -1] > 0])
    assert through
    # and the strait has land on both sides: Hainan south of it, Leizhou north of it
    assert not grid.wet[grid.locate(110.2, 19.85)] and not grid.wet[grid.locate(110.2, 20.5)]


@pytest.mark.parametrize("fixture", ["grid", "grid_fine"])
@pytest.mark.parametrize("bay", list(gulf.NAMED_BAYS))
def test_named_bay_is_wet_and_open_to_the_sea(fixture, bay, request):
    """Each named bay's cell is wet and face-connected to the open boundary."""
    g = request.getfixturevalue(fixture)
    j, i = g.locate(*gulf.NAMED_BAYS[bay])
    assert g.wet[j, i]
    assert _open_connected(g)[j, i]


def test_named_bay_positions_are_sea_in_gshhg():
    """The bay positions used are sea in the 1-arc-minute GSHHG mask (not guessed)."""
    with xr.open_dataset(forcing_dir() / gulf.LANDMASK_FILE) as mask:
        for name, (lon, lat) in gulf.NAMED_BAYS.items():
            assert mask.sea_mask.sel(lon=lon, lat=lat, method="nearest") == 1, name


def test_no_pond_remains(grid):
    """Every wet cell can exchange water with the open sea (ponds are removed)."""
    assert _open_connected(grid).sum() == grid.n_wet


def test_channel_corrections_are_needed_and_applied():
    """Without the Tieshan Bay correction its upper reach (109.583E 21.70N) is cut off at 1/30°
    and dropped as a pond; with it the reach is wet."""
    j_i = (int((21.70 - 16.0) * 30), int((109.583 - 105.0) * 30))
    without = gulf.beibu_grid(channel_corrections=False)
    assert not without.wet[j_i]
    assert gulf.beibu_grid().wet[j_i]


# --------------------------------------------------------------------------- published numbers
def test_gulf_proper_area_matches_published(grid):
    """Wet area of the gulf proper ≈ 1.27×10⁵ km² [S11][S12][S13] within 10 % (published figures
    themselves range 1.26-1.30×10⁵ km², and the mouth line is only approximately defined)."""
    area_km2 = grid.area[gulf.gulf_proper_mask(grid)].sum() / 1e6
    assert abs(area_km2 - 1.27e5) < 0.10 * 1.27e5, area_km2


def test_gulf_proper_mean_depth_matches_published(grid):
    """Area-weighted mean depth of the gulf proper lies in 38 m [S15] - 42 m [S12] ± 10 %
    (ETOPO5 is a 9 km grid, and coastal cells carry the 3 m minimum depth)."""
    inside = gulf.gulf_proper_mask(grid)
    mean = grid.volume[inside].sum() / grid.area[inside].sum()
    assert 0.9 * 38.0 <= mean <= 1.1 * 42.0, mean


def test_strait_correction_reaches_published_trough_depth():
    """ETOPO5 leaves the strait < 80 m; the correction brings its maximum into the published
    trough range 80-120 m [S19][S20][S22] and keeps the mean near 44 m [S19][S20] (within 20 %:
    the strait box includes some water of Haikou Bay and the Leizhou coast)."""
    stats = {}
    for corrected in (False, True):
        g = gulf.beibu_grid(strait_correction=corrected)
        cols = (g.x_centre >= 109.9) & (g.x_centre <= 110.6)
        rows = (g.y_centre >= 19.9) & (g.y_centre <= 20.4)
        wet = g.wet[np.ix_(rows, cols)]
        d = g.depth[np.ix_(rows, cols)][wet]
        a = g.area[np.ix_(rows, cols)][wet]
        stats[corrected] = (d.max(), (d * a).sum() / a.sum())
    assert stats[False][0] < 80.0
    assert 80.0 <= stats[True][0] <= 120.0
    assert abs(stats[True][1] - 44.0) < 0.2 * 44.0, stats


@pytest.mark.parametrize("fixture", ["grid", "grid_fine"])
def test_wet_depth_between_minimum_and_mixing_cap(fixture, request):
    """Every wet cell is at least the minimum depth and at most the mixing-depth cap, and both
    limits are active (ETOPO5 has -1 m coastal nodes and a 2700 m deep corner)."""
    g = request.getfixturevalue(fixture)
    d = g.depth[g.wet]
    assert d.min() >= gulf.MIN_DEPTH_M and d.max() <= gulf.MAX_MIXING_DEPTH_M
    assert (d == gulf.MIN_DEPTH_M).any() and (d == gulf.MAX_MIXING_DEPTH_M).any()
    assert np.all(g.depth[~g.wet] == 0)


# --------------------------------------------------------------------------- metrics
def test_total_cell_area_equals_spherical_zone(grid):
    """Σ cell area = R² Δλ (sin φn − sin φs) for the whole lon/lat box, to 1e-12 relative
    (summation round-off of 47,000 terms is ~1e-14)."""
    lam = np.deg2rad(grid.x_edge[-1] - grid.x_edge[0])
    exact = (
        EARTH_RADIUS**2
        * lam
        * (np.sin(np.deg2rad(grid.y_edge[-1])) - np.sin(np.deg2rad(grid.y_edge[0])))
    )
    assert abs(grid.area.sum() / exact - 1.0) < 1e-12


def test_default_grid_shape_and_cache(grid):
    """Default domain 105-112.5E × 16-23N at 1/30°, open south and east; cached per arguments."""
    assert grid.shape == (210, 225)
    assert grid.x_edge[0] == 105.0 and abs(grid.x_edge[-1] - 112.5) < 1e-9
    assert grid.open_boundaries == ("south", "east")
    assert gulf.beibu_grid() is grid and Grid.beibu() is grid
    assert gulf.beibu_grid(resolution=1 / 15).shape == (105, 113)  # edges move out to whole cells


def test_grid_beibu_is_the_builder_the_gulf_registers(grid, monkeypatch):
    """`Grid.beibu` / `Grid.from_bathymetry` call what the gulf registered (the core never
    imports the gulf); an unregistered name lists the registered ones, none at all says how."""
    from bbw_bay.core import grid as core_grid

    assert core_grid.build_grid("beibu") is grid
    with pytest.raises(core_grid.GridError, match="unknown grid builder 'beibuu'.*'beibu'"):
        core_grid.build_grid("beibuu")
    monkeypatch.setattr(core_grid, "_BUILDERS", {})
    with pytest.raises(core_grid.GridError, match="none is.*import bbw_bay"):
        Grid.beibu()


# --------------------------------------------------------------------------- polygon helper
def test_points_in_polygon_even_odd():
    """Unit square and a concave 'C': inside/outside by the even-odd rule."""
    square = [(0, 0), (1, 0), (1, 1), (0, 1)]
    assert points_in(square, [(0.5, 0.5), (1.5, 0.5), (-0.1, 0.5), (0.5, 1.2)]) == [1, 0, 0, 0]
    c_shape = [(0, 0), (3, 0), (3, 1), (1, 1), (1, 2), (3, 2), (3, 3), (0, 3)]
    assert points_in(c_shape, [(0.5, 1.5), (2, 1.5), (2, 0.5), (2, 2.5)]) == [1, 0, 1, 1]


def points_in(polygon, points):
    lon, lat = np.array(points, dtype=float).T
    return gulf.points_in_polygon(lon, lat, polygon).astype(int).tolist()


def test_gulf_proper_excludes_strait_and_south_china_sea(grid):
    """The gulf proper holds the central gulf but not the strait east of 109.9E or the sea
    south of the Con Co - Yinggehai line."""
    inside = gulf.gulf_proper_mask(grid)
    assert inside[grid.locate(108.0, 20.0)]
    assert not inside[grid.locate(110.2, 20.15)]
    assert not inside[grid.locate(108.0, 17.0)]


# --------------------------------------------------------------------------- forcing files
def test_shipped_forcing_files_match_manifest():
    """Every file listed in forcing/CHECKSUMS.sha256 exists and has that sha256; both gulf
    files are listed."""
    manifest = read_manifest()
    assert {gulf.BATHYMETRY_FILE, gulf.LANDMASK_FILE} <= set(manifest)
    for name, digest in manifest.items():
        assert sha256(forcing_dir() / name) == digest, name


def test_forcing_files_carry_licence_and_provenance():
    """Each file names its source and licence; the GSHHG raster carries the LGPL notice."""
    for name in (gulf.BATHYMETRY_FILE, gulf.LANDMASK_FILE):
        with xr.open_dataset(forcing_dir() / name) as ds:
            assert ds.attrs["source"] and ds.attrs["license"] and ds.attrs["history"]
    with xr.open_dataset(forcing_dir() / gulf.LANDMASK_FILE) as ds:
        assert "LGPL-3.0-or-later" in ds.attrs["license"]
        assert "gmt-gshhg-full 2.3.7" in ds.attrs["license"]


def test_shipped_values_equal_shared_source_data():
    """The shipped files hold the shared ETOPO5/GSHHG values unchanged."""
    pairs = {
        gulf.BATHYMETRY_FILE: ("bathymetry_beibu.nc", "elevation"),
        gulf.LANDMASK_FILE: ("landmask_beibu.nc", "sea_fraction"),
    }
    for name, (src, var) in pairs.items():
        with xr.open_dataset(forcing_dir() / name) as a, xr.open_dataset(SHARED_DATA / src) as b:
            np.testing.assert_array_equal(a[var].values, b[var].values)


def test_grid_provenance_names_files_and_corrections(grid):
    """Provenance strings name the files with their manifest sha256, the parameters and the
    Qiongzhou Strait correction."""
    prov = gulf.grid_provenance(grid)
    assert all(isinstance(v, str) for v in prov.values())
    manifest = read_manifest()
    assert prov["gulf_bathymetry_sha256"] == manifest[gulf.BATHYMETRY_FILE]
    assert prov["gulf_landmask_sha256"] == manifest[gulf.LANDMASK_FILE]
    assert json.loads(prov["gulf_parameters"])["min_depth_m"] == gulf.MIN_DEPTH_M
    assert "Qiongzhou Strait" in prov["gulf_corrections"]


def test_builds_from_forcing_folder_alone(tmp_path):
    """A fresh process, with the forcing files copied to a folder of their own, builds the
    grid and reads no file under shared/ (Python-level opens and netCDF opens are recorded)."""
    forcing = tmp_path / "forcing"
    forcing.mkdir()
    for name in (gulf.BATHYMETRY_FILE, gulf.LANDMASK_FILE, "CHECKSUMS.sha256"):
        shutil.copy(forcing_dir() / name, forcing / name)
    script = textwrap.dedent("""
        import json, sys
        import xarray as xr
        opened = []
        sys.addaudithook(lambda ev, args: opened.append(str(args[0]))
                         if ev == "open" and args and isinstance(args[0], str) else None)
        real = xr.open_dataset
        def spy(path, *a, **k):
            opened.append(str(path))
            return real(path, *a, **k)
        xr.open_dataset = spy
        from bbw_bay.gulf import geodata as gulf
        g = gulf.beibu_grid()
        print(json.dumps({"n_wet": g.n_wet, "opened": opened}))
    """)
    env = {**os.environ, "BBW_BAY_FORCING": str(forcing)}
    out = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["n_wet"] == gulf.beibu_grid().n_wet
    nc_opened = [p for p in result["opened"] if p.endswith(".nc")]
    assert nc_opened and all(Path(p).parent == forcing for p in nc_opened)
    assert not [p for p in result["opened"] if "/shared/" in p]
