"""The gulf's residual circulation recipe: forcing, strait transport, exact continuity, gyres,
mouth exchange, coastal and rim currents, flushing (the generic solver: tests/core/
test_barotropic.py)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from bbw_bay.core.barotropic import box_circulation
from bbw_bay.core.flow import centre_velocities
from bbw_bay.core.grid import Grid
from bbw_bay.gulf.circulation import (
    CirculationError,
    bulk_wind_stress,
    load_circulation_params,
    residual_flow,
    seasonal_flow,
    solve_season,
    strait_transport,
)
from bbw_bay.units import DAY, SVERDRUP

# Round-off of a sum of a few transports of size up to ~1e6 m³/s in float64 (1e-16 relative).
ROUND_OFF = 1e-9


def _basin(n=40, length=600e3, depth=50.0, wet=None, open_boundaries=()):
    return Grid.cartesian(
        n, n, dx=length / n, dy=length / n, depth=depth, wet=wet, open_boundaries=open_boundaries
    )


# ----------------------------------------------------------------------------- the real gulf
@pytest.fixture(scope="module")
def gulf():
    from bbw_bay.gulf.geodata import beibu_grid

    return beibu_grid(resolution=1 / 30)


@pytest.fixture(scope="module")
def params():
    return load_circulation_params()


@pytest.fixture(scope="module")
def rivers(gulf):
    q = np.zeros(gulf.shape)
    # Red River (Ba Lat mouth) and Nanliu River, rounded mean discharges (domain notes §5)
    for lon, lat, discharge in ((106.55, 20.25, 2600.0), (109.05, 21.60, 170.0)):
        j, i, _ = gulf.nearest_wet(lon, lat)
        q[j, i] += discharge
    return q


@pytest.fixture(scope="module")
def seasons(gulf, params, rivers):
    out = {
        name: solve_season(gulf, season=name, params=params)
        for name in ("winter", "spring", "summer", "autumn", "annual")
    }
    out["winter_rivers"] = solve_season(
        gulf, season="winter", params=params, river_discharge=rivers
    )
    return out


#: The prescribed exchange terms of a season (forcing/circulation.toml).
EXCHANGE_KEYS = (
    "mouth_exchange_sv_cyclonic",
    "shelf_throughflow_sv",
    "coastal_current_stress_n_per_m2",
    "rim_current_stress_n_per_m2",
)


def test_config_wind_stress_follows_bulk_formula_and_annual_means(params):
    bulk = params["bulk"]
    seasonal = [params["season"][s] for s in ("winter", "spring", "summer", "autumn")]
    for table in seasonal:
        tau = bulk_wind_stress(
            table["wind_m_per_s"],
            drag_coefficient=bulk["drag_coefficient"],
            rho_air=bulk["rho_air_kg_per_m3"],
        )
        # 2e-5 N/m²: stresses are written with 5 decimals
        np.testing.assert_allclose(table["wind_stress_n_per_m2"], tau, atol=2e-5)
    annual = params["season"]["annual"]
    np.testing.assert_allclose(
        annual["wind_stress_n_per_m2"],
        np.mean([t["wind_stress_n_per_m2"] for t in seasonal], axis=0),
        atol=2e-5,
    )
    assert annual["strait_transport_sv_westward"] == pytest.approx(
        np.mean([t["strait_transport_sv_westward"] for t in seasonal])
    )
    # the exchange terms stand for a reversing exchange: the annual value is the mean magnitude
    for key in EXCHANGE_KEYS:
        assert annual[key] == pytest.approx(np.mean([abs(t.get(key, 0.0)) for t in seasonal]))


def test_gulf_strait_transport_equals_configuration(seasons, params):
    # The westward strait transport is ψ(mainland) − ψ(Hainan) (plus the river part, which the
    # Hainan constant compensates), so it is exact to the round-off of ψ ~ 1e5 m³/s.
    for name in ("winter", "spring", "summer", "autumn", "annual"):
        target = params["season"][name]["strait_transport_sv_westward"] * SVERDRUP
        assert strait_transport(seasons[name].flow) == pytest.approx(target, abs=1e-3)
    winter = params["season"]["winter"]["strait_transport_sv_westward"] * SVERDRUP
    assert strait_transport(seasons["winter_rivers"].flow) == pytest.approx(winter, abs=1e-3)
    assert strait_transport(seasons["summer"].flow) < 0 < strait_transport(seasons["annual"].flow)


def test_gulf_flow_is_divergence_free_except_at_rivers(seasons, rivers):
    flow = seasons["winter_rivers"].flow
    div = flow.divergence()
    scale = np.abs(flow.transport_u).max()
    assert np.abs(div - rivers).max() < ROUND_OFF * scale
    assert np.abs(seasons["annual"].flow.divergence()).max() < ROUND_OFF * scale
    # a closed box round the Red River mouth: net outflow = the discharge inside it
    g = flow.grid
    i0, i1 = np.searchsorted(g.x_edge, [106.0, 107.5])
    j0, j1 = np.searchsorted(g.y_edge, [19.5, 21.0])
    tu, tv = flow.at(0.0)
    out = tu[j0:j1, i1].sum() - tu[j0:j1, i0].sum() + tv[j1, i0:i1].sum() - tv[j0, i0:i1].sum()
    assert out == pytest.approx(rivers[j0:j1, i0:i1].sum(), abs=ROUND_OFF * scale)


GYRE = dict(x_range=(106.5, 109.5), y_range=(19.5, 21.8))


def test_winter_northern_gulf_gyre_is_cyclonic_and_summer_reverses(seasons):
    # Circulation Γ = ∮ u·dl anticlockwise round the northern-gulf box = ∫ ζ dA; Γ > 0 is a
    # cyclonic (anticlockwise) gyre: winter cyclonic [S28][S30][S32]; the summer surface
    # circulation is anticyclonic [S30] — the depth-mean summer gyre is weaker, so only its
    # sign relative to winter is checked: it must be weaker than in winter.
    gamma_w, area = box_circulation(seasons["winter"].flow, **GYRE)
    gamma_s, _ = box_circulation(seasons["summer"].flow, **GYRE)
    # mean vorticity above 1e-8 1/s (≈ 1 cm/s over a 300 km loop), well clear of round-off
    assert gamma_w / area > 1e-8
    assert gamma_s < 0.5 * gamma_w


def test_gulf_interior_speeds_are_a_few_cm_per_s(seasons, gulf):
    # Published depth-mean residuals: a few cm/s in the interior (domain notes §3.4), up to
    # ~12 cm/s in the strait [S33] and ~40 cm/s (surface) in the winter Vietnam coastal
    # current [S30]. Median over the gulf proper between 0.5 and 20 cm/s; the fastest cell
    # below 1 m/s (a residual flow faster than the tides would be unphysical).
    from bbw_bay.gulf.geodata import gulf_proper_mask

    inside = gulf_proper_mask(gulf)
    for name in ("winter", "spring", "summer", "autumn", "annual"):
        u, v = centre_velocities(seasons[name].flow)
        speed = np.hypot(u, v)[inside]
        assert 0.005 < np.median(speed) < 0.20
        assert speed.max() < 1.0


def test_flow_is_linear_in_the_forcing_the_seasonal_mean_forcing_gives_the_mean_flow(
    gulf, params, seasons
):
    # The problem is linear and every season has the same friction, so a season whose forcing
    # is the signed mean of the four seasons' (wind, strait, exchange terms) has the mean of
    # their transports, up to round-off. (The shipped annual season uses the mean magnitudes
    # of the exchange terms instead, so it is not this mean: see forcing/circulation.toml.)
    names = ("winter", "spring", "summer", "autumn")
    p = copy.deepcopy(params)
    mean = p["season"]["annual"]
    for key in ("strait_transport_sv_westward", *EXCHANGE_KEYS):
        mean[key] = float(np.mean([p["season"][s].get(key, 0.0) for s in names]))
    mean["wind_stress_n_per_m2"] = list(
        np.mean([p["season"][s]["wind_stress_n_per_m2"] for s in names], axis=0)
    )
    mean_u = np.mean([seasons[s].flow.transport_u[0] for s in names], axis=0)
    u = solve_season(gulf, season="annual", params=p).flow.transport_u[0]
    # 1e-9 relative: sparse direct solves of one operator, each to ~1e-12 relative
    assert np.abs(u - mean_u).max() < 1e-9 * np.abs(mean_u).max()


def test_seasonal_flow_is_periodic_at_mid_season(gulf, params, seasons):
    flow = seasonal_flow(gulf, params=params)
    assert flow.periodic and flow.period == pytest.approx(365 * DAY)
    np.testing.assert_allclose(flow.times / DAY, [15, 105, 196, 288])
    u, _ = flow.at(15 * DAY)
    np.testing.assert_array_equal(u, seasons["winter"].flow.transport_u[0])
    # mid-way between autumn (day 288) and the next winter (day 380) the flow is their mean
    u_mid, _ = flow.at(334 * DAY)
    expected = 0.5 * (seasons["autumn"].flow.transport_u[0] + seasons["winter"].flow.transport_u[0])
    np.testing.assert_allclose(u_mid, expected, rtol=1e-12, atol=1e-6)


def test_residual_flow_unknown_season_lists_the_valid_ones(gulf, params):
    with pytest.raises(CirculationError, match="unknown season 'monsoon'.*winter"):
        residual_flow(gulf, season="monsoon", params=params)


# ----------------------------------------------------------------------------- SCS exchange
def _mouth_faces(gulf, solution, params):
    """Northward transport [m³/s] through each face of the gulf-mouth corner path, west to east."""
    from bbw_bay.core.barotropic import corner_path

    jj, ii = corner_path(gulf, params["mouth_exchange"]["line"])
    tu, tv = solution.flow.at(0.0)
    out = []
    for k in range(jj.size - 1):
        ja, ia, jb, ib = jj[k], ii[k], jj[k + 1], ii[k + 1]
        if ja == jb:  # an x step crosses the v-face (ja, min i): northward positive
            out.append(tv[ja, min(ia, ib)])
        else:  # a y step crosses the u-face (min j, ia); the line runs NE, so eastward flow
            out.append(-tu[min(ja, jb), ia])  # leaves the gulf: count it as southward
    return np.array(out)


def test_mouth_exchange_is_cyclonic_in_winter_with_the_configured_transport(gulf, params, seasons):
    # Winter: the SCS exchange enters over the Hainan share of the mouth and leaves over the
    # Vietnam share (cyclonic); the net outflow is the strait throughflow Q (no rivers in this
    # solve), spread uniformly over the section. Exact by construction of the ψ profile, so
    # round-off of sums of ~1e6 m³/s.
    north = _mouth_faces(gulf, seasons["winter"], params)
    table = params["season"]["winter"]
    exchange = table["mouth_exchange_sv_cyclonic"] * SVERDRUP
    through = table["strait_transport_sv_westward"] * SVERDRUP
    east = params["mouth_exchange"]["east_fraction"]
    assert north.sum() == pytest.approx(-through, abs=1e-6 * SVERDRUP)
    cum = np.cumsum(north)
    # the cumulative transport is extreme where the inflow share begins: −(E + (1 − east) Q),
    # up to one face's transport (that point of the cross-section falls inside a face)
    assert abs(cum.min() + exchange + (1 - east) * through) <= np.abs(north).max()
    summer = _mouth_faces(gulf, seasons["summer"], params)
    # summer reverses (anticyclonic): the Vietnam share carries inflow
    assert np.cumsum(summer).max() > 0.5 * SVERDRUP


def test_winter_vietnam_coastal_current_is_about_0_4_m_per_s(gulf, params, seasons):
    # Published winter downcoast current ≈ 0.4 m/s along Vietnam [S30]; the coastal-current
    # stress was calibrated to it, so the band's 90th-percentile speed must be 0.3-0.5 m/s
    # (± 25 %: the published figure is one rounded number).
    from bbw_bay.gulf.circulation import coastal_band

    spec = params["coastal_current"]
    band = coastal_band(
        gulf, lon_range=spec["lon_range"], lat_range=spec["lat_range"], width_km=spec["width_km"]
    )
    u, v = centre_velocities(seasons["winter"].flow)
    assert 0.3 < np.percentile(np.hypot(u, v)[band], 90) < 0.5
    assert np.median(v[band]) < 0  # downcoast = southward


@pytest.mark.parametrize("season", ["winter", "spring", "summer", "autumn", "annual"])
def test_flushing_of_the_gulf_proper_matches_published_residence_times(gulf, seasons, season):
    # Validation: e-folding time of a conservative tracer filling the gulf proper, with the
    # tidal dispersion of the default config, for each season's steady flow. Published
    # whole-gulf residence times: 66 d winter and 71 d summer (particle tracking [S32]), 77.9 d
    # (MIKE3 [S49]); the band is 60-80 d. Implicit Euler with dt = 1 d adds < 1 %
    # (dt/2T) to a ~70 d e-folding time.
    from bbw_bay.core.model import Model, Tracer
    from bbw_bay.gulf.geodata import gulf_proper_mask
    from bbw_bay.gulf.tides import tidal_dispersion

    model = Model(
        gulf,
        seasons[season].flow,
        tracers={"T": Tracer(decay_per_day=0.0)},
        diffusivity=tidal_dispersion(gulf),
        advection="upwind",
    )
    days = model.efolding_time(gulf_proper_mask(gulf), max_days=200)
    assert 60.0 <= days <= 80.0


def test_efolding_time_of_a_well_mixed_box_is_volume_over_outflow():
    # A closed channel of uniform depth with a through-flow Q entering with zero concentration:
    # with strong mixing (large diffusivity), the whole channel behaves as one well-mixed box,
    # c = exp(−Q t / V), so T = V / Q. Mixing is finite, so allow 5 %; dt = T/100 adds 0.5 %.
    from bbw_bay.core.flow import Flow
    from bbw_bay.core.model import Model, Tracer

    nx, ny, dx, depth, u = 20, 4, 1000.0, 10.0, 0.01
    grid = Grid.cartesian(nx, ny, dx=dx, dy=dx, depth=depth, open_boundaries=("west", "east"))
    flow = Flow.steady(grid, u=u, v=0.0)
    model = Model(
        grid, flow, tracers={"T": Tracer(decay_per_day=0.0)}, diffusivity=2e4, advection="upwind"
    )
    volume = nx * ny * dx * dx * depth
    outflow = u * depth * ny * dx
    expected_days = volume / outflow / DAY
    days = model.efolding_time(np.ones(grid.shape, bool), dt_days=expected_days / 100)
    assert days == pytest.approx(expected_days, rel=0.05)


def test_mouth_exchange_fractions_concentrate_the_exchange_at_the_coasts(gulf, params, seasons):
    # The shipped shares are quarters: the exchange E enters over the last quarter of the mouth
    # cross-section (Hainan end) and leaves over the first quarter (Vietnam end); the middle
    # half carries only the net strait outflow spread uniformly. With 0.5/0.5 (the tent) each
    # half carries it. ψ is prescribed on the section, so the transports are exact up to one
    # face straddling each share boundary.
    assert params["mouth_exchange"]["west_fraction"] == 0.25
    assert params["mouth_exchange"]["east_fraction"] == 0.25
    table = params["season"]["winter"]
    exchange = table["mouth_exchange_sv_cyclonic"] * SVERDRUP
    through = table["strait_transport_sv_westward"] * SVERDRUP
    cum = np.cumsum(_mouth_faces(gulf, seasons["winter"], params))
    p = copy.deepcopy(params)
    p["mouth_exchange"].update(west_fraction=0.5, east_fraction=0.5)
    tent_faces = _mouth_faces(gulf, solve_season(gulf, season="winter", params=p), p)
    assert tent_faces.sum() == pytest.approx(-through, abs=1e-6 * SVERDRUP)
    tent = np.cumsum(tent_faces)
    # the tent's cumulative transport is most negative half-way across: −(E + Q/2)
    assert abs(tent.min() + exchange + 0.5 * through) <= np.abs(tent_faces).max()
    # with quarters the outflow is complete a quarter of the way across, before the tent's
    first = np.argmax(cum < -0.9 * exchange)
    assert first < np.argmax(tent < -0.9 * exchange)
    assert first < np.argmin(tent)


def test_rim_direction_keeps_the_coast_on_the_right():
    # A square basin with land round it: a buoyant coastal current (coast on its right) runs
    # southward along the west coast, westward along the north coast, northward along the east
    # coast and eastward along the south coast (cyclonic), with unit length on the band only.
    from bbw_bay.gulf.circulation import rim_direction

    n = 40
    wet = np.zeros((n, n), bool)
    wet[4:-4, 4:-4] = True
    grid = _basin(n=n, wet=wet)  # 15 km cells
    along_x, along_y = rim_direction(
        grid, lon_range=(-1e9, 1e9), lat_range=(-1e9, 1e9), width_km=45.0
    )
    mid = n // 2
    np.testing.assert_allclose((along_x[mid, 5], along_y[mid, 5]), (0.0, -1.0), atol=1e-9)
    np.testing.assert_allclose((along_x[-6, mid], along_y[-6, mid]), (-1.0, 0.0), atol=1e-9)
    np.testing.assert_allclose((along_x[mid, -6], along_y[mid, -6]), (0.0, 1.0), atol=1e-9)
    np.testing.assert_allclose((along_x[5, mid], along_y[5, mid]), (1.0, 0.0), atol=1e-9)
    length = np.hypot(along_x, along_y)
    on = length > 0
    np.testing.assert_allclose(length[on], 1.0, rtol=1e-12)
    assert not on[~wet].any() and not on[mid, mid]  # off the band: land and the basin centre


def test_rim_current_sets_the_sense_of_the_spring_and_summer_northern_gyre(seasons):
    # The rim stress stands in for the spring cyclonic gyre of the northern gulf [S31] and its
    # summer reversal: the spring box circulation is cyclonic, summer's anticyclonic.
    gamma_spring, area = box_circulation(seasons["spring"].flow, **GYRE)
    gamma_summer, _ = box_circulation(seasons["summer"].flow, **GYRE)
    assert gamma_spring / area > 1e-8 and gamma_summer / area < -1e-8


def test_mouth_exchange_fractions_must_fit_the_section(gulf, params):
    from bbw_bay.gulf.circulation import CirculationError, solve_season

    p = copy.deepcopy(params)
    p["mouth_exchange"].update(west_fraction=0.7, east_fraction=0.5)
    with pytest.raises(CirculationError, match="sum to at most 1"):
        solve_season(gulf, season="winter", params=p)


def test_an_exchange_term_without_its_geometry_table_is_a_clear_error(gulf, params):
    from bbw_bay.gulf.circulation import CirculationError, solve_season

    p = copy.deepcopy(params)
    del p["rim_current"]
    with pytest.raises(
        CirculationError,
        match=r"\[season.spring\].*rim_current_stress.*"
        r"\[rim_current\] table",
    ):
        solve_season(gulf, season="spring", params=p)
