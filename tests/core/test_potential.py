"""The one potential (Poisson) solve: exact divergence, and closed basins refused for rivers."""

from __future__ import annotations

import numpy as np
import pytest

from bbw_bay.core.flow import Flow, FlowError
from bbw_bay.core.grid import Grid
from bbw_bay.core.potential import PotentialError, potential_transports, river_transports

# Round-off of transport sums of ~1e2-1e3 m³/s in float64 (1e-16 relative × a few terms).
ROUND_OFF = 1e-9


def _lagoon_grid() -> Grid:
    """A channel open to the west, with a closed lagoon (columns 7-9) behind a land wall."""
    wet = np.ones((4, 10), dtype=bool)
    wet[:, 6] = False
    return Grid.cartesian(10, 4, dx=100.0, dy=100.0, depth=5.0, wet=wet, open_boundaries=("west",))


def test_river_transports_carry_exactly_the_discharge_to_the_open_edge():
    grid = _lagoon_grid()
    q = np.zeros(grid.shape)
    q[2, 4] = 30.0
    tu, tv = river_transports(grid, q)
    div = (tu[:, 1:] - tu[:, :-1]) + (tv[1:] - tv[:-1])
    assert np.abs(div - q).max() < ROUND_OFF * 30.0
    assert -tu[:, 0].sum() == pytest.approx(30.0, rel=1e-12)  # all of it leaves westward
    # Flow.from_rivers is the same solve
    flow = Flow.from_rivers(grid, q)
    np.testing.assert_array_equal(flow.transport_u[0], np.where(grid.flux_u, tu, 0.0))


def test_river_in_a_closed_lagoon_is_refused_even_when_discharges_balance():
    # A closed water body has no steady outflow: a river there is an input error, also when an
    # intake elsewhere in the lagoon takes the same water (the stricter of the two behaviours
    # the code had). The projection of currents needs the balanced case, so
    # potential_transports accepts it and pins the lagoon's potential at one cell.
    grid = _lagoon_grid()
    q = np.zeros(grid.shape)
    q[1, 8], q[2, 9] = 5.0, -5.0
    with pytest.raises(PotentialError, match=r"at cell \(j=1, i=8\).*no path to an open boundary"):
        river_transports(grid, q)
    with pytest.raises(FlowError, match="no path to an open boundary"):
        Flow.from_rivers(grid, q)
    tu, tv = potential_transports(grid, q)
    div = (tu[:, 1:] - tu[:, :-1]) + (tv[1:] - tv[:-1])
    assert np.abs(div - q).max() < ROUND_OFF * 5.0
    q[2, 9] = 0.0  # unbalanced: no potential flow can carry it
    with pytest.raises(PotentialError, match="no open boundary"):
        potential_transports(grid, q)
