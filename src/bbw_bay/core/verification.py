"""Analytic verification cases any user can run (`bbw-bay verify`): errors against exact answers."""

from __future__ import annotations

import numpy as np
from scipy.special import k0

from bbw_bay.core.flow import Flow
from bbw_bay.core.grid import Grid
from bbw_bay.core.model import Model, Tracer
from bbw_bay.core.sources import PointSource

OPEN = ("west", "east", "south", "north")


def gaussian_puff(n: int = 100) -> dict[str, float]:
    """Gaussian puff in oblique uniform flow with diffusion: relative L1 error vs exact."""
    dx = 20_000.0 / n
    grid = Grid.cartesian(n, n, dx=dx, dy=dx, depth=10.0, open_boundaries=OPEN)
    u, v, kappa, sigma0, duration = 0.4, 0.3, 5.0, 1500.0, 20_000.0
    model = Model(grid, Flow.steady(grid, u=u, v=v), tracers={"c": Tracer()}, diffusivity=kappa)
    xx, yy = np.meshgrid(grid.x_centre, grid.y_centre)

    def puff(x0, y0, var, peak):
        return peak * np.exp(-((xx - x0) ** 2 + (yy - y0) ** 2) / (2 * var))

    ds = model.run(
        duration,
        initial={"c": puff(6000.0, 6000.0, sigma0**2, 1.0)},
        dt=min(model.stable_dt(), 0.25 * dx / 0.5),
    )
    var = sigma0**2 + 2 * kappa * duration
    exact = puff(6000.0 + u * duration, 6000.0 + v * duration, var, sigma0**2 / var)
    numeric = ds["c"].isel(time=-1).values
    return {
        "relative_l1_error": float(np.abs(numeric - exact).sum() / exact.sum()),
        "mass_imbalance": model.statistics.max_relative_imbalance,
    }


def point_source_k0(n: int = 160) -> dict[str, float]:
    """Steady point source with decay in uniform flow vs the Bessel-K0 solution (5–30 cells)."""
    dx, depth = 100.0, 5.0
    grid = Grid.cartesian(n, n, dx=dx, dy=dx, depth=depth, open_boundaries=OPEN)
    u, kappa, decay_per_day, load = 0.02, 20.0, 0.2, 10.0
    xs, ys = 5050.0, 8050.0
    model = Model(
        grid,
        Flow.steady(grid, u=u),
        tracers={"c": Tracer(decay_per_day=decay_per_day)},
        sources=[PointSource("s", x=xs, y=ys, loads={"c": load})],
        diffusivity=kappa,
    )
    numeric = model.steady_state()["c"].values
    k = decay_per_day / 86400
    xx, yy = np.meshgrid(grid.x_centre - xs, grid.y_centre - ys)
    r = np.hypot(xx, yy)
    mask = (r >= 5 * dx) & (r <= 30 * dx)
    exact = (
        load
        / (2 * np.pi * kappa * depth)
        * np.exp(u * xx[mask] / (2 * kappa))
        * k0(r[mask] * np.sqrt(u**2 / (4 * kappa**2) + k / kappa))
    )
    rel = np.abs(numeric[mask] - exact) / exact
    return {
        "median_relative_error": float(np.median(rel)),
        "p90_relative_error": float(np.percentile(rel, 90)),
    }


def solid_body_rotation(n: int = 64) -> dict[str, float]:
    """A cone rotated once in solid-body rotation: mass error, minimum, maximum, L1 shape error."""
    dx, depth = 1000.0, 10.0
    grid = Grid.cartesian(n, n, dx=dx, dy=dx, depth=depth)
    omega = 2 * np.pi / (10 * 86400.0)
    centre, radius = n * dx / 2, 0.45 * n * dx
    xe, ye = np.meshgrid(grid.x_edge - centre, grid.y_edge - centre)
    flow = Flow.from_streamfunction(grid, depth * omega * np.minimum(xe**2 + ye**2, radius**2) / 2)
    xx, yy = np.meshgrid(grid.x_centre, grid.y_centre)
    cone = np.maximum(
        0.0, 1.0 - np.hypot(xx - centre - 0.25 * n * dx, yy - centre) / (0.12 * n * dx)
    )
    model = Model(grid, flow, tracers={"c": Tracer()})
    final = model.run(10 * 86400.0, initial={"c": cone})["c"].isel(time=-1).values
    return {
        "relative_mass_error": float(abs(final.sum() - cone.sum()) / cone.sum()),
        "minimum": float(final.min()),
        "maximum_over_initial": float(final.max() / cone.max()),
        "relative_l1_shape_error": float(np.abs(final - cone).sum() / cone.sum()),
    }


CASES = {
    "gaussian_puff": gaussian_puff,
    "point_source_k0": point_source_k0,
    "solid_body_rotation": solid_body_rotation,
}
