"""Irrotational (potential) transports with a prescribed divergence: one sparse Poisson solve.

The one home of this solve: `river_transports` carries river discharge to the open boundary
(`Flow.from_rivers`, the barotropic circulation); `potential_transports` also projects currents
onto the grid's discrete divergence (`bbw_bay.core.currents`).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy import ndimage
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

    Parameters
    ----------
    grid : the C-grid
    source : (ny, nx) net outflow each wet cell must have [m³/s]; 0 on land

    Returns
    -------
    transport_u (ny, nx+1), transport_v (ny+1, nx) [m³/s]

    Raises
    ------
    PotentialError for a source of the wrong shape, on land, or with a net value in a wet region
    that touches no open boundary.
    """
    g = grid
    source = _checked_source(grid, source)
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


def river_transports(grid: Grid, discharge: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Face transports [m³/s] of the potential flow carrying river discharge to the open boundary.

    `potential_transports` of ``discharge`` after `check_outflow_path`: every river must reach an
    open boundary (a closed basin has no steady outflow, even for discharges that sum to zero).

    Parameters
    ----------
    grid : the C-grid
    discharge : (ny, nx) river discharge into each cell [m³/s]; 0 on land

    Returns
    -------
    transport_u (ny, nx+1), transport_v (ny+1, nx) [m³/s], divergence = ``discharge``
    """
    check_outflow_path(grid, discharge)
    return potential_transports(grid, discharge)


def check_outflow_path(grid: Grid, discharge: np.ndarray) -> None:
    """Refuse river discharge in a water body that touches no open boundary.

    Parameters
    ----------
    grid : the C-grid
    discharge : (ny, nx) river discharge into each cell [m³/s]

    Raises
    ------
    PotentialError naming the first such river cell, its position and the open edges.
    """
    discharge = _checked_source(grid, discharge)
    if not discharge.any():
        return
    labels, _ = ndimage.label(grid.wet)  # 4-connected: the faces that carry flux
    open_cells = np.zeros(grid.shape, dtype=bool)
    open_cells[:, 0] |= grid.open_u[:, 0]
    open_cells[:, -1] |= grid.open_u[:, -1]
    open_cells[0, :] |= grid.open_v[0, :]
    open_cells[-1, :] |= grid.open_v[-1, :]
    reached = np.isin(labels, np.unique(labels[open_cells]))
    stuck = (discharge != 0) & grid.wet & ~reached
    if stuck.any():
        j, i = (int(k) for k in np.argwhere(stuck)[0])
        unit = "°" if grid.geographic else " m"
        raise PotentialError(
            f"river discharge {discharge[j, i]:g} m³/s at cell (j={j}, i={i}) "
            f"({grid.x_centre[i]:.6g}, {grid.y_centre[j]:.6g}){unit} has no path to an open "
            f"boundary: its water body touches none of the open edges "
            f"({', '.join(grid.open_boundaries) or 'none'}); open an edge it reaches or move "
            "the river"
        )


def _checked_source(grid: Grid, source: np.ndarray) -> np.ndarray:
    """``source`` as a float array of the grid's shape, zero on land (PotentialError if not)."""
    source = np.asarray(source, dtype=float)
    if source.shape != grid.shape:
        raise PotentialError(f"river discharge has shape {source.shape}, expected {grid.shape}")
    if np.any(source[~grid.wet] != 0):
        j, i = np.argwhere((source != 0) & ~grid.wet)[0]
        raise PotentialError(
            f"river discharge {source[j, i]} m³/s on the land cell (j, i) = ({j}, {i})"
        )
    return source


__all__ = ["PotentialError", "check_outflow_path", "potential_transports", "river_transports"]
