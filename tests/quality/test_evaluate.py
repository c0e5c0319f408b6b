"""Zone statistics against GB 3097-1997 (bbw_bay.quality.evaluate)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from bbw_bay.core.grid import Grid
from bbw_bay.core.output import grid_dataset
from bbw_bay.quality.evaluate import class_map, evaluate, evaluation_table, to_csv
from bbw_bay.quality.zones import Zone, ZoneError
from bbw_bay.units import EARTH_RADIUS

# Shares and means below are ratios of a handful of exact areas: only float round-off separates
# the code's sums from the hand arithmetic, hence 1e-12.
EXACT = 1e-12

# A 3 x 3 cartesian case computed by hand. Cell areas 1..9 km² (row-major); the (2, 2) cell is land.
AREA_KM2 = np.arange(1.0, 10.0).reshape(3, 3)
DIN = np.array(
    [
        [0.55, 0.25, 0.35],  # classes 5 2 3
        [0.45, 0.10, 0.20],  #         4 1 1 (0.20 is exactly the Class I limit)
        [0.30, 0.15, np.nan],
    ]
)  #         2 1 land (0.30 is exactly the Class II limit)
PO4 = np.array(
    [[0.01, 0.01, 0.01], [0.01, 0.01, 0.01], [0.01, 0.04, np.nan]]
)  # (2, 1) is Class IV for PO4


def small_dataset() -> xr.Dataset:
    wet = np.ones((3, 3), dtype=np.int8)
    wet[2, 2] = 0
    return xr.Dataset(
        {
            "DIN": (("y", "x"), DIN),
            "PO4": (("y", "x"), PO4),
            "cell_area": (("y", "x"), AREA_KM2 * 1e6),
            "wet": (("y", "x"), wet),
        },
        coords={"y": [500.0, 1500.0, 2500.0], "x": [500.0, 1500.0, 2500.0]},
    )


def test_hand_computed_shares_mean_p95_and_max_on_a_3x3_grid():
    ds = small_dataset()
    top = np.zeros((3, 3), dtype=bool)
    top[0] = True
    zones = [
        Zone("all", target_class=2, mask=np.ones((3, 3), dtype=bool)),
        Zone("top", target_class=3, mask=top),
    ]
    r = evaluate(ds, zones=zones, tracers=["DIN"])
    a = r.sel(zone="all", tracer="DIN")
    # wet area 36 km²: class I cells 5+6+8, II 2+7, III 3, IV 4, worse than IV 1
    np.testing.assert_allclose(a["class_share"], np.array([19, 9, 3, 4, 1]) / 36, rtol=EXACT)
    np.testing.assert_allclose(a["good_share"], 28 / 36, rtol=EXACT)
    np.testing.assert_allclose(a["target_share"], 28 / 36, rtol=EXACT)
    # mean = (0.55*1 + 0.25*2 + 0.35*3 + 0.45*4 + 0.10*5 + 0.20*6 + 0.30*7 + 0.15*8) / 36
    np.testing.assert_allclose(a["mean"], 8.9 / 36, rtol=EXACT)
    # sorted by value, cumulative areas 5, 13, 19, 21, 28, 31, 35, 36: 95 % of 36 = 34.2 is
    # first reached at 0.45 (the 0.55 cell covers only 1/36 of the area)
    assert float(a["p95"]) == 0.45
    assert float(a["max"]) == 0.55
    assert not bool(a["passes"])
    np.testing.assert_allclose(a["fraction_time_above_target"], 8 / 36, rtol=EXACT)
    assert float(r["area"].sel(zone="all")) == pytest.approx(36e6, rel=EXACT)
    t = r.sel(zone="top", tracer="DIN")
    # top row: 0.55 (1 km², V), 0.25 (2 km², II), 0.35 (3 km², III); target III -> 5/6 within
    np.testing.assert_allclose(t["class_share"], np.array([0, 2, 3, 0, 1]) / 6, rtol=EXACT)
    np.testing.assert_allclose(t["mean"], 2.1 / 6, rtol=EXACT)
    np.testing.assert_allclose(t["target_share"], 5 / 6, rtol=EXACT)


def test_pass_share_and_target_overrides():
    ds = small_dataset()
    zones = {"all": np.ones((3, 3), dtype=bool)}  # a mask mapping gets target Class II
    lenient = evaluate(ds, zones=zones, tracers=["DIN"], pass_share=0.75)
    assert bool(lenient["passes"].sel(zone="all", tracer="DIN"))  # 28/36 = 0.78 >= 0.75
    strict = evaluate(ds, zones=zones, tracers=["DIN"], pass_share=0.8)
    assert not bool(strict["passes"].sel(zone="all", tracer="DIN"))
    class5 = evaluate(ds, zones=zones, tracers=["DIN"], targets={"all": 4})
    # everything except the 1 km² worse-than-IV cell meets Class IV
    np.testing.assert_allclose(
        class5["target_share"].sel(zone="all", tracer="DIN"), 35 / 36, rtol=EXACT
    )
    with pytest.raises(ZoneError, match="unknown zone"):
        evaluate(ds, zones=zones, targets={"nowhere": 2})


def test_overall_class_is_the_worst_factor_per_cell():
    ds = small_dataset()
    r = evaluate(ds, zones={"all": np.ones((3, 3), dtype=bool)})
    assert list(r["tracer"].values) == ["DIN", "PO4"]
    # PO4 makes the 8 km² cell (DIN Class I) Class IV: I 5+6, II 2+7, III 3, IV 4+8, V 1
    np.testing.assert_allclose(
        r["overall_class_share"].sel(zone="all"), np.array([11, 9, 3, 12, 1]) / 36, rtol=EXACT
    )
    np.testing.assert_allclose(r["overall_good_share"].sel(zone="all"), 20 / 36, rtol=EXACT)
    table = evaluation_table(r)
    assert "worst" in table and "FAIL" in table


def test_class_map_per_tracer_and_worst_with_land_zero():
    ds = small_dataset()
    assert class_map(ds, "DIN").values.tolist() == [[5, 2, 3], [4, 1, 1], [2, 1, 0]]
    assert class_map(ds).values.tolist() == [[5, 2, 3], [4, 1, 1], [2, 4, 0]]


def test_spherical_cell_areas_weight_the_shares():
    # two cells one degree wide: 0-30N (Class I DIN) and 30-60N (Class III DIN); their exact
    # areas R² Δλ (sin φn - sin φs) differ by 27 %, so area-weighting moves the Class I share
    # from the unweighted 0.5 to 0.5 / (0.5 + (sin 60° - 0.5)) = 0.577
    grid = Grid.geographic_grid(np.array([100.0, 101.0]), np.array([0.0, 30.0, 60.0]), depth=10.0)
    ds = grid_dataset(grid)
    ds["DIN"] = (("lat", "lon"), np.array([[0.1], [0.35]]))
    dlam = np.deg2rad(1.0)
    a_south = EARTH_RADIUS**2 * dlam * (np.sin(np.deg2rad(30)) - np.sin(0.0))
    a_north = EARTH_RADIUS**2 * dlam * (np.sin(np.deg2rad(60)) - np.sin(np.deg2rad(30)))
    box = Zone("box", polygon=np.array([[99, -1], [102, -1], [102, 61], [99, 61]]))
    south = Zone("south", polygon=np.array([[99, -1], [102, -1], [102, 30], [99, 30]]))
    r = evaluate(ds, zones=[box, south])
    share_i = float(r["class_share"].sel(zone="box", tracer="DIN", **{"class": 1}))
    assert share_i == pytest.approx(a_south / (a_south + a_north), rel=EXACT)
    assert abs(share_i - 0.5) > 0.07  # the unweighted answer would be wrong by > 7 points
    mean = float(r["mean"].sel(zone="box", tracer="DIN"))
    assert mean == pytest.approx((0.1 * a_south + 0.35 * a_north) / (a_south + a_north), rel=EXACT)
    assert float(r["area"].sel(zone="south")) == pytest.approx(a_south, rel=EXACT)
    assert float(r["good_share"].sel(zone="south", tracer="DIN")) == 1.0


def test_fraction_of_time_above_target_weights_cells_by_area_and_records_equally():
    # cell A (1 km²) is above Class II in 1 of 4 records, cell B (3 km²) in 2 of 4:
    # (1*1 + 3*2) / (4 records * 4 km²) = 7/16; the time means (0.1625, 0.225) both meet Class II
    din = np.array([[[0.10, 0.35]], [[0.35, 0.35]], [[0.10, 0.10]], [[0.10, 0.10]]])
    ds = xr.Dataset(
        {
            "DIN": (("time", "y", "x"), din),
            "cell_area": (("y", "x"), np.array([[1e6, 3e6]])),
            "wet": (("y", "x"), np.ones((1, 2), dtype=np.int8)),
        },
        coords={"time": np.arange(4) * 86400.0, "y": [0.0], "x": [0.0, 1.0]},
    )
    r = evaluate(ds, zones={"z": np.ones((1, 2), dtype=bool)}).sel(zone="z", tracer="DIN")
    assert float(r["fraction_time_above_target"]) == pytest.approx(7 / 16, rel=EXACT)
    assert float(r["target_share"]) == 1.0 and bool(r["passes"])
    assert float(r["mean"]) == pytest.approx((0.1625 * 1 + 0.225 * 3) / 4, rel=EXACT)
    assert float(r["max"]) == pytest.approx(0.225, rel=EXACT)
    assert float(r["peak"]) == 0.35


def test_csv_has_one_row_per_zone_and_tracer_plus_worst(tmp_path):
    ds = small_dataset()
    r = evaluate(ds, zones={"a": np.ones((3, 3), dtype=bool), "b": np.eye(3, dtype=bool)})
    path = to_csv(r, tmp_path / "eval.csv")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("zone,zone_name")
    assert len(lines) == 1 + 2 * 3  # header + 2 zones x (DIN, PO4, worst)


def test_cartesian_dataset_needs_explicit_zones():
    with pytest.raises(ValueError, match="cartesian"):
        evaluate(small_dataset())


def test_zone_means_of_a_diagnostic_are_area_weighted_and_skip_nan():
    # mean age [days] on the hand case: top row ages 10, 20, NaN (no tagged water yet) over areas
    # 1, 2, 3 km² -> (10*1 + 20*2) / 3 = 50/3; the whole grid adds 30 on every other wet cell.
    from bbw_bay.quality.evaluate import zone_means

    ds = small_dataset()
    age = np.full((3, 3), 30.0)
    age[0] = [10.0, 20.0, np.nan]
    age[2, 2] = np.nan  # land
    ds["age_mean_days"] = (("y", "x"), age)
    top = np.zeros((3, 3), dtype=bool)
    top[0] = True
    zones = [
        Zone("top", target_class=2, mask=top),
        Zone("all", target_class=2, mask=np.ones((3, 3), dtype=bool)),
    ]
    means = zone_means(ds, ["age_mean_days"], zones=zones)
    np.testing.assert_allclose(float(means.sel(zone="top")[0]), 50 / 3, rtol=EXACT)
    # all: top (10*1 + 20*2) + 30 * (4+5+6+7+8) = 50 + 900 over 1+2+4+5+6+7+8 = 33 km²
    np.testing.assert_allclose(float(means.sel(zone="all")[0]), 950 / 33, rtol=EXACT)
