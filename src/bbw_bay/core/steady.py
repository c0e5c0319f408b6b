"""Sparse steady-state and response solves of the transport discretisation (scipy.sparse).

With steady flow, the semi-discrete equation of `core.kernels.transport` is dc/dt = R(c).
For first-order upwind advection R is affine, R(c) = A c + s, and the steady state solves
A c = −s directly with one LU factorisation (reused for any number of right-hand sides,
and transposed for adjoint receptor solves). For limited (MUSCL) schemes R is nonlinear;
the steady state R(c) = 0 is found by defect correction on the upwind factorisation:
c ← c − A⁻¹ R(c), where R is evaluated by the very kernel used for time marching, so the
answer is the time-marching scheme's own steady state.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.sparse.csgraph import connected_components

from bbw_bay.core.grid import Grid
from bbw_bay.errors import BadInputError, RuntimeFailure

log = logging.getLogger(__name__)


class SteadyStateError(RuntimeFailure):
    """The steady-state iteration did not converge."""


class NoSteadyStateError(SteadyStateError, BadInputError):
    """The steady problem is singular: no steady state exists for this set-up (bad input)."""


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

        def stacked(parts: list, tail: np.ndarray) -> np.ndarray:
            head = [np.concatenate([np.atleast_1d(part) for part in parts])] if parts else []
            return np.concatenate([*head, tail])

        all_rows = stacked(rows, np.arange(n)).astype(np.int64)
        all_cols = stacked(cols, np.arange(n)).astype(np.int64)
        all_vals = stacked(vals, diag)
        matrix = sp.csr_matrix((all_vals, (all_rows, all_cols)), shape=(n, n))
        matrix = sp.diags(1.0 / volume) @ matrix
        return cls(grid, index, matrix.tocsc(), inflow / volume, volume)

    @property
    def size(self) -> int:
        """Number of unknowns (wet cells)."""
        return self.volume.size

    def factorise(self, decay: float) -> spla.SuperLU:
        """LU factors of (A − k I) for decay rate ``decay`` [1/s]."""
        message = (
            "no steady state exists: some water neither leaves through an open boundary nor "
            "decays (a closed basin or a dead end with decay_per_day = 0); give the tracer a "
            "decay rate, open an edge, or use time-marching"
        )
        closed = self._closed_component() if decay <= 0 else None
        if closed is not None:
            j, i = closed
            raise NoSteadyStateError(f"{message}; e.g. the water around cell (j={j}, i={i})")
        system = (self.matrix - decay * sp.identity(self.size, format="csc")).tocsc()
        try:
            return spla.splu(system)
        except RuntimeError as err:  # "Factor is exactly singular"
            raise NoSteadyStateError(message) from err

    def _closed_component(self) -> tuple[int, int] | None:
        """(j, i) of a cell in a connected body of water with no net outflow, or None.

        The operator conserves mass inside a body except through open-boundary outflow, so
        Σ V (A c) over a body with no outflow is zero for every c: A is singular there.
        """
        n_bodies, body = connected_components(self.matrix, directed=False)
        # Σ_i V_i A_ij = −(open-boundary outflow of cell j) [m³/s] for a conservative operator
        leak = -np.asarray(self.matrix.T @ self.volume).ravel()
        per_body = np.bincount(body, weights=leak, minlength=n_bodies)
        scale = float(np.abs(self.matrix).max()) * float(self.volume.max())
        closed = np.nonzero(per_body <= 1e-12 * scale)[0]  # zero up to round-off
        if closed.size == 0:
            return None
        cell = int(np.nonzero(body == closed[0])[0][0])
        j, i = np.argwhere(self.index == cell)[0]
        return int(j), int(i)

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


#: Relative change [-] below which the defect correction counts as converged once it stalls:
#: the residual of sums over ~1e5 cells cannot resolve smaller changes (≈ 1e5 × machine ε).
ROUND_OFF_FLOOR = 1e-8
#: Iterations without improvement that count as a stall.
STALL_ITERATIONS = 20


def defect_correction(
    residual,
    initial: np.ndarray,
    solve_correction,
    *,
    tolerance: float = 1e-10,
    max_iterations: int = 300,
    memory: int = 8,
) -> tuple[np.ndarray, int, float]:
    """Solve residual(c) = 0 by c ← c − J⁻¹ residual(c), Anderson-accelerated.

    ``residual`` maps (ntr, ny, nx) -> (ntr, ny, nx) [mg/L/s]; ``solve_correction`` maps a residual
    to a correction (an approximate Jacobian solve). The plain iteration is a fixed point
    c = g(c) = c − J⁻¹ R(c); Anderson mixing (Walker & Ni 2011, SIAM J. Numer. Anal. 49:1715)
    combines the last ``memory`` iterates per tracer by least squares on g(c) − c, which leaves
    the fixed point, and so the answer, unchanged (``memory=0``: the plain iteration). Stops
    when max |Δc| ≤ tolerance · max |c|, or when the change has reached round-off
    (`ROUND_OFF_FLOOR`) and not improved for `STALL_ITERATIONS` iterations. Returns
    (c, iterations, last relative change).
    """
    c = initial.copy()
    change = np.inf
    history_f: list[np.ndarray] = []  # f_k = g(c_k) − c_k, flattened per tracer (ntr, n)
    history_c: list[np.ndarray] = []
    best, best_at = np.inf, 0
    for iteration in range(1, max_iterations + 1):
        step = -solve_correction(residual(c))  # f_k
        f = np.nan_to_num(step).reshape(step.shape[0], -1)
        x = np.nan_to_num(c).reshape(f.shape)
        new = x + f
        if memory and history_f:
            d_f = np.stack([f - h for h in history_f], axis=-1)  # (ntr, n, m)
            d_x = np.stack([x - h for h in history_c], axis=-1)
            for t in range(f.shape[0]):
                gamma = np.linalg.lstsq(d_f[t], f[t], rcond=None)[0]
                new[t] -= (d_x[t] + d_f[t]) @ gamma
        history_f = ([f] + history_f)[:memory]
        history_c = ([x] + history_c)[:memory]
        delta = new - x
        c = new.reshape(c.shape)
        scale = max(float(np.abs(new).max()), 1e-300)
        change = float(np.abs(delta).max()) / scale
        log.debug("defect correction %d: relative change %.3e", iteration, change)
        best = min(best, change)
        stalled = best <= ROUND_OFF_FLOOR and iteration - best_at > STALL_ITERATIONS
        if change <= tolerance or stalled:
            return c, iteration, change
        if change <= best:
            best_at = iteration
    raise SteadyStateError(
        f"steady state did not converge in {max_iterations} iterations (last relative change "
        f"{change:.2e} > {tolerance:.0e}); try advection='upwind' or time-marching"
    )


def efolding_times(
    operator: UpwindOperator, regions: dict[str, np.ndarray], *, dt: float, max_time: float
) -> dict[str, float]:
    """Time [s] for a conservative tracer filling each region to fall to 1/e of its mass there.

    Each (ny, nx) bool region starts at 1 inside and 0 elsewhere, with zero inflow concentration
    at the open boundaries; all are marched together by implicit Euler on the upwind operator
    (one LU factorisation, first order in time: a relative error of about dt / (2 T)). Each time
    is interpolated in log(mass); ``inf`` when the mass stays above 1/e until ``max_time``.
    """
    names = list(regions)
    inside = np.stack([operator.to_vector(regions[n]).astype(bool) for n in names], axis=1)
    has_wet = np.asarray(inside.any(axis=0)).tolist()
    empty = [n for n, k in zip(names, has_wet, strict=True) if not k]
    if empty:
        raise BadInputError(f"regions without a wet cell: {', '.join(empty)}")
    n = operator.size
    factors = spla.splu((sp.identity(n, format="csc") - dt * operator.matrix).tocsc())
    c = inside.astype(float)
    weights = np.where(inside, operator.volume[:, None], 0.0)
    total = weights.sum(axis=0)
    previous = np.ones(len(names))
    result = np.full(len(names), np.inf)
    time = 0.0
    while time < max_time and np.isinf(result).any():
        c = factors.solve(c)
        time += dt
        fraction = (weights * c).sum(axis=0) / total
        crossed = np.isinf(result) & (fraction <= np.exp(-1.0))
        log_prev, log_now = np.log(previous[crossed]), np.log(fraction[crossed])
        result[crossed] = time - dt + dt * (log_prev + 1.0) / (log_prev - log_now)
        previous = fraction
    return {name: float(t) for name, t in zip(names, result, strict=True)}
