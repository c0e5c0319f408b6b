"""Linear frequency-domain tides: analytic channel and Kelvin-wave cases, energy, gulf physics."""

from __future__ import annotations

import numpy as np
import pytest

from bbw_bay.core.grid import Grid
from bbw_bay.gulf.tide_stations import (
    StationError,
    TideStation,
    calibrate_boundary,
    compare_stations,
    complex_amplitude,
    mean_range,
    read_stations,
)
from bbw_bay.gulf.tides import (
    CONSTITUENT_SPEEDS,
    TideError,
    boundary_from_points,
    ellipse_axes,
    solve_constituents,
    solve_tide,
    tidal_current_amplitude,
    tidal_dispersion,
)
from bbw_bay.units import GRAVITY

OMEGA_K1 = CONSTITUENT_SPEEDS["K1"]


# ---------------------------------------------------------------- analytic cases
def channel_error(n: int, *, depth=10.0, kl=1.2, amplitude=0.5) -> float:
    """Max |η − η_exact| / A in a frictionless channel open at x=0, closed at x=L, n cells.

    The elevation is prescribed at the ghost centre x_g = −Δx/2 (the solver's open-boundary
    location), so η = A cos(k(L − x)) / cos(k(L − x_g)), k = ω/√(gH).
    """
    k = OMEGA_K1 / np.sqrt(GRAVITY * depth)
    length = kl / k
    dx = length / n
    grid = Grid.cartesian(n, 1, dx=dx, dy=1000.0, depth=depth, open_boundaries=("west",))
    sol = solve_tide(grid, "K1", boundary=amplitude, friction=0.0)
    x = grid.x_centre
    exact = amplitude * np.cos(k * (length - x)) / np.cos(k * (length + dx / 2))
    return float(np.max(np.abs(sol.eta[0] - exact)) / amplitude)


def test_closed_channel_standing_wave_converges_at_second_order():
    """Staggered centred differences: the error of the standing wave falls as Δx²."""
    errors = [channel_error(n) for n in (20, 40, 80)]
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    # a second-order scheme gives ratio 4 per halving; 1.8–2.2 allows the O(Δx⁴) remainder
    assert np.all((orders > 1.8) & (orders < 2.2)), (errors, orders)
    # (kΔx)²/24-size phase error at n = 80 (kΔx = 0.015) gives ~1e-4 of the amplitude response
    assert errors[-1] < 1e-3


def test_channel_response_amplifies_toward_the_closed_end():
    """A quarter-wave-like basin (kL = 1.2 < π/2) amplifies the tide by 1/cos(kL) ≈ 2.8."""
    grid = Grid.cartesian(60, 1, dx=163e3 / 60, dy=1000.0, depth=10.0, open_boundaries=("west",))
    amp = solve_tide(grid, "K1", boundary=0.5, friction=0.0).amplitude[0]
    assert np.all(np.diff(amp) > 0)  # monotone growth toward the head
    assert 2.3 < amp[-1] / 0.5 < 3.0  # 1/cos(1.2) = 2.76 up to the half-cell offsets


def kelvin_case(f=5e-5, depth=10.0, n=(40, 12), d=5e3):
    """A rotating channel driven at both open ends by the exact Kelvin-wave elevations."""
    c = np.sqrt(GRAVITY * depth)
    k = OMEGA_K1 / c
    grid = Grid.cartesian(n[0], n[1], dx=d, dy=d, depth=depth, open_boundaries=("west", "east"))

    def kelvin(x, y):
        return 0.5 * np.exp(-f * y / c) * np.exp(-1j * k * x)

    sol = solve_tide(grid, "K1", boundary=kelvin, friction=0.0, coriolis=f)
    xx, yy = np.meshgrid(grid.x_centre, grid.y_centre)
    return grid, sol, kelvin(xx, yy)


def test_kelvin_wave_in_rotating_channel_matches_analytic_solution():
    """η = A e^{−fy/c} e^{−ikx}, v = 0: the wave leans on the right-hand (southern) wall."""
    grid, sol, exact = kelvin_case()
    err = np.max(np.abs(sol.eta - exact)) / 0.5
    # discretisation error (kΔx)², (Δy/R)² ~ 1e-3 of the amplitude; 1 % leaves room for the
    # 4-point Coriolis average near the walls
    assert err < 0.01
    v_max, u_max = np.max(np.abs(sol.v)), np.max(np.abs(sol.u))
    assert v_max < 0.01 * u_max  # a Kelvin wave has no cross-channel velocity
    south, north = sol.amplitude[0].mean(), sol.amplitude[-1].mean()
    span = grid.y_centre[-1] - grid.y_centre[0]
    ratio = np.exp(5e-5 * span / np.sqrt(GRAVITY * 10.0)) - 1  # exact e^{f Δy/c} − 1
    assert south / north - 1 == pytest.approx(ratio, rel=0.02)


