"""Every Numba kernel of bbw_bay: arrays and floats in, ``out`` written, nothing allocated.

The transport step is a finite-volume flux divergence on the C-grid, so mass is conserved to
round-off by construction. One forward-Euler stage, for all tracers in one pass, is

    c' = a·c0 + b·[ c + Δt/V_i (Σ_in F − Σ_out F + W_i) − Δt k c ]

with face fluxes F = F_adv + F_diff:

* advection (MUSCL, second order in smooth regions): the face value is reconstructed from the
  upwind cell with a limited slope, ``c_face = c_up ± s_up/2``; the slope limiter keeps
  ``|s| ≤ 2 min(|Δ−|, |Δ+|)`` so each stage is a convex combination of neighbour values whenever
  ``Δt (2 Σ_out F + Σ D) / V + Δt k ≤ 1`` (the solver's positivity bound);
* diffusion: ``F_diff = −D (c_R − c_L)``, ``D = K h_f L_f / Δs`` [m³/s] (second order);
* decay ``−k c`` and loads ``W`` [g/s].

Two stages with (a, b) = (0, 1) and (½, ½) give Heun's SSP-RK2 step (second order in time).
Land faces and closed edges carry no flux; open-boundary faces take the ghost value on inflow and
the interior value (slope 0) on outflow, with no diffusive flux.
"""

from __future__ import annotations

import numba as nb
import numpy as np

LIMITERS = {"upwind": 0, "minmod": 1, "mc": 2, "vanleer": 3, "superbee": 4}

_jit = nb.njit(cache=True, error_model="numpy", fastmath=False)
_jit_parallel = nb.njit(cache=True, error_model="numpy", fastmath=False, parallel=True)


@_jit
def limited_slope(backward: float, forward: float, limiter: int) -> float:
    """Limited cell slope (difference per cell) from its backward and forward differences."""
    if limiter == 0 or backward * forward <= 0.0:
        return 0.0
    sign = 1.0 if backward > 0.0 else -1.0
    a = abs(backward)
    b = abs(forward)
    if limiter == 1:  # minmod
        return sign * min(a, b)
    if limiter == 2:  # monotonised central
        return sign * min(2.0 * a, 2.0 * b, 0.5 * (a + b))
    if limiter == 3:  # van Leer (harmonic)
        return sign * 2.0 * a * b / (a + b)
    # superbee
    return sign * max(min(2.0 * a, b), min(a, 2.0 * b))


@_jit
def _slope_x(c, interior_u, t, j, i, nx, limiter):
    """Limited x-slope of cell (j, i); differences across non-interior faces count as zero."""
    im = max(i - 1, 0)
    ip = min(i + 1, nx - 1)
    backward = interior_u[j, i] * (c[t, j, i] - c[t, j, im])
    forward = interior_u[j, i + 1] * (c[t, j, ip] - c[t, j, i])
    return limited_slope(backward, forward, limiter)


@_jit
def _slope_y(c, interior_v, t, j, i, ny, limiter):
    """Limited y-slope of cell (j, i); differences across non-interior faces count as zero."""
    jm = max(j - 1, 0)
    jp = min(j + 1, ny - 1)
    backward = interior_v[j, i] * (c[t, j, i] - c[t, jm, i])
    forward = interior_v[j + 1, i] * (c[t, jp, i] - c[t, j, i])
    return limited_slope(backward, forward, limiter)


@_jit
def _flux_y(
    c, transport_v, conductance_v, interior_v, ghost_south, ghost_north, t, jf, i, ny, limiter
):
    """Advective + diffusive flux [g/s] through y-face jf of column i (positive northward)."""
    vel = transport_v[jf, i]
    if jf == 0:
        if vel > 0.0:
            return vel * ghost_south[t, i]
        return vel * c[t, 0, i]
    if jf == ny:
        if vel < 0.0:
            return vel * ghost_north[t, i]
        return vel * c[t, ny - 1, i]
    c_s = c[t, jf - 1, i]
    c_n = c[t, jf, i]
    if vel > 0.0:
        face = c_s + 0.5 * _slope_y(c, interior_v, t, jf - 1, i, ny, limiter)
    else:
        face = c_n - 0.5 * _slope_y(c, interior_v, t, jf, i, ny, limiter)
    return vel * face - conductance_v[jf, i] * (c_n - c_s)


