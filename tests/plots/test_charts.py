"""Charts: scenario bars, apportionment and capacity bars."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402

from bbw_bay import plots  # noqa: E402


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


def _targets_table():
    return xr.DataArray(
        [[0.9, 0.2], [1.0, 0.6]],
        dims=("scenario", "zone"),
        coords={
            "scenario": ["baseline", "cut"],
            "zone": ["qinzhou_bay", "zhanjiang_bay"],
            "zone_name": ("zone", ["Qinzhou Bay (outer)", "Zhanjiang Bay (Zhanjiang Port)"]),
            "target_class": ("zone", [2, 4]),
        },
    )


def test_scenario_bars_name_each_zones_own_target():
    ax = plots.scenario_bars(_targets_table(), metric="overall_target_share")
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == ["Qinzhou Bay\ntarget: Class II", "Zhanjiang Bay\ntarget: Class IV"]
    assert "own target" in ax.get_ylabel()
    # Zhanjiang's Class IV target differs from the usual Class II: its label stands out
    assert [t.get_fontweight() for t in ax.get_xticklabels()] == ["normal", "bold"]
    targets = plots.scenario_bars(_targets_table(), targets={"qinzhou_bay": 3})
    assert "Class III" in targets.get_xticklabels()[0].get_text()


def test_scenario_bars_draw_each_zones_target_limit_on_a_concentration_metric():
    table = _targets_table().assign_coords(tracer="DIN")
    ax = plots.scenario_bars(table, metric="mean")
    lines = [c for c in ax.collections if c.get_label() == "limit of the zone's target class"]
    segments = [
        s for c in ax.collections if type(c).__name__ == "LineCollection" for s in c.get_segments()
    ]
    levels = sorted({round(float(s[0, 1]), 9) for s in segments})
    assert lines and levels == [0.3, 0.5]  # DIN Class II limit at Qinzhou, Class IV at Zhanjiang


def test_apportionment_bars_label_zones_and_sources_by_name():
    ds = xr.Dataset(
        {
            "contribution": (
                ("tracer", "receptor", "source"),
                [[[0.3, 0.1], [0.05, 0.2]]],
            )
        },
        coords={
            "tracer": ["DIN"],
            "receptor": ["zone:qinzhou_bay", "zone:zhanjiang_bay"],
            "receptor_name": ("receptor", ["Qinzhou Bay (outer)", "Zhanjiang Bay"]),
            "source": ["Qin", "Suixi"],
        },
    )
    ax = plots.apportionment_bars(ds)
    names = [t.get_text() for t in ax.get_yticklabels()]
    by_height = sorted(zip(ax.get_yticks(), names, strict=True))
    # names up to any parenthesis, as on the scenario charts; the top zone is the first
    assert [name for _, name in by_height] == ["Zhanjiang Bay", "Qinzhou Bay"]
    assert not any(t.get_text().startswith("zone:") for t in ax.get_yticklabels())
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Qin", "Suixi"]
    named = ds["contribution"].assign_coords(source_name=("source", ["Qin River", "Suixi R."]))
    ax = plots.apportionment_bars(named.sel(tracer="DIN"))
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Qin River", "Suixi R."]
