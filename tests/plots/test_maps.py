"""Maps: concentration (colour scales, extent), class and flow maps on lon/lat and cartesian
datasets; each returns its Axes and draws what it says."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.colors import LogNorm, to_hex  # noqa: E402
from matplotlib.quiver import Quiver  # noqa: E402

import bbw_bay as bb  # noqa: E402
from bbw_bay import plots  # noqa: E402
from bbw_bay.core.flow import centre_velocities  # noqa: E402
from bbw_bay.plots import common  # noqa: E402
from bbw_bay.plots.common import ROBUST_PERCENTILE, nice_ceiling  # noqa: E402
from bbw_bay.quality.standards import classify  # noqa: E402
from tests.plots.conftest import cartesian_grid, geographic_grid, make_dataset  # noqa: E402


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


def test_concentration_map_robust_scale_is_not_saturated(ds):
    ax = plots.concentration_map(ds, "DIN", scale="robust")
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
    ds = make_dataset(geographic_grid())
    ax = plots.concentration_map(ds, "DIN")
    ax.figure.canvas.draw()
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert labels and all(t.endswith("°E") for t in labels)
    # a degree of latitude is 1/cos(mean latitude) times as tall as a degree of longitude
    assert ax.get_aspect() == pytest.approx(1 / np.cos(np.deg2rad(ds["lat"].values.mean())))


def test_cartesian_map_is_in_kilometres():
    ds = make_dataset(cartesian_grid())
    ax = plots.concentration_map(ds, "DIN")
    assert ax.get_xlabel() == "x [km]"
    assert ax.get_xlim() == pytest.approx((0.0, 30.0))  # 30 cells of 1 km, edges at 0 and 30


def test_extent_zooms_and_a_robust_scale_follows_the_cells_shown():
    ds = make_dataset(cartesian_grid())
    ax = plots.concentration_map(ds, "DIN", extent=(0.0, 10_000.0, 0.0, 20_000.0), scale="robust")
    assert ax.get_xlim() == pytest.approx((0.0, 10.0))  # ten 1-km columns kept
    # the scale follows the cells shown: the low-x third of the ramp (≤ 0.33 mg/L in the last
    # record) gets 0.4 mg/L, the whole domain (≤ 0.9 mg/L) 1.0 mg/L
    shown = ds["DIN"].isel(time=-1, x=slice(0, 10)).values
    expected = nice_ceiling(np.nanpercentile(shown, ROBUST_PERCENTILE))
    assert ax.collections[0].norm.vmax == pytest.approx(expected) == 0.4
    whole = plots.concentration_map(ds, "DIN", scale="robust")
    assert whole.collections[0].norm.vmax == pytest.approx(1.0)
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
    grid = cartesian_grid(open_boundaries=("west", "east"))
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
    grid = geographic_grid(open_boundaries=("west", "east"))
    flow = bb.Flow.steady(grid, u=0.3, v=0.0)
    u, v = centre_velocities(flow, 0.0)
    wet = grid.wet
    # uniform face velocity 0.3 m/s on faces between cells of different depth: the transport
    # mean over the centre depth is 0.3 × mean(h_w, h_e)/h = 0.3 for a row of equal depth
    assert np.allclose(u[wet], 0.3, rtol=1e-12)
    assert np.all(np.isnan(u[~wet])) and np.allclose(v[wet], 0.0)


def test_flow_map_streamlines_with_depth_colour_bar():
    grid = geographic_grid(open_boundaries=("west", "east"))
    ax = plots.flow_map(bb.Flow.steady(grid, u=0.1), kind="streamlines")
    labels = [c.colorbar.ax.get_ylabel() for c in ax.collections if c.colorbar is not None]
    assert "Depth [m]" in labels
    assert any(
        type(c).__name__ == "LineCollection" and len(c.get_segments()) > 10 for c in ax.collections
    )


def test_flow_map_from_dataset_and_bad_kind():
    grid = cartesian_grid()
    ds = make_dataset(grid)
    with pytest.raises(ValueError, match="no u and v"):
        plots.flow_map(ds)
    ds["u"] = ds["depth"] * 0 - 0.05  # westward everywhere
    ds["v"] = ds["depth"] * 0
    ax = plots.flow_map(ds, kind="arrows")
    assert all(np.all(q.U < 0) for q in ax.collections if isinstance(q, Quiver))
    with pytest.raises(ValueError, match="streamlines, arrows"):
        plots.flow_map(ds, kind="vectors")


# ----------------------------------------------------------------------------- planner's maps
def test_default_colour_scale_is_fixed_by_the_gb3097_limits(ds):
    # DIN: 1.2 × the Class IV limit 0.5 mg/L = 0.6; PO4: 1.2 × 0.045 = 0.054 -> nice 0.06
    din = plots.concentration_map(ds, "DIN").collections[0].norm
    po4 = plots.concentration_map(ds, "PO4").collections[0].norm
    assert (din.vmin, din.vmax) == pytest.approx((0.0, 0.6))
    assert (po4.vmin, po4.vmax) == pytest.approx((0.0, 0.06))
    log = plots.concentration_map(ds, "DIN", log=True).collections[0].norm
    assert (log.vmin, log.vmax) == pytest.approx((0.02, 0.6))  # 0.1 × the Class I limit 0.2
    assert common.standard_scale("COD") == pytest.approx((0.0, 6.0))
    assert common.standard_scale("oil") == pytest.approx((0.0, 0.6))


def test_maps_of_different_fields_share_one_scale_and_vmin_vmax_override_it(ds):
    # a field ten times weaker gets the same colours for the same concentrations
    weak = ds.assign(DIN=ds["DIN"] / 10)
    a = plots.concentration_map(ds, "DIN").collections[0].norm
    b = plots.concentration_map(weak, "DIN").collections[0].norm
    assert (a.vmin, a.vmax) == (b.vmin, b.vmax)
    robust = plots.concentration_map(weak, "DIN", scale="robust").collections[0].norm
    assert robust.vmax < a.vmax  # the robust scale follows the (weak) values instead
    given = plots.concentration_map(ds, "DIN", vmin=0.1, vmax=0.35).collections[0].norm
    assert (given.vmin, given.vmax) == (0.1, 0.35)
    with pytest.raises(plots.PlotError, match="vmin < vmax"):
        plots.concentration_map(ds, "DIN", vmin=0.5, vmax=0.2)
    with pytest.raises(plots.PlotError, match="valid scales: auto, standard, robust"):
        plots.concentration_map(ds, "DIN", scale="nice")


def test_tracer_without_a_standard_gets_a_robust_scale(ds):
    aged = ds.assign(age=ds["DIN"] * 100)
    aged["age"].attrs["units"] = "days"
    norm = plots.concentration_map(aged, "age").collections[0].norm
    values = aged["age"].isel(time=-1).values
    assert norm.vmax == nice_ceiling(np.nanpercentile(values, ROBUST_PERCENTILE))
    with pytest.raises(plots.PlotError, match="no GB 3097 standard"):
        plots.concentration_map(aged, "age", scale="standard")


def test_extent_is_what_the_axes_show():
    ds = make_dataset(geographic_grid())  # cells 108-109.5E, 20-21.5N of 0.1°
    extent = (108.23, 109.07, 20.31, 21.18)  # not on cell edges
    for ax in (
        plots.concentration_map(ds, "DIN", extent=extent),
        plots.class_map(ds, extent=extent),
    ):
        assert ax.get_xlim() == pytest.approx(extent[:2])
        assert ax.get_ylim() == pytest.approx(extent[2:])
    cart = make_dataset(cartesian_grid())
    ax = plots.concentration_map(cart, "DIN", extent=(2500.0, 17_250.0, 1000.0, 9000.0))
    assert ax.get_xlim() == pytest.approx((2.5, 17.25))  # km on cartesian maps
    assert ax.get_ylim() == pytest.approx((1.0, 9.0))


def test_cjk_font_falls_back_silently_and_registers_packaged_fonts(monkeypatch, tmp_path):
    import sys
    import types

    from matplotlib import font_manager

    dejavu = font_manager.findfont("DejaVu Sans")  # ships with matplotlib: no hanzi
    fake = types.ModuleType("fake_cjk_font_package")
    fake.FONT_PATH = dejavu
    monkeypatch.setitem(sys.modules, "fake_cjk_font_package", fake)
    monkeypatch.setattr(common, "CJK_FONT_PACKAGES", ("fake_cjk_font_package", "no_such_pkg"))
    monkeypatch.setattr(common, "_CJK_FAMILIES", ("DejaVu Sans",))
    common.cjk_font.cache_clear()
    try:
        # the packaged file is registered, but its glyph probe fails: no CJK font, no error
        assert common.cjk_font() is None
        assert plots.class_labels()[5] == "Worse than IV"
        assert any(f.fname == dejavu for f in font_manager.fontManager.ttflist)
    finally:
        common.cjk_font.cache_clear()
