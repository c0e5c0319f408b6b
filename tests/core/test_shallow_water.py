"""Verification of the shallow-water engine (`bbw_bay.core.shallow_water`) against exact answers."""

from __future__ import annotations

import numpy as np
import pytest

import bbw_bay as bb
from bbw_bay.core import reference, verification
from bbw_bay.core.kernels import shallow_water as kernels
from bbw_bay.core.shallow_water import BoundaryElevation, ShallowWaterError
from bbw_bay.units import GRAVITY, RHO_WATER


def test_thacker_planar_surface_in_a_paraboloid_moving_shoreline():
    r = verification.thacker_planar(60, periods=3)
    # the depth comes from the face fluxes and the basin is closed: volume to round-off (1e-13 is
    # ~500 additions of 2e-16 relative each), and the outflow limiter keeps every depth >= 0
    assert r["volume_change_relative"] < 1e-13
    assert r["minimum_depth_m"] >= 0.0
    # first order at the moving shoreline (upwind face depths, min-bed faces): measured 0.078,
    # 0.040, 0.024 m after one period at 50, 100, 200 cells; 0.065 m here at 60 cells (400 m);
    # the limits are 1 % and 2.5 % of the 10 m centre depth and grow with the periods run
    # (phase error accumulates: 0.17 m measured after three)
    assert r["depth_mean_abs_error_m_1T"] < 0.10
    assert r["depth_mean_abs_error_m_3T"] < 0.25
    # the shoreline moves 1 km (2.5 cells) each way; it stays within a cell after one period
    # and two after three (measured 1 and 2)
    assert r["shoreline_shift_cells_1T"] <= 1.0
    assert r["shoreline_shift_cells_3T"] <= 2.0


def test_lake_at_rest_over_uneven_bathymetry_with_dry_islands_stays_at_rest():
    r = verification.lake_at_rest(40, hours=6.0)
    assert r["dry_cells"] > 20  # the islands and banks really are dry
    # well-balanced: faces between wet and dry cells are closed (the upwind depth at the higher
    # bed is 0) and the surface is flat elsewhere, so nothing moves; 1e-12 m allows round-off
    # in η = D − h for depths of ~10 m
    assert r["max_surface_deviation_m"] < 1e-12
    assert r["max_transport_m3_per_s"] < 1e-9


def _period_at_wall(hd):
    """Mean period [s] of η at the west wall from linearly interpolated zero crossings."""
    e = hd["eta"].values[:, 0, 0]
    t = hd["time"].values
    k = np.nonzero(np.sign(e[:-1]) * np.sign(e[1:]) < 0)[0]
    crossing = t[k] - e[k] * (t[k + 1] - t[k]) / (e[k + 1] - e[k])
    return 2.0 * np.diff(crossing).mean()


def test_standing_wave_in_a_closed_basin_has_the_theoretical_period():
    length, depth, n = 10_000.0, 10.0, 50
    grid = bb.Grid.cartesian(n, 1, dx=length / n, dy=100.0, depth=depth)
    sw = bb.ShallowWater(grid, bottom_drag=0.0, coriolis=False, theta=0.5)
    period = 2 * length / np.sqrt(GRAVITY * depth)
    eta0 = 0.01 * np.cos(np.pi * grid.x_centre / length)[None, :]
    hd = sw.run(duration=3000 * 3, output_interval=10.0, initial_elevation=eta0, dt=5.0)
    # C-grid dispersion (kΔx)²/24 = 1.6e-4 and θ = 0.5 phase error (ωΔt)²/12 = 2e-5: 1e-3 is
    # five times their sum (measured 3.6e-4 including the zero-crossing interpolation)
    assert abs(_period_at_wall(hd) / period - 1.0) < 1e-3


