"""Time series at stations: nearest wet cell, station strings, time axes."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402

from bbw_bay import plots  # noqa: E402
from bbw_bay.plots.common import time_days  # noqa: E402
from tests.plots.conftest import DAY, cartesian_grid, make_dataset  # noqa: E402


def test_timeseries_draws_the_nearest_wet_cell_in_days(ds):
    geographic = "lon" in ds.dims
    ydim, xdim = ("lat", "lon") if geographic else ("y", "x")
    x, y = ds[xdim].values, ds[ydim].values
    # station A at a cell centre; station B inside the land block/strip snaps to a wet cell
    stations = {
        "A": (float(x[3]), float(y[2])),
        "B": (float(x[14]), float(y[10])) if not geographic else (108.95, 21.45),
    }
    ax = plots.timeseries(ds, "DIN", stations)
    lines = [ln for ln in ax.get_lines() if ln.get_label().startswith(("A", "B"))]
    assert len(lines) == 2
    np.testing.assert_allclose(lines[0].get_xdata(), np.arange(6.0))  # records are daily
    np.testing.assert_allclose(lines[0].get_ydata(), ds["DIN"].values[:, 2, 3])
    assert np.all(np.isfinite(lines[1].get_ydata()))  # moved off land
    assert ax.get_xlabel() == "Time [days]" and "mg/L" in ax.get_ylabel()


def test_timeseries_accepts_command_line_station_strings():
    ds = make_dataset(cartesian_grid())
    ax = plots.timeseries(ds, "DIN", ["mouth=500,500", "bay=25500,15500"])
    assert {ln.get_label().split(" ")[0] for ln in ax.get_lines()} >= {"mouth", "bay"}
    with pytest.raises(ValueError, match="NAME=X,Y"):
        plots.timeseries(ds, "DIN", ["mouth"])


def test_time_axis_in_days_when_xarray_decoded_the_times(tmp_path):
    ds = make_dataset(cartesian_grid())
    path = tmp_path / "run.nc"
    ds.to_netcdf(path)
    with xr.open_dataset(path) as decoded:  # "seconds since 2000-01-01" -> datetime64
        np.testing.assert_allclose(time_days(decoded.load()), np.arange(6.0))


def test_timeseries_needs_a_time_dimension():
    ds = make_dataset(cartesian_grid()).isel(time=-1)
    with pytest.raises(ValueError, match="no time dimension"):
        plots.timeseries(ds, "DIN", {"a": (500.0, 500.0)})


def test_a_year_long_run_has_a_time_axis_in_months():
    grid = cartesian_grid()
    nt = 13  # monthly records of a 365-day run, from 1 January
    ds = make_dataset(grid, nt=nt).assign_coords(time=np.linspace(0.0, 365.0, nt) * DAY)
    ds["time"].attrs["units"] = "seconds since 2000-01-01 00:00:00"
    ax = plots.timeseries(ds, "DIN", {"a": (500.0, 500.0)})
    ax.figure.canvas.draw()
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels[:4] == ["Jan", "Feb", "Mar", "Apr"] and ax.get_xlabel() == "Month"
    # ticks on the first of each month of 2000 (a leap year: 1 March is day 60)
    np.testing.assert_allclose(ax.get_xticks()[:4], [0.0, 31.0, 60.0, 91.0])
    assert len(labels) == 12  # Jan..Dec; 1 January of the next year is day 366 > 365


def test_month_ticks_name_the_years_after_the_first():
    positions, labels = plots.common.month_ticks(
        np.array([0.0, 800.0]), np.datetime64("2000-01-01")
    )
    assert labels[12] == "Jan\nyear 2" and labels[24] == "Jan\nyear 3"
    assert positions[12] == 366.0  # 2000 has 366 days
