"""Numba kernels of the semi-implicit shallow-water step (`bbw_bay.core.shallow_water`).

State: total depth ``D`` (ny, nx) [m] at centres (η = D − h, h the bed depth below the datum),
face velocities ``u`` (ny, nx+1), ``v`` (ny+1, nx) [m/s]. One step of length Δt (Casulli 1990,
θ-method; Casulli & Cheng 1992) is

1. `momentum_faces`: the upwind face depth H_f = max(η_up + h_f, 0) with h_f = min(h_L, h_R)
   (Stelling & Duinmeijer 2003; η_up from the sign of u, max(η_L, η_R) when u = 0) closes
   faces with H_f ≤ dry_depth. On open faces the explicit part
   E = R_f(u, v̄) + Δt (advection + ν∇²u + τ/(ρH)) − g(1−θ)Δt Δη/Δs
   (R_f: Crank–Nicolson rotation by Coriolis, energy-neutral) and the semi-implicit friction
   γ = (C_d |u| + r) / H give Q^{n+1} = B − c Δη^{n+1}, with B = L H E/(1 + Δt γ) [m³/s] and
   c = g θ Δt L H / (Δs (1 + Δt γ)); K = θ Δt c [m²] is the face's matrix coefficient.
2. `assemble`: the SPD system A_i η_i + Σ_f K_f (η_i − η_nb) = A_i η_i^n + Δt (Σ_f ±[(1−θ) Q^n_f
   + θ B_f] + R_i), R the river inflow; open faces hold a ghost elevation (clamped, or the
   external level of a Flather face whose c = L √(gH) and B = 0).
3. `pcg`: Jacobi-preconditioned conjugate gradients on that 5-point operator, matrix-free.
4. `face_fluxes`: Q^{n+1} from the new η, the step flux q = θ Q^{n+1} + (1−θ) Q^n.
5. `outflow_ratios` and `apply_fluxes`: outflow of a cell over the step is scaled down to its
   volume (plus river inflow) when it would exceed it, then D^{n+1} = D^n + Δt/A (Σ ±q + R).
   The new depth comes from the fluxes, so water is conserved to round-off and D ≥ 0 whatever
   the accuracy of the linear solve.

Face kinds: 0 wall or land, 1 interior, 2 open with prescribed (clamped) elevation, 3 Flather.
``params`` = [g, θ, Δt, dry_depth, ν, r (linear drag, m/s), ρ, advection (0/1)].
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

_jit = nb.njit(cache=True, error_model="numpy", fastmath=False, inline="always")
_jit_parallel = nb.njit(cache=True, error_model="numpy", fastmath=False, parallel=True)

WALL, INTERIOR, CLAMPED, FLATHER = 0, 1, 2, 3


@_jit
def _drag(cd, manning, g, depth):
    """Quadratic drag coefficient [-]: C_d, or g n² / H^{1/3} when a Manning n > 0 is given."""
    if manning > 0.0:
        return g * manning * manning / depth ** (1.0 / 3.0)
    return cd


@_jit
def _open_face(kind, u_here, eta_l, eta_r, bed, dry):
    """Upwind total depth of a face [m], 0 when it is closed (wall or H ≤ dry_depth)."""
    if kind == WALL:
        return 0.0
    if u_here > 0.0:
        up = eta_l
    elif u_here < 0.0:
        up = eta_r
    else:
        up = max(eta_l, eta_r)
    depth = up + bed
    return depth if depth > dry else 0.0


@_jit_parallel
def momentum_faces(
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
    h_u,
    k_u,
    b_u,
    h_v,
    k_v,
    b_v,
):
    """Face depths H, matrix coefficients K [m²] and explicit fluxes B [m³/s] (module step 1).

    ``ghost_u`` (ny, 2) and ``ghost_v`` (2, nx) hold the open-boundary elevations at the start of
    the step (west/east, south/north); ``tau_u``, ``tau_v`` the wind stress on faces [N/m²].
    """
    g, theta, dt, dry, nu, lin, rho, adv = (
        params[0],
        params[1],
        params[2],
        params[3],
        params[4],
        params[5],
        params[6],
        params[7],
    )
    ny, nx = depth_total.shape
    for j in nb.prange(ny):
        for i in range(nx + 1):
            kind = kind_u[j, i]
            eta_l = ghost_u[j, 0] if i == 0 else depth_total[j, i - 1] - bed[j, i - 1]
            eta_r = ghost_u[j, 1] if i == nx else depth_total[j, i] - bed[j, i]
            uu = u[j, i]
            hf = _open_face(kind, uu, eta_l, eta_r, bed_u[j, i], dry)
            h_u[j, i] = hf
            if hf == 0.0:
                k_u[j, i] = 0.0
                b_u[j, i] = 0.0
                continue
            length = length_u[j, i]
            if kind == FLATHER:
                k_u[j, i] = theta * dt * length * math.sqrt(g * hf)
                b_u[j, i] = 0.0
                continue
            ds = spacing_u[j, i]
            il = max(i - 1, 0)
            ir = min(i, nx - 1)
            vbar = 0.25 * (v[j, il] + v[j + 1, il] + v[j, ir] + v[j + 1, ir])
            a = 0.5 * coriolis_u[j, i] * dt
            e = ((1.0 - a * a) * uu + 2.0 * a * vbar) / (1.0 + a * a)
            acc = tau_u[j, i] / (rho * hf)
            if kind == INTERIOR and (nu > 0.0 or adv > 0.0):
                uw = u[j, i - 1] if kind_u[j, i - 1] != WALL else uu
                ue = u[j, i + 1] if kind_u[j, i + 1] != WALL else uu
                us = u[j - 1, i] if j > 0 and kind_u[j - 1, i] != WALL else uu
                un = u[j + 1, i] if j < ny - 1 and kind_u[j + 1, i] != WALL else uu
                dy = length
                acc += nu * ((ue - 2.0 * uu + uw) / (ds * ds) + (un - 2.0 * uu + us) / (dy * dy))
                if adv > 0.0:
                    dudx = (uu - uw) / ds if uu > 0.0 else (ue - uu) / ds
                    dudy = (uu - us) / dy if vbar > 0.0 else (un - uu) / dy
                    acc -= uu * dudx + vbar * dudy
            e += dt * acc - g * (1.0 - theta) * dt * (eta_r - eta_l) / ds
            speed = math.sqrt(uu * uu + vbar * vbar)
            gamma = (_drag(cd_u[j, i], manning_u[j, i], g, hf) * speed + lin) / hf
            den = 1.0 + dt * gamma
            k_u[j, i] = theta * dt * g * theta * dt * length * hf / (ds * den)
            b_u[j, i] = length * hf * e / den
    for jj in nb.prange(ny + 1):
        jf = np.int64(jj)  # signed: the prange index may be unsigned
        for i in range(nx):
            kind = kind_v[jf, i]
            eta_s = ghost_v[0, i] if jf == 0 else depth_total[jf - 1, i] - bed[jf - 1, i]
            eta_n = ghost_v[1, i] if jf == ny else depth_total[jf, i] - bed[jf, i]
            vv = v[jf, i]
            hf = _open_face(kind, vv, eta_s, eta_n, bed_v[jf, i], dry)
            h_v[jf, i] = hf
            if hf == 0.0:
                k_v[jf, i] = 0.0
                b_v[jf, i] = 0.0
                continue
            length = length_v[jf, i]
            if kind == FLATHER:
                k_v[jf, i] = theta * dt * length * math.sqrt(g * hf)
                b_v[jf, i] = 0.0
                continue
            ds = spacing_v[jf, i]
            js = jf - 1 if jf > 0 else 0
            jn = jf if jf < ny else ny - 1
            ubar = 0.25 * (u[js, i] + u[js, i + 1] + u[jn, i] + u[jn, i + 1])
            a = 0.5 * coriolis_v[jf, i] * dt
            e = ((1.0 - a * a) * vv - 2.0 * a * ubar) / (1.0 + a * a)
            acc = tau_v[jf, i] / (rho * hf)
            if kind == INTERIOR and (nu > 0.0 or adv > 0.0):
                vs = v[jf - 1, i] if kind_v[jf - 1, i] != WALL else vv
                vn = v[jf + 1, i] if kind_v[jf + 1, i] != WALL else vv
                vw = v[jf, i - 1] if i > 0 and kind_v[jf, i - 1] != WALL else vv
                ve = v[jf, i + 1] if i < nx - 1 and kind_v[jf, i + 1] != WALL else vv
                dx = length
                acc += nu * ((vn - 2.0 * vv + vs) / (ds * ds) + (ve - 2.0 * vv + vw) / (dx * dx))
                if adv > 0.0:
                    dvdy = (vv - vs) / ds if vv > 0.0 else (vn - vv) / ds
                    dvdx = (vv - vw) / dx if ubar > 0.0 else (ve - vv) / dx
                    acc -= vv * dvdy + ubar * dvdx
            e += dt * acc - g * (1.0 - theta) * dt * (eta_n - eta_s) / ds
            speed = math.sqrt(vv * vv + ubar * ubar)
            gamma = (_drag(cd_v[jf, i], manning_v[jf, i], g, hf) * speed + lin) / hf
            den = 1.0 + dt * gamma
            k_v[jf, i] = theta * dt * g * theta * dt * length * hf / (ds * den)
            b_v[jf, i] = length * hf * e / den


@_jit_parallel
def assemble(
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
    diag,
    rhs,
):
    """Diagonal [m²] and right-hand side [m³] of the free-surface system (module step 2).

    ``ghost_u``, ``ghost_v`` hold the open-boundary elevations at the end of the step; land
    rows are the identity with a zero right-hand side.
    """
    ny, nx = depth_total.shape
    for j in nb.prange(ny):
        for i in range(nx):
            if not sea[j, i]:
                diag[j, i] = 1.0
                rhs[j, i] = 0.0
                continue
            kw = k_u[j, i]
            ke = k_u[j, i + 1]
            ks = k_v[j, i]
            kn = k_v[j + 1, i]
            a = area[j, i]
            diag[j, i] = a + kw + ke + ks + kn
            qw = (1.0 - theta) * length_u[j, i] * h_u[j, i] * u[j, i] + theta * b_u[j, i]
            qe = (1.0 - theta) * length_u[j, i + 1] * h_u[j, i + 1] * u[j, i + 1]
            qe += theta * b_u[j, i + 1]
            qs = (1.0 - theta) * length_v[j, i] * h_v[j, i] * v[j, i] + theta * b_v[j, i]
            qn = (1.0 - theta) * length_v[j + 1, i] * h_v[j + 1, i] * v[j + 1, i]
            qn += theta * b_v[j + 1, i]
            r = a * (depth_total[j, i] - bed[j, i]) + dt * (qw - qe + qs - qn + river[j, i])
            if i == 0:
                r += kw * ghost_u[j, 0]
            if i == nx - 1:
                r += ke * ghost_u[j, 1]
            if j == 0:
                r += ks * ghost_v[0, i]
            if j == ny - 1:
                r += kn * ghost_v[1, i]
            rhs[j, i] = r


@_jit
def _apply_at(x, diag, k_u, k_v, j, i, ny, nx):
    """(M x)[j, i] of the 5-point operator (boundary-face coefficients sit on the diagonal)."""
    s = diag[j, i] * x[j, i]
    if i > 0:
        s -= k_u[j, i] * x[j, i - 1]
    if i < nx - 1:
        s -= k_u[j, i + 1] * x[j, i + 1]
    if j > 0:
        s -= k_v[j, i] * x[j - 1, i]
    if j < ny - 1:
        s -= k_v[j + 1, i] * x[j + 1, i]
    return s


@_jit_parallel
def pcg(diag, k_u, k_v, rhs, x, tolerance, max_iterations, r, z, p, q):
    """Solve M x = rhs by Jacobi-preconditioned CG from the guess in ``x`` (overwritten).

    Stops when the diagonal-weighted RMS of the correction, √(Σ r²/d / Σ d) [m], is below
    ``tolerance``. Returns the number of iterations. ``r``, ``z``, ``p``, ``q`` are scratch
    arrays of x's shape.
    """
    ny, nx = x.shape
    rz = 0.0
    dsum = 0.0
    for j in nb.prange(ny):
        for i in range(nx):
            res = rhs[j, i] - _apply_at(x, diag, k_u, k_v, j, i, ny, nx)
            r[j, i] = res
            zz = res / diag[j, i]
            z[j, i] = zz
            p[j, i] = zz
            rz += res * zz
            dsum += diag[j, i]
    limit = tolerance * tolerance * dsum
    it = 0
    while it < max_iterations and rz > limit:
        pq = 0.0
        for j in nb.prange(ny):
            for i in range(nx):
                val = _apply_at(p, diag, k_u, k_v, j, i, ny, nx)
                q[j, i] = val
                pq += p[j, i] * val
        if not pq > 0.0:
            break
        alpha = rz / pq
        rz_new = 0.0
        for j in nb.prange(ny):
            for i in range(nx):
                x[j, i] += alpha * p[j, i]
                res = r[j, i] - alpha * q[j, i]
                r[j, i] = res
                zz = res / diag[j, i]
                z[j, i] = zz
                rz_new += res * zz
        beta = rz_new / rz
        rz = rz_new
        for j in nb.prange(ny):
            for i in range(nx):
                p[j, i] = z[j, i] + beta * p[j, i]
        it += 1
    return it


@_jit_parallel
def face_fluxes(eta, u, v, length_u, length_v, h_u, k_u, b_u, h_v, k_v, b_v, ghost_u, ghost_v,
                theta, dt, q_u, q_v):  # fmt: skip
    """New face velocities (in ``u``, ``v``) and step fluxes q = θQ^{n+1} + (1−θ)Q^n [m³/s].

    Q^{n+1} = B − (K/θΔt)(η_R − η_L) with the new elevations ``eta`` (ghosts at the step end).
    """
    ny, nx = eta.shape
    scale = 1.0 / (theta * dt)
    for j in nb.prange(ny):
        for i in range(nx + 1):
            hf = h_u[j, i]
            if hf == 0.0:
                u[j, i] = 0.0
                q_u[j, i] = 0.0
                continue
            eta_l = ghost_u[j, 0] if i == 0 else eta[j, i - 1]
            eta_r = ghost_u[j, 1] if i == nx else eta[j, i]
            area_f = length_u[j, i] * hf
            new = b_u[j, i] - k_u[j, i] * scale * (eta_r - eta_l)
            q_u[j, i] = theta * new + (1.0 - theta) * area_f * u[j, i]
            u[j, i] = new / area_f
    for jf in nb.prange(ny + 1):
        for i in range(nx):
            hf = h_v[jf, i]
            if hf == 0.0:
                v[jf, i] = 0.0
                q_v[jf, i] = 0.0
                continue
            eta_s = ghost_v[0, i] if jf == 0 else eta[jf - 1, i]
            eta_n = ghost_v[1, i] if jf == ny else eta[jf, i]
            area_f = length_v[jf, i] * hf
            new = b_v[jf, i] - k_v[jf, i] * scale * (eta_n - eta_s)
            q_v[jf, i] = theta * new + (1.0 - theta) * area_f * v[jf, i]
            v[jf, i] = new / area_f


@_jit_parallel
def outflow_ratios(depth_total, area, river, q_u, q_v, dt, ratio):
    """(ny, nx) factor ≤ 1 on each cell's outflow so it never exceeds V + Δt R (module step 5)."""
    ny, nx = depth_total.shape
    for j in nb.prange(ny):
        for i in range(nx):
            out = (
                max(-q_u[j, i], 0.0)
                + max(q_u[j, i + 1], 0.0)
                + max(-q_v[j, i], 0.0)
                + max(q_v[j + 1, i], 0.0)
            ) * dt
            available = area[j, i] * depth_total[j, i] + dt * river[j, i]
            ratio[j, i] = available / out if out > available else 1.0


