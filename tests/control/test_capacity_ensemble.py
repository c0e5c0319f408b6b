"""Confidence bands on allowable loads: the capacity LP in every ensemble member."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
import xarray as xr

from bbw_bay.cli.main import main
from bbw_bay.control.capacity import allowable_loads, tracer_limit
from bbw_bay.control.capacity_ensemble import (
    capacity_band_table,
    neutral_member,
    run_capacity_ensemble,
)
from bbw_bay.control.ensemble_spec import load_ensemble
from bbw_bay.control.ensembles import member_model
from bbw_bay.control.response import response_coefficients
from bbw_bay.core.config import load_config
from bbw_bay.gulf.assemble import build
from bbw_bay.quality.receptors import ControlPoint, point_receptors
from tests.conftest import REPO

CHANNEL = REPO / "configs" / "channel.toml"
OVERRIDES = ['transport.advection="upwind"']
# the river's plume at the bay centre and near the outfall (see configs/channel.toml)
POINTS = (("bay", 30000.0, 10000.0), ("near_outfall", 31000.0, 6000.0))

VARIED = """
[[uncertain]]
name = "river_load"
kind = "load"
source = "river"
distribution = "lognormal"
cv = 0.3
basis = "estimate: test"

[[uncertain]]
name = "din_decay"
kind = "decay"
tracer = "DIN"
distribution = "uniform"
low = 0.5
high = 2.0
basis = "estimate: test"
"""

NEUTRAL = """
[[uncertain]]
name = "loads"
kind = "load"
group = "all"
distribution = "lognormal"
cv = 0.0
basis = "estimate: test"

[[uncertain]]
name = "din_decay"
kind = "decay"
tracer = "DIN"
distribution = "lognormal"
cv = 0.0
basis = "estimate: test"

