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


@_jit_parallel
def face_fluxes(
    c,
    transport_u,
    transport_v,
    conductance_u,
    conductance_v,
    interior_u,
    interior_v,
    ghost_west,
    ghost_east,
    ghost_south,
    ghost_north,
    limiter,
    flux_u,
    flux_v,
):
    """Advective + diffusive fluxes [g/s] through every face, for all tracers.

    Writes flux_u (ntr, ny, nx+1) (positive eastward) and flux_v (ntr, ny+1, nx) (positive
    northward). Each face is computed once, so the neighbouring cells see bitwise-identical fluxes
    and the divergence conserves mass to round-off.
    """
    ntr, ny, nx = c.shape
    for j in nb.prange(ny + 1):
        for t in range(ntr):
            if j < ny:
                vel = transport_u[j, 0]
                flux_u[t, j, 0] = vel * (ghost_west[t, j] if vel > 0.0 else c[t, j, 0])
                slope_west = _slope_x(c, interior_u, t, j, 0, nx, limiter)
                for i in range(1, nx):
                    slope_east = _slope_x(c, interior_u, t, j, i, nx, limiter)
                    vel = transport_u[j, i]
                    c_w = c[t, j, i - 1]
                    c_e = c[t, j, i]
                    if vel > 0.0:
                        face = c_w + 0.5 * slope_west
                    else:
                        face = c_e - 0.5 * slope_east
                    flux_u[t, j, i] = vel * face - conductance_u[j, i] * (c_e - c_w)
                    slope_west = slope_east
                vel = transport_u[j, nx]
                flux_u[t, j, nx] = vel * (ghost_east[t, j] if vel < 0.0 else c[t, j, nx - 1])
            if j == 0:
                for i in range(nx):
                    vel = transport_v[0, i]
                    flux_v[t, 0, i] = vel * (ghost_south[t, i] if vel > 0.0 else c[t, 0, i])
            elif j == ny:
                for i in range(nx):
                    vel = transport_v[ny, i]
                    flux_v[t, ny, i] = vel * (ghost_north[t, i] if vel < 0.0 else c[t, ny - 1, i])
            else:
                for i in range(nx):
                    vel = transport_v[j, i]
                    c_s = c[t, j - 1, i]
                    c_n = c[t, j, i]
                    if vel > 0.0:
                        face = c_s + 0.5 * _slope_y(c, interior_v, t, j - 1, i, ny, limiter)
                    else:
                        face = c_n - 0.5 * _slope_y(c, interior_v, t, j, i, ny, limiter)
                    flux_v[t, j, i] = vel * face - conductance_v[j, i] * (c_n - c_s)


@_jit_parallel
def apply_fluxes(
    c,
    c_start,
    flux_u,
    flux_v,
    inv_volume,
    volume,
    decay,
    loads,
    dt,
    weight_start,
    weight_stage,
    out,
    row_decay,
    row_boundary,
):
    """out = weight_start·c_start + weight_stage·(c + Δt/V (flux divergence + loads) − Δt k c).

    Also writes per row the decayed mass row_decay (ntr, ny) [g] and the net inflow through the
    domain edges row_boundary (ntr, ny) [g] over the stage.
    """
    ntr, ny, nx = c.shape
    for j in nb.prange(ny):
        for t in range(ntr):
            k = decay[t]
            decayed = 0.0
            for i in range(nx):
                divergence = (
                    flux_u[t, j, i]
                    - flux_u[t, j, i + 1]
                    + flux_v[t, j, i]
                    - flux_v[t, j + 1, i]
                    + loads[t, j, i]
                )
                c_here = c[t, j, i]
                stage = c_here + dt * inv_volume[j, i] * divergence - dt * k * c_here
                decayed += dt * k * c_here * volume[j, i]
                out[t, j, i] = weight_start * c_start[t, j, i] + weight_stage * stage
            boundary_in = flux_u[t, j, 0] - flux_u[t, j, nx]
            if j == 0:
                for i in range(nx):
                    boundary_in += flux_v[t, 0, i]
            if j == ny - 1:
                for i in range(nx):
                    boundary_in -= flux_v[t, ny, i]
            row_decay[t, j] = decayed
            row_boundary[t, j] = dt * boundary_in


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
    flux_u,
    flux_v,
):
    """One forward-Euler stage for all tracers (see module doc): face fluxes, then divergence.

    Shapes: c, c_start, loads, out (ntr, ny, nx); transport_u, conductance_u, interior_u
    (ny, nx+1); transport_v, conductance_v, interior_v (ny+1, nx); inv_volume, volume (ny, nx)
    [1/m³, m³; 0 on land]; decay (ntr,) [1/s]; ghosts (ntr, ny) west/east, (ntr, nx)
    south/north [g/m³]; scratch flux_u (ntr, ny, nx+1), flux_v (ntr, ny+1, nx) [g/s].
    """
    face_fluxes(
        c,
        transport_u,
        transport_v,
        conductance_u,
        conductance_v,
        interior_u,
        interior_v,
        ghost_west,
        ghost_east,
        ghost_south,
        ghost_north,
        limiter,
        flux_u,
        flux_v,
    )
    apply_fluxes(
        c,
        c_start,
        flux_u,
        flux_v,
        inv_volume,
        volume,
        decay,
        loads,
        dt,
        weight_start,
        weight_stage,
        out,
        row_decay,
        row_boundary,
    )


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
