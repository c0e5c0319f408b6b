"""User currents from regular-grid datasets: units, depth averaging, projection, clear errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from bbw_bay.core.currents import CurrentsError
from bbw_bay.core.flow import Flow, face_velocities
from bbw_bay.core.grid import Grid

# Round-off scale of a transport sum: ~1e-16 relative × transports of ~1e5-1e6 m³/s × a few terms.
ROUND_OFF = 1e-9


def _cartesian(wet=None) -> Grid:
    return Grid.cartesian(
        20,
        16,
        dx=1000.0,
        dy=1000.0,
        depth=12.0,
        wet=wet,
        open_boundaries=("west", "east", "south", "north"),
    )


def _source_xy(u, v, *, units="m/s", x=None, y=None, extra=None) -> xr.Dataset:
    x = np.arange(-2000.0, 23000.0, 500.0) if x is None else x
    y = np.arange(-2000.0, 19000.0, 500.0) if y is None else y
    shape = (y.size, x.size)
    ds = xr.Dataset(
        {
            "u": (("y", "x"), np.broadcast_to(u, shape).astype(float), {"units": units}),
            "v": (("y", "x"), np.broadcast_to(v, shape).astype(float), {"units": units}),
        },
        coords={"x": x, "y": y},
    )
    return ds if extra is None else ds.assign(extra)


def test_uniform_current_is_reproduced_on_faces(tmp_path):
    # A uniform current over a flat, fully open basin is divergence-free already, so the
    # projection must leave it unchanged: face velocity = source velocity.
    path = tmp_path / "uniform.nc"
    _source_xy(0.12, -0.05).to_netcdf(path)
    grid = _cartesian()
    flow = Flow.from_dataset(grid, path)
    u, v = face_velocities(flow)
    # 1e-12 m/s: the projection solves for a round-off divergence only
    np.testing.assert_allclose(u[grid.flux_u], 0.12, atol=1e-12)
    np.testing.assert_allclose(v[grid.flux_v], -0.05, atol=1e-12)
    assert flow.is_steady


def test_geographic_cm_per_s_zonal_current_and_names_uo_vo(tmp_path):
    # On the sphere a uniform zonal current has x-faces of equal length R·Δφ, so it is
    # divergence-free and must come back unchanged; cm/s must be converted to m/s.
    grid = Grid.geographic_grid(
        np.linspace(108.0, 109.0, 21),
        np.linspace(20.0, 21.0, 21),
        depth=20.0,
        open_boundaries=("west", "east", "south", "north"),
    )
    lon = np.arange(107.5, 109.6, 0.1)
    lat = np.arange(19.5, 21.6, 0.1)
    ds = xr.Dataset(
        {
            "uo": (
                ("latitude", "longitude"),
                np.full((lat.size, lon.size), 15.0),
                {"units": "cm s-1"},
            ),
            "vo": (("latitude", "longitude"), np.zeros((lat.size, lon.size)), {"units": "cm/s"}),
        },
        coords={"longitude": lon, "latitude": lat},
    )
    u, v = face_velocities(Flow.from_dataset(grid, ds))
    np.testing.assert_allclose(u[grid.flux_u], 0.15, rtol=1e-12)  # exact up to round-off
    np.testing.assert_allclose(v[grid.flux_v], 0.0, atol=1e-12)


def test_3d_field_is_averaged_over_the_valid_water_column(tmp_path):
    # Levels 1, 3, 7, 15, 25 m have layers 0-2, 2-5, 5-11, 11-20, 20-30 m. Where the seabed
    # cuts the column after 7 m (NaN below), the mean is (2·u1 + 3·u3 + 6·u7) / 11.
    z = np.array([1.0, 3.0, 7.0, 15.0, 25.0])
    prof = np.array([0.30, 0.20, 0.10, 0.05, 0.02])
    x = np.arange(-2000.0, 23000.0, 500.0)
    y = np.arange(-2000.0, 19000.0, 500.0)
    u = np.broadcast_to(prof[:, None, None], (z.size, y.size, x.size)).copy()
    shallow = y < 8000.0  # rows south of 8 km: seabed at ~10 m
    u[3:, shallow, :] = np.nan
    ds = xr.Dataset(
        {
            "u": (("depth", "y", "x"), u, {"units": "m s-1"}),
            "v": (("depth", "y", "x"), np.where(np.isnan(u), np.nan, 0.0), {"units": "m s-1"}),
        },
        coords={"depth": z, "x": x, "y": y},
    )
    path = tmp_path / "three_d.nc"
    ds.to_netcdf(path)
    grid = _cartesian()
    vel_u, _ = face_velocities(Flow.from_dataset(grid, path))
    full = (2 * 0.30 + 3 * 0.20 + 6 * 0.10 + 9 * 0.05 + 10 * 0.02) / 30.0
    cut = (2 * 0.30 + 3 * 0.20 + 6 * 0.10) / 11.0
    # a zonal flow that varies only with y is divergence-free on a flat grid, so the face
    # velocity is the interpolated depth mean; 1e-12: round-off
    rows_cut = grid.y_centre < 7500.0  # centres whose bilinear stencil lies in shallow rows
    rows_full = grid.y_centre > 8500.0
    np.testing.assert_allclose(vel_u[rows_cut][grid.flux_u[rows_cut]], cut, atol=1e-12)
    np.testing.assert_allclose(vel_u[rows_full][grid.flux_u[rows_full]], full, atol=1e-12)


def test_projected_flow_is_divergence_free_except_the_river(tmp_path):
    # Flow round an island (a rotational source field) is not divergence-free on the masked
    # grid; after the Poisson projection each cell's net outflow is its river discharge only.
    wet = np.ones((16, 20), dtype=bool)
    wet[6:10, 8:12] = False  # island
    grid = _cartesian(wet)
    xx, yy = np.meshgrid(np.arange(-2000.0, 23000.0, 500.0), np.arange(-2000.0, 19000.0, 500.0))
    ds = _source_xy(0.1 + 0.02 * np.sin(yy / 3000.0), 0.03 * np.cos(xx / 4000.0))
    q = np.zeros(grid.shape)
    q[3, 4] = 250.0
    flow = Flow.from_dataset(grid, ds, river_discharge=q)
    div = flow.divergence()
    scale = np.abs(flow.transport_u).max()
    assert abs(div[3, 4] - 250.0) < ROUND_OFF * scale
    rest = np.ones(grid.shape, dtype=bool)
    rest[3, 4] = False
    assert np.abs(div[rest]).max() < ROUND_OFF * scale
    assert np.all(flow.transport_u[0][~grid.flux_u] == 0)  # no flux through the island coast


def test_time_series_becomes_flow_series_in_seconds(tmp_path):
    # Three daily fields -> a Flow.series at 0, 1 and 2 days, interpolating linearly between.
    times = pd.date_range("2020-01-01", periods=3, freq="D")
    base = _source_xy(0.1, 0.0)
    ds = xr.Dataset(
        {
            k: (
                ("time", "y", "x"),
                np.stack([base[k].values * (n + 1) for n in range(3)]),
                base[k].attrs,
            )
            for k in ("u", "v")
        },
        coords={"time": times, "x": base.x, "y": base.y},
    )
    path = tmp_path / "series.nc"
    ds.to_netcdf(path)
    grid = _cartesian()
    flow = Flow.from_dataset(grid, path)
    np.testing.assert_allclose(flow.times, [0.0, 86400.0, 172800.0])
    u, _ = face_velocities(flow, time=43200.0)  # half-way between 0.1 and 0.2 m/s
    np.testing.assert_allclose(u[grid.flux_u], 0.15, atol=1e-12)


def test_missing_variable_names_file_and_expected_names(tmp_path):
    path = tmp_path / "nouv.nc"
    _source_xy(0.1, 0.0).rename({"u": "speed_east"}).to_netcdf(path)
    with pytest.raises(CurrentsError, match=r"nouv\.nc.*eastward velocity.*'uo'"):
        Flow.from_dataset(_cartesian(), path)
    with pytest.raises(CurrentsError, match=r"nouv\.nc.*'ucur'"):
        Flow.from_dataset(_cartesian(), path, u_name="ucur")


def test_non_velocity_units_are_rejected(tmp_path):
    path = tmp_path / "temp.nc"
    _source_xy(0.1, 0.0, units="degC").to_netcdf(path)
    with pytest.raises(CurrentsError, match=r"temp\.nc.*'u'.*'degC'.*m/s"):
        Flow.from_dataset(_cartesian(), path)


def test_nan_inside_the_wet_domain_is_an_error(tmp_path):
    ds = _source_xy(0.1, 0.0)
    ds["u"].values[10:20, 10:20] = np.nan  # a 5 km hole of "land" in the source
    path = tmp_path / "holes.nc"
    ds.to_netcdf(path)
    with pytest.raises(CurrentsError, match=r"holes\.nc.*'u'.*NaN after interpolation"):
        Flow.from_dataset(_cartesian(), path)
    # the documented remedy fills the hole from the nearest valid source values
    flow = Flow.from_dataset(_cartesian(), path, fill_nearest=True)
    assert np.all(np.isfinite(flow.transport_u))


def test_source_not_covering_the_domain_is_an_error(tmp_path):
    path = tmp_path / "small.nc"
    _source_xy(0.1, 0.0, x=np.arange(0.0, 10000.0, 500.0)).to_netcdf(path)
    with pytest.raises(CurrentsError, match=r"small\.nc.*'u' covers x 0–9500.*need x 0–20000"):
        Flow.from_dataset(_cartesian(), path)
