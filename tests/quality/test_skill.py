"""Skill statistics against hand-computed values; matching in space and climatological time."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
import xarray as xr

from bbw_bay.core.grid import point_distance
from bbw_bay.quality.observations import Observation
from bbw_bay.quality.skill import (
    CSV_COLUMNS,
    Comparison,
    cost_class,
    match_cell,
    record_weights,
    season_weights,
    skill,
    summarise,
    write_csv,
)
from bbw_bay.units import DAY

SEASON_MONTHS = {
    "winter": (12, 1, 2),
    "spring": (3, 4, 5),
    "summer": (6, 7, 8),
    "autumn": (9, 10, 11),
}


def obs(start="2021-01-01", end="2021-01-31", *, value=1.0, variable="DIN", **kw):
    defaults = dict(id="r", source="S1", lon=108.0, lat=21.0, depth="", unit="mg/L as N")
    defaults.update(kw)
    return Observation(
        defaults.pop("id"),
        defaults.pop("source"),
        defaults.pop("lon"),
        defaults.pop("lat"),
        dt.date.fromisoformat(start),
        dt.date.fromisoformat(end),
        defaults.pop("depth"),
        variable,
        value,
        defaults.pop("unit"),
        defaults.pop("uncertainty", None),
        "note",
        **defaults,
    )


# ----------------------------------------------------------------------------- statistics
def test_skill_matches_hand_computed_values():
    o = np.array([1.0, 2.0, 3.0, 4.0])
    m = np.array([2.0, 2.0, 2.0, 6.0])
    s = skill(o, m, [0.5, 1.0, 1.0, 2.0])
    d = m - o  # [1, 0, -1, 2]
    assert s["n"] == 4
    assert s["bias"] == pytest.approx(0.5, rel=1e-12)
    assert s["rmse"] == pytest.approx(math.sqrt(6.0 / 4.0), rel=1e-12)
    assert s["mean_log_ratio"] == pytest.approx(np.mean(np.log(m / o)), rel=1e-12)
    assert s["correlation"] == pytest.approx(np.corrcoef(o, m)[0, 1], rel=1e-12)
    # Willmott: 1 - Σd² / Σ(|M - Ō| + |O - Ō|)², Ō = 2.5
    potential = np.sum((np.abs(m - 2.5) + np.abs(o - 2.5)) ** 2)
    assert s["willmott"] == pytest.approx(1.0 - np.sum(d**2) / potential, rel=1e-12)
    # OSPAR cost: mean |d| / σ = (2 + 0 + 1 + 1) / 4
    assert s["cost"] == pytest.approx(1.0, rel=1e-12) and s["cost_class"] == "good"


def test_a_perfect_model_scores_perfectly_and_a_doubled_one_by_ln2():
    o = np.array([0.1, 0.5, 2.0])
    perfect = skill(o, o)
    assert perfect["rmse"] == 0.0 and perfect["willmott"] == 1.0 and perfect["cost"] == 0.0
    assert perfect["mean_log_ratio"] == 0.0 and perfect["correlation"] == pytest.approx(1.0)
    doubled = skill(o, 2 * o)
    assert doubled["mean_log_ratio"] == pytest.approx(math.log(2.0), rel=1e-12)


def test_missing_sigma_falls_back_to_the_spread_of_the_observations():
    o, m = np.array([1.0, 3.0]), np.array([2.0, 3.0])
    spread = np.std(o, ddof=1)  # sqrt(2)
    assert skill(o, m)["cost"] == pytest.approx(0.5 / spread, rel=1e-12)
    assert skill(o, m, [0.5, np.nan])["cost"] == pytest.approx((2.0 + 0.0) / 2, rel=1e-12)
    single = skill([1.0], [2.0])
    assert math.isnan(single["cost"]) and math.isnan(single["willmott"])


def test_phases_are_compared_on_the_circle():
    s = skill([350.0, 10.0], [10.0, 350.0], circular=True)
    assert s["bias"] == pytest.approx(0.0, abs=1e-12)  # +20 and -20 degrees
    assert s["rmse"] == pytest.approx(20.0, rel=1e-12)
    assert math.isnan(s["mean_log_ratio"]) and math.isnan(s["willmott"])


def test_pairs_with_a_missing_member_are_dropped_and_cost_classes_follow_ospar():
    s = skill([1.0, np.nan, 2.0], [1.0, 5.0, np.nan])
    assert s["n"] == 1
    assert [cost_class(x) for x in (0.5, 1.5, 2.5, 3.5)] == [
        "very good",
        "good",
        "reasonable",
        "poor",
    ]


# ----------------------------------------------------------------------------- time
def test_season_weights_count_the_days_of_the_period_in_each_season():
    assert season_weights(obs("2021-01-01", "2021-01-31"), SEASON_MONTHS) == {"winter": 1.0}
    w = season_weights(obs("2021-04-01", "2021-10-31"), SEASON_MONTHS)  # 214 days
    assert w == pytest.approx({"spring": 61 / 214, "summer": 92 / 214, "autumn": 61 / 214})
    whole = season_weights(obs("1975-01-01", "1997-12-31"), SEASON_MONTHS)
    assert whole == pytest.approx(
        {"winter": 90 / 365, "spring": 92 / 365, "summer": 92 / 365, "autumn": 91 / 365}
    )
    assert sum(whole.values()) == pytest.approx(1.0, abs=1e-15)


def test_record_weights_average_the_records_on_the_same_days_of_the_year():
    days = np.array([0.0, 15.0, 45.0, 74.0, 350.0])  # record 0 is the initial state
    w, text = record_weights(days, obs("2019-01-10", "2019-01-20"))
    assert w.tolist() == [0.0, 1.0, 0.0, 0.0, 0.0] and "1 record" in text
    w, _ = record_weights(days, obs("2020-12-10", "2021-01-20"))  # across the new year
    assert w.tolist() == [0.0, 0.5, 0.0, 0.0, 0.5]
    w, text = record_weights(days, obs("2021-07-01", "2021-07-31"))  # no record inside
    assert w.argmax() == 3 and "nearest record" in text
    w, _ = record_weights(days, obs("2015-01-01", "2016-12-31"))  # whole years: all but the first
    assert w.tolist() == [0.0, 0.25, 0.25, 0.25, 0.25]


# ----------------------------------------------------------------------------- space
@pytest.fixture
def tiny():
    """Five by four 0.1-degree cells; the west column is land."""
    lon = 108.0 + 0.1 * np.arange(5)
    lat = 21.0 + 0.1 * np.arange(4)
    wet = np.ones((4, 5), dtype=np.int8)
    wet[:, 0] = 0
    return xr.Dataset({"wet": (("lat", "lon"), wet)}, coords={"lat": lat, "lon": lon})


def test_a_point_in_a_wet_cell_is_matched_to_it(tiny):
    m = match_cell(tiny, 108.22, 21.13)
    assert (m.j, m.i, m.distance_km, m.status) == (1, 2, 0.0, "inside")


def test_a_point_on_land_takes_the_nearest_wet_cell_and_reports_the_distance(tiny):
    m = match_cell(tiny, 108.04, 21.1, max_distance_km=10.0)
    expected = point_distance(108.04, 21.1, 108.1, 21.1, geographic=True) / 1000.0
    assert (m.j, m.i) == (1, 1) and m.status == "nearest wet cell"
    assert m.distance_km == pytest.approx(float(expected), rel=1e-12)
    too_far = match_cell(tiny, 108.04, 21.1, max_distance_km=1.0)
    assert not too_far.ok and "on land" in too_far.status and "> 1 km" in too_far.status
    outside = match_cell(tiny, 110.0, 21.1)
    assert not outside.ok and "outside the grid" in outside.status


def test_a_cartesian_grid_matches_no_lon_lat_point():
    ds = xr.Dataset(
        {"wet": (("y", "x"), np.ones((2, 2), dtype=np.int8))},
        coords={"y": [0.0, 1.0], "x": [0.0, 1.0]},
    )
    m = match_cell(ds, 108.0, 21.0)
    assert not m.ok and "cartesian" in m.status


# ----------------------------------------------------------------------------- tables
def _comparisons():
    rows = [
        Comparison(obs(id="a", value=1.0), model=2.0, region="bay", basis="winter"),
        Comparison(obs(id="b", value=2.0, source="S2"), model=2.0, region="gulf"),
        Comparison(obs(id="c", value=2.0, variable="chlorophyll", unit="ug/L")),
    ]
    rows[2].status = "not compared: the model carries no chlorophyll"
    return rows


def test_summaries_per_variable_and_region_with_an_all_regions_row():
    table = summarise(_comparisons())
    keys = [(s["variable"], s["region"], s["n"]) for s in table]
    assert keys == [("DIN", "bay", 1), ("DIN", "gulf", 1), ("DIN", "all", 2)]
    assert table[-1]["bias"] == pytest.approx(0.5, rel=1e-12)


def test_csv_has_the_required_columns_and_leaves_uncompared_model_values_empty(tmp_path):
    import csv

    assert {"id", "variable", "observed", "model", "ratio", "distance_km"} <= set(CSV_COLUMNS)
    path = write_csv(_comparisons(), tmp_path / "out.csv")
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    assert [r["id"] for r in rows] == ["a", "b", "c"]
    assert rows[0]["ratio"] == "2" and rows[0]["basis"] == "winter"
    assert rows[2]["model"] == "" and rows[2]["status"].startswith("not compared")


def test_record_days_of_a_run_file_wrap_at_the_model_year():
    from bbw_bay.quality.skill import record_days

    seconds = np.array([0.0, 30.0, 400.0]) * DAY
    ds = xr.Dataset(coords={"time": ("time", seconds)})
    assert record_days(ds) == pytest.approx([0.0, 30.0, 400.0 - 365.25], abs=1e-9)
