"""Pictures: each plot function returns its Axes and draws what it says, on lon/lat and cartesian
datasets; `plot_file` writes images and names valid choices when given a bad one.

The datasets follow the output contract (tracers in mg/L with NaN on land, depth, cell_area, wet)
and are built with `bbw_bay.core.output.concentration_dataset` from analytic fields, so each test
knows the exact values it should see drawn.
"""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.colors import LogNorm, to_hex  # noqa: E402
from matplotlib.quiver import Quiver  # noqa: E402

import bbw_bay as bb  # noqa: E402
from bbw_bay import plots  # noqa: E402
from bbw_bay.core.flow import centre_velocities  # noqa: E402
from bbw_bay.core.output import concentration_dataset  # noqa: E402
from bbw_bay.plots import common  # noqa: E402
from bbw_bay.plots.common import ROBUST_PERCENTILE, nice_ceiling, time_days  # noqa: E402
from bbw_bay.quality.standards import classify  # noqa: E402

DAY = 86400.0


@pytest.fixture(autouse=True)
def _no_show_and_close(monkeypatch):
    """Fail any call of plt.show() (library code must never show) and close figures after."""

    def forbidden(*args, **kwargs):
        raise AssertionError("plots called plt.show()")

    monkeypatch.setattr(plt, "show", forbidden)
    monkeypatch.setattr(matplotlib.figure.Figure, "show", forbidden)
    yield
    plt.close("all")


def _cartesian_grid(open_boundaries=()):
    """20 × 30 cells of 1 km, 10 m deep, with a 5 × 6-cell island (land) near the middle."""
    wet = np.ones((20, 30), dtype=bool)
    wet[8:13, 12:18] = False
    return bb.Grid.cartesian(
        30, 20, dx=1000.0, dy=1000.0, depth=10.0, wet=wet, open_boundaries=open_boundaries
    )


def _geographic_grid(open_boundaries=()):
    """108–109.5°E, 20–21.5°N at 0.1°, with land north of 21.2°N (a coast along the top)."""
    lon_edge = np.linspace(108.0, 109.5, 16)
    lat_edge = np.linspace(20.0, 21.5, 16)
    lat_c = 0.5 * (lat_edge[:-1] + lat_edge[1:])
    wet = np.repeat((lat_c < 21.2)[:, None], 15, axis=1)
    depth = np.where(wet, np.linspace(40.0, 5.0, 15)[:, None], 0.0)
    return bb.Grid.geographic_grid(
        lon_edge, lat_edge, depth=depth, wet=wet, open_boundaries=open_boundaries
    )


def _dataset(grid, *, nt=6):
    """DIN rising along x from 0.05 to 0.6 mg/L (every GB 3097 class), PO4 low; nt records."""
    ny, nx = grid.shape
    ramp = np.linspace(0.05, 0.6, nx)[None, :] * np.ones((ny, 1))
    fields = np.stack([np.stack([ramp * (1 + 0.1 * t), 0.01 + 0 * ramp]) for t in range(nt)])
    return concentration_dataset(grid, ("DIN", "PO4"), fields, times=np.arange(nt) * DAY)


@pytest.fixture(params=["cartesian", "geographic"])
def ds(request):
    grid = _cartesian_grid() if request.param == "cartesian" else _geographic_grid()
    return _dataset(grid)


# ----------------------------------------------------------------------------- maps
def test_concentration_map_colour_bar_in_mg_per_l_and_land_masked(ds):
    ax = plots.concentration_map(ds, "DIN")
    assert isinstance(ax, Axes)
    cbar = ax.collections[0].colorbar
    assert "mg" in cbar.ax.get_ylabel()
    data = ax.collections[0].get_array()
    wet = ds["wet"].values.astype(bool)
    assert np.all(np.ma.getmaskarray(data).reshape(wet.shape) == ~wet)  # NaN land not coloured
    # the last record is drawn: its wet values match the dataset exactly
    np.testing.assert_array_equal(
        np.ma.getdata(data).reshape(wet.shape)[wet], ds["DIN"].isel(time=-1).values[wet]
    )


