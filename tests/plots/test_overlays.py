"""The shipped vector coastline (`bbw_bay.gulf.coastline`) and what maps draw over their data:
coastline, zone outlines and place names (`bbw_bay.plots.overlays`)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402
from matplotlib.collections import LineCollection, PolyCollection  # noqa: E402

from bbw_bay import plots  # noqa: E402
from bbw_bay.gulf.coastline import (  # noqa: E402
    COASTLINE_FILE,
    PLACES_FILE,
    CoastlineError,
    load_coastline,
    load_places,
)
from bbw_bay.gulf.data import forcing_path, read_manifest, sha256  # noqa: E402
from bbw_bay.gulf.geodata import points_in_polygon  # noqa: E402
from bbw_bay.plots import overlays  # noqa: E402
from bbw_bay.quality.zones import Zone  # noqa: E402
from tests.plots.conftest import cartesian_grid, geographic_grid, make_dataset  # noqa: E402

NORTH_COAST = (108.0, 109.0, 21.0, 22.0)  # Guangxi coast: Qinzhou Bay, Beihai [lon, lat]


def _ring_area(ring: np.ndarray) -> float:
    """Shoelace area of a closed ring [deg²], positive either way round."""
    x, y = ring[:, 0], ring[:, 1]
    return 0.5 * abs(float(np.dot(x[:-1], y[1:]) - np.dot(x[1:], y[:-1])))


def _on_land(coast, lon: float, lat: float) -> bool:
    return any(points_in_polygon(lon, lat, ring[:-1]) for ring in coast.polygons)


# ----------------------------------------------------------------------------- the file
def test_shipped_coastline_is_listed_with_its_checksum_and_small():
    path = forcing_path(COASTLINE_FILE)
    assert read_manifest()[COASTLINE_FILE] == sha256(path)
    assert path.stat().st_size < 2_000_000  # the brief: a compact file, under 2 MB
    with xr.open_dataset(path) as ds:
        assert ds.attrs["Conventions"] == "CF-1.8"
        assert "LGPL-3.0-or-later" in ds.attrs["license"]
        assert ds["coastline"].attrs["geometry_type"] == "polygon"


def test_coastline_rings_are_closed_and_cover_the_model_domain():
    coast = load_coastline()
    west, east, south, north = coast.region
    assert west <= 105.0 and east >= 112.5 and south <= 16.0 and north >= 23.0  # Grid.beibu
    assert len(coast.polygons) > 100  # mainland, Hainan and the islands of Ha Long/Bai Tu Long
    for ring in coast.polygons:
        assert len(ring) >= 4 and np.array_equal(ring[0], ring[-1])


def test_coastline_land_matches_the_gshhg_raster_it_shares_a_source_with():
    """The land area of the polygons in a 1° box equals the GSHHG 1′ raster's land (the same
    full-resolution shoreline): a wrongly closed mainland would fill the sea instead."""
    coast = load_coastline(extent=NORTH_COAST)
    polygon_land = sum(_ring_area(r) for r in coast.polygons)
    with xr.open_dataset(forcing_path("landmask_gshhg_beibu.nc")) as mask:
        box = mask["sea_fraction"].sel(lon=slice(108.0, 109.0), lat=slice(21.0, 22.0))
        raster_land = float((1.0 - box).sum()) / 60.0**2  # 1′ pixels [deg²]
    # 1 %: the raster resolves the shoreline to 15″ sub-pixels and the polygons leave out
    # islands under 0.1 km² and are simplified to 0.0003°; measured difference 0.16 %
    assert polygon_land == pytest.approx(raster_land, rel=0.01)
    assert 0.3 < raster_land < 0.7  # the box is about half land: the check has teeth


def test_clip_keeps_every_node_inside_and_no_clip_edge_is_drawn_as_coast():
    whole = load_coastline()
    coast = whole.clip(NORTH_COAST)
    assert coast.region == NORTH_COAST
    assert 0 < coast.n_nodes < whole.n_nodes
    nodes = np.vstack(coast.polygons)
    assert nodes[:, 0].min() >= 108.0 and nodes[:, 0].max() <= 109.0
    assert nodes[:, 1].min() >= 21.0 and nodes[:, 1].max() <= 22.0
    # the clip closes land polygons along the box; those edges are not coast
    for line in coast.shorelines():
        for value, axis in ((108.0, 0), (109.0, 0), (21.0, 1), (22.0, 1)):
            on = np.isclose(line[:, axis], value, rtol=0, atol=1e-9)
            assert not np.any(on[1:] & on[:-1])
    # clipping keeps land land: Qinzhou city is on land, the Qinzhou Bay mouth at sea
    assert _on_land(coast, 108.62, 21.96) and not _on_land(coast, 108.60, 21.60)
    assert whole.clip((120.0, 121.0, 30.0, 31.0)).polygons == ()  # outside the region
    with pytest.raises(CoastlineError, match="west < east"):
        whole.clip((109.0, 108.0, 21.0, 22.0))


def test_places_lie_on_the_side_of_the_coast_their_kind_says():
    coast = load_coastline()
    places = load_places()
    assert {"Beihai", "Zhanjiang", "Beibu Gulf"} <= {p.name for p in places}
    for place in places:
        assert _on_land(coast, place.lon, place.lat) == (place.kind != "sea"), place.name


def test_places_file_errors_name_the_entry_and_key(tmp_path):
    bad = tmp_path / "places.toml"
    bad.write_text('[[place]]\nname = "X"\nlon = 108.0\nlat = 21.0\nkind = "town"\n')
    with pytest.raises(CoastlineError, match=r"place\[0\] 'X': kind must be one of"):
        load_places(bad)
    bad.write_text('[[place]]\nname = "X"\nlon = "108E"\nlat = 21.0\n')
    with pytest.raises(CoastlineError, match="lon, lat must be degrees"):
        load_places(bad)
    assert forcing_path(PLACES_FILE).is_file()


# ----------------------------------------------------------------------------- on a map
def test_gulf_map_draws_the_vector_coastline_clipped_to_its_extent():
    ds = make_dataset(geographic_grid())  # 108-109.5E, 20-21.5N: inside the shipped coast
    ax = plots.concentration_map(ds, "DIN", extent=(108.2, 109.2, 20.8, 21.5))
    land = [c for c in ax.collections if isinstance(c, PolyCollection)]
    coast_lines = [
        c
        for c in ax.collections
        if isinstance(c, LineCollection) and c.get_zorder() == overlays.ZORDER["coast"]
    ]
    assert land and coast_lines
    nodes = np.vstack([p.vertices for p in land[0].get_paths()])
    margin = 0.05 + 1e-9  # overlays._MARGIN_DEG beyond the view, so no clip edge shows
    assert nodes[:, 0].min() >= 108.2 - margin and nodes[:, 0].max() <= 109.2 + margin


def test_cartesian_map_keeps_the_cell_edge_coast():
    ds = make_dataset(cartesian_grid())
    ax = plots.concentration_map(ds, "DIN")
    assert not any(isinstance(c, PolyCollection) for c in ax.collections)
    assert not overlays.covered(ds)


def test_zone_outline_is_the_boundary_of_its_cells_with_open_water():
    ds = make_dataset(cartesian_grid())
    mask = np.zeros((20, 30), dtype=bool)
    mask[2:6, 3:8] = True  # 4 × 5 cells of open water, away from the island and the edges
    ax = plots.concentration_map(ds, "DIN", zones=[Zone(key="box", mask=mask, name="Box")])
    dashed = [
        c
        for c in ax.collections
        if isinstance(c, LineCollection) and c.get_zorder() == overlays.ZORDER["zones"]
    ]
    assert len(dashed) == 1
    assert len(dashed[0].get_segments()) == 2 * (4 + 5)  # the perimeter in cell edges
    assert "Box" in [t.get_text() for t in ax.texts]  # labelled: 20 cells >= min_cells


def test_zone_outline_stops_at_land():
    ds = make_dataset(cartesian_grid())
    mask = np.zeros((20, 30), dtype=bool)
    mask[7:14, 11:19] = True  # covers the 5 × 6 island (rows 8-12, columns 12-17) and a ring
    drawn = overlays.draw_zones(
        plots.common.new_axes(None), ds, [Zone(key="ring", mask=mask)], labels=False
    )
    assert drawn == {"ring": 2 * (7 + 8)}  # only the outer edge: the island has no outline


def test_shipped_zones_and_places_on_a_gulf_map():
    ds = make_dataset(geographic_grid())
    ax = plots.common.new_axes(None)
    drawn = overlays.decorate(ax, ds)
    assert drawn["coast"] is True
    assert {"open_gulf", "guangxi_nearshore"} <= set(drawn["zones"])  # zones in 108-109.5E
    assert "Weizhou Island" in drawn["places"] and "Haikou" not in drawn["places"]
    with pytest.raises(plots.PlotError, match="cartesian"):
        overlays.draw_zones(ax, make_dataset(cartesian_grid()), True)
    off = overlays.decorate(plots.common.new_axes(None), ds, zones=False, places=False)
    assert off["zones"] == {} and off["places"] == []