@_jit_parallel
def apply_fluxes(depth_total, area, river, u, v, q_u, q_v, ratio, dt, sum_u, sum_v):
    """Scale limited outflows, D += Δt/A (Σ ±q + R) (D ≥ 0), add q to the interval sums."""
    ny, nx = depth_total.shape
    for j in nb.prange(ny):
        for i in range(nx + 1):
            q = q_u[j, i]
            if q > 0.0 and i > 0:
                s = ratio[j, i - 1]
            elif q < 0.0 and i < nx:
                s = ratio[j, i]
            else:
                s = 1.0
            if s < 1.0:
                q_u[j, i] = q * s
                u[j, i] *= s
            sum_u[j, i] += q_u[j, i]
    for jf in nb.prange(ny + 1):
        for i in range(nx):
            q = q_v[jf, i]
            if q > 0.0 and jf > 0:
                s = ratio[jf - 1, i]
            elif q < 0.0 and jf < ny:
                s = ratio[jf, i]
            else:
                s = 1.0
            if s < 1.0:
                q_v[jf, i] = q * s
                v[jf, i] *= s
            sum_v[jf, i] += q_v[jf, i]
    for j in nb.prange(ny):
        for i in range(nx):
            net = q_u[j, i] - q_u[j, i + 1] + q_v[j, i] - q_v[j + 1, i] + river[j, i]
            if net != 0.0:
                depth_total[j, i] = max(depth_total[j, i] + dt * net / area[j, i], 0.0)


def empty_params() -> np.ndarray:
    """A params vector of the right length (see the module docstring)."""
    return np.zeros(8)