def test_concentration_map_default_scale_is_robust_and_not_saturated(ds):
    ax = plots.concentration_map(ds, "DIN")
    vmax = ax.collections[0].norm.vmax
    values = ds["DIN"].isel(time=-1).values
    values = values[np.isfinite(values)]
    # vmax is the 99.5th percentile rounded up to a nice number, so at most 0.5 % of the wet
    # cells (by count) lie above it, and the rounding adds at most 25 % (steps 1→1.2→1.5→2→2.5)
    assert np.mean(values > vmax) <= 0.005
    assert (
        np.percentile(values, ROBUST_PERCENTILE)
        <= vmax
        <= 1.25 * np.percentile(values, ROBUST_PERCENTILE)
    )


def test_concentration_map_log_scale_and_explicit_vmax(ds):
    ax = plots.concentration_map(ds, "DIN", log=True, vmax=1.0, time=0)
    norm = ax.collections[0].norm
    assert isinstance(norm, LogNorm)
    assert norm.vmax == 1.0


def test_geographic_map_has_degree_labels_and_cos_lat_aspect():
    ds = _dataset(_geographic_grid())
    ax = plots.concentration_map(ds, "DIN")
    ax.figure.canvas.draw()
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert labels and all(t.endswith("°E") for t in labels)
    # a degree of latitude is 1/cos(mean latitude) times as tall as a degree of longitude
    assert ax.get_aspect() == pytest.approx(1 / np.cos(np.deg2rad(ds["lat"].values.mean())))


def test_cartesian_map_is_in_kilometres():
    ds = _dataset(_cartesian_grid())
    ax = plots.concentration_map(ds, "DIN")
    assert ax.get_xlabel() == "x [km]"
    assert ax.get_xlim() == pytest.approx((0.0, 30.0))  # 30 cells of 1 km, edges at 0 and 30


def test_extent_zooms_and_rescales():
    ds = _dataset(_cartesian_grid())
    ax = plots.concentration_map(ds, "DIN", extent=(0.0, 10_000.0, 0.0, 20_000.0))
    assert ax.get_xlim() == pytest.approx((0.0, 10.0))  # ten 1-km columns kept
    # the scale follows the cells shown: the low-x third of the ramp (≤ 0.33 mg/L in the last
    # record) gets 0.4 mg/L, the whole domain (≤ 0.9 mg/L) 1.0 mg/L
    shown = ds["DIN"].isel(time=-1, x=slice(0, 10)).values
    expected = nice_ceiling(np.nanpercentile(shown, ROBUST_PERCENTILE))
    assert ax.collections[0].norm.vmax == pytest.approx(expected) == 0.4
    assert plots.concentration_map(ds, "DIN").collections[0].norm.vmax == pytest.approx(1.0)
    with pytest.raises(ValueError, match="holds no cell"):
        plots.concentration_map(ds, "DIN", extent=(1e6, 2e6, 0.0, 1.0))


def test_class_map_legend_has_five_fixed_colours_even_when_classes_are_absent(ds):
    clean = ds.copy()
    clean["DIN"] = ds["DIN"] * 0 + 0.1  # all Class I: the other four are absent
    ax = plots.class_map(clean, tracer="DIN")
    legend = ax.get_legend()
    patches = legend.get_patches()[:5]
    expected = ["#1f78b4", "#33a02c", "#ffd92f", "#ff7f00", "#e31a1c"]  # blue … red
    assert [to_hex(p.get_facecolor()) for p in patches] == expected
    texts = [t.get_text() for t in legend.get_texts()]
    assert [t.split("  ")[0].split(" 第")[0].split(" 劣")[0] for t in texts[:5]] == [
        "Class I",
        "Class II",
        "Class III",
        "Class IV",
        "Worse than IV",
    ]
    assert texts[0].endswith("100 %") and texts[1].endswith(" 0 %")


