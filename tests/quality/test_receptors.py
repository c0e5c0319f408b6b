"""Control points, zone-mean receptors and receptor selectors (bbw_bay.quality.receptors)."""

from __future__ import annotations

import numpy as np
import pytest

from bbw_bay.core.grid import Grid
from bbw_bay.gulf.geodata import points_in_polygon
from bbw_bay.quality.receptors import (
    ControlPoint,
    ReceptorError,
    load_control_points,
    point_receptors,
    receptors_for,
    select_receptors,
    zone_receptors,
)
from bbw_bay.quality.zones import Zone, load_zones

NX, NY, DX = 24, 10, 1000.0


def bay_grid() -> Grid:
    """A 24 km × 10 km bay open to the east, with a headland in the south-west corner."""
    wet = np.ones((NY, NX), dtype=bool)
    wet[:3, :6] = False  # a headland
    return Grid.cartesian(NX, NY, dx=DX, dy=DX, depth=5.0, wet=wet, open_boundaries=("east",))


def bay_points() -> list[ControlPoint]:
    return [
        ControlPoint("near_river", 2500.0, 6500.0, target_class=2),
        ControlPoint("mid_bay", 12500.0, 5500.0, target_class=2),
        ControlPoint("east", 22500.0, 4500.0, target_class=1),
    ]


def bay_receptors_on(grid: Grid):
    """Three control points and the zone mean over a central box."""
    mask = np.zeros(grid.shape, dtype=bool)
    mask[4:, 8:16] = True
    zone = Zone("central", target_class=2, mask=mask, province="Guangxi")
    return point_receptors(grid, bay_points()) + zone_receptors(grid, [zone])


def test_receptor_selectors():
    grid = bay_grid()
    receptors = bay_receptors_on(grid)
    assert [r.key for r in select_receptors(receptors, "kind=zone")] == ["zone:central"]
    assert [r.key for r in select_receptors(receptors, "zone:central,east")] == [
        "zone:central",
        "east",
    ]
    with pytest.raises(ReceptorError, match="did you mean 'zone:central'"):
        select_receptors(receptors, "central")


def test_point_on_land_snaps_or_fails():
    grid = bay_grid()
    near = point_receptors(grid, [ControlPoint("cape", 500.0, 500.0)])  # headland cell
    j, i = near[0].cells[0]
    assert grid.wet[j, i]
    with pytest.raises(ReceptorError, match="on land"):
        point_receptors(grid, [ControlPoint("cape", 500.0, 500.0)], max_snap_distance=10.0)


def test_shipped_control_points_lie_in_their_zones_and_cite_every_number():
    points = load_control_points()
    zones = {z.key: z for z in load_zones()}
    assert len(points) >= 10
    for p in points:
        assert p.zone in zones, p.key
        inside = any(
            points_in_polygon(np.array([p.x]), np.array([p.y]), part)[0]
            for part in zones[p.zone].parts
        )
        assert inside, f"{p.key} ({p.x}, {p.y}) is not inside zone {p.zone}"
        assert set(p.citations) == {"position", "target_class"}


def test_control_point_file_errors_name_the_point_and_key(tmp_path):
    good = (
        '[[point]]\nkey = "a"\nname = "A"\nlon = 108.5\nlat = 21.5\ntarget_class = 2\n'
        'zone = "z"\nprovince = "Guangxi"\n[point.citations]\nposition = "estimate: map"\n'
    )
    path = tmp_path / "p.toml"
    path.write_text(good)
    with pytest.raises(ReceptorError, match=r"point\[0\] 'a': citations.target_class"):
        load_control_points(path)
    path.write_text(good + 'target_class = "estimate"\n')
    with pytest.raises(ReceptorError, match="without the method"):
        load_control_points(path)
    path.write_text(
        good.replace("target_class = 2", "target_class = 5") + 'target_class = "GB 3097"\n'
    )
    with pytest.raises(ReceptorError, match="target_class must be 1, 2, 3 or 4"):
        load_control_points(path)
    path.write_text(good.replace("lon = 108.5\n", "x_m = 3.0\n") + 'target_class = "x"\n')
    with pytest.raises(ReceptorError, match="lon and lat .* or as x_m and y_m"):
        load_control_points(path)
    with pytest.raises(ReceptorError, match="not found"):
        load_control_points(tmp_path / "missing.toml")


def test_receptors_for_reads_a_points_file_and_needs_one_on_a_cartesian_grid(tmp_path):
    grid = bay_grid()
    # the shipped points and zones are lon/lat: a cartesian grid has none by default
    with pytest.raises(ReceptorError, match="no receptors"):
        receptors_for(grid)
    path = tmp_path / "points.toml"
    entry = (
        '[[point]]\nkey = "{key}"\nname = "{key}"\nx_m = {x}\ny_m = 5500.0\ntarget_class = 2\n'
        'zone = ""\nprovince = "Guangxi"\n[point.citations]\nposition = "estimate: test"\n'
        'target_class = "estimate: test"\n'
    )
    path.write_text(entry.format(key="west", x=8500.0) + entry.format(key="east", x=20500.0))
    assert [r.key for r in receptors_for(grid, points=path)] == ["west", "east"]
    assert [r.key for r in receptors_for(grid, points=path, zones="none", selector="east")] == [
        "east"
    ]
    with pytest.raises(ReceptorError, match="did you mean 'east'"):
        receptors_for(grid, points=path, selector="easr")
