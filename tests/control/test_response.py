"""Response coefficients, adjoint solves and source apportionment (bbw_bay.control.response)."""

from __future__ import annotations

import numpy as np
import pytest

from bbw_bay.control.response import (
    ControlPoint,
    Factorisations,
    ResponseError,
    apportionment_csv,
    apportionment_dataset,
    apportionment_table,
    contribution_maps,
    group_contributions,
    load_control_points,
    point_receptors,
    receptor_values,
    response_coefficients,
    response_fields,
    select_receptors,
    select_sources,
    superposition_check,
    zone_receptors,
)
from bbw_bay.core.flow import Flow
from bbw_bay.core.grid import Grid
from bbw_bay.core.model import Model, Tracer
from bbw_bay.core.sources import PointSource
from bbw_bay.gulf.geodata import points_in_polygon
from bbw_bay.quality.evaluate import Zone, load_zones
from bbw_bay.units import DAY, TONNE_PER_YEAR

# Forward and adjoint coefficients, and the sum of contributions against a full solve, come from
# LU solves of the same (or the transposed) sparse matrix: they differ by round-off amplified by
# the condition number of (A − kI) (≤ ~1e4 here), so 1e-10 relative is a safe bound (measured
# ~1e-15).
ROUND_OFF = 1e-10

NX, NY, DX = 24, 10, 1000.0


def bay_model(
    *,
    advection: str = "upwind",
    background: float = 0.05,
    area_load: float = 0.0,
    groups: bool = True,
    background_mode: str = "boundary",
) -> Model:
    """A 24 km × 10 km bay open to the east: a river in the west, two outfalls, two tracers with
    different decay rates (two factorisations), the river's potential outflow to the sea."""
    wet = np.ones((NY, NX), dtype=bool)
    wet[:3, :6] = False  # a headland
    grid = Grid.cartesian(NX, NY, dx=DX, dy=DX, depth=5.0, wet=wet, open_boundaries=("east",))
    river = PointSource(
        "river",
        x=500.0,
        y=6500.0,
        discharge=200.0,
        loads={"DIN": 100.0, "COD": 300.0},
        groups=("Guangxi", "river", "river") if groups else (),
    )
    outfall_a = PointSource(
        "outfall_a",
        x=9500.0,
        y=2500.0,
        loads={"DIN": 20.0, "COD": 50.0},
        groups=("Guangxi", "outfall", "outfall_a") if groups else (),
    )
    outfall_b = PointSource(
        "outfall_b",
        x=15500.0,
        y=8500.0,
        loads={"DIN": 5.0},
        groups=("Hainan", "outfall", "outfall_b") if groups else (),
    )
    discharge = np.zeros(grid.shape)
    discharge[river.locate(grid)] = river.discharge
    flow = Flow.from_rivers(grid, discharge)
    tracers = {
        "DIN": Tracer(decay_per_day=0.02, background=background),
        "COD": Tracer(decay_per_day=0.1, background=2 * background),
    }
    area = None
    if area_load:
        field = np.zeros(grid.shape)
        field[6:, 10:14] = area_load
        area = {"DIN": field}
    return Model(
        grid,
        flow,
        tracers=tracers,
        sources=[river, outfall_a, outfall_b],
        diffusivity=10.0,
        advection=advection,
        area_loads=area,
        background_mode=background_mode,
    )


def bay_points() -> list[ControlPoint]:
    return [
        ControlPoint("near_river", 2500.0, 6500.0, target_class=2),
        ControlPoint("mid_bay", 12500.0, 5500.0, target_class=2),
        ControlPoint("east", 22500.0, 4500.0, target_class=1),
    ]


def bay_receptors(model: Model):
    mask = np.zeros(model.grid.shape, dtype=bool)
    mask[4:, 8:16] = True
    zone = Zone("central", target_class=2, mask=mask, province="Guangxi")
    return point_receptors(model.grid, bay_points()) + zone_receptors(model.grid, [zone])


def test_adjoint_coefficients_equal_forward_coefficients_to_round_off():
    model = bay_model()
    receptors = bay_receptors(model)
    factors = Factorisations(model)
    adjoint = response_coefficients(model, receptors=receptors, factors=factors)
    forward = response_coefficients(model, receptors=receptors, method="forward", factors=factors)
    assert factors.count == 2  # one factorisation per distinct decay rate, shared by both
    scale = np.abs(forward.coefficients).max()
    assert scale > 0
    np.testing.assert_allclose(
        adjoint.coefficients, forward.coefficients, rtol=0, atol=ROUND_OFF * scale
    )