def test_class_map_colours_each_cell_by_its_gb3097_class(ds):
    ax = plots.class_map(ds, tracer="DIN", time=2)
    drawn = ax.collections[0].get_array()
    wet = ds["wet"].values.astype(bool)
    expected = classify(ds["DIN"].isel(time=2).values, "DIN")
    np.testing.assert_array_equal(np.ma.getdata(drawn).reshape(wet.shape)[wet], expected[wet])
    assert set(np.unique(expected[wet])) == {1, 2, 3, 4, 5}  # the ramp spans every class


def test_class_map_worst_factor_and_time_mean(ds):
    ax = plots.class_map(ds, time="mean")
    assert "worst factor" in ax.get_title() and "mean" in ax.get_title()


def test_class_legend_english_only_without_cjk_font(ds, monkeypatch):
    monkeypatch.setattr(common, "cjk_font", lambda: None)
    ax = plots.class_map(ds)
    texts = "".join(t.get_text() for t in ax.get_legend().get_texts())
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in texts)  # no tofu boxes


def test_class_legend_adds_chinese_with_a_cjk_font(ds, monkeypatch):
    monkeypatch.setattr(common, "cjk_font", lambda: "DejaVu Sans")  # pretend one is installed
    assert plots.class_labels()[5] == "Worse than IV 劣四类"


def test_class_map_rejects_tracer_without_standard(ds):
    ds = ds.assign(age=ds["DIN"] * 10)
    with pytest.raises(ValueError, match="no GB 3097 standard"):
        plots.class_map(ds, tracer="age")


def test_flow_map_arrows_point_east_for_uniform_eastward_flow():
    grid = _cartesian_grid(open_boundaries=("west", "east"))
    flow = bb.Flow.steady(grid, u=0.2)
    ax = plots.flow_map(flow, kind="arrows")
    quivers = [c for c in ax.collections if isinstance(c, Quiver)]
    assert quivers
    u = np.concatenate([q.U for q in quivers])
    v = np.concatenate([q.V for q in quivers])
    # every arrow drawn is the centre velocity of a uniform 0.2 m/s current: rows fully open
    # to both sides carry exactly 0.2 m/s; next to the island u = (0 + 0.2)/2 on one face side
    assert np.all(u > 0) and np.allclose(v, 0.0, atol=1e-12)
    assert np.max(u) == pytest.approx(0.2, rel=1e-12)


def test_flow_centre_velocity_is_mean_transport_over_depth_and_width():
    grid = _geographic_grid(open_boundaries=("west", "east"))
    flow = bb.Flow.steady(grid, u=0.3, v=0.0)
    u, v = centre_velocities(flow, 0.0)
    wet = grid.wet
    # uniform face velocity 0.3 m/s on faces between cells of different depth: the transport
    # mean over the centre depth is 0.3 × mean(h_w, h_e)/h = 0.3 for a row of equal depth
    assert np.allclose(u[wet], 0.3, rtol=1e-12)
    assert np.all(np.isnan(u[~wet])) and np.allclose(v[wet], 0.0)


def test_flow_map_streamlines_with_depth_colour_bar():
    grid = _geographic_grid(open_boundaries=("west", "east"))
    ax = plots.flow_map(bb.Flow.steady(grid, u=0.1), kind="streamlines")
    labels = [c.colorbar.ax.get_ylabel() for c in ax.collections if c.colorbar is not None]
    assert "Depth [m]" in labels
    assert any(
        type(c).__name__ == "LineCollection" and len(c.get_segments()) > 10 for c in ax.collections
    )