@_jit_parallel
def transport_stage(
    c,
    c_start,
    transport_u,
    transport_v,
    conductance_u,
    conductance_v,
    interior_u,
    interior_v,
    inv_volume,
    volume,
    decay,
    loads,
    ghost_west,
    ghost_east,
    ghost_south,
    ghost_north,
    dt,
    weight_start,
    weight_stage,
    limiter,
    out,
    row_decay,
    row_boundary,
):
    """One forward-Euler stage of advection–diffusion–decay for all tracers (see module doc).

    Shapes: c, c_start, loads, out (ntr, ny, nx); transport_u, conductance_u, interior_u
    (ny, nx+1); transport_v, conductance_v, interior_v (ny+1, nx); inv_volume, volume (ny, nx)
    [1/m³, m³; 0 on land]; decay (ntr,) [1/s]; ghosts (ntr, ny) west/east, (ntr, nx)
    south/north [g/m³]. Writes out = weight_start·c_start + weight_stage·(stage result), and per
    row the stage's decayed mass row_decay (ntr, ny) [g] and net boundary inflow row_boundary
    (ntr, ny) [g] over dt.
    """
    ntr, ny, nx = c.shape
    for j in nb.prange(ny):
        for t in range(ntr):
            k = decay[t]
            boundary_in = 0.0
            decayed = 0.0
            # x-faces: carry the flux of the west face into the next cell
            vel = transport_u[j, 0]
            if vel > 0.0:
                flux_west = vel * ghost_west[t, j]
            else:
                flux_west = vel * c[t, j, 0]
            boundary_in += flux_west
            slope_here = _slope_x(c, interior_u, t, j, 0, nx, limiter)
            for i in range(nx):
                # east face of cell i
                vel = transport_u[j, i + 1]
                if i == nx - 1:
                    if vel < 0.0:
                        flux_east = vel * ghost_east[t, j]
                    else:
                        flux_east = vel * c[t, j, i]
                    boundary_in -= flux_east
                    slope_next = 0.0
                else:
                    slope_next = _slope_x(c, interior_u, t, j, i + 1, nx, limiter)
                    if vel > 0.0:
                        face = c[t, j, i] + 0.5 * slope_here
                    else:
                        face = c[t, j, i + 1] - 0.5 * slope_next
                    flux_east = vel * face - conductance_u[j, i + 1] * (c[t, j, i + 1] - c[t, j, i])
                flux_south = _flux_y(
                    c,
                    transport_v,
                    conductance_v,
                    interior_v,
                    ghost_south,
                    ghost_north,
                    t,
                    j,
                    i,
                    ny,
                    limiter,
                )
                flux_north = _flux_y(
                    c,
                    transport_v,
                    conductance_v,
                    interior_v,
                    ghost_south,
                    ghost_north,
                    t,
                    j + 1,
                    i,
                    ny,
                    limiter,
                )
                if j == 0:
                    boundary_in += flux_south
                if j == ny - 1:
                    boundary_in -= flux_north
                divergence = flux_west - flux_east + flux_south - flux_north + loads[t, j, i]
                c_here = c[t, j, i]
                stage = c_here + dt * inv_volume[j, i] * divergence - dt * k * c_here
                decayed += dt * k * c_here * volume[j, i]
                out[t, j, i] = weight_start * c_start[t, j, i] + weight_stage * stage
                flux_west = flux_east
                slope_here = slope_next
            row_decay[t, j] = decayed
            row_boundary[t, j] = dt * boundary_in


@_jit_parallel
def stream_triad(a, b, c, scalar):
    """STREAM triad a = b + scalar·c (memory-bandwidth probe for the benchmarks)."""
    n = a.size
    for k in nb.prange(n):
        a[k] = b[k] + scalar * c[k]


def set_threads(n: int | None) -> int:
    """Set the number of Numba threads (None = all); returns the number in use."""
    if n is not None:
        nb.set_num_threads(max(1, min(int(n), nb.config.NUMBA_NUM_THREADS)))
    return nb.get_num_threads()


def threading_layer() -> str:
    """Name of Numba's active threading layer (after the first parallel call)."""
    try:
        return nb.threading_layer()
    except ValueError:
        return "unknown"


def warm_up() -> None:
    """Compile (or load from cache) the kernels on a tiny problem."""
    ntr, ny, nx = 1, 2, 2
    c = np.zeros((ntr, ny, nx))
    fu = np.zeros((ny, nx + 1))
    fv = np.zeros((ny + 1, nx))
    cell = np.ones((ny, nx))
    g_x = np.zeros((ntr, ny))
    g_y = np.zeros((ntr, nx))
    transport_stage(
        c,
        c,
        fu,
        fv,
        fu,
        fv,
        fu,
        fv,
        cell,
        cell,
        np.zeros(ntr),
        c,
        g_x,
        g_x,
        g_y,
        g_y,
        1.0,
        0.0,
        1.0,
        2,
        np.empty_like(c),
        np.zeros((ntr, ny)),
        np.zeros((ntr, ny)),
    )