def test_tidal_wave_in_a_long_frictional_channel_matches_linear_theory():
    r = verification.channel_tide(100)
    assert r["head_amplitude_over_forcing"] > 2  # a quarter-wave amplification is exercised
    # nonlinearity (a/H up to 1.8 % at the head) and the start-up transient (decayed by
    # e^(-r t/H) = e^-9 before the fit) bound the misfit: measured 1.2 % and 0.57°
    assert r["max_amplitude_error_relative"] < 0.03
    assert r["max_phase_error_deg"] < 2.0


def _mode_error(n):
    """Relative L2 error of a 2-D standing mode (1, 1) after a quarter period, Courant 0.5.

    At a quarter period η passes through zero, so a phase error shows linearly (at half a
    period, an extremum, it would show only quadratically).
    """
    length, depth, amp = 10_000.0, 10.0, 1e-6
    grid = bb.Grid.cartesian(n, n, dx=length / n, dy=length / n, depth=depth)
    c = np.sqrt(GRAVITY * depth)
    omega = c * np.pi * np.sqrt(2.0) / length
    xx, yy = np.meshgrid(grid.x_centre, grid.y_centre)
    shape = np.cos(np.pi * xx / length) * np.cos(np.pi * yy / length)
    quarter = 0.5 * np.pi / omega
    steps = int(np.ceil(quarter / (0.5 * length / n / c)))
    sw = bb.ShallowWater(grid, bottom_drag=0.0, coriolis=False, theta=0.5, tolerance=1e-14)
    hd = sw.run(duration=quarter, initial_elevation=amp * shape, dt=quarter / steps)
    exact = 0.0 * shape
    return float(np.sqrt(np.mean((hd["eta"].values[-1] - exact) ** 2)) / amp)


def test_observed_convergence_order_on_a_smooth_standing_mode_is_two():
    errors = [_mode_error(n) for n in (16, 32, 64)]
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    # θ = 0.5 and the centred C-grid are second order; an amplitude of 1e-7 H keeps the
    # first-order upwind depth term (∝ amplitude²) far below; 1.8 allows pre-asymptotic drift
    # (measured 1.94 and 2.00)
    assert np.all(orders > 1.8), (errors, orders)


def test_rivers_fill_a_closed_basin_at_their_discharge_to_round_off():
    grid = bb.Grid.cartesian(12, 8, dx=500.0, dy=500.0, depth=3.0)
    river = bb.PointSource("r", x=1000.0, y=1000.0, discharge=25.0)
    hd = bb.ShallowWater(grid, rivers=[river]).run(duration=7200.0, output_interval=3600.0)
    volume = (hd["total_depth"] * grid.area).sum(("y", "x")).values
    # every step adds Δt Q exactly; 1e-12 relative is round-off over a few hundred steps
    np.testing.assert_allclose(volume - volume[0], 25.0 * hd["time"].values, rtol=1e-12,
                               atol=1e-12 * volume[0])  # fmt: skip


def test_wind_setup_in_a_closed_basin_balances_the_surface_slope():
    length, depth, tau, n = 10_000.0, 5.0, 0.1, 50
    grid = bb.Grid.cartesian(n, 1, dx=length / n, dy=100.0, depth=depth)
    sw = bb.ShallowWater(grid, bottom_drag=0.0, linear_drag=5e-3, coriolis=False,
                         wind=(tau, 0.0))  # fmt: skip
    eta = sw.run(duration=30_000.0, dt=30.0)["eta"].values[-1, 0]
    slope = np.polyfit(grid.x_centre, eta, 1)[0]
    # steady state: g H dη/dx = τ/ρ (u = 0); H = h + η varies by ±0.2 %, seiches have decayed
    # by e^(-r t/H) = e^-30: 1 % covers both
    expected = tau / (RHO_WATER * GRAVITY * depth)
    assert abs(slope / expected - 1.0) < 0.01