def test_flow_map_from_dataset_and_bad_kind():
    grid = _cartesian_grid()
    ds = _dataset(grid)
    with pytest.raises(ValueError, match="no u and v"):
        plots.flow_map(ds)
    ds["u"] = ds["depth"] * 0 - 0.05  # westward everywhere
    ds["v"] = ds["depth"] * 0
    ax = plots.flow_map(ds, kind="arrows")
    assert all(np.all(q.U < 0) for q in ax.collections if isinstance(q, Quiver))
    with pytest.raises(ValueError, match="streamlines, arrows"):
        plots.flow_map(ds, kind="vectors")


# ----------------------------------------------------------------------------- time series
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
    ds = _dataset(_cartesian_grid())
    ax = plots.timeseries(ds, "DIN", ["mouth=500,500", "bay=25500,15500"])
    assert {ln.get_label().split(" ")[0] for ln in ax.get_lines()} >= {"mouth", "bay"}
    with pytest.raises(ValueError, match="NAME=X,Y"):
        plots.timeseries(ds, "DIN", ["mouth"])


def test_time_axis_in_days_when_xarray_decoded_the_times(tmp_path):
    ds = _dataset(_cartesian_grid())
    path = tmp_path / "run.nc"
    ds.to_netcdf(path)
    with xr.open_dataset(path) as decoded:  # "seconds since 2000-01-01" -> datetime64
        np.testing.assert_allclose(time_days(decoded.load()), np.arange(6.0))


def test_timeseries_needs_a_time_dimension():
    ds = _dataset(_cartesian_grid()).isel(time=-1)
    with pytest.raises(ValueError, match="no time dimension"):
        plots.timeseries(ds, "DIN", {"a": (500.0, 500.0)})


# ----------------------------------------------------------------------------- bar charts
def _bar_heights(ax):
    return np.array([p.get_height() for p in ax.patches])


def test_scenario_bars_from_dict_and_dataarray_agree():
    table = {"baseline": {"bay": 0.5, "coast": 0.8}, "cut 30 %": {"bay": 0.7, "coast": 0.9}}
    ax = plots.scenario_bars(table, metric="good_share")
    # shares are drawn in per cent, one bar per scenario and zone, scenario by scenario
    np.testing.assert_allclose(_bar_heights(ax), [50.0, 80.0, 70.0, 90.0])
    assert "%" in ax.get_ylabel()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["baseline", "cut 30 %"]
    da = xr.DataArray(
        [[0.5, 0.8], [0.7, 0.9]],
        dims=("scenario", "zone"),
        coords={"scenario": ["baseline", "cut 30 %"], "zone": ["bay", "coast"]},
    )
    ax2 = plots.scenario_bars(da, metric="good_share")
    np.testing.assert_allclose(_bar_heights(ax2), _bar_heights(ax))


def test_scenario_bars_rejects_extra_dimensions():
    da = xr.DataArray(np.zeros((2, 2, 2)), dims=("scenario", "zone", "tracer"))
    with pytest.raises(ValueError, match="select the others"):
        plots.scenario_bars(da)


def test_apportionment_bars_normalise_each_zone_to_100_percent():
    contributions = {
        "bay": {"river A": 0.3, "outfall": 0.1, "river B": 0.0},
        "coast": {"river A": 0.05, "outfall": 0.05, "river B": 0.1},
    }
    ax = plots.apportionment_bars(contributions)
    widths = {}
    for p in ax.patches:
        widths.setdefault(round(p.get_y() + p.get_height() / 2, 6), []).append(p.get_width())
    for total in (sum(w) for w in widths.values()):
        assert total == pytest.approx(100.0)  # shares of a zone add up to 100 %
    ax = plots.apportionment_bars(contributions, top=1)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["river A", "other sources (2)"]


