"""`Model.replace` keeps every input it is not told to change (issue #12)."""

from __future__ import annotations

import numpy as np
import pytest

import bbw_bay as bb
from bbw_bay.core.model import ModelError
from bbw_bay.core.solver import Sections


@pytest.fixture
def model():
    grid = bb.Grid.cartesian(12, 6, dx=500.0, dy=500.0, depth=5.0, open_boundaries=("west", "east"))
    flow = bb.Flow.steady(grid, u=0.05)
    region = np.zeros(grid.shape, dtype=bool)
    region[:, :6] = True
    sections = Sections.around(grid, region, lambda x, y: "east" if x > 2500 else "west")
    area = np.full(grid.shape, 1e-9)
    return bb.Model(
        grid,
        flow,
        tracers={"DIN": bb.Tracer(decay_per_day=0.1, background=0.2)},
        sources=[bb.PointSource("outfall", x=1250.0, y=1500.0, loads={"DIN": 3.0})],
        diffusivity=2.0,
        advection="vanleer",
        area_loads={"DIN": area},
        return_time_days=1.5,
        background_mode="ambient",
        sections=sections,
    )


def test_replace_keeps_everything_not_named(model):
    copy = model.replace(advection="upwind")
    assert copy.advection == "upwind"
    assert copy.grid is model.grid and copy.flow is model.flow
    assert copy.tracers == model.tracers
    assert copy.sources == model.sources
    assert copy.diffusivity == model.diffusivity
    assert copy.return_time_days == model.return_time_days
    assert copy.background_mode == model.background_mode
    # the monitored region survives (scenario runs once lost the gulf-proper budget here)
    assert copy.solver.sections is model.solver.sections
    # area loads are kept per area, not multiplied by the cell area a second time
    np.testing.assert_array_equal(copy.solver.area_loads, model.solver.area_loads)


def test_replace_changes_only_what_it_is_told(model):
    src = model.sources[0]
    moved = bb.PointSource(src.name, x=2750.0, y=1500.0, loads=dict(src.loads))
    copy = model.replace(sources=[moved])
    assert copy.sources == (moved,)
    assert copy.advection == model.advection


def test_replace_rejects_unknown_arguments(model):
    with pytest.raises(ModelError, match="advecton.*did you mean 'advection'"):
        model.replace(advecton="upwind")
