"""Analytic verification cases any user can run (`bbw-bay verify`): errors against exact answers."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from scipy.special import k0

from bbw_bay.core.flow import Flow
from bbw_bay.core.grid import Grid
from bbw_bay.core.model import Model, Tracer
from bbw_bay.core.sources import PointSource

#: Comparisons a pass criterion may use.
COMPARISONS = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal}


@dataclass(frozen=True)
class Case:
    """A verification case: ``case()`` runs it and returns {metric: value}; ``criteria`` are
    its pass criteria {metric: (comparison, limit)}, comparison one of `COMPARISONS`.
    """

    run: Callable[[], dict[str, float]]
    criteria: dict[str, tuple[str, float]]
    description: str = ""

    def __call__(self) -> dict[str, float]:
        return self.run()

    def failures(self, result: Mapping[str, float]) -> list[str]:
        """The criteria ``result`` misses, as "metric value op limit" (empty: the case passes)."""
        missed = []
        for metric, (op, limit) in self.criteria.items():
            value = result.get(metric, np.nan)
            if not bool(COMPARISONS[op](value, limit)):
                missed.append(f"{metric} = {value:.3e}, needs {op} {limit:g}")
        return missed

    def passed(self, result: Mapping[str, float]) -> bool:
        """True when ``result`` meets every criterion."""
        return not self.failures(result)


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


# ----------------------------------------------------------------------------- shallow water
THACKER = {"a": 10_000.0, "h0": 10.0, "sigma": 1000.0}  # paraboloid radius, centre depth, shift [m]


def thacker_planar(n: int = 60, *, periods: int = 3, steps_per_period: int = 150) -> dict:
    """Thacker's (1981) planar surface in a frictionless paraboloid (moving shoreline).

    Bed depth h = h0 (1 − r²/a²) (negative, floodable, beyond r = a); exact surface
    η = (σ h0/a²)(2x cos ωt − σ cos² ωt), u = −σω sin ωt, v = 0, ω = √(2 g h0)/a, starting at
    rest. Errors of the water depth on cells wet in both solutions after one and ``periods``
    periods, the shoreline shift along the centre row [cells], the water volume change and the
    smallest depth.
    """
    from bbw_bay.core.shallow_water import ShallowWater

    a, h0, sigma = THACKER["a"], THACKER["h0"], THACKER["sigma"]
    dx = 2.4 * a / n
    x = (np.arange(n) + 0.5) * dx - 1.2 * a
    xx, yy = np.meshgrid(x, x)
    bed = h0 * (1.0 - (xx**2 + yy**2) / a**2)
    grid = Grid.cartesian(n, n, dx=dx, dy=dx, depth=bed)
    omega = np.sqrt(2 * 9.81 * h0) / a
    period = 2 * np.pi / omega

    def exact_depth(t: float) -> np.ndarray:
        c = np.cos(omega * t)
        return np.maximum(sigma * h0 / a**2 * (2 * xx * c - sigma * c**2) + bed, 0.0)

    sw = ShallowWater(grid, bottom_drag=0.0, coriolis=False, dry_depth=0.01, theta=0.5)
    hd = sw.run(
        duration=periods * period,
        output_interval=period,
        initial_elevation=exact_depth(0.0) - bed,
        dt=period / steps_per_period,
    )
    volume = (hd["total_depth"] * grid.area).sum(("y", "x")).values
    out = {
        "volume_change_relative": float(np.abs(volume - volume[0]).max() / volume[0]),
        "minimum_depth_m": float(hd["total_depth"].min()),
    }
    for p in (1, periods):
        depth = hd["total_depth"].isel(time=p).values
        exact = exact_depth(p * period)
        both = (depth > 0.05) & (exact > 0.05)
        row = n // 2
        wet_n, wet_e = x[depth[row] > 0.01], x[exact[row] > 0.0]
        out[f"depth_mean_abs_error_m_{p}T"] = float(np.abs(depth - exact)[both].mean())
        out[f"shoreline_shift_cells_{p}T"] = float(
            max(abs(wet_n.min() - wet_e.min()), abs(wet_n.max() - wet_e.max())) / dx
        )
    return out


def lake_at_rest(n: int = 40, *, hours: float = 6.0) -> dict:
    """A lake at rest over uneven bathymetry with dry islands must stay at rest (well-balanced).

    Returns the largest surface deviation on wet cells [m], the largest transport [m³/s] and the
    number of dry cells (islands and banks above the still level).
    """
    from bbw_bay.core.shallow_water import ShallowWater

    x = (np.arange(n) + 0.5) / n
    xx, yy = np.meshgrid(x, x)
    bed = 5.0 - 8.0 * np.exp(-((xx - 0.5) ** 2 + (yy - 0.5) ** 2) / 0.02) + 2.0 * np.sin(6 * xx)
    bed -= 6.0 * np.exp(-((xx - 0.2) ** 2 + (yy - 0.8) ** 2) / 0.005)
    grid = Grid.cartesian(n, n, dx=100.0, dy=100.0, depth=bed)
    hd = ShallowWater(grid, bottom_drag=0.0025, coriolis=True, viscosity=1.0).run(
        duration=hours * 3600.0, output_interval=hours * 1800.0, dt=30.0
    )
    eta = hd["eta"].where(hd["wet"])
    return {
        "max_surface_deviation_m": float(np.abs(eta).max()),
        "max_transport_m3_per_s": float(
            max(np.abs(hd["transport_x"]).max(), np.abs(hd["transport_y"]).max())
        ),
        "dry_cells": float((~hd["wet"].isel(time=-1)).sum()),
    }


def channel_tide(n: int = 100, *, periods: int = 6) -> dict:
    """A tide entering a long channel with linear friction vs the linear analytic solution.

    Channel 100 km long, 10 m deep, closed at the far end, forced by a 5 cm M2 tide; friction
    τ/ρ = r u with r = 5e-4 m/s. Linear theory: η = a cos k(L − x) / cos k(L − x_b), with
    k² = (ω² − iωr/H)/(gH) and x_b the ghost centre where the elevation is imposed. Returns the
    largest amplitude error (relative to the forcing amplitude) and phase error [degrees] along
    the channel from a harmonic fit over the last two periods.
    """
    from bbw_bay.core.shallow_water import TIDAL_SPEEDS, BoundaryElevation, ShallowWater

    length, depth, amp, r = 100_000.0, 10.0, 0.05, 5e-4
    dx = length / n
    grid = Grid.cartesian(n, 1, dx=dx, dy=1000.0, depth=depth, open_boundaries=("west",))
    omega = TIDAL_SPEEDS["M2"]
    period = 2 * np.pi / omega
    sw = ShallowWater(grid, bottom_drag=0.0, coriolis=False, linear_drag=r, boundary_elevation=
                      BoundaryElevation({"M2": (amp, 0.0)}))  # fmt: skip
    hd = sw.run(duration=periods * period, output_interval=period / 24, dt=period / 360)
    t = hd["time"].values
    last = t >= t[-1] - 2 * period - 1e-6
    basis = np.column_stack([np.cos(omega * t[last]), np.sin(omega * t[last]), np.ones(last.sum())])
    coef, *_ = np.linalg.lstsq(basis, hd["eta"].values[last, 0, :], rcond=None)
    numeric = coef[0] - 1j * coef[1]  # η = Re(Z e^{iωt}): Z = A − iB
    k = np.sqrt((omega**2 - 1j * omega * r / depth) / (9.81 * depth))
    x_b = -0.5 * dx
    exact = amp * np.cos(k * (length - grid.x_centre)) / np.cos(k * (length - x_b))
    phase = np.angle(numeric / exact, deg=True)
    return {
        "max_amplitude_error_relative": float(np.abs(np.abs(numeric) - np.abs(exact)).max() / amp),
        "max_phase_error_deg": float(np.abs(phase).max()),
        "head_amplitude_over_forcing": float(np.abs(exact[-1]) / amp),
    }


#: Every case `bbw-bay verify` runs, with its own pass criteria (the tests argue each tolerance:
#: tests/core/test_transport_verification.py and tests/core/test_shallow_water.py).
CASES = {
    "gaussian_puff": Case(gaussian_puff, {"relative_l1_error": ("<", 0.03)}),
    "point_source_k0": Case(point_source_k0, {"median_relative_error": ("<", 0.005)}),
    "solid_body_rotation": Case(
        solid_body_rotation, {"relative_mass_error": ("<", 1e-12), "minimum": (">=", 0.0)}
    ),
    "thacker_planar": Case(
        thacker_planar,
        {
            "volume_change_relative": ("<", 1e-13),
            "minimum_depth_m": (">=", 0.0),
            "depth_mean_abs_error_m_1T": ("<", 0.10),
            "depth_mean_abs_error_m_3T": ("<", 0.25),
            "shoreline_shift_cells_1T": ("<=", 1.0),
        },
    ),
    "lake_at_rest": Case(
        lake_at_rest,
        {"max_surface_deviation_m": ("<", 1e-12), "max_transport_m3_per_s": ("<", 1e-9)},
    ),
    "channel_tide": Case(
        channel_tide,
        {"max_amplitude_error_relative": ("<", 0.03), "max_phase_error_deg": ("<", 2.0)},
    ),
}