def test_capacity_bars_annotate_the_required_cut():
    ax = plots.capacity_bars({"Nanliu": 100.0, "Qin": 50.0}, {"Nanliu": 60.0, "Qin": 80.0})
    texts = [t.get_text() for t in ax.texts]
    assert "cut 40 % (40 t/yr)" in texts  # (100 − 60)/100 of 100 t/yr
    ax = plots.capacity_bars({"Nanliu": 21785.1}, {"Nanliu": 9968.0})
    assert ax.texts[0].get_text() == "cut 54 % (11,800 t/yr)"  # 3 significant figures
    assert "OK" in texts
    assert ax.get_xlabel() == "Load [t/yr]"
    with pytest.raises(ValueError, match="unmatched: Qin"):
        plots.capacity_bars({"Nanliu": 1.0, "Qin": 1.0}, {"Nanliu": 1.0})


# ----------------------------------------------------------------------------- files
def test_save_figure_is_atomic_png_at_150_dpi(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    path = plots.save_figure(fig, tmp_path / "fig.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    k = data.index(b"pHYs")  # pixels per metre: 150 dpi = 5905.5 /m, stored rounded
    assert int.from_bytes(data[k + 4 : k + 8], "big") == round(150 / 0.0254)
    assert [p.name for p in tmp_path.iterdir()] == ["fig.png"]  # no temporary file left
    umask = os.umask(0o022)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600


def test_plot_file_writes_each_kind(tmp_path):
    grid = _geographic_grid()
    ds = _dataset(grid)
    ds["u"] = ds["depth"] * 0 + 0.1
    ds["v"] = ds["depth"] * 0
    path = tmp_path / "run.nc"
    ds.to_netcdf(path)
    for kind in ("concentration", "class", "flow", "timeseries"):
        out = plots.plot_file(path, kind, tracer="DIN", output=tmp_path / f"{kind}.png")
        assert out.read_bytes()[:4] == b"\x89PNG"
    default = plots.plot_file(path, "concentration")
    assert default == tmp_path / "run_concentration.png" and default.exists()


def test_plot_file_scenarios_from_a_scenario_table(tmp_path):
    table = xr.Dataset(
        {"overall_good_share": (("scenario", "zone"), [[0.4, 0.9], [0.6, 1.0]])},
        coords={"scenario": ["base", "cut"], "zone": ["a", "b"]},
    )
    path = tmp_path / "scen.nc"
    table.to_netcdf(path)
    out = plots.plot_file(path, "scenarios", output=tmp_path / "s.png")
    assert out.exists()


def test_plot_file_errors_name_the_valid_choices(tmp_path):
    ds = _dataset(_cartesian_grid())
    path = tmp_path / "run.nc"
    ds.to_netcdf(path)
    with pytest.raises(
        ValueError, match="valid kinds: concentration, class, flow, timeseries, scenarios"
    ):
        plots.plot_file(path, "contour")
    with pytest.raises(ValueError, match="tracers present: DIN, PO4"):
        plots.plot_file(path, "concentration", tracer="NH4")
    with pytest.raises(ValueError, match="no u and v"):
        plots.plot_file(path, "flow")
    with pytest.raises(ValueError, match="'scenario' dimension"):
        plots.plot_file(path, "scenarios")
    with pytest.raises(FileNotFoundError):
        plots.plot_file(tmp_path / "missing.nc", "class")


def test_plot_file_uses_no_pyplot_figure(tmp_path):
    """The CLI path draws on a bare Figure, so repeated calls leave no open pyplot figures."""
    ds = _dataset(_cartesian_grid())
    path = tmp_path / "run.nc"
    ds.to_netcdf(path)
    plt.close("all")
    plots.plot_file(path, "class", output=tmp_path / "c.png")
    assert plt.get_fignums() == []


def test_plot_time_option_is_checked(tmp_path, capsys):
    # --time takes 'mean' or a record index; anything else is a bad input (exit 2)
    from bbw_bay.cli.main import main

    code = main(
        [
            "plot",
            str(tmp_path / "missing.nc"),
            "--kind",
            "flow",
            "--time",
            "mean",
            "-o",
            str(tmp_path / "f.png"),
        ]
    )
    assert code == 2
    assert "--time applies to --kind concentration or class" in capsys.readouterr().err
