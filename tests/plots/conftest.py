"""Shared fixtures of the plot tests: no ``show()``, figures closed after each test, and small
analytic datasets that follow the output contract (tracers in mg/L with NaN on land, depth,
cell_area, wet), built with `bbw_bay.core.output.concentration_dataset`, so each test knows the
exact values it should see drawn."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import bbw_bay as bb  # noqa: E402
from bbw_bay.core.output import concentration_dataset  # noqa: E402

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


def cartesian_grid(open_boundaries=()):
    """20 × 30 cells of 1 km, 10 m deep, with a 5 × 6-cell island (land) near the middle."""
    wet = np.ones((20, 30), dtype=bool)
    wet[8:13, 12:18] = False
    return bb.Grid.cartesian(
        30, 20, dx=1000.0, dy=1000.0, depth=10.0, wet=wet, open_boundaries=open_boundaries
    )


def geographic_grid(open_boundaries=()):
    """108–109.5°E, 20–21.5°N at 0.1°, with land north of 21.2°N (a coast along the top)."""
    lon_edge = np.linspace(108.0, 109.5, 16)
    lat_edge = np.linspace(20.0, 21.5, 16)
    lat_c = 0.5 * (lat_edge[:-1] + lat_edge[1:])
    wet = np.repeat((lat_c < 21.2)[:, None], 15, axis=1)
    depth = np.where(wet, np.linspace(40.0, 5.0, 15)[:, None], 0.0)
    return bb.Grid.geographic_grid(
        lon_edge, lat_edge, depth=depth, wet=wet, open_boundaries=open_boundaries
    )


def make_dataset(grid, *, nt=6):
    """DIN rising along x from 0.05 to 0.6 mg/L (every GB 3097 class), PO4 low; nt records."""
    ny, nx = grid.shape
    ramp = np.linspace(0.05, 0.6, nx)[None, :] * np.ones((ny, 1))
    fields = np.stack([np.stack([ramp * (1 + 0.1 * t), 0.01 + 0 * ramp]) for t in range(nt)])
    return concentration_dataset(grid, ("DIN", "PO4"), fields, times=np.arange(nt) * DAY)


@pytest.fixture(params=["cartesian", "geographic"])
def ds(request):
    grid = cartesian_grid() if request.param == "cartesian" else geographic_grid()
    return make_dataset(grid)