def test_coriolis_does_no_work_energy_balance_closes():
    """Time-mean energy flux through the open boundary equals the frictional dissipation.

    Σ_faces w (r/H)|u|² = Re Σ_open ū g H L (±η_b); Coriolis (skew-adjoint) adds nothing. A
    non-symmetric Coriolis average would break this identity by O(f/ω) of the dissipation.
    """
    f, depth, r, d = 5e-5, 20.0, 2e-3, 5e3
    wet = np.ones((16, 30), dtype=bool)
    wet[6:10, 12:18] = False  # an island, so the flow is two-dimensional
    grid = Grid.cartesian(30, 16, dx=d, dy=d, depth=depth, wet=wet, open_boundaries=("west",))

    def boundary(x, y):
        return 0.4 * np.exp(-1j * y / 40e3)  # a phase tilt along the boundary drives rotation

    sol = solve_tide(grid, "K1", boundary=boundary, friction=r, coriolis=f)
    weight = grid.depth_u * grid.length_u * grid.spacing_u
    weight_v = grid.depth_v * grid.length_v * grid.spacing_v
    dissipation = np.sum(weight * r / np.maximum(grid.depth_u, 1e-9) * np.abs(sol.u) ** 2) + np.sum(
        weight_v * r / np.maximum(grid.depth_v, 1e-9) * np.abs(sol.v) ** 2
    )
    ghost_x = 2 * grid.x_edge[0] - grid.x_centre[0]
    eta_b = boundary(ghost_x, grid.y_centre)
    u_open = sol.u[:, 0]
    flux_in = np.real(
        np.sum(np.conj(u_open) * GRAVITY * grid.depth_u[:, 0] * grid.length_u[:, 0] * eta_b)
    )
    assert dissipation > 0
    # the GMRES residual (1e-9) bounds the mismatch far below 1e-5 of the budget
    assert flux_in == pytest.approx(dissipation, rel=1e-5)
    still = solve_tide(grid, "K1", boundary=boundary, friction=r, coriolis=0.0)
    assert np.nanmax(np.abs(sol.eta - still.eta)) > 0.01  # rotation does change the tide


def test_ellipse_axes_of_rectilinear_and_circular_currents():
    """Rectilinear current: major = |u|, minor 0; circular: major = minor = |u|."""
    major, minor = ellipse_axes(np.array([0.3 + 0.4j]), np.array([0.0]))
    assert major[0] == pytest.approx(0.5) and minor[0] == pytest.approx(0.0, abs=1e-15)
    major, minor = ellipse_axes(np.array([1.0 + 0j]), np.array([-1j]))
    assert major[0] == pytest.approx(1.0) and minor[0] == pytest.approx(1.0)


def test_invalid_input_is_rejected_with_a_clear_message():
    """Unknown constituents and negative friction are errors that name the problem."""
    grid = Grid.cartesian(4, 1, dx=1e3, dy=1e3, open_boundaries=("west",))
    with pytest.raises(TideError, match="unknown constituent"):
        solve_tide(grid, "X9", boundary=0.1, friction=0.0)
    with pytest.raises(TideError, match="friction"):
        solve_tide(grid, "K1", boundary=0.1, friction=-1.0)


# ---------------------------------------------------------------- the gulf
@pytest.fixture(scope="module")
def gulf():
    from bbw_bay.gulf.geodata import beibu_grid

    return beibu_grid(resolution=1.0 / 15.0)  # ~6.5k wet cells: the full set solves in ~1 s


def test_gulf_diurnal_tide_is_amplified_toward_the_gulf_head(gulf):
    """K1 and O1 grow from the open southern boundary to the northern gulf (north of 21°N).

    Published co-tidal charts [S36][S42] show diurnal amplitudes of ~0.3 m at the mouth and
    ~0.9–1 m at the gulf head (ratio ~3); the model must at least reproduce a clear increase.
    """
    for name in ("K1", "O1"):
        amp = solve_tide(gulf, name).amplitude
        south = np.nanmean(amp[0][gulf.wet[0]])
        head = gulf.y_centre > 21.0
        north = np.nanmean(amp[head][gulf.wet[head]])
        assert north > 1.5 * south, (name, south, north)
        j, i, _ = gulf.nearest_wet(109.08, 21.48)  # Beihai
        # the brief's literature range 0.8–1 m for each diurnal constituent at Beihai, widened
        # by ±0.15 m for the coarse 1/15° grid (the 1/30° station tests below are the tight
        # ones; here K1 0.92, O1 0.99 m against TICON-4 0.90, 0.98 m)
        assert 0.65 < amp[j, i] < 1.15, (name, amp[j, i])


