"""Steady linear barotropic solver (core.barotropic): analytic basin checks (Poisson torsion,
f-plane, Stommel gyre), the island rule, river potential flow with exact continuity, ports."""

from __future__ import annotations

import numpy as np
import pytest

from bbw_bay.core.barotropic import (
    BarotropicError,
    BarotropicSolver,
    BoundaryPort,
    box_circulation,
)
from bbw_bay.core.flow import face_velocities
from bbw_bay.core.grid import Grid
from bbw_bay.core.potential import PotentialError, potential_transports
from bbw_bay.units import RHO_WATER

# Round-off of a sum of a few transports of size up to ~1e6 m³/s in float64 (1e-16 relative).
ROUND_OFF = 1e-9


def _basin(n=40, length=600e3, depth=50.0, wet=None, open_boundaries=()):
    return Grid.cartesian(
        n, n, dx=length / n, dy=length / n, depth=depth, wet=wet, open_boundaries=open_boundaries
    )


# ----------------------------------------------------------------------------- synthetic checks
def test_closed_basin_uniform_curl_matches_poisson_torsion_solution():
    # Flat, no rotation: (r/H²)∇²ψ = curl τ/(ρH), ψ = 0 on the walls. For a square of side L,
    # ∇²ψ = S has the centre value −0.0736713532 S L² (torsion of a square bar). A uniform
    # positive curl (cyclonic) must give a ψ minimum, i.e. anticlockwise flow.
    n, length, depth, r, curl = 40, 600e3, 50.0, 1e-3, 1e-7
    grid = _basin(n, length, depth)
    y = np.broadcast_to(grid.y_centre[:, None], grid.shape)
    sol = BarotropicSolver(grid, friction_m_per_s=r).solve(tau_x=-curl * y)
    s = curl * depth / (RHO_WATER * r)
    expected = -0.0736713532 * s * length**2
    # 1 %: the 5-point Laplacian's O(h²) error at 40 cells is ~0.1 %
    assert sol.psi[n // 2, n // 2] == pytest.approx(expected, rel=0.01)
    gamma, _ = box_circulation(sol.flow, x_range=(0, length), y_range=(0, length))
    assert gamma > 0


def test_f_plane_flat_bottom_coriolis_does_not_change_the_flow():
    # With f/H constant the Coriolis force −(f/H)∇ψ is a gradient: it is balanced by the
    # surface slope and has no curl. The C-grid four-face average keeps this exactly.
    grid = _basin(30)
    y = np.broadcast_to(grid.y_centre[:, None], grid.shape)
    tau = -1e-7 * y
    without = BarotropicSolver(grid, friction_m_per_s=1e-3).solve(tau_x=tau)
    with_f = BarotropicSolver(grid, friction_m_per_s=1e-3, f0=1e-4).solve(tau_x=tau)
    # 1e-10 relative: round-off of a direct sparse solve with ~1e3 unknowns
    assert np.abs(with_f.psi - without.psi).max() < 1e-10 * np.abs(without.psi).max()


def test_beta_plane_matches_stommel_analytic_gyre():
    # Stommel (1948): (r/H)∇²ψ + β ∂ψ/∂x = curl τ/ρ, τx = −τ0 cos(πy/b), ψ = 0 on the walls;
    # ψ = sin(πy/b) X(x), X = Xp (1 − p e^{m1 x} − q e^{m2 x}), Xp = τ0/(ρ (r/H) k).
    n, a, depth, r, beta, tau0 = 50, 1.0e6, 100.0, 1e-3, 1e-10, 0.1
    grid = _basin(n, a, depth)
    y = np.broadcast_to(grid.y_centre[:, None], grid.shape)
    sol = BarotropicSolver(grid, friction_m_per_s=r, f0=5e-5, beta=beta).solve(
        tau_x=-tau0 * np.cos(np.pi * y / a)
    )
    k, eps = np.pi / a, r / depth
    root = np.sqrt((beta / eps) ** 2 + 4 * k * k)
    m1, m2 = (-beta / eps + root) / 2, (-beta / eps - root) / 2
    p, q = np.linalg.solve([[1.0, 1.0], [np.exp(m1 * a), np.exp(m2 * a)]], [1.0, 1.0])
    x_profile = (
        tau0
        / (RHO_WATER * eps * k)
        * (1 - p * np.exp(m1 * grid.x_edge) - q * np.exp(m2 * grid.x_edge))
    )
    psi = np.sin(k * grid.y_edge)[:, None] * x_profile[None, :]
    # 0.5 %: second-order scheme with the western boundary layer r/(Hβ) = 100 km over 5 cells
    # gives 0.14 % (0.036 % at twice the resolution)
    assert np.abs(sol.psi - psi).max() < 0.005 * np.abs(psi).max()
    # western intensification: the gyre centre lies in the western third (mid-basin, corner
    # index n/2, without β)
    assert np.argmax(sol.psi[n // 2]) < n // 3


def test_uniform_wind_over_flat_basin_with_island_gives_setup_and_no_flow():
    # Uniform τ over uniform H has no curl and ∮ τ·dl/(ρH) = 0 round the island, so the wind
    # is balanced by a surface slope alone: the exact steady solution has no flow.
    wet = np.ones((30, 30), dtype=bool)
    wet[12:17, 10:15] = False
    grid = _basin(30, wet=wet)
    sol = BarotropicSolver(grid, friction_m_per_s=1e-3, f0=1e-4).solve(tau_x=0.1, tau_y=-0.05)
    tu, tv = sol.flow.at(0.0)
    # 1e-6 m³/s: round-off against zero (a sheared wind of the same size drives ~3e4 m³/s)
    assert np.abs(tu).max() < 1e-6 and np.abs(tv).max() < 1e-6


def _ring_circulation(grid, a_u, a_v, j0, j1, i0, i1):
    """∮ a·dl anticlockwise round the loop through the centres of cells j0..j1, i0..i1."""
    return (
        (a_u[j0, i0 + 1 : i1 + 1] * grid.spacing_u[j0, i0 + 1 : i1 + 1]).sum()
        + (a_v[j0 + 1 : j1 + 1, i1] * grid.spacing_v[j0 + 1 : j1 + 1, i1]).sum()
        - (a_u[j1, i0 + 1 : i1 + 1] * grid.spacing_u[j1, i0 + 1 : i1 + 1]).sum()
        - (a_v[j0 + 1 : j1 + 1, i0] * grid.spacing_v[j0 + 1 : j1 + 1, i0]).sum()
    )


def test_island_constant_obeys_the_island_rule():
    # Steady, no rotation: round any loop hugging the island, ∮ r u·dl/H = ∮ τ·dl/(ρH)
    # (pressure gradients integrate to zero). The island's ψ is an unknown fixed by exactly
    # this condition; forcing the island to the wall value ψ = 0 instead must violate it.
    n, r, depth = 30, 1e-3, 50.0
    wet = np.ones((n, n), dtype=bool)
    wet[12:16, 8:13] = False  # island, off-centre
    grid = _basin(n, wet=wet, depth=depth)
    y = np.broadcast_to(grid.y_centre[:, None], grid.shape)
    tau_x = -0.1 * np.cos(np.pi * y / 600e3)
    solver = BarotropicSolver(grid, friction_m_per_s=r)
    tx_u = np.zeros((n, n + 1))
    tx_u[:, 1:-1] = 0.5 * (tau_x[:, 1:] + tau_x[:, :-1])
    wind = _ring_circulation(grid, tx_u / (RHO_WATER * depth), np.zeros((n + 1, n)), 11, 16, 7, 13)

    def friction(sol):
        u, v = face_velocities(sol.flow)
        return _ring_circulation(grid, r * u / depth, r * v / depth, 11, 16, 7, 13)

    free = solver.solve(tau_x=tau_x)
    island = int(free.land_labels[14, 10])
    walls = int(free.land_labels[0, 0])
    assert island != walls and free.land_psi[island] != 0.0
    # 1e-9 relative: the rule is one row of the direct solve, satisfied to round-off
    assert friction(free) == pytest.approx(wind, rel=1e-9)
    pinned = solver.solve(tau_x=tau_x, fixed={walls: 0.0, island: 0.0})
    assert abs(friction(pinned) - wind) > 0.05 * abs(wind)


def test_river_potential_flow_divergence_and_box_bookkeeping():
    # A river in a basin open to the south: each cell's net outflow is its discharge to
    # round-off, and the net outflow of any box equals the discharge inside it.
    wet = np.ones((24, 24), dtype=bool)
    wet[10:13, 5:9] = False
    grid = _basin(24, wet=wet, open_boundaries=("south",))
    q = np.zeros(grid.shape)
    q[20, 12], q[15, 3] = 800.0, 150.0
    sol = BarotropicSolver(grid, friction_m_per_s=1e-3, f0=1e-4).solve(
        tau_x=0.05,
        tau_y=0.02,
        river_discharge=q,
        ports=[
            BoundaryPort("south", (0.0, 300e3), 2e4),
            BoundaryPort("south", (300e3, 600e3), -2e4),
        ],
    )
    div = sol.flow.divergence()
    scale = np.abs(sol.flow.transport_u).max()
    assert np.abs(div - q).max() < ROUND_OFF * scale
    tu, tv = sol.flow.at(0.0)
    j0, j1, i0, i1 = 13, 22, 9, 16  # a box holding the 800 m³/s river only
    out = tu[j0:j1, i1].sum() - tu[j0:j1, i0].sum() + tv[j1, i0:i1].sum() - tv[j0, i0:i1].sum()
    assert out == pytest.approx(800.0, abs=ROUND_OFF * scale)
    # the ports move 2e4 m³/s in through the west half of the open edge and out of the east half
    assert tv[0, :12].sum() == pytest.approx(2e4 + potential_transports(grid, q)[1][0, :12].sum())


def test_unbalanced_ports_and_land_river_are_rejected():
    grid = _basin(12, open_boundaries=("south",))
    solver = BarotropicSolver(grid, friction_m_per_s=1e-3)
    with pytest.raises(BarotropicError, match="must balance"):
        solver.solve(ports=[BoundaryPort("south", (0.0, 600e3), 1e4)])
    wet = np.ones((12, 12), dtype=bool)
    wet[5, 5] = False
    q = np.zeros((12, 12))
    q[5, 5] = 10.0
    with pytest.raises(PotentialError, match="land cell"):
        potential_transports(_basin(12, wet=wet, open_boundaries=("south",)), q)


def test_river_in_a_closed_basin_is_refused_by_the_solver():
    # the solver's river part is the one potential solve (core.potential.river_transports):
    # water put into a basin without an open edge has nowhere to go
    grid = _basin(12)
    q = np.zeros(grid.shape)
    q[6, 6] = 10.0
    with pytest.raises(PotentialError, match="no path to an open boundary"):
        BarotropicSolver(grid, friction_m_per_s=1e-3).solve(river_discharge=q)
