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
    moving=None,
):
    """NumPy twin of `kernels.transport_stage` (``moving`` as there).

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
    if moving is None:
        stage = c + dt * inv_volume[None] * divergence - dt * k * c
        out = weight_start * c_start + weight_stage * stage
    else:  # one Euler stage on moving volumes: c_start is each cell's own concentration
        base, storage, offset = moving
        volume = base + offset * storage
        target = volume + dt * storage
        mass = volume * c_start + dt * divergence - dt * k * volume * c_start
        safe = np.where(target > 0, target, 1.0)
        out = np.where(target > 0, np.maximum(mass, 0.0) / safe, c_start)
        c = c_start  # decay acts on the cell's own concentration
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


# ----------------------------------------------------------------------------- shallow water
def free_surface_matrix(diag: np.ndarray, k_u: np.ndarray, k_v: np.ndarray):
    """The operator of `kernels.shallow_water.pcg` as a SciPy CSR matrix (n = ny·nx)."""
    import scipy.sparse as sp

    ny, nx = diag.shape
    index = np.arange(ny * nx).reshape(ny, nx)
    rows = [index.ravel(), index[:, 1:].ravel(), index[:, :-1].ravel()]
    cols = [index.ravel(), index[:, :-1].ravel(), index[:, 1:].ravel()]
    vals = [diag.ravel(), -k_u[:, 1:-1].ravel(), -k_u[:, 1:-1].ravel()]
    rows += [index[1:].ravel(), index[:-1].ravel()]
    cols += [index[:-1].ravel(), index[1:].ravel()]
    vals += [-k_v[1:-1].ravel(), -k_v[1:-1].ravel()]
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(ny * nx,) * 2
    )


def scipy_solve(matrix, rhs, guess, method: str, tolerance: float, diag) -> tuple[np.ndarray, int]:
    """Solve the free-surface system with SciPy ("splu", "cg") or pyamg; (x (ny, nx), iterations).

    The iterative solvers stop at the same criterion as the Numba PCG: √(Σ r²/d / Σ d) below
    ``tolerance`` [m] (passed to SciPy as an absolute residual norm of the Jacobi-scaled system).
    """
    import scipy.sparse.linalg as spla

    shape = rhs.shape
    b = rhs.ravel()
    if method == "splu":
        return spla.splu(matrix.tocsc()).solve(b).reshape(shape), 1
    d = diag.ravel()
    scale = 1.0 / np.sqrt(d)
    scaled = matrix.multiply(scale[:, None]).multiply(scale[None, :]).tocsr()
    atol = tolerance * np.sqrt(d.sum())
    count = [0]

    def callback(_):
        count[0] += 1

    if method == "pyamg":
        import pyamg

        ml = pyamg.smoothed_aggregation_solver(scaled)
        y = ml.solve(
            b * scale,
            x0=guess.ravel() / scale,
            tol=atol / max(np.linalg.norm(b * scale), 1e-300),
            accel="cg",
            callback=callback,
        )
    else:
        y, info = spla.cg(
            scaled,
            b * scale,
            x0=guess.ravel() / scale,
            rtol=0.0,
            atol=atol,
            maxiter=5000,
            callback=callback,
        )
    return (y * scale).reshape(shape), count[0]


def _face_etas(depth_total, bed, ghost_u, ghost_v):
    eta = depth_total - bed
    eta_u = np.concatenate([ghost_u[:, :1], eta, ghost_u[:, 1:]], axis=1)
    eta_v = np.concatenate([ghost_v[:1], eta, ghost_v[1:]], axis=0)
    return eta_u, eta_v


def _neighbour(arr, kind, shift, axis):
    """Values of the face ``shift`` away along ``axis`` (own value where that face is a wall)."""
    out = arr.copy()
    src = np.roll(arr, -shift, axis=axis)
    ok = np.roll(kind, -shift, axis=axis) != 0
    n = arr.shape[axis]
    valid = np.ones_like(ok)
    idx = [slice(None)] * arr.ndim
    idx[axis] = slice(n - 1, n) if shift > 0 else slice(0, 1)
    valid[tuple(idx)] = False
    use = ok & valid
    out[use] = src[use]
    return out


def _momentum_one(
    vel, other_bar, eta_lo, eta_hi, kind, bed_f, length, ds, cor, cd, man, tau, p, across
):
    """NumPy twin of one face family of `kernels.shallow_water.momentum_faces`."""
    g, theta, dt, dry, nu, lin, rho, adv = p
    up = np.where(vel > 0, eta_lo, np.where(vel < 0, eta_hi, np.maximum(eta_lo, eta_hi)))
    hf = np.where(kind != 0, up + bed_f, 0.0)
    hf = np.where(hf > dry, hf, 0.0)
    open_ = hf > 0
    safe = np.where(open_, hf, 1.0)
    a = 0.5 * cor * dt
    sign = 1.0 if across == "u" else -1.0
    e = ((1 - a * a) * vel + sign * 2 * a * other_bar) / (1 + a * a)
    acc = tau / (rho * safe)
    along, side = (1, 0) if across == "u" else (0, 1)
    lo = _neighbour(vel, kind, -1, along)
    hi = _neighbour(vel, kind, 1, along)
    s_lo = _neighbour(vel, kind, -1, side)
    s_hi = _neighbour(vel, kind, 1, side)
    interior = kind == 1
    extra = nu * ((hi - 2 * vel + lo) / ds**2 + (s_hi - 2 * vel + s_lo) / length**2)
    if adv > 0:
        d_along = np.where(vel > 0, (vel - lo) / ds, (hi - vel) / ds)
        d_side = np.where(other_bar > 0, (vel - s_lo) / length, (s_hi - vel) / length)
        extra = extra - (vel * d_along + other_bar * d_side)
    if nu > 0 or adv > 0:
        acc = acc + np.where(interior, extra, 0.0)
    e = e + dt * acc - g * (1 - theta) * dt * (eta_hi - eta_lo) / ds
    speed = np.sqrt(vel**2 + other_bar**2)
    drag = np.where(man > 0, g * man**2 / safe ** (1.0 / 3.0), cd)
    den = 1 + dt * (drag * speed + lin) / safe
    k = theta * dt * g * theta * dt * length * hf / (ds * den)
    b = length * hf * e / den
    flather = kind == 3
    k = np.where(flather, theta * dt * length * np.sqrt(g * hf), k)
    b = np.where(flather, 0.0, b)
    return hf, np.where(open_, k, 0.0), np.where(open_, b, 0.0)


def shallow_water_momentum(
    depth_total,
    bed,
    u,
    v,
    kind_u,
    kind_v,
    bed_u,
    bed_v,
    length_u,
    length_v,
    spacing_u,
    spacing_v,
    coriolis_u,
    coriolis_v,
    cd_u,
    cd_v,
    manning_u,
    manning_v,
    tau_u,
    tau_v,
    ghost_u,
    ghost_v,
    params,
):
    """NumPy twin of `kernels.shallow_water.momentum_faces`: (h_u, k_u, b_u, h_v, k_v, b_v)."""
    eta_u, eta_v = _face_etas(depth_total, bed, ghost_u, ghost_v)
    vc = np.concatenate([v[:, :1], v, v[:, -1:]], axis=1)  # edge columns repeat the interior
    vbar = 0.25 * (vc[:-1, :-1] + vc[1:, :-1] + vc[:-1, 1:] + vc[1:, 1:])
    uc = np.concatenate([u[:1], u, u[-1:]], axis=0)
    ubar = 0.25 * (uc[:-1, :-1] + uc[:-1, 1:] + uc[1:, :-1] + uc[1:, 1:])
    res_u = _momentum_one(
        u,
        vbar,
        eta_u[:, :-1],
        eta_u[:, 1:],
        kind_u,
        bed_u,
        length_u,
        spacing_u,
        coriolis_u,
        cd_u,
        manning_u,
        tau_u,
        params,
        "u",
    )
    res_v = _momentum_one(
        v,
        ubar,
        eta_v[:-1],
        eta_v[1:],
        kind_v,
        bed_v,
        length_v,
        spacing_v,
        coriolis_v,
        cd_v,
        manning_v,
        tau_v,
        params,
        "v",
    )
    return (*res_u, *res_v)


def shallow_water_assemble(
    depth_total,
    bed,
    sea,
    area,
    river,
    u,
    v,
    length_u,
    length_v,
    h_u,
    k_u,
    b_u,
    h_v,
    k_v,
    b_v,
    ghost_u,
    ghost_v,
    theta,
    dt,
):
    """NumPy twin of `kernels.shallow_water.assemble`: (diag, rhs)."""
    q_u = (1 - theta) * length_u * h_u * u + theta * b_u
    q_v = (1 - theta) * length_v * h_v * v + theta * b_v
    diag = area + k_u[:, :-1] + k_u[:, 1:] + k_v[:-1] + k_v[1:]
    rhs = area * (depth_total - bed) + dt * (q_u[:, :-1] - q_u[:, 1:] + q_v[:-1] - q_v[1:] + river)
    rhs[:, 0] += k_u[:, 0] * ghost_u[:, 0]
    rhs[:, -1] += k_u[:, -1] * ghost_u[:, 1]
    rhs[0] += k_v[0] * ghost_v[0]
    rhs[-1] += k_v[-1] * ghost_v[1]
    return np.where(sea, diag, 1.0), np.where(sea, rhs, 0.0)


def shallow_water_update(
    depth_total,
    eta,
    area,
    river,
    u,
    v,
    length_u,
    length_v,
    h_u,
    k_u,
    b_u,
    h_v,
    k_v,
    b_v,
    ghost_u,
    ghost_v,
    theta,
    dt,
):
    """NumPy twin of `face_fluxes` + `outflow_ratios` + `apply_fluxes`: (depth, u, v, q_u, q_v)."""
    eta_u = np.concatenate([ghost_u[:, :1], eta, ghost_u[:, 1:]], axis=1)
    eta_v = np.concatenate([ghost_v[:1], eta, ghost_v[1:]], axis=0)
    out = []
    for vel, hf, k, b, length, e in (
        (u, h_u, k_u, b_u, length_u, np.diff(eta_u, axis=1)),
        (v, h_v, k_v, b_v, length_v, np.diff(eta_v, axis=0)),
    ):
        new = b - k / (theta * dt) * e
        area_f = length * hf
        q = np.where(hf > 0, theta * new + (1 - theta) * area_f * vel, 0.0)
        out.append((q, np.where(hf > 0, new / np.where(hf > 0, area_f, 1.0), 0.0)))
    (q_u, u_new), (q_v, v_new) = out
    outflow = dt * (
        np.maximum(-q_u[:, :-1], 0)
        + np.maximum(q_u[:, 1:], 0)
        + np.maximum(-q_v[:-1], 0)
        + np.maximum(q_v[1:], 0)
    )
    available = area * depth_total + dt * river
    ratio = np.where(outflow > available, available / np.where(outflow > 0, outflow, 1.0), 1.0)
    one = np.ones((ratio.shape[0], 1))
    r_u = np.where(q_u > 0, np.hstack([one, ratio]), np.hstack([ratio, one]))
    r_u = np.where(q_u == 0, 1.0, r_u)
    one = np.ones((1, ratio.shape[1]))
    r_v = np.where(q_v > 0, np.vstack([one, ratio]), np.vstack([ratio, one]))
    r_v = np.where(q_v == 0, 1.0, r_v)
    q_u, q_v = q_u * r_u, q_v * r_v
    net = q_u[:, :-1] - q_u[:, 1:] + q_v[:-1] - q_v[1:] + river
    depth = np.where(net != 0, np.maximum(depth_total + dt * net / area, 0.0), depth_total)
    return depth, u_new * r_u, v_new * r_v, q_u, q_v