def test_gulf_tidal_currents_are_plausible(gulf):
    """Tidal current amplitude (RSS of K1, O1, M2 major axes) lies in 0.05–2 m/s on most cells.

    Shelf tidal currents of a few dm/s with strait/headland jets up to ~2 m/s are reported for
    the gulf and Qiongzhou Strait (domain.md 3.3: 1.4–2.3 m/s peaks in Qinzhou Bay); below
    0.05 m/s only sheltered corners. 80 % leaves room for coastal cells beside closed faces.
    """
    speed = tidal_current_amplitude(gulf)
    wet = gulf.wet
    assert np.all(np.isfinite(speed)) and np.all(speed[~wet] == 0)
    inside = (speed >= 0.05) & (speed <= 2.0)
    assert inside[wet].mean() > 0.8
    assert speed[wet].max() < 3.0


def test_gulf_dispersion_is_positive_finite_and_bounded(gulf):
    """K = α U²/ω is clipped to its configured bounds on wet cells, 0 on land, NaN-free."""
    k = tidal_dispersion(gulf, coefficient=0.1, minimum_m2_per_s=5.0, maximum_m2_per_s=500.0)
    assert k.shape == gulf.shape and np.all(np.isfinite(k))
    assert np.all(k[gulf.wet] >= 5.0) and np.all(k[gulf.wet] <= 500.0)
    assert np.all(k[~gulf.wet] == 0.0)
    assert np.ptp(k[gulf.wet]) > 50.0  # spatially varying, not a constant in disguise


def test_gulf_solutions_are_cached_per_grid(gulf):
    """Repeated requests return the cached solution (the transport model asks repeatedly)."""
    assert solve_tide(gulf, "K1") is solve_tide(gulf, "K1")
    assert tidal_current_amplitude(gulf) is tidal_current_amplitude(gulf)


# ---------------------------------------------------------------- boundary, range, calibration
def test_boundary_interpolation_is_linear_in_the_point_values():
    """The boundary is Σ_k w_k(x) c_k: superposable, and equal to c_k at point k."""

    def points(a, b):
        return [
            {"lon": 108.0, "lat": 16.0, "K1": {"amplitude_m": a[0], "phase_deg": a[1]}},
            {"lon": 111.0, "lat": 16.0, "K1": {"amplitude_m": b[0], "phase_deg": b[1]}},
        ]

    x, y = np.array([108.0, 109.0, 110.5]), np.array([16.0, 16.0, 16.0])
    one = boundary_from_points(points((0.3, 190.0), (0.0, 0.0)), "K1")(x, y)
    two = boundary_from_points(points((0.0, 0.0), (0.4, 150.0)), "K1")(x, y)
    both = boundary_from_points(points((0.3, 190.0), (0.4, 150.0)), "K1")(x, y)
    # exact superposition up to rounding of the weights (1e-12 of 0.4 m)
    np.testing.assert_allclose(both, one + two, atol=1e-12)
    assert both[0] == pytest.approx(complex_amplitude(0.3, 190.0), abs=1e-9)  # at the point


def test_mean_range_of_one_constituent_and_of_a_slow_beat():
    """One harmonic: range 2A. Two equal harmonics of slowly differing speed: (8/π) a.

    The range follows the envelope 4a|cos(Δω t/2)|, whose mean is (8/π) a when the envelope
    hardly changes within a tidal day (K1–P1, Δω/ω = 0.5 %); for K1–O1 (7.6 %) it is 3 % less.
    """
    # parabolic refinement of the extremes: error O((ω Δt)⁴) ~ 1e-6 at a 10-min step
    assert mean_range({"M2": complex_amplitude(0.5, 40.0)}) == pytest.approx(1.0, rel=1e-5)
    a = 0.5
    slow = {"K1": complex_amplitude(a, 10.0), "P1": complex_amplitude(a, 300.0)}
    # 3 years hold 6 beats of 182 d: the average over the beat phase is within 1 % of its limit
    assert mean_range(slow, days=3 * 365.0) == pytest.approx(8.0 / np.pi * a, rel=0.01)
    beat = {"K1": complex_amplitude(a, 10.0), "O1": complex_amplitude(a, 300.0)}
    # the step does not matter once the extremes are refined (10 min against 1 min)
    assert mean_range(beat) == pytest.approx(mean_range(beat, step_s=60.0), rel=1e-5)
    # "daily" takes the sampled max and min (no refinement): for M2 at 10 min the sampled
    # extremes fall short by at most (ω Δt/2)²/2 = 9e-4 of A, by ~1e-4 on average
    daily = mean_range({"M2": complex_amplitude(0.5, 40.0)}, definition="daily")
    assert daily == pytest.approx(1.0, rel=5e-4)
    with pytest.raises(StationError, match="unknown constituents"):
        mean_range({"Z9": 1.0 + 0j})
    with pytest.raises(StationError, match="definition"):
        mean_range(beat, definition="spring")