def test_flather_boundary_lets_a_long_wave_leave_a_clamped_one_reflects_it():
    n, dx, depth = 200, 100.0, 10.0
    x = (np.arange(n) + 0.5) * dx
    bump = 0.01 * np.exp(-(((x - 10_000.0) / 1000.0) ** 2))[None, :]
    energies = {}
    for radiation in (False, True):
        grid = bb.Grid.cartesian(
            n, 1, dx=dx, dy=100.0, depth=depth, open_boundaries=("west", "east")
        )
        sw = bb.ShallowWater(grid, bottom_drag=0.0, coriolis=False, theta=0.5,
                             boundary_elevation=BoundaryElevation(radiation=radiation))  # fmt: skip
        hd = sw.run(duration=2000.0, initial_elevation=bump, dt=5.0)
        energies[radiation] = float((hd["eta"].values[-1] ** 2).sum() / (bump**2).sum())
    # the two halves of the pulse reach the edges after ~1000 s; a Flather face transmits a
    # normally incident long wave (measured residual below 1 %), a clamped face reflects it
    # with the opposite sign (energy kept)
    assert energies[True] < 0.05
    assert energies[False] > 0.5


@pytest.mark.parametrize("solver", ["splu", "cg"])
def test_scipy_solvers_give_the_numba_pcg_answer(solver):
    grid = bb.Grid.cartesian(20, 16, dx=200.0, dy=200.0, depth=np.linspace(2, 8, 20)[None, :],
                             open_boundaries=("west",))  # fmt: skip
    tide = BoundaryElevation({"M2": (0.5, 30.0)})
    runs = [
        bb.ShallowWater(grid, boundary_elevation=tide, solver=s, tolerance=1e-12).run(
            duration=3600.0, dt=60.0
        )
        for s in ("pcg", solver)
    ]
    # both solve the same SPD system to 1e-12 m; the states then agree far below 1e-8 m
    np.testing.assert_allclose(runs[0]["eta"], runs[1]["eta"], atol=1e-8)


def test_numpy_twin_matches_the_kernels(rng):
    ny, nx = 9, 11
    bed = rng.uniform(-1.0, 6.0, (ny, nx))
    wet = rng.uniform(size=(ny, nx)) > 0.1
    grid = bb.Grid.cartesian(nx, ny, dx=150.0, dy=120.0, depth=np.where(wet, bed, 0.0) + 1e-9 *
                             ~wet, wet=wet, open_boundaries=("west", "north"))  # fmt: skip
    sw = bb.ShallowWater(grid, viscosity=2.0, advection=True, manning=np.where(bed > 3, 0.03, 0),
                         boundary_elevation=BoundaryElevation(radiation=True))  # fmt: skip
    state = sw.initial_state(rng.uniform(-0.5, 0.5, (ny, nx)))
    state.u[:] = rng.normal(0, 0.3, state.u.shape)
    state.v[:] = rng.normal(0, 0.3, state.v.shape)
    f = sw.faces
    ghost_u, ghost_v = sw.boundary(0.0)
    tau_u, tau_v = rng.normal(0, 0.1, state.u.shape), rng.normal(0, 0.1, state.v.shape)
    params = np.array([GRAVITY, 0.6, 40.0, 0.05, 2.0, 1e-3, 1025.0, 1.0])
    common = (state.depth, sw.bed, state.u, state.v, f.kind_u, f.kind_v, f.bed_u, f.bed_v,
              grid.length_u, grid.length_v, grid.spacing_u, grid.spacing_v, f.coriolis_u + 1e-4,
              f.coriolis_v + 1e-4, f.cd_u, f.cd_v, f.manning_u, f.manning_v, tau_u, tau_v,
              ghost_u, ghost_v, params)  # fmt: skip
    outs = [np.zeros(state.u.shape) for _ in range(3)] + [np.zeros(state.v.shape) for _ in range(3)]
    kernels.momentum_faces(*common, *outs)
    twin = reference.shallow_water_momentum(*common)
    for a, b in zip(outs, twin, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * np.abs(b).max())  # round-off
    diag, rhs = np.zeros((ny, nx)), np.zeros((ny, nx))
    river = np.where(wet, 0.5, 0.0)
    args = (state.depth, sw.bed, sw.sea, grid.area, river, state.u, state.v, grid.length_u,
            grid.length_v, *outs, ghost_u, ghost_v, 0.6, 40.0)  # fmt: skip
    kernels.assemble(*args, diag, rhs)
    for a, b in zip((diag, rhs), reference.shallow_water_assemble(*args), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * np.abs(b).max())
    eta = rng.uniform(-5.0, 5.0, (ny, nx))  # steep enough to trigger the outflow limiter
    twin = reference.shallow_water_update(state.depth, eta, grid.area, river, state.u.copy(),
                                          state.v.copy(), grid.length_u, grid.length_v, *outs,
                                          ghost_u, ghost_v, 0.6, 40.0)  # fmt: skip
    q_u, q_v, ratio = np.zeros(state.u.shape), np.zeros(state.v.shape), np.zeros((ny, nx))
    u, v, depth = state.u.copy(), state.v.copy(), state.depth.copy()
    kernels.face_fluxes(eta, u, v, grid.length_u, grid.length_v, *outs, ghost_u, ghost_v, 0.6,
                        40.0, q_u, q_v)  # fmt: skip
    kernels.outflow_ratios(depth, grid.area, river, q_u, q_v, 40.0, ratio)
    assert ratio.min() < 1.0  # the outflow limiter is exercised
    kernels.apply_fluxes(depth, grid.area, river, u, v, q_u, q_v, ratio, 40.0,
                         np.zeros(u.shape), np.zeros(v.shape))  # fmt: skip
    for a, b in zip((depth, u, v, q_u, q_v), twin, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * np.abs(b).max())
    assert depth.min() >= 0.0


