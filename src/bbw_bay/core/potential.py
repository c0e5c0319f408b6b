"""Irrotational (potential) transports with a prescribed divergence: one sparse Poisson solve.

Used for river outflow paths and for projecting currents onto the grid's discrete divergence.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import spsolve

from bbw_bay.core.grid import Grid
from bbw_bay.errors import BadInputError


class PotentialError(BadInputError):
    """A divergence that no potential flow on the grid can carry."""


def potential_transports(grid: Grid, source: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Irrotational face transports whose divergence equals ``source`` [m³/s] per cell exactly.

    Solves ``div(−G ∇φ) = source`` on the wet cells with conductance G = L·H/s on flux faces
    (a flow with uniform-in-depth velocity ∝ −∇φ) and φ = 0 beyond open faces. Wet regions with
    no open face must have zero net source; their φ is pinned at one cell.

    Returns
    -------
    transport_u (ny, nx+1), transport_v (ny+1, nx) [m³/s]
    """
    g = grid
    source = np.asarray(source, dtype=float)
    if source.shape != g.shape:
        raise PotentialError(f"river discharge has shape {source.shape}, expected {g.shape}")
    if np.any(source[~g.wet] != 0):
        j, i = np.argwhere((source != 0) & ~g.wet)[0]
        raise PotentialError(
            f"river discharge {source[j, i]} m³/s on the land cell (j, i) = ({j}, {i})"
        )
    pu = np.zeros((g.ny, g.nx + 1))
    pv = np.zeros((g.ny + 1, g.nx))
    if not np.any(source):
        return pu, pv
    cond_u = np.where(g.flux_u, g.length_u * g.depth_u / g.spacing_u, 0.0)
    cond_v = np.where(g.flux_v, g.length_v * g.depth_v / g.spacing_v, 0.0)
    idx = -np.ones(g.shape, dtype=int)
    idx[g.wet] = np.arange(g.n_wet)
    n = g.n_wet
    rows, cols, vals = [], [], []
    diag = np.zeros(g.shape)
    # interior faces couple two cells
    for c, a, b in ((cond_u[:, 1:-1], idx[:, :-1], idx[:, 1:]), (cond_v[1:-1], idx[:-1], idx[1:])):
        ok = c > 0
        rows += [a[ok], b[ok]]
        cols += [b[ok], a[ok]]
        vals += [-c[ok], -c[ok]]
    diag[:, :-1] += cond_u[:, 1:-1]
    diag[:, 1:] += cond_u[:, 1:-1]
    diag[:-1] += cond_v[1:-1]
    diag[1:] += cond_v[1:-1]
    # open faces lead to φ = 0 outside
    diag[:, 0] += cond_u[:, 0]
    diag[:, -1] += cond_u[:, -1]
    diag[0] += cond_v[0]
    diag[-1] += cond_v[-1]
    rows.append(idx[g.wet])
    cols.append(idx[g.wet])
    vals.append(diag[g.wet])
    L = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
    ).tolil()
    rhs = source[g.wet].copy()
    # wet regions without an open face: pin one cell, require a balanced source
    n_comp, comp = connected_components(sp.csr_matrix(L != 0), directed=False)
    opened = np.zeros(n_comp, dtype=bool)
    open_cell = np.zeros(g.shape, dtype=bool)
    open_cell[:, 0] |= cond_u[:, 0] > 0
    open_cell[:, -1] |= cond_u[:, -1] > 0
    open_cell[0] |= cond_v[0] > 0
    open_cell[-1] |= cond_v[-1] > 0
    opened[np.unique(comp[idx[open_cell & g.wet]])] = True
    for k in np.nonzero(~opened)[0]:
        members = np.nonzero(comp == k)[0]
        net = rhs[members].sum()
        if abs(net) > 1e-12 * max(1.0, np.abs(rhs[members]).sum()):
            raise PotentialError(
                f"{net:.4g} m³/s of river discharge enters a wet region of "
                f"{members.size} cells with no open boundary"
            )
        p = members[0]
        L[p, :] = 0.0
        L[p, p] = 1.0
        rhs[p] = 0.0
    phi = np.zeros(g.shape)
    phi[g.wet] = spsolve(L.tocsc(), rhs)
    pu[:, 1:-1] = -cond_u[:, 1:-1] * (phi[:, 1:] - phi[:, :-1])
    pv[1:-1] = -cond_v[1:-1] * (phi[1:] - phi[:-1])
    pu[:, 0] = -cond_u[:, 0] * phi[:, 0]  # φ = 0 beyond the open faces
    pu[:, -1] = cond_u[:, -1] * phi[:, -1]
    pv[0] = -cond_v[0] * phi[0]
    pv[-1] = cond_v[-1] * phi[-1]
    return pu, pv