def test_calibration_recovers_a_known_boundary_from_stations():
    """Synthetic stations from a known two-point boundary: the fit returns that boundary.

    With a weak prior (σ_p = 100 m) and three stations for two unknowns the least squares is
    exact for fixed friction. The Lorentz friction is updated each pass (a fixed-point
    iteration): from a prior 6× too small the error is 0.15, 0.02, 0.004, 0.0007 m after 1–4
    passes, so four passes and 2e-3 m (0.3–0.7 % of the values).
    """
    grid = Grid.cartesian(24, 10, dx=5e3, dy=5e3, depth=15.0, open_boundaries=("west",))
    x_ghost = -2.5e3
    truth = np.array([complex_amplitude(0.6, 20.0), complex_amplitude(0.3, 70.0)])
    points = [{"name": "s", "lon": x_ghost, "lat": 0.0}, {"name": "n", "lon": x_ghost, "lat": 5e4}]
    lon = np.array([p["lon"] for p in points])
    lat = np.array([p["lat"] for p in points])

    def boundary(values):
        from bbw_bay.gulf.tides import idw_weights

        return lambda x, y: idw_weights(lon, lat, x, y) @ values

    sols = solve_constituents(grid, {"K1": boundary(truth)})
    stations = []
    for n, (x, y) in enumerate([(30e3, 5e3), (60e3, 45e3), (100e3, 25e3)]):
        j, i, _ = grid.nearest_wet(x, y)
        stations.append(TideStation(f"s{n}", x, y, "calibration", {"K1": sols["K1"].eta[j, i]}))
    cal = calibrate_boundary(
        grid,
        points,
        stations,
        constituents=("K1",),
        prior={"K1": np.array([0.1 + 0j, 0.1 + 0j])},
        sigma_prior_m=100.0,
        passes=4,
    )
    np.testing.assert_allclose(cal.values["K1"], truth, atol=2e-3)
    assert set(cal.leave_one_out) == {"s0", "s1", "s2"}
    with pytest.raises(StationError, match="calibration"):
        calibrate_boundary(grid, points, [], prior={"K1": truth}, constituents=("K1",))


# ---------------------------------------------------------------- stations on the gulf grid
@pytest.fixture(scope="module")
def gulf30():
    from bbw_bay.gulf.geodata import beibu_grid

    return beibu_grid(resolution=1.0 / 30.0)  # the shipped grid the boundary was fitted on


@pytest.fixture(scope="module")
def station_errors(gulf30):
    """{(station, constituent): StationComparison} for the shipped tide on the 1/30° grid."""
    return {(r.station, r.constituent): r for r in compare_stations(gulf30)}


def test_station_file_roles_and_positions(gulf30):
    """Compared stations lie within 3 km of a wet cell; prior gauges lie outside the grid."""
    stations = read_stations()
    roles = {s.name: s.use for s in stations}
    assert {"calibration", "hold-out", "prior"} == set(roles.values())
    for s in stations:
        inside = gulf30.x_edge[0] < s.lon < gulf30.x_edge[-1] and (
            gulf30.y_edge[0] < s.lat < gulf30.y_edge[-1]
        )
        if s.use == "prior":
            assert not inside, s.name
        else:
            # gauges were moved to the nearest GSHHG sea pixel; the 1/30° wet cell is 1–3 km off
            assert gulf30.nearest_wet(s.lon, s.lat)[2] < 3e3, s.name