def test_bad_input_names_what_was_expected():
    grid = bb.Grid.cartesian(4, 3, dx=10.0, dy=10.0, depth=2.0)
    with pytest.raises(ShallowWaterError, match="theta"):
        bb.ShallowWater(grid, theta=0.3)
    with pytest.raises(ShallowWaterError, match="did you mean|valid"):
        bb.ShallowWater(grid, solver="lu")
    with pytest.raises(ShallowWaterError, match="bottom_drag has shape"):
        bb.ShallowWater(grid, bottom_drag=np.ones((2, 2)))
    with pytest.raises(ShallowWaterError, match="whole number"):
        bb.ShallowWater(grid).run(duration=100.0, output_interval=30.0)
    with pytest.raises(ShallowWaterError, match="constituent"):
        bb.ShallowWater(grid, boundary_elevation=BoundaryElevation({"XX9": (1.0, 0.0)}))


def test_lon_lat_grid_conserves_water_and_keeps_a_lake_at_rest():
    lon = np.linspace(108.0, 108.5, 26)
    lat = np.linspace(21.0, 21.4, 21)
    yy, xx = np.meshgrid(0.5 * (lat[1:] + lat[:-1]), 0.5 * (lon[1:] + lon[:-1]), indexing="ij")
    bed = 8.0 - 40.0 * np.hypot(xx - 108.25, yy - 21.2)  # a bank rising above the datum
    grid = bb.Grid.geographic_grid(lon, lat, depth=bed)
    sw = bb.ShallowWater(grid, manning=0.025)  # f = 2Ω sin φ per row
    rest = sw.run(duration=7200.0, output_interval=3600.0)
    # spherical metrics change areas and face lengths, not the balance: still round-off
    assert float(np.abs(rest["eta"].where(rest["wet"])).max()) < 1e-12
    tilt = 0.3 * (xx - 108.25) / 0.25
    hd = sw.run(duration=7200.0, output_interval=3600.0, initial_elevation=tilt)
    volume = (hd["total_depth"] * grid.area).sum(("y", "x")).values
    assert float(hd["total_depth"].min()) >= 0.0
    assert np.abs(volume / volume[0] - 1.0).max() < 1e-13  # closed basin: round-off
    assert float(np.abs(hd["transport_x"]).max()) > 1.0  # and the tilt does slosh