[[uncertain]]
name = "diffusivity"
kind = "config"
key = "transport.diffusivity_m2_per_s"
distribution = "lognormal"
cv = 0.0
basis = "estimate: test"
"""

RIVER_ONLY = """
[[uncertain]]
name = "river_load"
kind = "load"
source = "river"
distribution = "uniform"
low = 0.5
high = 2.5
basis = "estimate: test"
"""


def write_spec(folder, body: str, *, members: int = 6, seed: int = 3) -> str:
    path = folder / "ensemble.toml"
    path.write_text(
        f'base = "{CHANNEL.as_posix()}"\nset = {OVERRIDES!r}\n'
        f"[run]\nmembers = {members}\nseed = {seed}\n" + textwrap.dedent(body),
        encoding="utf-8",
    )
    return str(path)


def receptors(spec_path, classes=(1, 2)):
    spec = load_ensemble(spec_path)
    grid = member_model(neutral_member(spec), spec=spec).grid
    return point_receptors(
        grid,
        [ControlPoint(key, x, y, cls) for (key, x, y), cls in zip(POINTS, classes, strict=True)],
    )


@pytest.fixture(scope="module")
def varied_path(tmp_path_factory):
    return write_spec(tmp_path_factory.mktemp("varied"), VARIED)


@pytest.fixture(scope="module")
def bands(varied_path):
    # every source controlled: all loads at zero meet the limits, so every member has an answer;
    # a Class I limit at the bay centre makes the river's cut depend on its drawn load and decay
    return run_capacity_ensemble(
        varied_path, sources="all", mode="min-reduction", receptors=receptors(varied_path)
    )


def test_same_seed_gives_identical_bands(varied_path, bands):
    again = run_capacity_ensemble(
        varied_path, sources="all", mode="min-reduction", receptors=receptors(varied_path)
    )
    xr.testing.assert_identical(bands, again)


def test_percentiles_are_numpy_percentiles_of_the_members_and_bracket_the_median(bands):
    assert bands.sizes["member"] == 6 and bool(bands["feasible"].all())
    assert float(bands["probability_feasible"]) == 1.0
    river = bands["allowable"].sel(source="river").values
    assert np.ptp(river) > 0  # the draws move the answer, so the band has a width
    # numpy's default percentile is the same linear interpolation as xarray's quantile; the two
    # differ only by round-off in the interpolation weights (a few ulp of values ~1e3 t/yr)
    for name, values in (
        ("allowable", bands["allowable"].values),
        ("total_allowable", bands["total_allowable"].values),
    ):
        band = bands[f"percentiles_of_{name}"].values
        np.testing.assert_allclose(band, np.percentile(values, [5, 50, 95], axis=0), rtol=1e-12)
        assert np.all(band[0] <= band[1]) and np.all(band[1] <= band[2])
    table = capacity_band_table(bands)
    assert "river" in table and "total controlled" in table and "6 of 6" in table


def test_zero_width_uncertainty_reproduces_the_base_allowable_loads(tmp_path):
    path = write_spec(tmp_path, NEUTRAL, members=4)
    chosen = receptors(path)
    ds = run_capacity_ensemble(path, sources="all", mode="min-reduction", receptors=chosen)
    assert np.all(ds["multiplier"].values == 1.0)  # lognormal with cv 0: exp(0) exactly
    base = build(load_config(CHANNEL, OVERRIDES), steady=True).model
    expected = allowable_loads(
        base, tracer="DIN", receptors=chosen, sources="all", mode="min-reduction"
    )
    assert expected.feasible
    # the members' models are the base model (factors of exactly 1), so the LP is the same;
    # 1e-12 relative allows for round-off in assembling the response coefficients
    for member in range(ds.sizes["member"]):
        np.testing.assert_allclose(
            ds["allowable"].isel(member=member).values, expected.allowable, rtol=1e-12, atol=0.0
        )


def test_a_member_that_cannot_meet_a_limit_is_recorded_as_infeasible(tmp_path):
    path = write_spec(tmp_path, RIVER_ONLY, members=6)
    chosen = receptors(path, classes=(2, 4))
    # only the outfall is controlled; the river (fixed at its drawn load) alone exceeds the
    # Class II DIN limit at the bay centre when its multiplier is large enough
    ds = run_capacity_ensemble(path, sources="outfall", mode="max", receptors=chosen)
    assert ds.sizes["member"] == 6  # nothing dropped
    base = build(load_config(CHANNEL, OVERRIDES), steady=True).model
    matrix = response_coefficients(base, receptors=chosen, tracers=["DIN"])
    river = matrix.sources.index("river")
    excess = (
        matrix.background[0, 0]
        + matrix.coefficients[0, 0, river]
        * matrix.loads[0, river]
        * ds["multiplier"].sel(parameter="river_load").values
    )
    expected = excess <= tracer_limit("DIN", 2)
    assert expected.any() and not expected.all()  # this seed draws both outcomes
    np.testing.assert_array_equal(ds["feasible"].values, expected)
    infeasible = ~expected
    assert np.all(np.isnan(ds["allowable"].values[infeasible]))
    assert np.all(np.isnan(ds["total_allowable"].values[infeasible]))
    assert np.all(ds["unattainable"].sel(constraint="bay").values == infeasible)
    assert float(ds["probability_feasible"]) == pytest.approx(expected.mean(), abs=1e-15)
    # percentiles over the feasible members only (where the outfall gets its 20 % growth)
    feasible_values = ds["allowable"].sel(source="outfall").values[expected]
    np.testing.assert_allclose(
        ds["percentiles_of_allowable"].sel(source="outfall").values,
        np.percentile(feasible_values, [5, 50, 95]),
        rtol=1e-12,
    )
    assert "UNATTAINABLE" not in capacity_band_table(ds)  # a table line, not a crash


def test_cli_ensemble_capacity_prints_bands_and_writes_netcdf(tmp_path, varied_path, capsys):
    points = tmp_path / "points.toml"
    points.write_text(
        "".join(
            f'[[point]]\nkey = "{key}"\nname = "{key}"\nx_m = {x}\ny_m = {y}\n'
            f'target_class = {cls}\nzone = ""\nprovince = "test"\n[point.citations]\n'
            f'position = "estimate: test"\ntarget_class = "estimate: test"\n'
            for (key, x, y), cls in zip(POINTS, (1, 2), strict=True)
        )
    )
    out = tmp_path / "bands.nc"
    code = main(
        [
            "ensemble",
            varied_path,
            "--capacity",
            "--points",
            str(points),
            "--zones",
            "none",
            "--sources",
            "all",
            "--mode",
            "min-reduction",
            "-o",
            str(out),
        ]
    )
    captured = capsys.readouterr()
    printed = captured.out
    assert code == 0, captured.err
    assert "allowable DIN loads (min-reduction) over 6 members" in printed
    with xr.open_dataset(out) as ds:
        assert ds.sizes["member"] == 6 and ds.attrs["tracer"] == "DIN"
    code = main(["ensemble", varied_path, "--mode", "max", "-o", str(tmp_path / "x.nc")])
    assert code == 2 and "--capacity" in capsys.readouterr().err