def test_unit_response_field_holds_load_over_decay_in_a_closed_basin():
    # Closed basin, no flow, diffusion only: at steady state the decay of the whole excess
    # mass balances the load, k Σ V c = L, so Σ V α = (1 t/yr in g/s) / k exactly (to round-off).
    grid = Grid.cartesian(8, 6, dx=500.0, dy=500.0, depth=4.0)
    src = PointSource("s", x=1250.0, y=1750.0, loads={"DIN": 1.0})
    model = Model(
        grid,
        Flow.steady(grid),
        tracers={"DIN": Tracer(decay_per_day=0.05)},
        sources=[src],
        diffusivity=5.0,
        advection="upwind",
    )
    field = response_fields(model)[0, 0]
    mass = float(field @ grid.volume[grid.wet])  # mg/L × m³ = g
    assert mass == pytest.approx(TONNE_PER_YEAR / (0.05 / DAY), rel=ROUND_OFF)
    assert field.min() > 0  # a unit load raises the concentration everywhere it can reach


@pytest.mark.parametrize("mode", ["boundary", "ambient"])
def test_contributions_plus_background_equal_a_full_upwind_solve_with_area_loads(mode):
    # "ambient": background + excess; "boundary": the background enters at the open boundary
    # and decays inside, so the receptor background is the no-load steady field there
    model = bay_model(area_load=2e-6, background_mode=mode)
    receptors = bay_receptors(model)
    matrix = response_coefficients(model, receptors=receptors)
    assert np.abs(matrix.diffuse[0]).max() > 0 and np.all(matrix.diffuse[1] == 0)
    full = model.replace(advection="upwind").steady_state()
    expected = receptor_values(matrix, full, model.grid)
    np.testing.assert_allclose(matrix.concentration(), expected, rtol=ROUND_OFF)
    if mode == "ambient":
        np.testing.assert_array_equal(matrix.background, [[0.05] * 4, [0.1] * 4])
    else:
        assert np.all(matrix.background < [[0.05], [0.1]])  # decayed on its way in
    ds = apportionment_dataset(matrix)
    # shares of the excess add up to 100 % wherever the excess comes from the sources alone
    no_diffuse = ds["diffuse"].values == 0
    np.testing.assert_allclose(ds["share"].sum("source").values[no_diffuse], 100.0, rtol=ROUND_OFF)
    np.testing.assert_allclose(ds["total"], matrix.concentration(), rtol=ROUND_OFF)


def test_superposition_check_reports_round_off_for_upwind_and_the_mc_scheme_gap():
    model = bay_model(advection="mc")
    matrix = response_coefficients(model, receptors=bay_receptors(model))
    check = superposition_check(model, matrix)
    for entry in check["tracers"].values():
        assert entry["upwind_max_rel_diff"] < ROUND_OFF
        # MC and upwind steady states differ by the scheme (numerical diffusion), not round-off:
        # the check must see a gap, and on this smooth problem it stays below 50 %
        assert 1e-8 < entry["scheme_max_rel_diff"] < 0.5


def test_zone_receptor_is_the_area_weighted_mean_of_the_forward_field():
    model = bay_model()
    receptors = bay_receptors(model)
    zone = receptors[-1]
    matrix = response_coefficients(model, receptors=[zone])
    fields = response_fields(model)  # (ntr, ns, n_wet)
    mask = np.zeros(model.grid.shape, bool)
    mask[4:, 8:16] = True
    mask &= model.grid.wet
    cells = mask[model.grid.wet]
    area = model.grid.area[model.grid.wet][cells]
    expected = (fields[:, :, cells] * area).sum(axis=2) / area.sum()
    np.testing.assert_allclose(matrix.coefficients[:, 0, :], expected, rtol=ROUND_OFF)


def test_contribution_maps_are_today_load_times_the_unit_response():
    model = bay_model()
    maps = contribution_maps(model, sources="outfall_a")
    field = response_fields(model, tracers="DIN")[0, 1]
    expected = model.upwind_operator().to_field(field * 20.0 / TONNE_PER_YEAR)
    np.testing.assert_allclose(
        maps["DIN"].sel(source="outfall_a").values, expected, rtol=ROUND_OFF, equal_nan=True
    )


