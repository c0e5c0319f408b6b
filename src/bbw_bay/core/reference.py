"""Readable NumPy reference of the transport stage in `bbw_bay.core.kernels.transport`.

Same discrete equations, vectorised over whole arrays. It exists to check the compiled kernel
(they agree to round-off) and as the baseline of the performance benchmarks.
"""

from __future__ import annotations

import numpy as np


def limited_slope(backward: np.ndarray, forward: np.ndarray, limiter: int) -> np.ndarray:
    """Limited slopes (difference per cell) from backward/forward differences (see kernels)."""
    a = np.abs(backward)
    b = np.abs(forward)
    same_sign = backward * forward > 0.0
    if limiter == 0:
        return np.zeros_like(backward)
    if limiter == 1:
        magnitude = np.minimum(a, b)
    elif limiter == 2:
        magnitude = np.minimum(np.minimum(2 * a, 2 * b), 0.5 * (a + b))
    elif limiter == 3:
        total = a + b
        magnitude = np.divide(2 * a * b, total, out=np.zeros_like(total), where=total > 0)
    else:
        magnitude = np.maximum(np.minimum(2 * a, b), np.minimum(a, 2 * b))
    return np.where(same_sign, np.sign(backward) * magnitude, 0.0)


def _slopes(c: np.ndarray, interior: np.ndarray, axis: int, limiter: int) -> np.ndarray:
    """Cell slopes along ``axis`` (-1 x, -2 y); differences across non-interior faces are 0."""
    diff = np.diff(c, axis=axis)  # differences across the inner faces
    if axis == -1:
        diff = diff * interior[None, :, 1:-1]
        zeros = np.zeros_like(c[..., :1])
        backward = np.concatenate([zeros, diff], axis=-1)
        forward = np.concatenate([diff, zeros], axis=-1)
    else:
        diff = diff * interior[None, 1:-1, :]
        zeros = np.zeros_like(c[:, :1, :])
        backward = np.concatenate([zeros, diff], axis=-2)
        forward = np.concatenate([diff, zeros], axis=-2)
    return limited_slope(backward, forward, limiter)


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
):
    """(flux_u (ntr, ny, nx+1), flux_v (ntr, ny+1, nx)) advective + diffusive fluxes [g/s]."""
    ntr, ny, nx = c.shape
    slope_x = _slopes(c, interior_u, -1, limiter)
    slope_y = _slopes(c, interior_v, -2, limiter)
    flux_u = np.empty((ntr, ny, nx + 1))
    tu = transport_u[None, :, 1:-1]
    west_value = c[:, :, :-1] + 0.5 * slope_x[:, :, :-1]
    east_value = c[:, :, 1:] - 0.5 * slope_x[:, :, 1:]
    flux_u[:, :, 1:-1] = np.where(tu > 0, tu * west_value, tu * east_value) - conductance_u[
        None, :, 1:-1
    ] * (c[:, :, 1:] - c[:, :, :-1])
    edge = transport_u[None, :, 0]
    flux_u[:, :, 0] = np.where(edge > 0, edge * ghost_west, edge * c[:, :, 0])
    edge = transport_u[None, :, -1]
    flux_u[:, :, -1] = np.where(edge < 0, edge * ghost_east, edge * c[:, :, -1])

    flux_v = np.empty((ntr, ny + 1, nx))
    tv = transport_v[None, 1:-1, :]
    south_value = c[:, :-1, :] + 0.5 * slope_y[:, :-1, :]
    north_value = c[:, 1:, :] - 0.5 * slope_y[:, 1:, :]
    flux_v[:, 1:-1, :] = np.where(tv > 0, tv * south_value, tv * north_value) - conductance_v[
        None, 1:-1, :
    ] * (c[:, 1:, :] - c[:, :-1, :])
    edge = transport_v[None, 0, :]
    flux_v[:, 0, :] = np.where(edge > 0, edge * ghost_south, edge * c[:, 0, :])
    edge = transport_v[None, -1, :]
    flux_v[:, -1, :] = np.where(edge < 0, edge * ghost_north, edge * c[:, -1, :])
    return flux_u, flux_v


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
    section_ptr,
    section_kind,
    section_i,
    section_id,
    section_sign,
    region,
    nsection,
):
    """NumPy twin of `kernels.transport_stage`.

    Returns (out, decayed (ntr,), boundary_in (ntr,), section_in (ntr, nsection),
    region_decayed (ntr,)) [g].
    """
    flux_u, flux_v = face_fluxes(
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
    )
    divergence = flux_u[:, :, :-1] - flux_u[:, :, 1:] + flux_v[:, :-1, :] - flux_v[:, 1:, :] + loads
    k = decay[:, None, None]
    stage = c + dt * inv_volume[None] * divergence - dt * k * c
    out = weight_start * c_start + weight_stage * stage
    decayed = dt * np.sum(k * c * volume[None], axis=(1, 2))
    boundary_in = dt * (
        flux_u[:, :, 0].sum(axis=1)
        - flux_u[:, :, -1].sum(axis=1)
        + flux_v[:, 0, :].sum(axis=1)
        - flux_v[:, -1, :].sum(axis=1)
    )
    section_in = np.zeros((c.shape[0], nsection))
    rows = np.repeat(np.arange(len(section_ptr) - 1), np.diff(section_ptr))
    for j, kind, i, q, sign in zip(
        rows, section_kind, section_i, section_id, section_sign, strict=True
    ):
        face = flux_u[:, j, i] if kind == 0 else flux_v[:, j + 1 if kind == 1 else 0, i]
        section_in[:, q] += dt * sign * face
    region_decayed = dt * np.sum(k * c * (volume * region)[None], axis=(1, 2))
    return out, decayed, boundary_in, section_in, region_decayed
