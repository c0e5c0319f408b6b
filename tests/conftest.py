"""Shared fixtures: analytic test flows are generated in code, never stored as data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture
def rng():
    """A seeded random generator: every random test is reproducible."""
    return np.random.default_rng(20261125)


def streamfunction_flow(grid, psi):
    """Flow from a corner streamfunction after zeroing ψ on every corner that touches land.

    Faces next to land then carry no transport and ψ is constant (0) along every coast, so the
    flow is exactly divergence-free on the masked grid.
    """
    import bbw_bay as bb

    wet = np.pad(grid.wet, 1, constant_values=False)
    touches_land = ~(wet[:-1, :-1] & wet[:-1, 1:] & wet[1:, :-1] & wet[1:, 1:])
    psi = np.where(touches_land, 0.0, psi)
    return bb.Flow.from_streamfunction(grid, psi)
