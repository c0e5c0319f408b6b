"""Sparse steady-state and response solves of the transport discretisation (scipy.sparse).

With steady flow, the semi-discrete equation of `bbw_bay.kernels` is dc/dt = R(c). For first-order
upwind advection R is affine, R(c) = A c + s, and the steady state solves A c = −s directly with
one LU factorisation (reused for any number of right-hand sides, and transposed for adjoint
receptor solves). For limited (MUSCL) schemes R is nonlinear; the steady state R(c) = 0 is found
by defect correction on the upwind factorisation: c ← c − A⁻¹ R(c), where R is evaluated by the
very kernel used for time marching, so the answer is the time-marching scheme's own steady state.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from bbw_bay.grid import Grid

log = logging.getLogger(__name__)


class SteadyStateError(RuntimeError):
    """The steady-state iteration did not converge."""


@dataclass(frozen=True, eq=False)
class UpwindOperator:
    """Advection (first-order upwind) + diffusion operator on the wet cells.

    ``dc/dt = (matrix c)[wet] + inflow_rate · c_background + loads / V − k c``

    Attributes
    ----------
    grid : the grid
    index : (ny, nx) int, position of each wet cell in the unknown vector (−1 on land)
    matrix : (n, n) CSC, transport operator [1/s] without decay
    inflow_rate : (n,) open-boundary inflow transport over cell volume [1/s]
    volume : (n,) cell volumes [m³]
    """

    grid: Grid
    index: np.ndarray
    matrix: sp.csc_matrix
    inflow_rate: np.ndarray
    volume: np.ndarray

    @classmethod
    def build(
        cls,
        grid: Grid,
        transport_u: np.ndarray,
        transport_v: np.ndarray,
        conductance_u: np.ndarray,
        conductance_v: np.ndarray,
    ) -> UpwindOperator:
        """Assemble the operator from face transports [m³/s] and conductances [m³/s]."""
        wet = grid.wet
        index = np.full(grid.shape, -1, dtype=np.int64)
        index[wet] = np.arange(int(wet.sum()))
        n = int(wet.sum())
        volume = grid.volume[wet]
        rows, cols, vals = [], [], []

        def couple(cell_a, cell_b, flux_coef_a, flux_coef_b):
            # a face flux F = flux_coef_a c_a + flux_coef_b c_b leaves a and enters b
            for cell, sign in ((cell_a, -1.0), (cell_b, 1.0)):
                rows.extend([cell, cell])
                cols.extend([cell_a, cell_b])
                vals.extend([sign * flux_coef_a, sign * flux_coef_b])

        # interior x-faces between (j, i-1) and (j, i)
        interior_u = grid.flux_u & ~grid.open_u
        jj, ii = np.nonzero(interior_u)
        tu = transport_u[jj, ii]
        du = conductance_u[jj, ii]
        couple(index[jj, ii - 1], index[jj, ii], np.maximum(tu, 0) + du, np.minimum(tu, 0) - du)
        interior_v = grid.flux_v & ~grid.open_v
        jj, ii = np.nonzero(interior_v)
        tv = transport_v[jj, ii]
        dv = conductance_v[jj, ii]
        couple(index[jj - 1, ii], index[jj, ii], np.maximum(tv, 0) + dv, np.minimum(tv, 0) - dv)

        inflow = np.zeros(n)
        diag = np.zeros(n)
        # open edges: inward transport brings the ghost value, outward takes the interior value
        for face_mask, transports, cells, inward_sign in (
            (grid.open_u[:, 0], transport_u[:, 0], index[:, 0], 1.0),
            (grid.open_u[:, -1], transport_u[:, -1], index[:, -1], -1.0),
            (grid.open_v[0, :], transport_v[0, :], index[0, :], 1.0),
            (grid.open_v[-1, :], transport_v[-1, :], index[-1, :], -1.0),
        ):
            sel = face_mask
            inward = np.maximum(inward_sign * transports[sel], 0.0)
            outward = np.maximum(-inward_sign * transports[sel], 0.0)
            np.add.at(inflow, cells[sel], inward)
            np.add.at(diag, cells[sel], -outward)
        rows = np.concatenate(
            [np.concatenate([np.atleast_1d(r) for r in rows]) if rows else [], np.arange(n)]
        )
        cols = np.concatenate(
            [np.concatenate([np.atleast_1d(c) for c in cols]) if cols else [], np.arange(n)]
        )
        vals = np.concatenate(
            [np.concatenate([np.atleast_1d(v) for v in vals]) if vals else [], diag]
        )
        matrix = sp.csr_matrix((vals, (rows.astype(np.int64), cols.astype(np.int64))), shape=(n, n))
        matrix = sp.diags(1.0 / volume) @ matrix
        return cls(grid, index, matrix.tocsc(), inflow / volume, volume)

    @property
    def size(self) -> int:
        """Number of unknowns (wet cells)."""
        return self.volume.size

    def factorise(self, decay: float) -> spla.SuperLU:
        """LU factors of (A − k I) for decay rate ``decay`` [1/s]."""
        system = (self.matrix - decay * sp.identity(self.size, format="csc")).tocsc()
        return spla.splu(system)

    def to_field(self, vector: np.ndarray) -> np.ndarray:
        """(ny, nx) field from a wet-cell vector (NaN on land)."""
        field = np.full(self.grid.shape, np.nan)
        field[self.grid.wet] = vector
        return field

    def to_vector(self, field: np.ndarray) -> np.ndarray:
        """Wet-cell vector from a (ny, nx) field."""
        return np.asarray(field)[self.grid.wet]


def solve_upwind(
    operator: UpwindOperator, factors: spla.SuperLU, loads: np.ndarray, background: float
) -> np.ndarray:
    """Steady (ny, nx) concentration [mg/L] for loads (ny, nx) [g/s] and a background [mg/L]."""
    rhs = -(operator.to_vector(loads) / operator.volume + operator.inflow_rate * background)
    return operator.to_field(factors.solve(rhs))


def defect_correction(
    residual,
    initial: np.ndarray,
    solve_correction,
    *,
    tolerance: float = 1e-10,
    max_iterations: int = 300,
) -> tuple[np.ndarray, int, float]:
    """Solve residual(c) = 0 by c ← c − J⁻¹ residual(c) with an approximate Jacobian solve.

    ``residual`` maps (ntr, ny, nx) -> (ntr, ny, nx) [mg/L/s]; ``solve_correction`` maps a residual
    to a correction. Stops when max |Δc| ≤ tolerance · max |c|. Returns (c, iterations, last
    relative change).
    """
    c = initial.copy()
    change = np.inf
    for iteration in range(1, max_iterations + 1):
        delta = solve_correction(residual(c))
        c -= delta
        scale = max(float(np.nanmax(np.abs(c))), 1e-300)
        change = float(np.nanmax(np.abs(delta))) / scale
        log.debug("defect correction %d: relative change %.3e", iteration, change)
        if change <= tolerance:
            return c, iteration, change
    raise SteadyStateError(
        f"steady state did not converge in {max_iterations} iterations (last relative change "
        f"{change:.2e} > {tolerance:.0e}); try advection='upwind' or time-marching"
    )


def efolding_time(
    operator: UpwindOperator, region: np.ndarray, *, dt: float, max_time: float
) -> float:
    """Time [s] for a conservative tracer filling ``region`` to fall to 1/e of its mass there.

    The tracer starts at 1 in the (ny, nx) bool ``region`` and 0 elsewhere, with zero inflow
    concentration at the open boundaries, and is marched by implicit Euler on the upwind operator
    (one LU factorisation, first order in time: a relative error of about dt / (2 T)). Returns
    the time interpolated in log(mass); ``inf`` when it stays above 1/e until ``max_time``.
    """
    inside = operator.to_vector(region).astype(bool)
    if not inside.any():
        raise ValueError("the region holds no wet cell")
    n = operator.size
    factors = spla.splu((sp.identity(n, format="csc") - dt * operator.matrix).tocsc())
    c = inside.astype(float)
    weights = np.where(inside, operator.volume, 0.0)
    total = float(weights.sum())
    previous, time = 1.0, 0.0
    while time < max_time:
        c = factors.solve(c)
        time += dt
        fraction = float(weights @ c) / total
        if fraction <= np.exp(-1.0):
            return time - dt + dt * (np.log(previous) + 1.0) / (np.log(previous) - np.log(fraction))
        previous = fraction
    return float("inf")
