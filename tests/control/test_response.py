"""Response coefficients: forward and adjoint solves (bbw_bay.control.response)."""

from __future__ import annotations

import numpy as np
import pytest

from bbw_bay.control.apportion import apportionment_dataset
from bbw_bay.control.response import (
    Factorisations,
    ResponseError,
    receptor_values,
    response_coefficients,
    response_fields,
    select_sources,
)
from bbw_bay.core.flow import Flow
from bbw_bay.core.grid import Grid
from bbw_bay.core.model import Model, Tracer
from bbw_bay.core.sources import PointSource
from bbw_bay.units import DAY, TONNE_PER_YEAR
from tests.quality.test_receptors import bay_grid, bay_receptors_on

# Forward and adjoint coefficients, and the sum of contributions against a full solve, come from
# LU solves of the same (or the transposed) sparse matrix: they differ by round-off amplified by
# the condition number of (A − kI) (≤ ~1e4 here), so 1e-10 relative is a safe bound (measured
# ~1e-15).
ROUND_OFF = 1e-10


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
    grid = bay_grid()
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


def bay_receptors(model: Model):
    """Three control points and the zone mean over a central box (`bay_receptors_on`)."""
    return bay_receptors_on(model.grid)


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


def test_response_needs_a_steady_flow():
    model = bay_model()
    u, v = model.flow.at(0.0)
    flow = Flow.series(model.grid, [0.0, DAY], [u, u], [v, v])
    unsteady = Model(
        model.grid, flow, tracers=model.tracers, sources=model.sources, diffusivity=10.0
    )
    with pytest.raises(ResponseError, match="steady flow"):
        response_coefficients(unsteady, receptors=bay_receptors(model))


def test_groups_and_source_selectors():
    model = bay_model()
    assert select_sources(model, "province=Guangxi,kind=outfall") == [1]
    assert select_sources(model, "kind=outfall,province=Guangxi|Hainan") == [1, 2]
    assert select_sources(model, ["river", "outfall_b"]) == [0, 2]
    assert select_sources(model, None) == [0, 1, 2]
    with pytest.raises(ResponseError, match="did you mean 'outfall_a'"):
        select_sources(model, "outfal_a")
    with pytest.raises(ResponseError, match="unknown source field 'basin'"):
        select_sources(model, "basin=Pearl")
    with pytest.raises(ResponseError, match="mixes"):
        select_sources(model, "river,kind=river")
