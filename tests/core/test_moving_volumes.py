"""Tracer transport on moving volumes (`Flow.from_hydrodynamics`, `solver.MovingVolumes`)."""

from __future__ import annotations

import numpy as np
import pytest

import bbw_bay as bb
from bbw_bay.core.shallow_water import TIDAL_SPEEDS, BoundaryElevation

M2 = 2 * np.pi / TIDAL_SPEEDS["M2"]


@pytest.fixture(scope="module")
def tidal_flat():
    """A tidal inlet whose upper half dries at low water: two M2 periods of hourly means."""
    nx, ny, dx = 24, 6, 500.0
    x = (np.arange(nx) + 0.5) * dx
    bed = np.repeat((6.0 - 8.0 * x / x[-1])[None, :], ny, axis=0)  # 6 m deep to 2 m above datum
    bed[0, 10:] -= 1.0  # a channel along the south side
    grid = bb.Grid.cartesian(nx, ny, dx=dx, dy=dx, depth=bed, open_boundaries=("west",))
    sw = bb.ShallowWater(grid, boundary_elevation=BoundaryElevation({"M2": (2.0, 0.0)}))
    hd = sw.run(duration=2 * M2, output_interval=M2 / 12, dt=M2 / 240)
    return grid, hd


def test_hydrodynamics_store_volumes_consistent_with_the_fluxes_to_round_off(tidal_flat):
    grid, hd = tidal_flat
    flow = bb.Flow.from_hydrodynamics(hd)
    assert flow.grid is grid and flow.moving
    wet = hd["wet"].values
    assert ((~wet).any(axis=0) & wet.any(axis=0)).sum() > 20  # flats that dry and flood
    dt = np.diff(flow.times)[:, None, None]
    u, v = flow.transport_u, flow.transport_v
    net = u[:, :, :-1] - u[:, :, 1:] + v[:, :-1] - v[:, 1:]
    change = flow.volumes[1:] - flow.volumes[:-1]
    # V(t+Δt) = V(t) + Δt ΣQ: the engine updates depth from these fluxes, so the identity is
    # round-off of the volumes (≈ 1e-16 × 1e6 m³ per step, 480 steps)
    assert np.abs(change - dt * net).max() < 1e-12 * flow.volumes.max()


def _model(grid, flow, **tracer):
    return bb.Model(grid, flow, tracers={"c": bb.Tracer(**tracer)}, diffusivity=5.0)


def test_uniform_tracer_stays_uniform_through_flooding_and_drying(tidal_flat):
    grid, hd = tidal_flat
    model = _model(grid, bb.Flow.from_hydrodynamics(hd), background=1.0)
    ds = model.run(2 * M2, initial={"c": 1.0}, output_interval=M2 / 4)
    c = ds["c"].values[:, grid.wet]
    # inflow carries 1 and each stage's mass and volume follow the same fluxes, so c stays 1
    # to round-off (1e-12: ~1e4 sub-steps of 1e-16), also in cells that empty and refill
    # within an hour: their outflow is taken at their end-of-stage value (implicitly), so it
    # never takes more than they hold
    assert np.abs(c - 1.0).max() < 1e-12
    assert model.statistics.max_relative_imbalance < 1e-12


def test_dye_mass_is_conserved_through_tidal_cycles_with_drying(tidal_flat):
    grid, hd = tidal_flat
    # the second period (after the spin-up from rest) repeated: it ends close to where it starts
    second = hd.isel(time=slice(12, None))
    second = second.assign_coords(time=second["time"] - second["time"][0])
    flow = bb.Flow.from_hydrodynamics(second, periodic=True)
    dye = np.zeros(grid.shape)
    dye[:, 14:18] = 10.0  # on the flats that dry
    model = _model(grid, flow)
    ds = model.run(4 * M2, initial={"c": dye}, output_interval=M2 / 2)
    budget = model.statistics.budget["c"]
    # storage change = boundary inflow (outflow of dye) to round-off (1e-12: ~1e4 sub-steps):
    # every face flux leaves one cell and enters the next, the stage updates mass, and at each
    # wrap of the stored period every cell keeps its mass (c scaled by V_end / V_0)
    assert model.statistics.max_relative_imbalance < 1e-12
    assert budget["boundary_in_g"] < 0  # dye leaves through the mouth
    assert float(ds["c"].min()) >= 0.0
    # maximum principle (the wrap's V_end / V_0 differs from 1 by < 1e-4 in this closed period)
    assert float(ds["c"].max()) <= 10.0 * (1 + 1e-4)


def test_a_cell_that_dries_keeps_its_mass_and_releases_it_when_it_floods(tidal_flat):
    grid, hd = tidal_flat
    flow = bb.Flow.from_hydrodynamics(hd)
    wet = hd["wet"].values
    # a flats cell wet at the start, dry for a while, then flooded again
    falls = wet[0] & (~wet).any(axis=0)
    later = np.array([wet[np.argmax(~wet[:, j, i]) :, j, i].any() for j, i in np.argwhere(falls)])
    j, i = np.argwhere(falls)[np.argmax(later)]
    assert later.any()
    dye = np.zeros(grid.shape)
    dye[j, i] = 5.0
    model = _model(grid, flow)
    ds = model.run(2 * M2, initial={"c": dye}, output_interval=M2 / 12)
    mass = ds["c"].values * flow.volumes
    u, v = flow.transport_u, flow.transport_v
    closed = (u[:, j, i] == 0) & (u[:, j, i + 1] == 0) & (v[:, j, i] == 0) & (v[:, j + 1, i] == 0)
    assert closed.sum() >= 4  # it is dry (all faces closed) for hours in each tide
    # while its faces are closed no flux leaves: its mass stays, to round-off
    held = mass[:-1, j, i][closed]
    np.testing.assert_allclose(mass[1:, j, i][closed], held, rtol=1e-12)
    # when it floods its mass mixes with the water coming in: the dry spells hold different mass
    assert held.max() > 0 and np.ptp(held) > 0.1 * held.max()


def test_running_past_stored_hydrodynamics_needs_periodic(tidal_flat):
    grid, hd = tidal_flat
    model = _model(grid, bb.Flow.from_hydrodynamics(hd))
    with pytest.raises(bb.StabilityError, match="periodic=True"):
        model.run(3 * M2)


def test_numpy_twin_of_the_moving_volume_stage_matches_the_kernel(tidal_flat):
    grid, hd = tidal_flat
    flow = bb.Flow.from_hydrodynamics(hd)
    dye = np.where(np.arange(grid.nx)[None, :] > 12, 3.0, 0.5) * np.ones(grid.shape)
    runs = [
        bb.Model(grid, flow, tracers={"c": bb.Tracer(decay_per_day=0.5)}, diffusivity=5.0,
                 engine=engine).run(M2 / 4, initial={"c": dye})["c"].values[-1]
        for engine in ("numba", "numpy")
    ]  # fmt: skip
    # same discrete equations, different summation order: round-off (1e-12 relative)
    np.testing.assert_allclose(runs[0], runs[1], rtol=1e-12, atol=1e-12)