def test_groups_selectors_and_tables():
    model = bay_model()
    assert select_sources(model, "province=Guangxi,kind=outfall") == [1]
    assert select_sources(model, "kind=outfall,province=Guangxi|Hainan") == [1, 2]
    assert select_sources(model, ["river", "outfall_b"]) == [0, 2]
    assert select_sources(model, None) == [0, 1, 2]
    with pytest.raises(ResponseError, match="did you mean outfall_a"):
        select_sources(model, "outfal_a")
    with pytest.raises(ResponseError, match="unknown source field 'basin'"):
        select_sources(model, "basin=Pearl")
    with pytest.raises(ResponseError, match="mixes"):
        select_sources(model, "river,kind=river")
    receptors = bay_receptors(model)
    assert [r.key for r in select_receptors(receptors, "kind=zone")] == ["zone:central"]
    assert [r.key for r in select_receptors(receptors, "zone:central,east")] == [
        "zone:central",
        "east",
    ]
    with pytest.raises(ResponseError, match="did you mean zone:central"):
        select_receptors(receptors, "central")
    ds = apportionment_dataset(response_coefficients(model, receptors=receptors))
    by_province = group_contributions(ds, by="province")
    np.testing.assert_allclose(
        by_province.sum("source_province"), ds["contribution"].sum("source"), rtol=ROUND_OFF
    )
    text = apportionment_table(ds, by="kind")
    assert "zone:central" in text and "river" in text


def test_apportionment_csv_rows(tmp_path):
    model = bay_model()
    ds = apportionment_dataset(response_coefficients(model, receptors=bay_receptors(model)))
    path = apportionment_csv(ds, tmp_path / "a.csv")
    lines = path.read_text().splitlines()
    # header + per tracer and receptor: one background row and one row per source
    assert len(lines) == 1 + ds.sizes["tracer"] * ds.sizes["receptor"] * (1 + ds.sizes["source"])


def test_point_on_land_snaps_or_fails():
    model = bay_model()
    near = point_receptors(model.grid, [ControlPoint("cape", 500.0, 500.0)])  # headland cell
    j, i = near[0].cells[0]
    assert model.grid.wet[j, i]
    with pytest.raises(ResponseError, match="on land"):
        point_receptors(model.grid, [ControlPoint("cape", 500.0, 500.0)], max_snap_distance=10.0)


def test_response_needs_a_steady_flow():
    model = bay_model()
    u, v = model.flow.at(0.0)
    flow = Flow.series(model.grid, [0.0, DAY], [u, u], [v, v])
    unsteady = Model(
        model.grid, flow, tracers=model.tracers, sources=model.sources, diffusivity=10.0
    )
    with pytest.raises(ResponseError, match="steady flow"):
        response_coefficients(unsteady, receptors=bay_receptors(model))


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
    with pytest.raises(ResponseError, match=r"point\[0\] 'a': citations.target_class"):
        load_control_points(path)
    path.write_text(good + 'target_class = "estimate"\n')
    with pytest.raises(ResponseError, match="without the method"):
        load_control_points(path)
    path.write_text(
        good.replace("target_class = 2", "target_class = 5") + 'target_class = "GB 3097"\n'
    )
    with pytest.raises(ResponseError, match="target_class must be 1, 2, 3 or 4"):
        load_control_points(path)
    path.write_text(good.replace("lon = 108.5\n", "x_m = 3.0\n") + 'target_class = "x"\n')
    with pytest.raises(ResponseError, match="lon and lat .* or as x_m and y_m"):
        load_control_points(path)
    with pytest.raises(ResponseError, match="not found"):
        load_control_points(tmp_path / "missing.toml")


def test_contribution_map_draws_one_source_on_a_log_scale():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bbw_bay.plots.maps import contribution_map

    maps = contribution_maps(bay_model(), sources="river,outfall_a")
    ax = contribution_map(maps, "outfall_a", tracer="COD")
    try:
        assert "outfall_a" in ax.get_title()
        norm = ax.collections[0].norm
        # log scale topped at the plume's peak rounded up to a nice number (≥ the peak)
        assert type(norm).__name__ == "LogNorm"
        assert norm.vmax >= float(maps["COD"].sel(source="outfall_a").max())
    finally:
        plt.close(ax.figure)
    with pytest.raises(ValueError, match="no contribution map for source 'outfall_b'"):
        contribution_map(maps, "outfall_b")
