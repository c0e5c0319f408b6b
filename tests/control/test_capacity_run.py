"""Allowable loads of a config (bbw_bay.control.capacity_run): what ``bbw-bay capacity`` does."""

from __future__ import annotations

import json

import numpy as np

from bbw_bay.control.capacity import allowable_loads
from bbw_bay.control.capacity_report import VERIFY_RTOL, capacity_table, verify
from bbw_bay.control.capacity_run import capacity_from_config
from bbw_bay.core.config import load_config
from bbw_bay.gulf.assemble import build
from bbw_bay.quality.receptors import receptors_for
from tests.control.test_capacity import CHANNEL, POINTS


def test_capacity_from_config_is_allowable_loads_of_the_built_model_and_verifies(tmp_path):
    points = tmp_path / "points.toml"
    points.write_text(POINTS.format(cls=4))
    run = capacity_from_config(CHANNEL, tracers=["DIN", "COD"], points=points, mode="min-reduction")
    # the same answer as the steps one by one: build, receptors, allowable_loads, verify
    model = build(load_config(CHANNEL, []), steady=True).model
    receptors = receptors_for(model.grid, points=points)
    assert [r.key for r in run.receptors] == [r.key for r in receptors] == ["bay"]
    assert [r.problem.tracer for r in run.results] == ["DIN", "COD"]
    for result, check in zip(run.results, run.checks, strict=True):
        alone = allowable_loads(
            model, tracer=result.problem.tracer, receptors=receptors, mode="min-reduction"
        )
        # one computation, the factorisations shared: the same floating-point answer
        np.testing.assert_array_equal(result.allowable, alone.allowable)
        assert check == verify(model, alone)
        assert check["passed"] and check["max_relative_excess"] <= VERIFY_RTOL
    assert run.failures == 0 and list(run.models) == ["annual"]
    text = run.table()
    assert capacity_table(run.results[0]) in text and "forward check" in text
    assert text.splitlines()[-1].startswith("1 season(s), 1 receptors")
    ds = run.dataset(inputs={"config": "sha"})
    assert list(ds["tracer"].values) == ["DIN", "COD"]
    assert json.loads(ds.attrs["verification_DIN"])["passed"]
    assert json.loads(ds.attrs["input_checksums"]) == {"config": "sha"}
    assert ds.attrs["config"] == load_config(CHANNEL, []).text


def test_capacity_from_config_leaves_infeasible_answers_unverified(tmp_path):
    points = tmp_path / "points.toml"
    points.write_text(POINTS.format(cls=1))
    # an ambient DIN background of 0.25 mg/L is above the Class I limit 0.20 mg/L everywhere
    run = capacity_from_config(
        CHANNEL,
        overrides=["tracers.DIN.background_mg_per_l=0.25", "transport.background_mode=ambient"],
        tracers="DIN",
        sources="river",
        points=points,
    )
    assert not run.results[0].feasible and run.checks == [None] and run.failures == 0
    assert "UNATTAINABLE" in run.table()