def test_calibration_stations_diurnal_constants(station_errors):
    """Beihai, Hon Dau, Zhapo (fitted): K1 and O1 within 0.03 m and 10°.

    Achieved |ΔA| ≤ 0.011 m, |ΔG| ≤ 8.3° (Hon Dau): the linear solver puts Hon Dau and Beihai
    in phase, while the gauges have Hon Dau 11° later, so the fit splits that difference. 0.03 m
    (3–7 % of the amplitudes) and 10° leave room for solver tolerance and rounding in the file.
    """
    for name in ("Beihai", "Hon Dau (Hai Phong)", "Zhapo (Guangdong shelf)"):
        for c in ("K1", "O1"):
            r = station_errors[(name, c)]
            assert r.use == "calibration"
            assert abs(r.amplitude_error) < 0.03 and abs(r.phase_error) < 10.0, r


def test_calibration_stations_semidiurnal_constants(station_errors):
    """M2 at Beihai and Zhapo within 0.03 m and 5°; at Hon Dau |Δz| < 0.1 m.

    Achieved: Beihai −0.011 m / −0.5°, Zhapo −0.019 m / −2.6°. Hon Dau's M2 is 0.06 m (near the
    M2 amphidrome of the gulf mouth), so its phase is ill-defined; its complex error 0.076 m is
    the fit's compromise with Beihai (the prior alone gives 0.12 m).
    """
    for name in ("Beihai", "Zhapo (Guangdong shelf)"):
        r = station_errors[(name, "M2")]
        assert abs(r.amplitude_error) < 0.03 and abs(r.phase_error) < 5.0, r
    assert station_errors[("Hon Dau (Hai Phong)", "M2")].complex_error < 0.1


def test_hold_out_station_dongfang(station_errors):
    """Dongfang (never fitted): K1, O1 within 0.07 m and 10°; M2 within 0.05 m and 10°.

    Achieved: K1 +0.051 m / −4.4°, O1 +0.046 m / −4.0°, M2 +0.014 m / −1.8°. The diurnal
    amplitude is 8–9 % high on the Hainan west coast; 0.07 m and 10° are those errors plus the
    leave-one-out scatter of the fit (≤ 0.024 m, ≤ 12.6°, docs/tides.md) where it is smaller.
    """
    for c, (da, dg) in {"K1": (0.07, 10.0), "O1": (0.07, 10.0), "M2": (0.05, 10.0)}.items():
        r = station_errors[("Dongfang (Basuo)", c)]
        assert r.use == "hold-out"
        assert abs(r.amplitude_error) < da and abs(r.phase_error) < dg, r


def test_hold_out_station_haikou_shows_the_strait_error(station_errors):
    """Haikou (Qiongzhou Strait, hold-out): the model's largest error, bounded so it cannot grow.

    Achieved: K1 −0.14 m / −64°, O1 −0.18 m / −50°, M2 +0.11 m / +28°. The gauge has the gulf's
    diurnal phase; the model spreads the strait's phase jump along the strait, so Haikou gets an
    intermediate phase. No boundary fit moves it (a trial fit with Haikou, on 1/15°, left
    −0.14 m / −38° and distorted the east boundary), so it is a strait-geometry error
    (docs/tides.md). 0.2 m and 70° bound today's error with little room.
    """
    for c in ("K1", "O1", "M2"):
        r = station_errors[("Haikou (Xiuying)", c)]
        assert abs(r.amplitude_error) < 0.2 and abs(r.phase_error) < 70.0, r


def test_longmen_mean_range_against_the_published_value(gulf30):
    """Longmen (hold-out): the model's mean range against the published 2.55 m [S23].

    The source does not define its 平均潮差, so both definitions of `mean_range` are checked on a
    year of the modelled K1 + O1 + M2. Mean daily range (max − min per day): 2.48 m (−3 %),
    within 10 %. Mean of all successive rises and falls (the tide-table definition): 1.96 m
    (−23 %), within 25 %: it counts the small secondary rises and falls that M2 (0.33 m here)
    makes at neaps. Other constituents add ~3 % (TICON-4 at Beihai: 2.19 m from K1/O1/M2,
    2.24 m with P1, Q1, S2, N2); the Longmen cell is a 3 m-deep choke of the 1/30° grid in the
    Qinzhou Bay mouth (its K1 lags the outer bay by 28°); the nested grids are meant for it.
    """
    longmen = next(s for s in read_stations() if s.name.startswith("Longmen"))
    j, i, _ = gulf30.nearest_wet(longmen.lon, longmen.lat)
    constants = {c: complex(solve_tide(gulf30, c).eta[j, i]) for c in ("K1", "O1", "M2")}
    assert longmen.mean_range_m == 2.55
    daily = mean_range(constants, definition="daily")
    assert abs(daily / longmen.mean_range_m - 1.0) < 0.10, daily
    every = mean_range(constants)
    assert abs(every / longmen.mean_range_m - 1.0) < 0.25, every
