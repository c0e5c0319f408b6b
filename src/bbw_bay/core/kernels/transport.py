"""Every Numba kernel of bbw_bay: arrays and floats in, ``out`` written (no allocation in the
inner loops; each thread allocates a few row buffers once per stage).

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

Chained stages of dt/(s−1) with (a, b) = (0, 1) and a last (1/s, (s−1)/s) give the SSPRK(s,2)
step (second order in time; s = 2 is Heun's SSP-RK2), see `bbw_bay.core.solver.Solver.advance`.
Land faces and closed edges carry no flux; open-boundary faces take the ghost value on inflow and
the interior value (slope 0) on outflow, with no diffusive flux.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

LIMITERS = {"upwind": 0, "minmod": 1, "mc": 2, "vanleer": 3, "superbee": 4}

_jit_inline = nb.njit(cache=True, error_model="numpy", fastmath=False, inline="always")
_jit_parallel = nb.njit(cache=True, error_model="numpy", fastmath=False, parallel=True)


@_jit_inline
def limited_slope(backward, forward, limiter):
    """Limited cell slope from its backward/forward differences; branch-free in the data.

    |s| ≤ 2 min(|Δ−|, |Δ+|) for every limiter, which keeps each stage a convex combination.
    """
    a = abs(backward)
    b = abs(forward)
    if limiter == 1:
        m = min(a, b)
    elif limiter == 2:
        m = min(2.0 * a, 2.0 * b, 0.5 * (a + b))
    elif limiter == 3:
        m = 2.0 * a * b / (a + b)
    elif limiter == 4:
        m = max(min(2.0 * a, b), min(a, 2.0 * b))
    else:
        m = 0.0
    m = m if backward * forward > 0.0 else 0.0
    return math.copysign(m, backward)


@_jit_inline
def _row_slopes_x(c, interior_u, t, j, nx, limiter, sx):
    """Limited x-slopes of row j of tracer t (zero difference across non-interior faces)."""
    if nx == 1:
        sx[0] = 0.0
        return
    sx[0] = limited_slope(0.0, interior_u[j, 1] * (c[t, j, 1] - c[t, j, 0]), limiter)
    for i in range(1, nx - 1):
        sx[i] = limited_slope(
            interior_u[j, i] * (c[t, j, i] - c[t, j, i - 1]),
            interior_u[j, i + 1] * (c[t, j, i + 1] - c[t, j, i]),
            limiter,
        )
    sx[nx - 1] = limited_slope(
        interior_u[j, nx - 1] * (c[t, j, nx - 1] - c[t, j, nx - 2]), 0.0, limiter
    )


@_jit_inline
def _row_slopes_y(c, interior_v, t, j, ny, nx, limiter, sy):
    """Limited y-slopes of row j of tracer t."""
    jm = max(j - 1, 0)
    jp = min(j + 1, ny - 1)
    for i in range(nx):
        sy[i] = limited_slope(
            interior_v[j, i] * (c[t, j, i] - c[t, jm, i]),
            interior_v[j + 1, i] * (c[t, jp, i] - c[t, j, i]),
            limiter,
        )


@_jit_inline
def _row_flux_y(
    c, transport_v, conductance_v, ghost_south, ghost_north, t, jf, ny, nx, s_south, s_north, fv
):
    """Fluxes [g/s] through y-face row jf; s_south, s_north = y-slopes of rows jf-1, jf."""
    if jf == 0:
        for i in range(nx):
            vel = transport_v[0, i]
            fv[i] = vel * (ghost_south[t, i] if vel > 0.0 else c[t, 0, i])
    elif jf == ny:
        for i in range(nx):
            vel = transport_v[ny, i]
            fv[i] = vel * (ghost_north[t, i] if vel < 0.0 else c[t, ny - 1, i])
    else:
        for i in range(nx):
            vel = transport_v[jf, i]
            c_s = c[t, jf - 1, i]
            c_n = c[t, jf, i]
            up = c_s + 0.5 * s_south[i]
            dn = c_n - 0.5 * s_north[i]
            fv[i] = vel * (up if vel > 0.0 else dn) - conductance_v[jf, i] * (c_n - c_s)


def transport_stage(*arrays_and_scalars, moving=None):
    """One forward-Euler stage for all tracers, rows split into one block per thread.

    Arguments, in order: c, c_start, transport_u, transport_v, conductance_u, conductance_v,
    interior_u, interior_v, inv_volume, volume, decay, loads, ghost_west, ghost_east,
    ghost_south, ghost_north, dt, weight_start, weight_stage, limiter, section_ptr,
    section_kind, section_i, section_id, section_sign, region, out, row_decay, row_boundary,
    row_section, row_region_decay (see `_stage_blocks`). The thread count is read here, outside
    the compiled code, because reading it inside stops ``cache=True`` from working.

    ``moving = (volume_base, storage, offset)`` switches to one forward-Euler stage on moving
    volumes: V(τ) = volume_base + (τ − t_k) storage [m³, m³/s], the stage at ``offset`` [s]
    into its interval, weights ignored. The stage updates mass,
    c' = [V c0 + Δt Σ F(c) − Δt k V c0] / (V + Δt dV/dt),
    with c0 = ``c_start`` the cell's own concentration and ``c`` the values the face fluxes are
    built from (they differ only in cells whose outflow is treated implicitly, see
    `bbw_bay.core.moving_volumes`), so a uniform tracer stays uniform when the fluxes match the
    volume change; a cell whose new volume is 0 keeps its concentration (it holds no mass).
    """
    c = arrays_and_scalars[0]
    if moving is None:
        volume = arrays_and_scalars[9]
        moving = (volume, volume, 0.0, False)
    else:
        moving = (*moving, True)
    _stage_blocks(*arrays_and_scalars, *moving, min(c.shape[1], nb.get_num_threads()))


@_jit_parallel
def _stage_blocks(
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
    section_ptr,
    section_kind,
    section_i,
    section_id,
    section_sign,
    region,
    out,
    row_decay,
    row_boundary,
    row_section,
    row_region_decay,
    volume_base,
    storage,
    offset_stage,
    moving,
    nblock,
):
    """The stage with rows split in ``nblock`` contiguous blocks (one per thread).

    Monitored faces (sections) of row j are entries m in [section_ptr[j], section_ptr[j+1]):
    kind 0 the x-face i of row j, 1 the north y-face (j+1, i), 2 the south y-face (0, i) of row 0;
    ``row_section[t, j, section_id[m]]`` gets dt × section_sign[m] × flux [g];
    ``row_region_decay[t, j]`` the decay [g] weighted by ``region`` (1 inside, 0 outside).
    """
    ntr, ny, nx = c.shape
    for block in nb.prange(nblock):
        j0 = block * ny // nblock
        j1 = (block + 1) * ny // nblock
        sy_prev = np.zeros((ntr, nx))  # y-slopes of row j-1, j, j+1
        sy_here = np.empty((ntr, nx))
        sy_next = np.empty((ntr, nx))
        fv_s = np.empty((ntr, nx))  # fluxes through the south and north faces of row j
        fv_n = np.empty((ntr, nx))
        sx = np.empty(nx)
        fu = np.empty(nx + 1)
        for t in range(ntr):
            _row_slopes_y(c, interior_v, t, j0, ny, nx, limiter, sy_here[t])
            if j0 > 0:
                _row_slopes_y(c, interior_v, t, j0 - 1, ny, nx, limiter, sy_prev[t])
            _row_flux_y(
                c,
                transport_v,
                conductance_v,
                ghost_south,
                ghost_north,
                t,
                j0,
                ny,
                nx,
                sy_prev[t],
                sy_here[t],
                fv_s[t],
            )
        for j in range(j0, j1):
            for t in range(ntr):
                if j + 1 < ny:
                    _row_slopes_y(c, interior_v, t, j + 1, ny, nx, limiter, sy_next[t])
                _row_flux_y(
                    c,
                    transport_v,
                    conductance_v,
                    ghost_south,
                    ghost_north,
                    t,
                    j + 1,
                    ny,
                    nx,
                    sy_here[t],
                    sy_next[t],
                    fv_n[t],
                )
                _row_slopes_x(c, interior_u, t, j, nx, limiter, sx)
                vel = transport_u[j, 0]
                fu[0] = vel * (ghost_west[t, j] if vel > 0.0 else c[t, j, 0])
                for i in range(1, nx):
                    vel = transport_u[j, i]
                    c_w = c[t, j, i - 1]
                    c_e = c[t, j, i]
                    up = c_w + 0.5 * sx[i - 1]
                    dn = c_e - 0.5 * sx[i]
                    fu[i] = vel * (up if vel > 0.0 else dn) - conductance_u[j, i] * (c_e - c_w)
                vel = transport_u[j, nx]
                fu[nx] = vel * (ghost_east[t, j] if vel < 0.0 else c[t, j, nx - 1])
                k = decay[t]
                fs = fv_s[t]
                fn = fv_n[t]
                for i in range(nx):
                    divergence = fu[i] - fu[i + 1] + fs[i] - fn[i] + loads[t, j, i]
                    c_here = c[t, j, i]
                    if moving:
                        c_own = c_start[t, j, i]
                        v_stage = volume_base[j, i] + offset_stage * storage[j, i]
                        v_new = v_stage + dt * storage[j, i]
                        mass = v_stage * c_own + dt * divergence - dt * k * v_stage * c_own
                        out[t, j, i] = max(mass, 0.0) / v_new if v_new > 0.0 else c_own
                    else:
                        stage = c_here + dt * inv_volume[j, i] * divergence - dt * k * c_here
                        out[t, j, i] = weight_start * c_start[t, j, i] + weight_stage * stage
                decayed = 0.0
                region_decayed = 0.0
                for i in range(nx):
                    if moving:
                        vol = volume_base[j, i] + offset_stage * storage[j, i]
                        cell_decay = dt * k * c_start[t, j, i] * vol
                    else:
                        cell_decay = dt * k * c[t, j, i] * volume[j, i]
                    decayed += cell_decay
                    region_decayed += cell_decay * region[j, i]
                row_region_decay[t, j] = region_decayed
                boundary_in = fu[0] - fu[nx]
                if j == 0:
                    for i in range(nx):
                        boundary_in += fs[i]
                if j == ny - 1:
                    for i in range(nx):
                        boundary_in -= fn[i]
                row_decay[t, j] = decayed
                row_boundary[t, j] = dt * boundary_in
                for q in range(row_section.shape[2]):
                    row_section[t, j, q] = 0.0
                for m in range(section_ptr[j], section_ptr[j + 1]):
                    kind = section_kind[m]
                    i = section_i[m]
                    face_flux = fu[i] if kind == 0 else (fn[i] if kind == 1 else fs[i])
                    row_section[t, j, section_id[m]] += dt * section_sign[m] * face_flux
            sy_prev, sy_here, sy_next = sy_here, sy_next, sy_prev
            fv_s, fv_n = fv_n, fv_s


@_jit_parallel
def stream_triad(a, b, c, scalar):
    """STREAM triad a = b + scalar·c (memory-bandwidth probe for the benchmarks)."""
    n = a.size
    for k in nb.prange(n):
        a[k] = b[k] + scalar * c[k]


def set_threads(n: int | None) -> int:
    """Set the number of Numba threads (None = all); returns the number in use."""
    if n is not None:
        nb.set_num_threads(max(1, min(int(n), nb.config.NUMBA_NUM_THREADS)))  # type: ignore[attr-defined]
    return nb.get_num_threads()


def threading_layer() -> str:
    """Name of Numba's active threading layer (after the first parallel call)."""
    try:
        return nb.threading_layer()
    except ValueError:
        return "unknown"
